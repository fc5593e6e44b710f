//! `baton log verify`: the workspace's `SESSION_LOG.md` against its
//! hash-chained record in the store; `baton handoff`: the briefing
//! regenerated from that log.

use std::io::Write;
use std::process::ExitCode;

use baton_continuity::{Problem, SessionLog, Writer};
use baton_core::{DeviceId, Hlc};
use baton_store::Store;

use crate::args::{Global, HandoffArgs};
use crate::boot;
use crate::style::{BOLD, DIM, ERROR};

/// The store and the workspace's log, as every verb here needs them.
async fn open(global: &Global) -> anyhow::Result<(boot::Loaded, Store, SessionLog)> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let workspace = crate::boot::workspace(global)?;
    let store = boot::open_store(&loaded).await?;
    let log = SessionLog::open(&workspace)?;
    Ok((loaded, store, log))
}

pub async fn handoff(global: &Global, args: HandoffArgs) -> anyhow::Result<ExitCode> {
    let (loaded, store, log) = open(global).await?;
    let device = DeviceId::parse(&loaded.config.chat.default_device)?;
    let gateway = if args.summary {
        None
    } else {
        Some(boot::gateway(&loaded).await?).filter(|g| !g.models().is_empty())
    };
    let model = args
        .model
        .or_else(|| loaded.config.agent.model.clone())
        .unwrap_or_else(|| "auto".to_owned());
    let writer = match &gateway {
        Some(gateway) => Writer::Model {
            gateway,
            model: &model,
        },
        None => Writer::Summary,
    };
    let report = baton_continuity::handoff(&store, &log, writer, &device, &Hlc::new()).await?;
    let mut out = anstream::stdout();
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(
            out,
            "{BOLD}{}{BOLD:#}: regenerated from {} session-log entries by {}",
            report.briefing.display(),
            report.entries_used,
            report.written_by
        )?;
        if let Some(note) = &report.note {
            writeln!(anstream::stderr(), "{DIM}{note}{DIM:#}")?;
        }
        if let Some(version) = report.previous_version {
            writeln!(
                out,
                "  the briefing it replaced is kept as version {version}"
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(global: &Global) -> anyhow::Result<ExitCode> {
    let (_, store, log) = open(global).await?;
    let verification = log.verify(&store).await?;
    let mut out = anstream::stdout();
    if global.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&verification)?)?;
    } else {
        writeln!(
            out,
            "{BOLD}{}{BOLD:#}: {} entries recorded, {} in the file",
            verification.file, verification.recorded, verification.in_file
        )?;
        for problem in &verification.problems {
            writeln!(out, "  {ERROR}{}{ERROR:#}", describe(problem))?;
        }
        if verification.is_intact() {
            writeln!(out, "  intact")?;
        }
    }
    Ok(if verification.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe(problem: &Problem) -> String {
    match problem {
        Problem::Edited { position } => format!("entry {position} was edited"),
        Problem::Moved { recorded, position } => {
            format!("entry {recorded} now stands at position {position}")
        }
        Problem::Deleted { position } => format!("entry {position} was deleted"),
        Problem::NotRecorded { position } => {
            format!("entry {position} was never recorded (added by hand?)")
        }
        Problem::ChainBroken { seq } => {
            format!("the stored chain breaks at entry {seq}: the store was changed outside baton")
        }
    }
}
