//! A finished workflow's place in the continuity loop: an entry in the
//! workspace's `SESSION_LOG.md` and a refreshed briefing, written by the
//! default model when one is configured (so a person's edits are merged)
//! and by the deterministic summary otherwise. Workspaces without a session
//! log (never `baton init`ed) are left untouched.

use baton_continuity::{Entry, SessionLog, Writer, end_session, handoff};
use baton_core::{DeviceId, WorkflowId, one_line, rfc3339};
use baton_store::{TaskState, WorkflowStatus};
use tracing::warn;

use crate::engine::Engine;

/// Records the end of run `id`; failures are logged, never raised: the run
/// itself is already safely stored.
pub(crate) async fn finished(engine: &Engine, id: WorkflowId) {
    if let Err(error) = record(engine, id).await {
        warn!(%error, workflow = %id, "cannot record the workflow in the workspace's session log");
    }
}

async fn record(engine: &Engine, id: WorkflowId) -> Result<(), Box<dyn std::error::Error>> {
    let store = engine.hub().store();
    let view = engine.get(id).await?;
    let run = &view.run;
    let log = SessionLog::open(std::path::Path::new(&run.workspace))?;
    if !log.path().exists() {
        return Ok(());
    }
    let mut entry = Entry {
        title: format!(
            "{} - baton workflow {} ({})",
            rfc3339(run.finished_ms.unwrap_or(run.updated_ms)),
            run.id,
            one_line(&run.name, 80)
        ),
        ..Entry::default()
    };
    if let Some(request) = run.request["request"]["description"].as_str() {
        entry
            .starting_context
            .push(format!("Request: {}", one_line(request, 400)));
    }
    for task in &view.tasks {
        let model = task
            .model
            .as_deref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default();
        let line = format!(
            "{} ({}{model}): {}",
            task.key,
            task.kind,
            task.state.as_str()
        );
        match task.state {
            TaskState::Completed => {
                let output = match &task.output {
                    Some(serde_json::Value::String(text)) => one_line(text, 200),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => one_line(&other.to_string(), 200),
                };
                entry.work_done.push(if output.is_empty() {
                    line
                } else {
                    format!("{line} — {output}")
                });
            }
            TaskState::Failed => entry.blockers.push(format!(
                "{line}: {}",
                one_line(task.error.as_deref().unwrap_or("no reason recorded"), 300)
            )),
            _ => {}
        }
    }
    match run.status {
        WorkflowStatus::Completed => entry.for_next_instance.push(format!(
            "Workflow completed: {} tasks, {} + {} tokens, ${:.4}.",
            run.total_tasks, run.prompt_tokens, run.completion_tokens, run.cost_usd
        )),
        status => {
            entry.blockers.push(format!(
                "Workflow {}: {}",
                status.as_str(),
                one_line(run.reason.as_deref().unwrap_or(""), 300)
            ));
            entry.for_next_instance.push(format!(
                "Resume it with `baton workflow resume {}` once the cause is fixed.",
                run.id
            ));
        }
    }
    let device = DeviceId::parse(&engine.inner.device)?;
    let clock = engine.hub().clock();
    end_session(store, None, &log, &entry.render(), &device, clock).await?;
    let writer = match engine.config().default_model.as_deref() {
        Some(model) => Writer::Model {
            gateway: engine.hub().gateway(),
            model,
        },
        None => Writer::Summary,
    };
    handoff(store, &log, writer, &device, clock).await?;
    Ok(())
}
