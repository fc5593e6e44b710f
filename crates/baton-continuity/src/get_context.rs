//! The one context API: `get_context` behind `baton context`, `GET /context`
//! and MCP's `get_context` tool. The assembled tiers and recent log
//! ([`crate::assemble`]) plus the memories most relevant to the session's
//! query, all within one token budget.
//!
//! With a query, recalled memories may take up to [`MEMORY_SHARE`] of the
//! budget (what they leave goes to the documents); each is one line with
//! its source and date, cut to fit. Without a query, or without a memory
//! manager, the documents get the whole budget.

use std::path::PathBuf;

use baton_core::{one_line, rfc3339};
use serde::Serialize;

use crate::context::{Context, MAX_BUDGET_TOKENS, Part, Source, assemble};
use crate::error::ContinuityError;
use crate::memory::{Memories, Recalled};
use crate::tokens::TokenCounter;

/// The share of the budget recalled memories may take.
pub const MEMORY_SHARE: f64 = 0.15;

/// Tokens a context takes when the caller names no budget.
pub const DEFAULT_BUDGET_TOKENS: usize = 8_000;

/// Memories recalled for a query when the caller names no number.
pub const DEFAULT_MEMORIES: usize = 5;

/// What a session asks for.
#[derive(Debug, Clone)]
pub struct ContextRequest {
    pub workspace: PathBuf,
    /// Where `PORTFOLIO_CONTEXT.md` lives, when not in the workspace.
    pub portfolio: Option<PathBuf>,
    /// What the session is about: memories are recalled for it.
    pub query: Option<String>,
    pub budget_tokens: usize,
    /// How the session's model counts tokens.
    pub counter: TokenCounter,
    /// Memories recalled at most.
    pub memories: usize,
}

/// The assembled context and the memories in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkspaceContext {
    #[serde(flatten)]
    pub context: Context,
    /// The recalled memories, best first, with their scores.
    #[schema(value_type = Vec<Object>)]
    pub memories: Vec<Recalled>,
    /// Why memories could not be recalled (or only by their words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_note: Option<String>,
}

impl WorkspaceContext {
    /// The parts as one Markdown text, for a prompt.
    pub fn text(&self) -> String {
        self.context.text()
    }
}

/// Builds the context a session starts from. The budget must be 1 to
/// [`MAX_BUDGET_TOKENS`] tokens and at most [`crate::MAX_RESULTS`] memories
/// may be asked for.
pub async fn get_context(
    request: ContextRequest,
    memories: Option<&Memories>,
) -> Result<WorkspaceContext, ContinuityError> {
    if request.budget_tokens == 0 || request.budget_tokens > MAX_BUDGET_TOKENS {
        return Err(ContinuityError::InvalidRequest(format!(
            "the budget must be between 1 and {MAX_BUDGET_TOKENS} tokens, got {}",
            request.budget_tokens
        )));
    }
    if request.memories > crate::MAX_RESULTS {
        return Err(ContinuityError::InvalidRequest(format!(
            "memories must be between 0 and {}, got {}",
            crate::MAX_RESULTS,
            request.memories
        )));
    }
    let counter = request.counter;
    let tokens = |text: &str| counter.count(text);
    let share = (request.budget_tokens as f64 * MEMORY_SHARE) as usize;
    let (recalled, memory_note) = match (&request.query, memories) {
        (Some(query), Some(memories)) if request.memories > 0 && !query.trim().is_empty() => {
            let query = crate::memory::clip_query(query);
            match memories
                .search(
                    &request.workspace,
                    query,
                    request.memories.min(crate::MAX_RESULTS),
                )
                .await
            {
                Ok(recall) => (recall.hits, recall.vector_note),
                Err(ContinuityError::Store(e)) => return Err(ContinuityError::Store(e)),
                Err(e) => (Vec::new(), Some(e.to_string())),
            }
        }
        _ => (Vec::new(), None),
    };
    let (memory_part, kept) = render_memories(&recalled, share, &tokens);
    let used = memory_part.as_ref().map_or(0, |p| p.tokens);
    let (workspace, portfolio) = (request.workspace.clone(), request.portfolio.clone());
    let budget = request.budget_tokens.saturating_sub(used);
    let mut context = tokio::task::spawn_blocking(move || {
        assemble(&workspace, portfolio.as_deref(), budget, &counter)
    })
    .await
    .map_err(|e| ContinuityError::Io {
        path: request.workspace.clone(),
        source: std::io::Error::other(format!("context assembly stopped: {e}")),
    })?;
    context.budget_tokens = request.budget_tokens;
    if let Some(part) = memory_part {
        context.used_tokens += part.tokens;
        context.parts.push(part);
    }
    Ok(WorkspaceContext {
        context,
        memories: recalled.into_iter().take(kept).collect(),
        memory_note,
    })
}

/// The recalled memories as one part within `grant` tokens, best first,
/// and how many of them it holds; a memory that does not fit whole is cut
/// at a character boundary with a marker.
fn render_memories(
    recalled: &[Recalled],
    grant: usize,
    tokens: &dyn Fn(&str) -> usize,
) -> (Option<Part>, usize) {
    if recalled.is_empty() {
        return (None, 0);
    }
    let mut text = String::from("# Relevant Memories\n\n");
    let mut kept = 0;
    let mut truncated = false;
    for hit in recalled {
        let date = date_of(hit.memory.created_ms);
        let line = format!(
            "- ({}, {date}) {}\n",
            hit.memory.source,
            one_line(&hit.memory.content, usize::MAX)
        );
        let room = grant.saturating_sub(tokens(&text));
        if tokens(&line) <= room {
            text.push_str(&line);
            kept += 1;
            continue;
        }
        truncated = true;
        let marker = " […]\n";
        let fits = (room as f64 * (line.len() as f64 / tokens(&line).max(1) as f64)) as usize;
        let cut = baton_core::head(&line, fits.saturating_sub(marker.len() + 1));
        if cut.len() > 16 {
            text.push_str(cut.trim_end());
            text.push_str(marker);
            kept += 1;
        }
        break;
    }
    if kept == 0 {
        return (None, 0);
    }
    let part = Part {
        source: Source::Memories,
        file: "baton memory".to_owned(),
        tokens: tokens(&text),
        text,
        truncated: truncated || kept < recalled.len(),
        note: None,
    };
    (Some(part), kept)
}

/// `YYYY-MM-DD` of a Unix time in milliseconds (UTC).
fn date_of(ms: i64) -> String {
    rfc3339(ms).get(..10).unwrap_or("unknown date").to_owned()
}
