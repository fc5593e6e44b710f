//! What a process's watchers hear about runs whose log grew.
//!
//! A change names the run and, when the commit that made it reported the
//! events it appended (a completion on SQLite does), carries them:
//! a watcher that is up to date yields them without reading the log, so a
//! step costs no read per watcher. A change without its events may say how
//! far the log now goes (PostgreSQL's notifications of completions do), so
//! a watcher that was handed those events already skips the read. Whatever
//! a watcher cannot vouch for (a change without its events that may go
//! further than it is, changes it missed, events that do not follow the
//! last one it gave out) makes it read the log instead, which is always
//! right.

use std::sync::Arc;

use baton_core::WorkflowId;
use baton_store::WorkflowEvent;

/// One run's log grew.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub run: WorkflowId,
    /// The events appended, in log order; empty when the committer did not
    /// report them.
    pub events: Arc<[WorkflowEvent]>,
    /// Without events: how far the log goes after the change, when known.
    pub upto: Option<i64>,
}

/// What a watcher heard about its run while it waited.
#[derive(Debug)]
pub(crate) struct Heard {
    events: Vec<WorkflowEvent>,
    /// The last event number the log was said to reach without the events
    /// being heard (`i64::MAX`: unknown, so the log must be read).
    announced: i64,
}

impl Default for Heard {
    fn default() -> Heard {
        Heard {
            events: Vec::new(),
            announced: i64::MIN,
        }
    }
}

impl Heard {
    /// Adds a change of the watched run.
    pub fn change(&mut self, change: &Change) {
        if change.events.is_empty() {
            self.announced = self.announced.max(change.upto.unwrap_or(i64::MAX));
        } else {
            self.events.extend(change.events.iter().cloned());
        }
    }

    /// Something may have been missed: changes dropped for a slow watcher,
    /// or the poll interval passed (another process may have written).
    pub fn missed(&mut self) {
        self.announced = i64::MAX;
    }

    /// The events after `last` to give out without reading the log (none
    /// when everything heard was given out already), or `None` when the log
    /// must be read: something was missed, what was heard does not follow
    /// `last` without a gap, or the log was said to go further.
    pub fn after(mut self, last: i64) -> Option<Vec<WorkflowEvent>> {
        self.events.retain(|event| event.seq > last);
        self.events.sort_by_key(|event| event.seq);
        self.events.dedup_by_key(|event| event.seq);
        let follows = self
            .events
            .iter()
            .zip(last + 1..)
            .all(|(event, seq)| event.seq == seq);
        let reaches = last + self.events.len() as i64;
        (follows && self.announced <= reaches).then_some(self.events)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn run() -> WorkflowId {
        WorkflowId(Uuid::nil())
    }

    fn event(seq: i64) -> WorkflowEvent {
        WorkflowEvent {
            run_id: run(),
            seq,
            kind: "task_completed".into(),
            task: Some(format!("t{seq}")),
            data: json!({}),
            created_ms: 0,
        }
    }

    fn change(seqs: &[i64]) -> Change {
        Change {
            run: run(),
            events: seqs.iter().map(|&seq| event(seq)).collect(),
            upto: None,
        }
    }

    fn note(upto: i64) -> Change {
        Change {
            run: run(),
            events: Arc::from([]),
            upto: Some(upto),
        }
    }

    fn seqs(events: Option<Vec<WorkflowEvent>>) -> Option<Vec<i64>> {
        events.map(|events| events.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn events_that_follow_are_given_out_in_order_once() {
        let mut heard = Heard::default();
        heard.change(&change(&[7, 8]));
        heard.change(&change(&[5, 6]));
        heard.change(&change(&[5, 6]));
        assert_eq!(seqs(heard.after(4)), Some(vec![5, 6, 7, 8]));
    }

    #[test]
    fn events_already_given_out_are_dropped_without_a_read() {
        let mut heard = Heard::default();
        heard.change(&change(&[3, 4]));
        assert_eq!(seqs(heard.after(4)), Some(vec![]));
        let mut heard = Heard::default();
        heard.change(&change(&[4, 5]));
        assert_eq!(seqs(heard.after(4)), Some(vec![5]));
    }

    #[test]
    fn a_gap_a_change_without_events_or_a_miss_means_a_read() {
        let mut heard = Heard::default();
        heard.change(&change(&[6, 7]));
        assert_eq!(seqs(heard.after(4)), None, "5 is missing");

        let mut heard = Heard::default();
        heard.change(&change(&[5]));
        heard.change(&change(&[]));
        assert_eq!(seqs(heard.after(4)), None, "a change without its events");

        let mut heard = Heard::default();
        heard.change(&change(&[5]));
        heard.missed();
        assert_eq!(seqs(heard.after(4)), None, "changes were missed");
    }

    #[test]
    fn a_note_of_how_far_the_log_goes_needs_a_read_only_beyond_the_heard_events() {
        let mut heard = Heard::default();
        heard.change(&change(&[5, 6]));
        heard.change(&note(6));
        assert_eq!(
            seqs(heard.after(4)),
            Some(vec![5, 6]),
            "the note's events were handed"
        );

        let mut heard = Heard::default();
        heard.change(&note(6));
        assert_eq!(seqs(heard.after(6)), Some(vec![]), "already given out");
        let mut heard = Heard::default();
        heard.change(&note(7));
        assert_eq!(seqs(heard.after(6)), None, "the log went further");

        let mut heard = Heard::default();
        heard.change(&change(&[5]));
        heard.change(&note(6));
        assert_eq!(seqs(heard.after(4)), None, "6 was not handed");
    }
}
