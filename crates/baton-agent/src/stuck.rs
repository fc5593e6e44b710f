//! Stuck detection: a run that keeps doing the same thing is stopped with a
//! reason instead of burning its budget.
//!
//! Three shapes, each counted over consecutive steps: the same action with
//! the same result [`SAME_ACTION`] times, the same error [`SAME_ERROR`]
//! times (whatever the action), and two actions alternating A, B, A, B…
//! over [`ALTERNATION`] steps with their results unchanged.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The same action and result this many times in a row is stuck.
pub const SAME_ACTION: usize = 4;
/// The same error this many times in a row is stuck.
pub const SAME_ERROR: usize = 3;
/// An A/B alternation over this many steps is stuck.
pub const ALTERNATION: usize = 6;

/// One step as the detector sees it: a fingerprint of what was done and of
/// what came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Observation {
    action: u64,
    result: u64,
    error: Option<u64>,
}

/// Why a run is stuck, in words for the run's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck(pub String);

/// Watches a run's steps.
#[derive(Debug, Default)]
pub struct StuckDetector {
    history: Vec<Observation>,
}

fn fingerprint(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

impl StuckDetector {
    /// Records one step: `action` names what was done (tool calls and their
    /// arguments, in order), `result` what came back, `error` the error text
    /// when the step failed. Returns why the run is stuck, if it now is.
    pub fn observe(&mut self, action: &str, result: &str, error: Option<&str>) -> Option<Stuck> {
        self.history.push(Observation {
            action: fingerprint(&action),
            result: fingerprint(&result),
            error: error.map(|e| fingerprint(&e)),
        });
        let keep = SAME_ACTION.max(SAME_ERROR).max(ALTERNATION);
        if self.history.len() > keep {
            self.history.drain(..self.history.len() - keep);
        }
        self.same_action()
            .or_else(|| self.same_error())
            .or_else(|| self.alternation())
    }

    fn last(&self, n: usize) -> Option<&[Observation]> {
        self.history
            .len()
            .checked_sub(n)
            .map(|start| &self.history[start..])
    }

    fn same_action(&self) -> Option<Stuck> {
        let last = self.last(SAME_ACTION)?;
        let first = last[0];
        last.iter()
            .all(|o| o.action == first.action && o.result == first.result)
            .then(|| {
                Stuck(format!(
                    "the same action gave the same result {SAME_ACTION} times in a row"
                ))
            })
    }

    fn same_error(&self) -> Option<Stuck> {
        let last = self.last(SAME_ERROR)?;
        let error = last[0].error?;
        last.iter().all(|o| o.error == Some(error)).then(|| {
            Stuck(format!(
                "the same error came back {SAME_ERROR} times in a row"
            ))
        })
    }

    fn alternation(&self) -> Option<Stuck> {
        let last = self.last(ALTERNATION)?;
        let (a, b) = (last[0], last[1]);
        if a.action == b.action {
            return None;
        }
        last.iter()
            .enumerate()
            .all(|(i, o)| *o == if i % 2 == 0 { a } else { b })
            .then(|| {
                Stuck(format!(
                    "two actions alternated with unchanged results over {ALTERNATION} steps"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_identical_steps_are_stuck() {
        let mut d = StuckDetector::default();
        for _ in 0..SAME_ACTION - 1 {
            assert_eq!(d.observe("read a.rs", "same", None), None);
        }
        assert!(d.observe("read a.rs", "same", None).is_some());
    }

    #[test]
    fn a_changing_result_is_progress() {
        let mut d = StuckDetector::default();
        for i in 0..10 {
            assert_eq!(d.observe("shell make", &format!("line {i}"), None), None);
        }
    }

    #[test]
    fn three_identical_errors_are_stuck_whatever_the_action() {
        let mut d = StuckDetector::default();
        assert_eq!(d.observe("a", "x", Some("permission denied")), None);
        assert_eq!(d.observe("b", "y", Some("permission denied")), None);
        let stuck = d.observe("c", "z", Some("permission denied")).unwrap();
        assert!(stuck.0.contains("same error"));
    }

    #[test]
    fn different_errors_are_not_stuck() {
        let mut d = StuckDetector::default();
        for i in 0..6 {
            let error = format!("error {i}");
            assert_eq!(d.observe("a", &error, Some(&error)), None);
        }
    }

    #[test]
    fn alternation_is_stuck_after_six() {
        let mut d = StuckDetector::default();
        for i in 0..ALTERNATION - 1 {
            let action = if i % 2 == 0 { "edit" } else { "test" };
            assert_eq!(d.observe(action, action, None), None, "step {i}");
        }
        let stuck = d.observe("test", "test", None).unwrap();
        assert!(stuck.0.contains("alternated"));
    }

    #[test]
    fn an_interrupted_pattern_starts_over() {
        let mut d = StuckDetector::default();
        for _ in 0..3 {
            assert_eq!(d.observe("a", "r", None), None);
        }
        assert_eq!(d.observe("b", "r", None), None);
        for _ in 0..3 {
            assert_eq!(d.observe("a", "r", None), None);
        }
        assert!(d.observe("a", "r", None).is_some());
    }
}
