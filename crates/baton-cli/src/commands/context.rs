//! `baton context`: what a fresh session reads first, assembled within a
//! token budget from the four tiers, the latest session-log entries and,
//! with `--query`, the memories most relevant to it.

use std::io::Write;
use std::process::ExitCode;

use baton_continuity::{ContextRequest, TokenCounter};

use crate::args::{ContextArgs, Global};
use crate::boot;
use crate::style::DIM;

pub async fn run(global: &Global, args: ContextArgs) -> anyhow::Result<ExitCode> {
    let workspace = boot::workspace(global)?;
    // The store is opened only to recall memories: without a query the
    // context comes from the files alone.
    let memories = match &args.query {
        Some(_) if args.memories > 0 => {
            let loaded = boot::load(global, Vec::new())?;
            boot::init_tracing(&loaded.config, true);
            let store = boot::open_store(&loaded).await?;
            Some(boot::memories(&loaded, &store, None).await?)
        }
        _ => None,
    };
    let request = ContextRequest {
        workspace,
        portfolio: args.portfolio,
        query: args.query,
        budget_tokens: args.budget,
        counter: args
            .model
            .as_deref()
            .map(TokenCounter::for_model)
            .unwrap_or_default(),
        memories: args.memories,
    };
    let context = baton_continuity::get_context(request, memories.as_ref()).await?;
    let mut out = anstream::stdout();
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&context)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    write!(out, "{}", context.text())?;
    let mut err = anstream::stderr();
    for part in &context.context.parts {
        let state = match (&part.note, part.truncated) {
            (Some(note), _) => note.clone(),
            (None, true) => format!("{} tokens, cut to fit", part.tokens),
            (None, false) => format!("{} tokens", part.tokens),
        };
        writeln!(err, "{DIM}{}: {state}{DIM:#}", part.file)?;
    }
    if let Some(note) = &context.memory_note {
        writeln!(err, "{DIM}memory: {note}{DIM:#}")?;
    }
    writeln!(
        err,
        "{DIM}{} of {} tokens ({}){DIM:#}",
        context.context.used_tokens, context.context.budget_tokens, context.context.counted_by
    )?;
    Ok(ExitCode::SUCCESS)
}
