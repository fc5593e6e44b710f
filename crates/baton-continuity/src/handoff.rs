//! `baton handoff`: `SESSION_BRIEFING.md` regenerated from the latest
//! session-log entries, so the next instance reads what is going on now.
//!
//! The deterministic summary gathers the newest entry's "For Next
//! Instance" and "Blockers", the recent "Decisions" and one line per recent
//! session. With a model, the model rewrites the briefing from the same
//! entries, the briefing in place and that summary; its answer is used
//! only when it is a briefing (it starts with `# Session Briefing` and
//! fits the size limit), otherwise the deterministic one is written and the
//! report says why. The briefing that was there (a person may have edited
//! it) is stored as a version before it is replaced, and so is the new one;
//! the file is replaced atomically (a temporary file renamed over it).

use std::io::Write;
use std::path::PathBuf;

use baton_core::{ChatRequest, DeviceId, Hlc, Message};
use baton_llm::Gateway;
use baton_store::Store;
use serde::Serialize;

use crate::context::MAX_DOCUMENT_BYTES;
use crate::error::ContinuityError;
use crate::session_log::SessionLog;
use crate::tiers::{Tier, record_version};

/// Session-log entries a briefing is made from, newest first.
pub const RECENT_ENTRIES: usize = 5;

/// Decisions listed at most.
const MAX_DECISIONS: usize = 10;

/// The longest briefing a model may write, in tokens.
const MODEL_BRIEFING_TOKENS: u32 = 2_000;

/// Who writes the briefing.
#[derive(Debug, Clone, Copy)]
pub enum Writer<'a> {
    /// The deterministic summary.
    Summary,
    /// A model through the gateway (`provider/model`, a bare name or `auto`).
    Model {
        gateway: &'a Gateway,
        model: &'a str,
    },
}

/// What [`handoff`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoffReport {
    pub briefing: PathBuf,
    /// `summary`, or the model that wrote it.
    pub written_by: String,
    /// Why a model's briefing was not used, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
    writer: Writer<'_>,
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
    let summary = render(&recent);
    let (text, written_by, note) = match writer {
        Writer::Summary => (summary, "summary".to_owned(), None),
        Writer::Model { gateway, model } => {
            let current =
                crate::context::read_document(&log.workspace().join(Tier::Briefing.file_name()))
                    .unwrap_or_default();
            match by_model(gateway, model, &recent, &current, &summary).await {
                Ok((text, model)) => (text, model, None),
                Err(why) => (summary, "summary".to_owned(), Some(why)),
            }
        }
    };
    let mut report = write_briefing(store, log, &text, device, clock).await?;
    report.entries_used = recent.len();
    report.written_by = written_by;
    report.note = note;
    Ok(report)
}

/// Replaces the workspace's briefing with `text` (an assistant's or a
/// person's), keeping the version it replaces in the store. Refuses empty,
/// binary or oversized text before anything changes.
pub async fn update_briefing(
    store: &Store,
    log: &SessionLog,
    text: &str,
    device: &DeviceId,
    clock: &Hlc,
) -> Result<HandoffReport, ContinuityError> {
    if text.trim().is_empty() || text.contains('\0') || text.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(ContinuityError::InvalidDocument(format!(
            "a briefing must be non-empty Markdown text of at most {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    write_briefing(store, log, text, device, clock).await
}

/// Stores the briefing in place as a version, replaces it with `text`
/// atomically and stores that too.
async fn write_briefing(
    store: &Store,
    log: &SessionLog,
    text: &str,
    device: &DeviceId,
    clock: &Hlc,
) -> Result<HandoffReport, ContinuityError> {
    let path = log.workspace().join(Tier::Briefing.file_name());
    let previous_version = match std::fs::read(&path) {
        Ok(bytes) => {
            let previous = String::from_utf8_lossy(&bytes);
            record_version(store, log, Tier::Briefing, &previous, device, clock).await?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(ContinuityError::Io { path, source }),
    };
    replace(&path, text)?;
    let version = record_version(store, log, Tier::Briefing, text, device, clock).await?;
    Ok(HandoffReport {
        briefing: path,
        written_by: "supplied".to_owned(),
        note: None,
        entries_used: 0,
        previous_version,
        version,
    })
}

const BRIEFING_INSTRUCTIONS: &str = "You maintain SESSION_BRIEFING.md, the document a fresh \
model instance reads first to know what is happening now in this project: a 15-minute read. \
Rewrite it from the latest session-log entries (newest first), the briefing in place (a person \
may have added things worth keeping) and a mechanical draft. Keep these sections, in this order: \
## What's Being Worked On, ## Recent Decisions (with the reason for each), \
## Immediate Blockers, ## Recent Sessions. Be concrete: files, commands, numbers. Do not invent \
anything the inputs do not say. Answer with the Markdown document only, starting with \
`# Session Briefing`.";

/// The briefing a model writes, and the model that wrote it; the error
/// says why it cannot be used.
async fn by_model(
    gateway: &Gateway,
    model: &str,
    recent: &[&str],
    current: &str,
    summary: &str,
) -> Result<(String, String), String> {
    let entries = if recent.is_empty() {
        "(none yet)".to_owned()
    } else {
        recent.join("\n\n")
    };
    let request = ChatRequest {
        model: model.to_owned(),
        messages: vec![
            Message::system(BRIEFING_INSTRUCTIONS),
            Message::user(format!(
                "Latest session-log entries, newest first:\n\n{entries}\n\n\
                 The briefing in place:\n\n{current}\n\nThe mechanical draft:\n\n{summary}"
            )),
        ],
        temperature: Some(0.2),
        max_tokens: Some(MODEL_BRIEFING_TOKENS),
        ..ChatRequest::default()
    };
    let routed = gateway
        .chat(&request)
        .await
        .map_err(|e| format!("the model could not write the briefing: {e}"))?;
    let text = routed.value.message.text();
    let text = text.trim();
    if !text.starts_with("# Session Briefing") {
        return Err(format!(
            "{} answered something that is not a briefing (it must start with `# Session Briefing`)",
            routed.model.id
        ));
    }
    if text.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "{}'s briefing is larger than {MAX_DOCUMENT_BYTES} bytes",
            routed.model.id
        ));
    }
    Ok((format!("{text}\n"), routed.model.id.to_string()))
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
