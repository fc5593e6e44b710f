//! What each kind of task does when a worker runs it.
//!
//! A task that calls a model stores the answer as the task's checkpoint
//! before it is used, and an agent task stores its agent run's id before
//! the run starts: a new attempt after a crash reuses the answer, or
//! resumes the same agent run (whose finished tool calls are never
//! repeated), instead of asking the model again.

use std::path::PathBuf;

use baton_agent::{AgentError, RunRequest};
use baton_core::{ChatRequest, Message, RunId, one_line};
use baton_llm::GatewayError;
use baton_store::{ClaimedTask, RunStatus, WorkflowRun};
use serde_json::{Value, json};

use crate::engine::{Engine, PLANNED_BY_REQUEST};
use crate::plan::{PlanTask, TaskKind};

/// The most of one input's text given to a task.
const MAX_INPUT_BYTES: usize = 16 * 1024;

/// What a task produced.
pub(crate) enum Executed {
    Done(Done),
    /// Waits for a person (an approval step); the worker lets go of it.
    Parked,
}

pub(crate) struct Done {
    pub output: Value,
    pub model: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

impl Done {
    fn plain(output: Value) -> Done {
        Done {
            output,
            model: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
        }
    }
}

/// Why an attempt failed, and whether another attempt could do better.
#[derive(Debug)]
pub(crate) struct TaskError {
    pub message: String,
    pub retry: bool,
}

impl TaskError {
    pub fn retry(message: impl Into<String>) -> TaskError {
        TaskError {
            message: message.into(),
            retry: true,
        }
    }

    pub fn fatal(message: impl Into<String>) -> TaskError {
        TaskError {
            message: message.into(),
            retry: false,
        }
    }
}

impl From<baton_store::StoreError> for TaskError {
    fn from(error: baton_store::StoreError) -> TaskError {
        TaskError::retry(error.to_string())
    }
}

impl From<GatewayError> for TaskError {
    fn from(error: GatewayError) -> TaskError {
        let status = error.status();
        TaskError {
            message: error.to_string(),
            retry: status >= 500 || status == 429 || status == 408,
        }
    }
}

pub(crate) async fn execute(engine: &Engine, task: &ClaimedTask) -> Result<Executed, TaskError> {
    let spec: PlanTask = serde_json::from_value(task.spec.clone())
        .map_err(|e| TaskError::fatal(format!("the stored task cannot be read: {e}")))?;
    match spec.kind {
        TaskKind::Noop => Ok(Executed::Done(Done::plain(Value::Null))),
        TaskKind::Sleep => {
            let ms = spec.sleep_ms.unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(Executed::Done(Done::plain(Value::Null)))
        }
        TaskKind::Approval => {
            engine
                .hub()
                .store()
                .park_task(
                    task.run_id,
                    &task.key,
                    task.epoch,
                    &spec.description,
                    baton_core::wall_millis() as i64,
                )
                .await?;
            Ok(Executed::Parked)
        }
        TaskKind::Model => model_task(engine, task, &spec).await.map(Executed::Done),
        TaskKind::Agent => agent_task(engine, task, &spec).await.map(Executed::Done),
    }
}

/// The run a task belongs to.
async fn workflow_of(engine: &Engine, task: &ClaimedTask) -> Result<WorkflowRun, TaskError> {
    engine
        .hub()
        .store()
        .workflow(task.run_id)
        .await?
        .ok_or_else(|| TaskError::fatal("the workflow is gone"))
}

/// The task's prompt: its description, the workflow's request and context,
/// and the outputs of the tasks it depends on.
async fn prompt(
    engine: &Engine,
    task: &ClaimedTask,
    spec: &PlanTask,
    run: &WorkflowRun,
) -> Result<String, TaskError> {
    let store = engine.hub().store();
    let mut text = spec.description.clone();
    let request = &run.request["request"]["description"];
    if let Some(request) = request.as_str().filter(|r| !r.trim().is_empty()) {
        text.push_str(&format!(
            "\n\nThis is one step of a larger request:\n{request}"
        ));
    }
    if let Some(context) = run.request["context"].as_str() {
        text.push_str(&format!("\n\nContext:\n{context}"));
    }
    let inputs = store.task_outputs(task.run_id, &spec.depends_on).await?;
    if !inputs.is_empty() {
        text.push_str("\n\nResults of the steps before this one:");
        for (key, output) in inputs {
            let output = match output {
                Value::String(s) => s,
                Value::Null => "(nothing)".to_owned(),
                other => other.to_string(),
            };
            text.push_str(&format!(
                "\n\n### {key}\n{}",
                baton_core::head(&output, MAX_INPUT_BYTES)
            ));
        }
    }
    Ok(text)
}

/// The policy an agent task runs under, inherited from its workflow.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
struct TaskPolicy {
    allow: Vec<String>,
    block: Vec<String>,
    network: Option<bool>,
}

/// The workflow's `allow`, `block` and `network`, with the task's `tools`
/// allowed too when a person wrote the plan. A plan a model wrote names
/// tools only as hints: a model never grants itself a tool.
fn task_policy(run: &WorkflowRun, spec: &PlanTask) -> TaskPolicy {
    let mut policy: TaskPolicy =
        serde_json::from_value(run.request["request"].clone()).unwrap_or_default();
    if run.request["planned_by"] == PLANNED_BY_REQUEST {
        policy.allow.extend(spec.tools.iter().cloned());
    }
    policy
}

fn model_of(spec: &PlanTask) -> String {
    spec.model.clone().unwrap_or_else(|| "auto".to_owned())
}

async fn model_task(
    engine: &Engine,
    task: &ClaimedTask,
    spec: &PlanTask,
) -> Result<Done, TaskError> {
    if let Some(stored) = task.checkpoint.as_ref().and_then(answer_from_checkpoint) {
        return Ok(stored);
    }
    let run = workflow_of(engine, task).await?;
    let text = prompt(engine, task, spec, &run).await?;
    let request = ChatRequest {
        model: model_of(spec),
        messages: vec![
            Message::system(
                "You carry out one step of a workflow. Do exactly what the step asks, \
                 using the results of earlier steps when given, and answer with the result only.",
            ),
            Message::user(text),
        ],
        tools: Vec::new(),
        tool_choice: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: Vec::new(),
        extra: Default::default(),
    };
    let routed = engine.hub().gateway().chat(&request).await?;
    let usage = routed.value.usage;
    let done = Done {
        output: Value::String(routed.value.message.text()),
        model: Some(routed.model.id.to_string()),
        prompt_tokens: usage.prompt_tokens as i64,
        completion_tokens: usage.completion_tokens as i64,
        cost_usd: routed.model.pricing.cost(&usage),
    };
    engine
        .hub()
        .store()
        .checkpoint_task(task.run_id, &task.key, task.epoch, &checkpoint_of(&done))
        .await?;
    Ok(done)
}

fn checkpoint_of(done: &Done) -> Value {
    json!({
        "answer": done.output,
        "model": done.model,
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "cost_usd": done.cost_usd,
    })
}

fn answer_from_checkpoint(checkpoint: &Value) -> Option<Done> {
    let output = checkpoint.get("answer")?.clone();
    Some(Done {
        output,
        model: checkpoint["model"].as_str().map(str::to_owned),
        prompt_tokens: checkpoint["prompt_tokens"].as_i64().unwrap_or(0),
        completion_tokens: checkpoint["completion_tokens"].as_i64().unwrap_or(0),
        cost_usd: checkpoint["cost_usd"].as_f64().unwrap_or(0.0),
    })
}

async fn agent_task(
    engine: &Engine,
    task: &ClaimedTask,
    spec: &PlanTask,
) -> Result<Done, TaskError> {
    if let Some(stored) = task.checkpoint.as_ref().and_then(answer_from_checkpoint) {
        return Ok(stored);
    }
    let Some(agent) = engine.inner.agent.as_ref() else {
        return Err(TaskError::fatal(
            "agent tasks need the agent service, which this process does not run",
        ));
    };
    let store = engine.hub().store();
    let earlier: Option<RunId> = task
        .checkpoint
        .as_ref()
        .and_then(|c| c["agent_run"].as_str())
        .and_then(|id| id.parse().ok());
    let handle = match earlier {
        Some(id) => {
            let (run, _) = agent.run(id).await.map_err(agent_error)?;
            if run.status.is_final() {
                return finished_agent(run.status, run.reason.unwrap_or_default(), &run.model);
            }
            agent.resume(id).await.map_err(agent_error)?
        }
        None => {
            let workflow = workflow_of(engine, task).await?;
            let goal = prompt(engine, task, spec, &workflow).await?;
            let policy = task_policy(&workflow, spec);
            let handle = agent
                .start(RunRequest {
                    goal,
                    workspace: Some(PathBuf::from(&workflow.workspace)),
                    model: Some(model_of(spec)),
                    mode: None,
                    max_steps: None,
                    max_tokens: None,
                    max_cost_usd: None,
                    max_duration_secs: Some((task.timeout_ms / 1000).max(1) as u64),
                    allow: policy.allow,
                    block: policy.block,
                    protocol: None,
                    network: policy.network,
                    goal_check: None,
                    device_id: None,
                    parent: None,
                })
                .await
                .map_err(agent_error)?;
            store
                .checkpoint_task(
                    task.run_id,
                    &task.key,
                    task.epoch,
                    &json!({ "agent_run": handle.run_id.to_string() }),
                )
                .await?;
            handle
        }
    };
    let run_id = handle.run_id;
    let mut events = handle.events;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let summary = handle
        .done
        .await
        .map_err(|e| TaskError::retry(format!("the agent run stopped: {e}")))?
        .map_err(agent_error)?;
    let (run, _) = agent.run(run_id).await.map_err(agent_error)?;
    if summary.status != RunStatus::Completed {
        return Err(TaskError::fatal(format!(
            "agent run {run_id} ended {}: {}",
            summary.status.as_str(),
            one_line(&summary.reason, 400)
        )));
    }
    let done = Done {
        output: Value::String(summary.answer),
        model: Some(run.model),
        prompt_tokens: run.prompt_tokens,
        completion_tokens: run.completion_tokens,
        cost_usd: run.cost_usd,
    };
    let mut checkpoint = checkpoint_of(&done);
    checkpoint["agent_run"] = json!(run_id.to_string());
    store
        .checkpoint_task(task.run_id, &task.key, task.epoch, &checkpoint)
        .await?;
    Ok(done)
}

/// An agent run that had ended before this attempt: its reason is all that
/// is left of its answer.
fn finished_agent(status: RunStatus, reason: String, model: &str) -> Result<Done, TaskError> {
    if status != RunStatus::Completed {
        return Err(TaskError::fatal(format!(
            "the agent run ended {}: {}",
            status.as_str(),
            one_line(&reason, 400)
        )));
    }
    Ok(Done {
        output: Value::String(reason),
        model: Some(model.to_owned()),
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0.0,
    })
}

fn agent_error(error: AgentError) -> TaskError {
    let retry = !matches!(error, AgentError::Invalid(_));
    TaskError {
        message: error.to_string(),
        retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(planned_by: &str, request: Value) -> WorkflowRun {
        serde_json::from_value(json!({
            "id": baton_core::WorkflowId::new(),
            "name": "t",
            "request": { "request": request, "context": null, "planned_by": planned_by },
            "plan": {},
            "workspace": "/w",
            "device_id": "d",
            "status": "running",
            "reason": null,
            "total_tasks": 1,
            "done_tasks": 0,
            "last_event": 0,
            "result": null,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "created_ms": 1,
            "updated_ms": 1,
            "finished_ms": null,
        }))
        .unwrap()
    }

    fn agent_task(tools: &[&str]) -> PlanTask {
        serde_json::from_value(json!({ "id": "a", "type": "agent", "tools": tools })).unwrap()
    }

    #[test]
    fn a_persons_plan_grants_its_tools_and_the_workflow_policy_applies_to_every_task() {
        let request = json!({ "allow": ["search"], "block": ["rm"], "network": true });
        let policy = task_policy(&run("request", request.clone()), &agent_task(&["write"]));
        assert_eq!(
            policy,
            TaskPolicy {
                allow: vec!["search".into(), "write".into()],
                block: vec!["rm".into()],
                network: Some(true),
            }
        );
        // A model's plan names tools as hints only.
        let policy = task_policy(&run("openai/gpt-4o", request), &agent_task(&["shell"]));
        assert_eq!(policy.allow, vec!["search".to_owned()]);
        assert_eq!(policy.block, vec!["rm".to_owned()]);
        // A request without a policy leaves everything to the configuration.
        let policy = task_policy(
            &run("single", json!({ "description": "x" })),
            &agent_task(&[]),
        );
        assert_eq!(policy, TaskPolicy::default());
    }
}
