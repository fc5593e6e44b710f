//! The continuity loop's end, the same for every kind of session (agent
//! runs, later workflows, assistants over MCP): the session's entry goes
//! into `SESSION_LOG.md` (hash-chained), the editable tiers as the session
//! leaves them are stored as versions, and both become memories, so a later
//! session recalls them by meaning as well as by recency.

use baton_core::{DeviceId, Hlc};
use baton_store::{LogEntry, Store};
use tracing::warn;

use crate::error::ContinuityError;
use crate::memory::{MAX_MEMORY_BYTES, Memories, MemorySource, NewMemoryText};
use crate::session_log::{FILE_NAME, SessionLog, split_entries};
use crate::tiers::{Tier, read_tier, record_tiers};
use baton_core::head;

/// What [`end_session`] recorded.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub entry: LogEntry,
    /// The tiers stored as new versions.
    pub tiers: Vec<Tier>,
    /// Memories made from the entry and the changed tiers (0 without a
    /// memory manager).
    pub memories: usize,
}

/// Appends `entry` to the workspace's log, stores the changed tiers and
/// remembers both. The log entry is the part that must not fail; a memory
/// that cannot be made is logged and left out.
pub async fn end_session(
    store: &Store,
    memories: Option<&Memories>,
    log: &SessionLog,
    entry: &str,
    device: &DeviceId,
    clock: &Hlc,
) -> Result<SessionRecord, ContinuityError> {
    let appended = log.append(store, entry, device, clock).await?;
    let tiers = record_tiers(store, log, device, clock).await?;
    let mut made = 0;
    if let Some(memories) = memories {
        let mut items = vec![NewMemoryText {
            source: MemorySource::Log,
            source_ref: Some(format!("{FILE_NAME}#{}", appended.seq)),
            content: fit(&appended.text),
        }];
        for tier in &tiers {
            items.extend(tier_sections(log, *tier));
        }
        match memories.remember_all(log.workspace(), items).await {
            Ok(remembered) => made = remembered.iter().filter(|r| r.new).count(),
            Err(error) => warn!(%error, "the session's memories could not be stored"),
        }
    }
    Ok(SessionRecord {
        entry: appended,
        tiers,
        memories: made,
    })
}

/// A tier's `## ` sections as document memories. The text before the
/// first heading (title and introduction) and sections still holding only
/// the template's placeholders are left out.
fn tier_sections(log: &SessionLog, tier: Tier) -> Vec<NewMemoryText> {
    let text = match read_tier(log.workspace(), None, tier) {
        Ok(text) => text,
        Err(error) => {
            warn!(%error, "a changed tier could not be read back for memory");
            return Vec::new();
        }
    };
    split_entries(&text)
        .into_iter()
        .filter(|section| !is_placeholder(section))
        .map(|section| NewMemoryText {
            source: MemorySource::Document,
            source_ref: Some(tier.file_name().to_owned()),
            content: fit(section),
        })
        .collect()
}

/// A section whose body is empty or only `- (…)` placeholder lines.
fn is_placeholder(section: &str) -> bool {
    section.lines().skip(1).all(|line| {
        let line = line.trim();
        line.is_empty() || (line.starts_with("- (") && line.ends_with(')'))
    })
}

/// `text` cut to what a memory may hold.
fn fit(text: &str) -> String {
    head(text.trim(), MAX_MEMORY_BYTES).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_placeholders_are_not_memories() {
        assert!(is_placeholder("## Projects\n- (name: what it is)\n"));
        assert!(is_placeholder("## Empty"));
        assert!(!is_placeholder("## Stack\n- Rust, SQLite\n"));
        assert_eq!(fit("  x  "), "x");
    }
}
