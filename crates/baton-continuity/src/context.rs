//! Context assembly: what a fresh session reads first, within a token
//! budget, from the four tiers and the recent session log.
//!
//! Output is in reading order: portfolio, project, briefing, then the
//! latest log entries (oldest of them first). When everything does not fit,
//! the budget goes by priority: the briefing (what is happening now), then
//! the latest log entries, then the project context, then the portfolio.
//! Each gets at most its share first (35 %, 30 %, 25 %, 10 %), and what a
//! part leaves unused goes to the others in the same order. A document that
//! is cut keeps its beginning (its first sections matter most) and says how
//! much was left out and where to read it; log entries are kept whole,
//! newest first, and the older ones dropped. Tokens are counted the way
//! the session's model family counts them ([`TokenCounter`]): exactly for
//! OpenAI's encodings, estimated from bytes (pessimistically) otherwise.
//!
//! A missing, binary or unreadable tier is left out with a note that says
//! why; a document larger than [`MAX_DOCUMENT_BYTES`] is read up to that.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::session_log::split_entries;
use crate::tiers::Tier;
use crate::tokens::TokenCounter;

/// The most read from one tier file.
pub const MAX_DOCUMENT_BYTES: u64 = 4 * 1024 * 1024;

/// The largest budget accepted: far above any model's window.
pub const MAX_BUDGET_TOKENS: usize = 1_000_000;

/// Log entries considered at most.
const RECENT_LOG_ENTRIES: usize = 10;

/// Budget shares, in priority order.
const SHARES: [(Source, Tier, f64); 4] = [
    (Source::Briefing, Tier::Briefing, 0.35),
    (Source::RecentLog, Tier::Log, 0.30),
    (Source::Project, Tier::Project, 0.25),
    (Source::Portfolio, Tier::Portfolio, 0.10),
];

/// Where a part of the context comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Portfolio,
    Project,
    Briefing,
    RecentLog,
    /// Memories recalled for the session's query ([`crate::get_context`]).
    Memories,
}

/// One part of the assembled context.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Part {
    pub source: Source,
    pub file: String,
    /// What the session reads (empty when the file could not be used).
    pub text: String,
    pub tokens: usize,
    /// Whether something of the file was left out for the budget.
    pub truncated: bool,
    /// Why the file was left out or only partly read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The assembled context.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Context {
    pub budget_tokens: usize,
    pub used_tokens: usize,
    /// How tokens were counted: an encoding's name, or the estimate's ratio.
    pub counted_by: String,
    /// In reading order.
    pub parts: Vec<Part>,
}

impl Context {
    /// The parts as one Markdown text, each under a heading naming its file.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in self.parts.iter().filter(|p| !p.text.is_empty()) {
            out.push_str(&format!(
                "<!-- {} -->\n{}\n\n",
                part.file,
                part.text.trim_end()
            ));
        }
        out
    }
}

/// Where the tiers are: the project tiers in `workspace`, the portfolio in
/// `portfolio` (the workspace when `None`).
pub fn assemble(
    workspace: &Path,
    portfolio: Option<&Path>,
    budget_tokens: usize,
    counter: &TokenCounter,
) -> Context {
    let tokens = |text: &str| counter.count(text);
    let read = |tier: Tier| {
        let dir = match tier {
            Tier::Portfolio => portfolio.unwrap_or(workspace),
            _ => workspace,
        };
        let path = dir.join(tier.file_name());
        (path.display().to_string(), read_document(&path))
    };

    // What each source would take whole.
    let wanted: Vec<(Source, String, Result<String, String>)> = SHARES
        .iter()
        .map(|(source, tier, _)| {
            let (file, text) = read(*tier);
            (*source, file, text)
        })
        .collect();
    let need: Vec<usize> = wanted
        .iter()
        .map(|(source, _, text)| match (source, text) {
            (_, Err(_)) => 0,
            (Source::RecentLog, Ok(log)) => split_entries(log)
                .iter()
                .rev()
                .take(RECENT_LOG_ENTRIES)
                .map(|entry| entry_cost(entry, &tokens))
                .sum(),
            (_, Ok(text)) => counter.measure(text),
        })
        .collect();

    // Shares first, then what is left over, in priority order.
    let mut grant: Vec<usize> = SHARES
        .iter()
        .zip(&need)
        .map(|((_, _, share), need)| (*need).min((budget_tokens as f64 * share) as usize))
        .collect();
    let mut left = budget_tokens.saturating_sub(grant.iter().sum());
    for (at, need) in need.iter().enumerate() {
        let more = need.saturating_sub(grant[at]).min(left);
        grant[at] += more;
        left -= more;
    }

    let mut parts: Vec<Part> = wanted
        .into_iter()
        .zip(grant)
        .map(|((source, file, text), grant)| match text {
            Err(note) => Part {
                source,
                file,
                text: String::new(),
                tokens: 0,
                truncated: false,
                note: Some(note),
            },
            Ok(text) => {
                let (kept, truncated) = if source == Source::RecentLog {
                    newest_entries(&text, grant, &tokens)
                } else {
                    head(&text, grant, counter, &file)
                };
                // A part kept whole with room to spare is measured (sampled
                // past SAMPLE_BYTES); one cut to its grant is counted whole.
                let tokens = if truncated {
                    counter.count(&kept)
                } else {
                    counter.measure(&kept)
                };
                Part {
                    source,
                    tokens,
                    text: kept,
                    truncated,
                    file,
                    note: None,
                }
            }
        })
        .collect();
    parts.sort_by_key(|p| match p.source {
        Source::Portfolio => 0,
        Source::Project => 1,
        Source::Briefing => 2,
        Source::RecentLog => 3,
        Source::Memories => 4,
    });
    Context {
        budget_tokens,
        used_tokens: parts.iter().map(|p| p.tokens).sum(),
        counted_by: counter.describe(),
        parts,
    }
}

/// A tier's text, or why it cannot be used.
pub(crate) fn read_document(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "missing (baton init creates it)".to_owned(),
        _ => format!("unreadable: {e}"),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unreadable: {e}"))?;
    if bytes.contains(&0) {
        return Err("left out: it holds binary data, not Markdown".to_owned());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The beginning of `text` within `grant` tokens, cut at a line end, with
/// a marker saying what was left out. The cut is placed by the text's own
/// bytes-per-token ratio, then moved back a line at a time (a tenth of
/// what is kept at once) until the counter agrees it fits.
fn head(text: &str, grant: usize, counter: &TokenCounter, file: &str) -> (String, bool) {
    let measured = counter.measure(text);
    if measured <= grant - grant / 10 || (measured <= grant && counter.count(text) <= grant) {
        return (text.to_owned(), false);
    }
    let marker = |left_out: usize| format!("[… {left_out} more bytes; read {file} for the rest]\n");
    let ratio = counter.bytes_per_token(text);
    let mut room = ((grant as f64 * ratio) as usize).min(text.len());
    loop {
        let room_for_text = room.saturating_sub(marker(text.len()).len());
        let fits = baton_core::head(text, room_for_text);
        let cut = fits.rfind('\n').map_or(0, |at| at + 1);
        if cut == 0 {
            return (String::new(), true);
        }
        let kept = format!("{}{}", &text[..cut], marker(text.len() - cut));
        if counter.count(&kept) <= grant {
            return (kept, true);
        }
        room = cut - cut / 10 - 1;
    }
}

/// What one log entry costs in the context: its tokens and its separator.
fn entry_cost(entry: &str, tokens: &dyn Fn(&str) -> usize) -> usize {
    tokens(entry) + 1
}

/// The newest whole entries of `log` (at most [`RECENT_LOG_ENTRIES`]) that
/// fit in `grant` tokens, oldest of them first; `true` when the file holds
/// more.
fn newest_entries(log: &str, grant: usize, tokens: &dyn Fn(&str) -> usize) -> (String, bool) {
    let entries = split_entries(log);
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0;
    for entry in entries.iter().rev().take(RECENT_LOG_ENTRIES) {
        let cost = entry_cost(entry, tokens);
        if used + cost > grant {
            break;
        }
        used += cost;
        kept.push(entry);
    }
    let truncated = kept.len() < entries.len();
    kept.reverse();
    (kept.join("\n\n"), truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    fn write(dir: &Path, tier: Tier, text: &str) {
        std::fs::write(dir.join(tier.file_name()), text).unwrap();
    }

    #[test]
    fn everything_fits_in_reading_order() {
        let dir = tempfile::tempdir().unwrap();
        crate::init(dir.path(), None).unwrap();
        let context = assemble(dir.path(), None, 10_000, &TokenCounter::default());
        let sources: Vec<Source> = context.parts.iter().map(|p| p.source).collect();
        assert_eq!(
            sources,
            [
                Source::Portfolio,
                Source::Project,
                Source::Briefing,
                Source::RecentLog
            ]
        );
        assert!(
            context
                .parts
                .iter()
                .all(|p| !p.truncated && p.note.is_none())
        );
        assert!(context.used_tokens <= context.budget_tokens);
        let text = context.text();
        assert!(
            text.find("# Portfolio Context").unwrap() < text.find("# Session Briefing").unwrap()
        );
    }

    #[test]
    fn the_budget_goes_to_the_briefing_and_the_newest_entries_first() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            Tier::Portfolio,
            &"portfolio line\n".repeat(2_000),
        );
        write(dir.path(), Tier::Project, &"project line\n".repeat(2_000));
        write(
            dir.path(),
            Tier::Briefing,
            "# Session Briefing\n- now: the parser\n",
        );
        let mut log = String::from("# Session Log\n");
        for n in 0..30 {
            let entry = Entry {
                title: format!("session {n}"),
                work_done: vec!["x".repeat(200)],
                ..Entry::default()
            };
            log.push_str(&entry.render());
        }
        write(dir.path(), Tier::Log, &log);

        let context = assemble(dir.path(), None, 2_000, &TokenCounter::default());
        assert!(context.used_tokens <= 2_000, "{}", context.used_tokens);
        let part = |source| context.parts.iter().find(|p| p.source == source).unwrap();
        assert!(!part(Source::Briefing).truncated);
        let recent = part(Source::RecentLog);
        assert!(recent.truncated && recent.text.contains("session 29"));
        assert!(!recent.text.contains("session 0\n"));
        let project = part(Source::Project);
        assert!(
            project.truncated && project.text.contains("more bytes; read"),
            "{}",
            project.text
        );
        assert!(project.tokens > part(Source::Portfolio).tokens);
    }

    #[test]
    fn unusable_tiers_are_left_out_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(Tier::Project.file_name()),
            b"\x00\x01binary",
        )
        .unwrap();
        let context = assemble(dir.path(), None, 1_000, &TokenCounter::default());
        let note = |source| {
            context
                .parts
                .iter()
                .find(|p| p.source == source)
                .unwrap()
                .note
                .clone()
                .unwrap()
        };
        assert!(note(Source::Project).contains("binary"));
        assert!(note(Source::Briefing).contains("missing"));
        assert_eq!(context.used_tokens, 0);
    }
}
