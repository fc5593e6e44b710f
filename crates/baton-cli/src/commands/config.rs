//! `baton config check`.

use std::io::Write;
use std::process::ExitCode;

use crate::args::Global;
use crate::boot;
use crate::style::{BOLD, DIM};

/// Validates the configuration (loading fails loudly when it is wrong) and
/// prints the effective result with every secret shown as `***`.
pub fn check(global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    let mut out = anstream::stdout();
    let source = loaded
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "no file (defaults and environment)".into());
    if global.json {
        let doc = serde_json::json!({
            "valid": true,
            "file": loaded.path,
            "data_dir": loaded.data_dir(),
            "config": loaded.config,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(out, "{DIM}# configuration is valid{DIM:#}")?;
        writeln!(out, "{DIM}# file: {source}{DIM:#}")?;
        writeln!(
            out,
            "{DIM}# data dir: {}{DIM:#}",
            loaded.data_dir().display()
        )?;
        writeln!(
            out,
            "{BOLD}{}{BOLD:#}",
            toml::to_string_pretty(&loaded.config)?
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
