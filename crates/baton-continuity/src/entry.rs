//! One session's entry in `SESSION_LOG.md`, in seed 001's sections, for
//! the next instance (person or model) to read.

use baton_core::one_line;

/// One session's entry, in the seed's sections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// `2026-11-23T18:40:00Z - baton run <id> (<model>)`.
    pub title: String,
    /// What the session found when it started (the goal, resumed state).
    pub starting_context: Vec<String>,
    pub work_done: Vec<String>,
    /// Choices made: approvals answered, actions blocked and why.
    pub decisions: Vec<String>,
    pub blockers: Vec<String>,
    pub for_next_instance: Vec<String>,
    /// Test commands run and how they ended.
    pub test_status: Vec<String>,
}

impl Entry {
    /// The entry as Markdown. Empty sections say so rather than vanish, so
    /// every entry has the same shape.
    pub fn render(&self) -> String {
        let mut out = format!("\n## Session: {}\n", one_line(&self.title, usize::MAX));
        for (heading, items) in [
            ("Starting Context", &self.starting_context),
            ("Work Accomplished", &self.work_done),
            ("Decisions", &self.decisions),
            ("Blockers", &self.blockers),
            ("For Next Instance", &self.for_next_instance),
            ("Test Status", &self.test_status),
        ] {
            out.push_str(&format!("\n### {heading}\n"));
            if items.is_empty() {
                out.push_str("- None\n");
            }
            for item in items {
                out.push_str(&format!("- {}\n", indent_continuation(item)));
            }
        }
        out
    }
}

/// Keeps a multi-line item inside its bullet.
fn indent_continuation(text: &str) -> String {
    text.trim_end().replace('\n', "\n  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_there_and_items_stay_in_their_bullet() {
        let entry = Entry {
            title: "2026-11-23T18:40:00Z - baton run 1 (scripted/agent)".into(),
            starting_context: vec!["Goal: make the tests pass".into()],
            work_done: vec!["shell `cargo test`: exit 1\nthree failures".into()],
            ..Entry::default()
        };
        let text = entry.render();
        assert!(
            text.starts_with("\n## Session: 2026-11-23T18:40:00Z"),
            "{text}"
        );
        assert!(text.contains("- shell `cargo test`: exit 1\n  three failures\n"));
        assert!(text.contains("### Blockers\n- None\n"));
        assert!(text.contains("### Test Status\n"));
    }
}
