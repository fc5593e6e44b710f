//! `baton init`: the four handoff tiers, created from templates where
//! missing, never overwritten.

use std::io::Write;
use std::process::ExitCode;

use crate::args::{Global, InitArgs};
use crate::style::DIM;

pub fn run(global: &Global, args: InitArgs) -> anyhow::Result<ExitCode> {
    let workspace = crate::boot::workspace(global)?;
    let report = baton_continuity::init(&workspace, args.portfolio.as_deref())?;
    let mut out = anstream::stdout();
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        for path in &report.created {
            writeln!(out, "created {}", path.display())?;
        }
        for path in &report.kept {
            writeln!(
                out,
                "{DIM}kept    {} (already there){DIM:#}",
                path.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
