//! `baton context`: what a fresh session reads first, assembled within a
//! token budget from the four tiers and the latest session-log entries.

use std::io::Write;
use std::process::ExitCode;

use baton_continuity::DEFAULT_BYTES_PER_TOKEN;

use crate::args::{ContextArgs, Global};
use crate::style::DIM;

pub fn run(global: &Global, args: ContextArgs) -> anyhow::Result<ExitCode> {
    let workspace = crate::boot::workspace(global)?;
    let context = baton_continuity::assemble(
        &workspace,
        args.portfolio.as_deref(),
        args.budget,
        DEFAULT_BYTES_PER_TOKEN,
    );
    let mut out = anstream::stdout();
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&context)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    write!(out, "{}", context.text())?;
    let mut err = anstream::stderr();
    for part in &context.parts {
        let state = match (&part.note, part.truncated) {
            (Some(note), _) => note.clone(),
            (None, true) => format!("{} tokens, cut to fit", part.tokens),
            (None, false) => format!("{} tokens", part.tokens),
        };
        writeln!(err, "{DIM}{}: {state}{DIM:#}", part.file)?;
    }
    writeln!(
        err,
        "{DIM}{} of {} tokens{DIM:#}",
        context.used_tokens, context.budget_tokens
    )?;
    Ok(ExitCode::SUCCESS)
}
