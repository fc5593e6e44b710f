//! `baton handoff`: `SESSION_BRIEFING.md` regenerated from the latest
//! session-log entries, so the next instance reads what is going on now.
//!
//! The summary is deterministic: it gathers the newest entry's "For Next
//! Instance" and "Blockers", the recent "Decisions" and one line per recent
//! session. The briefing that was there (a person may have edited it) is
//! stored as a version before it is replaced, and so is the new one; the
//! file is replaced atomically (a temporary file renamed over it).

use std::io::Write;
use std::path::PathBuf;

use baton_core::log_chain::content_hash;
use baton_core::{DeviceId, Hlc, wall_millis};
use baton_store::{NewDocumentVersion, Store};
use serde::Serialize;

use crate::error::ContinuityError;
use crate::session_log::SessionLog;
use crate::tiers::Tier;

/// Session-log entries a briefing is made from, newest first.
pub const RECENT_ENTRIES: usize = 5;

/// Decisions listed at most.
const MAX_DECISIONS: usize = 10;

/// What [`handoff`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoffReport {
    pub briefing: PathBuf,
    /// Log entries the briefing was made from.
    pub entries_used: usize,
    /// The stored version number of the briefing that was replaced, when it
    /// was not stored already.
    pub previous_version: Option<i64>,
    /// The stored version number of the new briefing, when it differs from
    /// the latest stored one.
    pub version: Option<i64>,
}

/// Regenerates the workspace's briefing from its session log.
pub async fn handoff(
    store: &Store,
    log: &SessionLog,
    device: &DeviceId,
    clock: &Hlc,
) -> Result<HandoffReport, ContinuityError> {
    let entries = store.log_entries(log.key()).await?;
    let recent: Vec<&str> = entries
        .iter()
        .rev()
        .take(RECENT_ENTRIES)
        .map(|e| e.text.as_str())
        .collect();
    let path = log.workspace().join(Tier::Briefing.file_name());
    let record = |content: String| async move {
        store
            .record_document_version(NewDocumentVersion {
                workspace: log.key(),
                name: Tier::Briefing.file_name(),
                hash: &content_hash(&content),
                content: &content,
                device_id: device,
                hlc: clock.now(),
                created_ms: wall_millis() as i64,
            })
            .await
            .map(|stored| stored.map(|v| v.version))
    };
    let previous_version = match std::fs::read(&path) {
        Ok(bytes) => record(String::from_utf8_lossy(&bytes).into_owned()).await?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(ContinuityError::Io { path, source }),
    };
    let briefing = render(&recent);
    replace(&path, &briefing)?;
    let version = record(briefing).await?;
    Ok(HandoffReport {
        briefing: path,
        entries_used: recent.len(),
        previous_version,
        version,
    })
}

/// Writes `text` to a temporary file beside `path`, syncs it, renames it
/// over `path`: readers see the old briefing or the new one, never half.
fn replace(path: &std::path::Path, text: &str) -> Result<(), ContinuityError> {
    let io = |source| ContinuityError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(".{}.baton-tmp", Tier::Briefing.file_name()));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// One parsed log entry: its title and its sections' bullet items.
struct Parsed<'a> {
    title: &'a str,
    sections: Vec<(&'a str, Vec<String>)>,
}

impl Parsed<'_> {
    fn items(&self, heading: &str) -> Vec<String> {
        self.sections
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case(heading))
            .flat_map(|(_, items)| items.iter().cloned())
            .filter(|item| !item.eq_ignore_ascii_case("none"))
            .collect()
    }
}

fn parse(entry: &str) -> Parsed<'_> {
    let mut lines = entry.trim_matches('\n').lines();
    let heading = lines.next().unwrap_or_default();
    let title = heading
        .trim_start_matches("## ")
        .trim_start_matches("Session: ")
        .trim();
    let mut sections: Vec<(&str, Vec<String>)> = Vec::new();
    for line in lines {
        if let Some(name) = line.strip_prefix("### ") {
            sections.push((name.trim(), Vec::new()));
        } else if let Some((_, items)) = sections.last_mut() {
            if let Some(item) = line.strip_prefix("- ") {
                items.push(item.trim().to_owned());
            } else if let (Some(last), Some(more)) = (items.last_mut(), line.strip_prefix("  ")) {
                last.push(' ');
                last.push_str(more.trim());
            }
        }
    }
    Parsed { title, sections }
}

/// The briefing for `recent` entries, newest first.
fn render(recent: &[&str]) -> String {
    let parsed: Vec<Parsed> = recent.iter().map(|e| parse(e)).collect();
    let newest = parsed.first();
    let mut out = format!(
        "# Session Briefing\n\nWhat is happening now, for the next instance. Regenerated by \
         `baton handoff` from the {} latest session-log entries; edit freely, the version \
         it replaces is kept in baton's store.\n",
        parsed.len()
    );
    let mut section = |heading: &str, items: Vec<String>| {
        out.push_str(&format!("\n## {heading}\n"));
        if items.is_empty() {
            out.push_str("- (nothing recorded)\n");
        }
        for item in items {
            out.push_str(&format!("- {item}\n"));
        }
    };
    section(
        "What's Being Worked On",
        newest.map_or_else(Vec::new, |p| p.items("For Next Instance")),
    );
    let mut decisions: Vec<String> = Vec::new();
    for item in parsed.iter().flat_map(|p| p.items("Decisions")) {
        if !decisions.contains(&item) && decisions.len() < MAX_DECISIONS {
            decisions.push(item);
        }
    }
    section("Recent Decisions", decisions);
    section(
        "Immediate Blockers",
        newest.map_or_else(Vec::new, |p| p.items("Blockers")),
    );
    section(
        "Recent Sessions",
        parsed
            .iter()
            .map(|p| {
                let work = p.items("Work Accomplished");
                match work.first() {
                    Some(first) => format!("{}: {first}", p.title),
                    None => format!("{}: no work recorded", p.title),
                }
            })
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    #[test]
    fn the_briefing_gathers_the_newest_plans_and_recent_decisions() {
        let older = Entry {
            title: "older".into(),
            work_done: vec!["wrote the parser".into()],
            decisions: vec!["use nom".into()],
            blockers: vec!["old blocker".into()],
            ..Entry::default()
        }
        .render();
        let newer = Entry {
            title: "newer".into(),
            work_done: vec!["fixed the\nlexer".into()],
            decisions: vec!["use nom".into(), "drop regex".into()],
            for_next_instance: vec!["wire the CLI".into()],
            ..Entry::default()
        }
        .render();
        let text = render(&[&newer, &older]);
        assert!(
            text.contains("## What's Being Worked On\n- wire the CLI\n"),
            "{text}"
        );
        assert!(
            text.contains("## Recent Decisions\n- use nom\n- drop regex\n"),
            "{text}"
        );
        assert!(
            text.contains("## Immediate Blockers\n- (nothing recorded)\n"),
            "{text}"
        );
        assert!(
            text.contains("- newer: fixed the lexer\n- older: wrote the parser\n"),
            "{text}"
        );
        assert_eq!(render(&[&newer, &older]), text, "deterministic");
        assert!(render(&[]).contains("- (nothing recorded)"));
    }
}
