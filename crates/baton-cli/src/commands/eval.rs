//! `baton eval continuity`: the continuity evaluation against a configured
//! model, as a table (or JSON with `--json`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use baton_continuity::eval::{BUILTIN_SUITE, Suite, evaluate};

use crate::args::{EvalContinuityArgs, Global};
use crate::boot;
use crate::style::{BOLD, DIM};

/// The largest suite file read.
const MAX_SUITE_BYTES: u64 = 4 * 1024 * 1024;

pub async fn continuity(global: &Global, args: EvalContinuityArgs) -> anyhow::Result<ExitCode> {
    let mut out = anstream::stdout();
    if args.print_suite {
        write!(out, "{BUILTIN_SUITE}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = match &args.suite {
        Some(path) => {
            let size = std::fs::metadata(path)
                .with_context(|| format!("cannot read the suite {}", path.display()))?
                .len();
            anyhow::ensure!(
                size <= MAX_SUITE_BYTES,
                "the suite {} is larger than {MAX_SUITE_BYTES} bytes",
                path.display()
            );
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the suite {}", path.display()))?
        }
        None => BUILTIN_SUITE.to_owned(),
    };
    let suite = Suite::parse(&text)?;
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let gateway = boot::gateway(&loaded).await?;
    let model = args
        .model
        .or_else(|| loaded.config.agent.model.clone())
        .unwrap_or_else(|| "auto".to_owned());
    let report = evaluate(&suite, &gateway, &model).await?;
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{BOLD}continuity evaluation of {}{BOLD:#} ({} tasks)\n",
        report.model,
        report.tasks.len()
    )?;
    writeln!(
        out,
        "{:<12} {:>14} {:>17} {:>8}",
        "metric", "with handoff", "without handoff", "change"
    )?;
    for score in &report.metrics {
        let metric = serde_json::to_value(score.metric)?;
        writeln!(
            out,
            "{:<12} {:>14} {:>17} {:>+8}",
            metric.as_str().unwrap_or_default(),
            format!("{}/{}", score.with_handoff, score.tasks),
            format!("{}/{}", score.without_handoff, score.tasks),
            score.with_handoff as i64 - score.without_handoff as i64
        )?;
    }
    writeln!(out)?;
    for task in &report.tasks {
        let mark = |passed: bool| if passed { "pass" } else { "fail" };
        writeln!(
            out,
            "{DIM}{:<20} with: {:<4} without: {:<4} {}{DIM:#}",
            task.name,
            mark(task.with_handoff.passed),
            mark(task.without_handoff.passed),
            task.with_handoff.misses.join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
