//! `baton run`: an autonomous agent run toward a goal, with a live tool
//! trace on stderr and approvals asked inline (or over the HTTP API when
//! there is no terminal to ask on).

use baton_core::one_line;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use baton_agent::{Agent, AgentEvent, RunHandle, RunRequest};
use baton_store::{ApprovalScope, RunStatus};

use crate::args::{Global, RunArgs};
use crate::boot;
use crate::style::{ACCENT, BOLD, DIM, ERROR};

pub async fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let hub = boot::hub(&loaded).await?;
    let agent = boot::agent(&loaded, &hub, global).await?;
    let handle = match &args.resume {
        Some(id) => {
            let id = id
                .parse()
                .with_context(|| format!("run id {id:?} is not a UUID"))?;
            agent.resume(id).await?
        }
        None => {
            let goal = args
                .goal
                .clone()
                .context("give a goal with --goal, or --resume RUN_ID")?;
            agent.start(request(&args, goal)).await?
        }
    };
    let status = follow(&agent, handle, global.json).await?;
    hub.shutdown().await;
    Ok(match status {
        RunStatus::Completed => ExitCode::SUCCESS,
        RunStatus::Failed => ExitCode::FAILURE,
        _ => ExitCode::from(3),
    })
}

fn request(args: &RunArgs, goal: String) -> RunRequest {
    RunRequest {
        goal,
        workspace: None,
        model: args.model.clone(),
        mode: args.mode.clone(),
        max_steps: args.max_steps,
        max_tokens: args.max_tokens,
        max_cost_usd: args.max_cost,
        max_duration_secs: args.max_time,
        allow: args.allow.clone(),
        block: args.block.clone(),
        protocol: args.protocol.map(Into::into),
        network: args.network.then_some(true),
        goal_check: args.no_goal_check.then_some(false),
        device_id: args.device.clone(),
        parent: None,
    }
}

/// Prints the run's events until it ends; returns how it ended.
async fn follow(agent: &Agent, mut handle: RunHandle, json: bool) -> anyhow::Result<RunStatus> {
    let mut err = anstream::stderr();
    let mut out = anstream::stdout();
    let interactive = std::io::stdin().is_terminal();
    let mut ended = None;
    let mut in_text = false;
    while let Some(event) = handle.events.recv().await {
        if json {
            writeln!(out, "{}", serde_json::to_string(&event)?)?;
        }
        if !matches!(event, AgentEvent::Text { .. }) && in_text {
            writeln!(err)?;
            in_text = false;
        }
        match &event {
            AgentEvent::Started {
                run_id,
                model,
                workspace,
                mode,
                resumed,
                ..
            } if !json => {
                let verb = if *resumed { "resumed" } else { "started" };
                writeln!(
                    err,
                    "{DIM}run {run_id} {verb}: {model}, mode {mode}, workspace {workspace}{DIM:#}"
                )?;
            }
            AgentEvent::Step { step } if !json => writeln!(err, "{BOLD}step {step}{BOLD:#}")?,
            AgentEvent::Text { text } if !json => {
                write!(err, "{DIM}{text}{DIM:#}")?;
                in_text = true;
            }
            AgentEvent::ToolCall {
                tool, arguments, ..
            } if !json => {
                writeln!(
                    err,
                    "  {ACCENT}→ {tool}{ACCENT:#} {}",
                    one_line(&arguments.to_string(), 160)
                )?;
            }
            AgentEvent::ToolResult {
                tool,
                state,
                summary,
                duration_ms,
                truncated,
                ..
            } if !json => {
                let cut = if *truncated { " (output cut)" } else { "" };
                writeln!(
                    err,
                    "  {DIM}← {tool} {} in {duration_ms} ms: {}{cut}{DIM:#}",
                    state.as_str(),
                    one_line(summary, 160)
                )?;
            }
            AgentEvent::Blocked { tool, reason, .. } if !json => {
                writeln!(err, "  {ERROR}✗ {tool} blocked:{ERROR:#} {reason}")?;
            }
            AgentEvent::Note { message } if !json => {
                writeln!(err, "  {DIM}note: {message}{DIM:#}")?
            }
            AgentEvent::ApprovalRequested {
                approval_id,
                tool,
                subject,
                reason,
                ..
            } => {
                if interactive {
                    let (tool, subject, reason) = (tool.clone(), subject.clone(), reason.clone());
                    let (allowed, scope) =
                        tokio::task::spawn_blocking(move || prompt(&tool, &subject, &reason))
                            .await??;
                    agent
                        .approvals()
                        .decide(*approval_id, allowed, scope, "cli")
                        .await?;
                } else if !json {
                    writeln!(
                        err,
                        "  approval {approval_id} needed for {tool} `{subject}` ({reason}); \
                         answer with POST /approvals/{approval_id}"
                    )?;
                }
            }
            AgentEvent::Finished {
                status,
                reason,
                steps,
                prompt_tokens,
                completion_tokens,
                cost_usd,
                answer,
                ..
            } => {
                ended = Some(*status);
                if !json {
                    if !answer.is_empty() {
                        writeln!(out, "{answer}")?;
                    }
                    writeln!(
                        err,
                        "{BOLD}{}{BOLD:#}: {reason} ({steps} steps, {} tokens, ${cost_usd:.4})",
                        status.as_str(),
                        prompt_tokens + completion_tokens
                    )?;
                }
            }
            _ => {}
        }
    }
    let summary = handle.done.await.context("the run's task failed")??;
    Ok(ended.unwrap_or(summary.status))
}

/// Asks on the terminal: yes once, always, or no.
fn prompt(tool: &str, subject: &str, reason: &str) -> anyhow::Result<(bool, ApprovalScope)> {
    let mut err = anstream::stderr();
    let stdin = std::io::stdin();
    loop {
        write!(
            err,
            "  {BOLD}allow {tool} `{subject}`?{BOLD:#} ({reason}) [y]es once / [a]lways / [n]o: "
        )?;
        err.flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok((false, ApprovalScope::Once));
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok((true, ApprovalScope::Once)),
            "a" | "always" => return Ok((true, ApprovalScope::Always)),
            "n" | "no" => return Ok((false, ApprovalScope::Once)),
            _ => writeln!(err, "  answer y, a or n")?,
        }
    }
}
