//! `baton models`.

use std::io::Write;
use std::process::ExitCode;

use crate::args::{Global, ModelsArgs};
use crate::boot;
use crate::style::{BOLD, DIM};

pub async fn run(global: &Global, args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let gateway = boot::gateway(&loaded).await?;
    let mut err = anstream::stderr();
    if args.refresh {
        for (provider, result) in gateway.refresh_models().await {
            if let Err(e) = result {
                writeln!(
                    err,
                    "{DIM}warning: cannot list models of {provider}: {e}{DIM:#}"
                )?;
            }
        }
    }
    let models = gateway.models();
    let mut out = anstream::stdout();
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&models)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if models.is_empty() {
        writeln!(
            err,
            "no models: set OPENAI_API_KEY, ANTHROPIC_API_KEY or another provider's key, start Ollama, or add [[providers]] to the configuration"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let width = models
        .iter()
        .map(|m| m.id.to_string().len())
        .max()
        .unwrap_or(2)
        .max(2);
    writeln!(
        out,
        "{BOLD}{:width$}  {:>9}  {:>9}  {:>9}  {:5}  {:6}{BOLD:#}",
        "ID", "CONTEXT", "IN $/M", "OUT $/M", "TOOLS", "VISION"
    )?;
    for m in &models {
        writeln!(
            out,
            "{:width$}  {:>9}  {:>9.2}  {:>9.2}  {:5}  {:6}",
            m.id.to_string(),
            m.context_window,
            m.pricing.input_per_mtok,
            m.pricing.output_per_mtok,
            if m.capabilities.tools { "yes" } else { "no" },
            if m.capabilities.vision { "yes" } else { "no" },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
