//! `SESSION_LOG.md`: the workspace's append-only work journal (seed 001's
//! fourth tier). Each agent session appends one structured entry for the
//! next instance, person or model, to read.

use baton_core::one_line;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

/// The file's name in the workspace root.
pub const FILE_NAME: &str = "SESSION_LOG.md";

const HEADER: &str = "# Session Log\n\nAppend-only work journal: every baton session adds one \
entry below. Edit earlier entries only to fix facts.\n";

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

/// Appends `entry` to the workspace's log, creating the file with its
/// header when missing. One `write` in append mode, so concurrent sessions
/// never interleave inside an entry.
pub fn append(workspace: &Path, entry: &Entry) -> io::Result<()> {
    let path = workspace.join(FILE_NAME);
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let mut text = String::new();
    if file.metadata()?.len() == 0 {
        text.push_str(HEADER);
    }
    text.push_str(&entry.render());
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_append_with_one_header() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry {
            title: "2026-11-23T18:40:00Z - baton run 1 (scripted/agent)".into(),
            starting_context: vec!["Goal: make the tests pass".into()],
            work_done: vec!["shell `cargo test`: exit 1\nthree failures".into()],
            ..Entry::default()
        };
        append(dir.path(), &entry).unwrap();
        append(dir.path(), &entry).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(text.matches("# Session Log").count(), 1);
        assert_eq!(text.matches("## Session: 2026-11-23").count(), 2);
        assert!(text.contains("- shell `cargo test`: exit 1\n  three failures\n"));
        assert!(text.contains("### Blockers\n- None\n"));
        assert!(text.contains("### Test Status\n"));
    }
}
