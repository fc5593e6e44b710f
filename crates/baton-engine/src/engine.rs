//! The engine service: turns requests into stored runs, and answers every
//! face's questions about them (status, events, cancel, resume, approve).
//! Workers ([`crate::worker`]) carry the runs out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use baton_agent::Agent;
use baton_core::{WorkflowId, rfc3339, wall_millis};
use baton_hub::Hub;
use baton_store::{NewTask, NewWorkflow, WorkflowEvent, WorkflowRun, WorkflowTask};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;
use utoipa::ToSchema;

use crate::changes::{Change, Heard};
use crate::decomposer::{DEFAULT_ROUNDS, Decomposer};
use crate::error::EngineError;
use crate::plan::{Plan, TaskKind};
use crate::record;

/// Context packs a request may name.
pub const MAX_CONTEXT_PACKS: usize = 16;
/// The most of one context pack that is read.
pub const MAX_CONTEXT_PACK_BYTES: usize = 64 * 1024;
/// The longest request description.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// `planned_by` of a run whose plan came with the request: a person's
/// plan, whose task `tools` are allowed without asking.
pub(crate) const PLANNED_BY_REQUEST: &str = "request";
/// Events one read returns at most.
pub const EVENT_PAGE: u32 = 500;
/// Runs one pruning transaction deletes at most, so workers beside it wait
/// for a short transaction, not for the whole backlog.
pub const PRUNE_BATCH: u32 = 200;

/// How the engine runs tasks.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a claim lasts without a heartbeat: a dead worker's tasks go
    /// back to ready this long after its last beat.
    pub lease: Duration,
    /// Tasks taken in one claim.
    pub claim_batch: u32,
    /// Tasks one worker runs at once.
    pub concurrency: usize,
    /// The longest a worker or watcher waits without a signal: it then
    /// looks anyway (another process on SQLite, a backoff that ended).
    pub poll: Duration,
    /// A retry waits this long per attempt so far.
    pub backoff: Duration,
    /// The queues this process's workers serve; `None` serves all.
    pub queues: Option<Vec<String>>,
    pub default_max_attempts: u32,
    pub default_timeout: Duration,
    /// The model that plans; the default model when `None`.
    pub planner_model: Option<String>,
    /// The model for tasks that name none.
    pub default_model: Option<String>,
    pub decompose_rounds: u32,
    /// Ended runs older than this are deleted by the workers; `None` keeps
    /// them forever.
    pub retain: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease: Duration::from_secs(15),
            claim_batch: 16,
            concurrency: 16,
            poll: Duration::from_millis(500),
            backoff: Duration::from_secs(1),
            queues: None,
            default_max_attempts: 3,
            default_timeout: Duration::from_secs(30 * 60),
            planner_model: None,
            default_model: None,
            decompose_rounds: DEFAULT_ROUNDS,
            retain: None,
        }
    }
}

/// What the engine is built from.
pub struct EngineParts {
    pub hub: Hub,
    /// Runs agent tasks; without it an agent task fails with a clear error.
    pub agent: Option<Agent>,
    /// Workflows run in this directory or below it.
    pub workspace: PathBuf,
    pub device: String,
    pub config: EngineConfig,
}

/// What the work is for: recorded with the run for the model router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptimizationTarget {
    Speed,
    Cost,
    Quality,
    #[default]
    Balanced,
}

/// A workflow request: the seed's fields, plus an optional plan given
/// directly instead of asking the decomposer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRequest {
    /// What kind of work this is (`research`, `coding`, …); free-form.
    #[serde(rename = "type", default = "general_kind")]
    pub kind: String,
    /// What to do. Required unless `plan` is given.
    #[serde(default)]
    pub description: String,
    /// Files in the workspace whose text is given to the planner and every
    /// task as context.
    #[serde(default)]
    pub context_packs: Vec<String>,
    /// Models by role: `default`, `planner`, or a task type (`agent`,
    /// `model`); values are model ids.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub model_preferences: Map<String, Value>,
    #[serde(default)]
    pub optimization_target: OptimizationTarget,
    /// A plan to run as it is, instead of asking the decomposer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Plan>,
    /// `false` runs the description as one agent task without planning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decompose: Option<bool>,
    /// Where the tasks work: the engine's workspace or a directory in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// A short name for lists; the plan's name or the description's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tools (or rules) every agent task may use without asking, e.g.
    /// `search`, `shell(cargo test *)`; anything else follows the
    /// configured policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Words that deny, in every agent task, any shell command holding
    /// them, e.g. `rm`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block: Vec<String>,
    /// Lets the agent tasks' `shell` and `run` reach the network (the
    /// policy may still ask); the configuration decides when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
}

fn general_kind() -> String {
    "general".to_owned()
}

impl Default for WorkflowRequest {
    /// The same defaults a JSON request gets for the fields it leaves out.
    fn default() -> Self {
        WorkflowRequest {
            kind: general_kind(),
            description: String::new(),
            context_packs: Vec::new(),
            model_preferences: Map::new(),
            optimization_target: OptimizationTarget::default(),
            plan: None,
            decompose: None,
            workspace: None,
            name: None,
            allow: Vec::new(),
            block: Vec::new(),
            network: None,
        }
    }
}

/// The answer to a submitted request, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    pub workflow_id: WorkflowId,
    /// `started`.
    pub status: String,
    /// When the run should end if every task takes its usual time (RFC 3339).
    pub estimated_completion: String,
    pub estimated_seconds: u64,
    /// The model of each model or agent task, in plan order.
    pub assigned_models: Vec<String>,
    pub total_steps: usize,
    /// `request` (a plan was given), `single` (no planning), or the model
    /// that wrote the plan.
    pub planned_by: String,
}

/// A run with its tasks, for `show` and `GET /api/v1/workflow/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowView {
    #[serde(flatten)]
    pub run: WorkflowRun,
    pub tasks: Vec<WorkflowTask>,
}

/// The engine; clones share it.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub hub: Hub,
    pub agent: Option<Agent>,
    pub workspace: PathBuf,
    pub device: String,
    pub config: EngineConfig,
    /// Wakes this process's workers when tasks may have become ready.
    pub ready: Notify,
    /// Carries every run whose log grew (with the events, when the
    /// committer reported them) to this process's watchers.
    pub changed: broadcast::Sender<Change>,
    /// Records of ended runs, written in the background: a briefing may
    /// take a model call, and neither a worker's next commit nor a person's
    /// cancel should wait for it. [`Engine::settle`] waits for them.
    pub records: std::sync::Mutex<JoinSet<()>>,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Engine {
        let (changed, _) = broadcast::channel(1024);
        Engine {
            inner: Arc::new(Inner {
                hub: parts.hub,
                agent: parts.agent,
                workspace: parts.workspace,
                device: parts.device,
                config: parts.config,
                ready: Notify::new(),
                changed,
                records: std::sync::Mutex::new(JoinSet::new()),
            }),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// Follows other processes' changes (PostgreSQL `LISTEN`), so workers
    /// and watchers here react to work done elsewhere at once. Does nothing
    /// on SQLite, where the poll interval covers other processes.
    pub async fn listen(&self) -> Result<(), EngineError> {
        let Some(mut listener) = self.inner.hub.store().workflow_listener().await? else {
            return Ok(());
        };
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(note) => {
                        engine.announce(note.run, note.upto);
                        if note.ready {
                            engine.inner.ready.notify_waiters();
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "workflow notifications stopped; polling instead");
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    /// Tells this process's watchers that `run` changed and, when `ready`,
    /// its workers that tasks may be waiting.
    pub(crate) fn signal(&self, run: WorkflowId, ready: bool) {
        self.announce(run, None);
        if ready {
            self.inner.ready.notify_waiters();
        }
    }

    /// Tells this process's watchers that `run`'s log grew by `events`, so
    /// those that are up to date need not read it (empty: by events they
    /// must read).
    pub(crate) fn publish(&self, run: WorkflowId, events: Vec<WorkflowEvent>) {
        let _ = self.inner.changed.send(Change {
            run,
            events: events.into(),
            upto: None,
        });
    }

    /// Tells this process's watchers that `run`'s log grew, up to `upto`
    /// when that is known.
    fn announce(&self, run: WorkflowId, upto: Option<i64>) {
        let _ = self.inner.changed.send(Change {
            run,
            events: Arc::from([]),
            upto,
        });
    }

    /// Plans the request (or takes its plan), assigns models, stores the run
    /// and wakes the workers.
    pub async fn submit(&self, request: WorkflowRequest) -> Result<Submitted, EngineError> {
        if request.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(EngineError::Invalid(format!(
                "the description is {} bytes, more than the limit of {MAX_DESCRIPTION_BYTES}",
                request.description.len()
            )));
        }
        if request.plan.is_none() && request.description.trim().is_empty() {
            return Err(EngineError::Invalid(
                "give a description of the work, or a plan".to_owned(),
            ));
        }
        // Rules that do not parse are refused now, not at the first agent
        // task's start.
        baton_policy::Rules::from_flags(&request.allow, &request.block)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let workspace = self.workspace_for(request.workspace.as_deref())?;
        let context = self.context_packs(&workspace, &request.context_packs)?;
        let preferences = preferences(&request.model_preferences)?;
        let (plan, planned_by) = match (&request.plan, request.decompose) {
            (Some(plan), _) => {
                plan.validate()?;
                (plan.clone(), PLANNED_BY_REQUEST.to_owned())
            }
            (None, Some(false)) => (
                Plan::single(TaskKind::Agent, request.description.trim()),
                "single".to_owned(),
            ),
            (None, _) => {
                let planner = preferences
                    .get("planner")
                    .cloned()
                    .or_else(|| self.inner.config.planner_model.clone())
                    .unwrap_or_else(|| self.default_model(&preferences));
                let decomposition = Decomposer::new(self.inner.hub.gateway(), planner)
                    .with_rounds(self.inner.config.decompose_rounds)
                    .decompose(request.description.trim(), context.as_deref())
                    .await?;
                (decomposition.plan, decomposition.model)
            }
        };
        let mut assigned = Vec::new();
        let mut tasks = Vec::with_capacity(plan.tasks.len());
        for task in &plan.tasks {
            let mut spec = task.clone();
            if matches!(task.kind, TaskKind::Agent | TaskKind::Model) {
                let wanted = task
                    .model
                    .clone()
                    .or_else(|| preferences.get(task.kind.as_str()).cloned())
                    .unwrap_or_else(|| self.default_model(&preferences));
                let model = if wanted == "auto" {
                    wanted
                } else {
                    self.inner.hub.gateway().resolve(&wanted)?.id.to_string()
                };
                assigned.push(model.clone());
                spec.model = Some(model);
            }
            tasks.push(NewTask {
                key: task.id.clone(),
                kind: task.kind.as_str().to_owned(),
                spec: serde_json::to_value(&spec)
                    .map_err(|e| EngineError::Invalid(e.to_string()))?,
                queue: task.queue.clone().unwrap_or_else(|| "default".to_owned()),
                priority: i64::from(task.priority),
                max_attempts: i64::from(
                    task.max_attempts
                        .unwrap_or(self.inner.config.default_max_attempts),
                ),
                timeout_ms: task
                    .timeout_secs
                    .map(|s| s.saturating_mul(1000))
                    .unwrap_or(self.inner.config.default_timeout.as_millis() as u64)
                    as i64,
                depends_on: task.depends_on.clone(),
            });
        }
        let name = request
            .name
            .clone()
            .or_else(|| plan.name.clone())
            .unwrap_or_else(|| baton_core::one_line(&request.description, 80));
        let now = wall_millis() as i64;
        let mut stored_request = request.clone();
        stored_request.plan = None;
        stored_request.workspace = Some(workspace.display().to_string());
        let stored_request = json!({
            "request": stored_request,
            "context": context,
            "planned_by": planned_by,
        });
        let plan_json =
            serde_json::to_value(&plan).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let id = WorkflowId::new();
        let workspace_text = workspace.display().to_string();
        self.inner
            .hub
            .store()
            .create_workflow(&NewWorkflow {
                id,
                name: &name,
                request: &stored_request,
                plan: &plan_json,
                workspace: &workspace_text,
                device_id: &self.inner.device,
                tasks: &tasks,
                now_ms: now,
            })
            .await?;
        self.signal(id, true);
        let seconds = estimate_seconds(&plan);
        Ok(Submitted {
            workflow_id: id,
            status: "started".to_owned(),
            estimated_completion: rfc3339(now + (seconds as i64) * 1000),
            estimated_seconds: seconds,
            assigned_models: assigned,
            total_steps: plan.tasks.len(),
            planned_by,
        })
    }

    fn default_model(&self, preferences: &BTreeMap<String, String>) -> String {
        preferences
            .get("default")
            .cloned()
            .or_else(|| self.inner.config.default_model.clone())
            .unwrap_or_else(|| "auto".to_owned())
    }

    fn workspace_for(&self, requested: Option<&str>) -> Result<PathBuf, EngineError> {
        let root = &self.inner.workspace;
        match requested {
            None => Ok(root.clone()),
            Some(dir) => {
                let dir = Path::new(dir);
                let dir = if dir.is_absolute() {
                    dir.to_path_buf()
                } else {
                    root.join(dir)
                };
                baton_agent::inside_workspace(root, &dir)
                    .map_err(|e| EngineError::Invalid(e.to_string()))
            }
        }
    }

    /// Reads the named files of the workspace into one context text.
    fn context_packs(
        &self,
        workspace: &Path,
        packs: &[String],
    ) -> Result<Option<String>, EngineError> {
        if packs.is_empty() {
            return Ok(None);
        }
        if packs.len() > MAX_CONTEXT_PACKS {
            return Err(EngineError::Invalid(format!(
                "{} context packs given; at most {MAX_CONTEXT_PACKS} are read",
                packs.len()
            )));
        }
        let mut text = String::new();
        for pack in packs {
            let path = baton_agent::inside_workspace(workspace, &workspace.join(pack))
                .map_err(|e| EngineError::Invalid(format!("context pack {pack}: {e}")))?;
            let bytes = std::fs::read(&path)
                .map_err(|e| EngineError::Invalid(format!("context pack {pack}: {e}")))?;
            let cut = bytes.len().min(MAX_CONTEXT_PACK_BYTES);
            let body = String::from_utf8_lossy(&bytes[..cut]);
            text.push_str(&format!("## {pack}\n{body}\n\n"));
        }
        Ok(Some(text))
    }

    /// A run with its tasks.
    pub async fn get(&self, id: WorkflowId) -> Result<WorkflowView, EngineError> {
        let store = self.inner.hub.store();
        let run = store.workflow(id).await?.ok_or_else(|| not_found(id))?;
        let tasks = store.workflow_tasks(id).await?;
        Ok(WorkflowView { run, tasks })
    }

    /// Runs, newest first; after `before` (the last of the previous page)
    /// when given.
    pub async fn list(
        &self,
        limit: u32,
        before: Option<WorkflowId>,
    ) -> Result<Vec<WorkflowRun>, EngineError> {
        Ok(self
            .inner
            .hub
            .store()
            .workflows(limit.clamp(1, 1000), before)
            .await?)
    }

    /// A run's events after `after`, at most [`EVENT_PAGE`].
    pub async fn events(
        &self,
        id: WorkflowId,
        after: i64,
    ) -> Result<Vec<WorkflowEvent>, EngineError> {
        self.exists(id).await?;
        Ok(self
            .inner
            .hub
            .store()
            .workflow_events(id, after, EVENT_PAGE)
            .await?)
    }

    async fn exists(&self, id: WorkflowId) -> Result<WorkflowRun, EngineError> {
        self.inner
            .hub
            .store()
            .workflow(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Every event of a run after `after`, as it happens, in order and
    /// without gaps; the stream ends after the run's last event (its end)
    /// or when the watcher drops it.
    pub async fn watch(
        &self,
        id: WorkflowId,
        after: i64,
    ) -> Result<impl Stream<Item = Result<WorkflowEvent, EngineError>> + Send + 'static, EngineError>
    {
        // The run as the watcher came: whether it had already ended.
        let mut at_start = Some(self.exists(id).await?);
        let engine = self.clone();
        let mut changed = self.inner.changed.subscribe();
        Ok(async_stream::try_stream! {
            let mut last = after;
            // Events this process's commits handed over, given out without
            // reading the log (see `changes`).
            let mut handed: Option<Vec<WorkflowEvent>> = None;
            loop {
                let (page, full) = match handed.take() {
                    Some(events) => (events, false),
                    None => {
                        let page =
                            engine.inner.hub.store().workflow_events(id, last, EVENT_PAGE).await?;
                        let full = page.len() == EVENT_PAGE as usize;
                        (page, full)
                    }
                };
                let mut ended = false;
                let mut completed = false;
                for event in page {
                    last = event.seq;
                    ended = is_final_event(&event.kind);
                    completed = event.kind == "workflow_completed";
                    yield event;
                }
                // A completed run is never resumed: its end is its last
                // event.
                if completed {
                    break;
                }
                if full {
                    continue;
                }
                // The end: the run is over and every event is out. Read
                // after any other final event (a failed or cancelled run
                // may have been resumed since); at the start, the run as
                // the watcher came tells whether it had ended before (its
                // events were all read if no later one came); not on
                // every wake.
                let start = at_start.take();
                if ended || start.is_some() {
                    let run = match start {
                        Some(run) if !ended => run,
                        _ => engine.exists(id).await?,
                    };
                    if run.status.is_final() && run.last_event <= last {
                        break;
                    }
                    if ended {
                        continue;
                    }
                }
                let mut heard = Heard::default();
                let poll = tokio::time::sleep(engine.inner.config.poll);
                tokio::pin!(poll);
                loop {
                    tokio::select! {
                        got = changed.recv() => match got {
                            Ok(change) if change.run == id => {
                                heard.change(&change);
                                break;
                            }
                            Ok(_) => continue,
                            Err(_) => {
                                heard.missed();
                                break;
                            }
                        },
                        _ = &mut poll => {
                            heard.missed();
                            break;
                        }
                    }
                }
                // Changes that came meanwhile count too.
                loop {
                    match changed.try_recv() {
                        Ok(change) if change.run == id => heard.change(&change),
                        Ok(_) => {}
                        Err(broadcast::error::TryRecvError::Lagged(_)) => heard.missed(),
                        Err(_) => break,
                    }
                }
                handed = heard.after(last);
            }
        })
    }

    /// Cancels a running run.
    pub async fn cancel(&self, id: WorkflowId, reason: &str) -> Result<WorkflowRun, EngineError> {
        let run = self
            .inner
            .hub
            .store()
            .cancel_workflow(id, reason, wall_millis() as i64)
            .await?;
        self.signal(id, false);
        self.record_later(id);
        Ok(run)
    }

    /// Writes the session-log entry (and briefing) of an ended run in the
    /// background.
    pub(crate) fn record_later(&self, id: WorkflowId) {
        let engine = self.clone();
        let mut records = self.inner.records.lock().unwrap_or_else(|e| e.into_inner());
        while records.try_join_next().is_some() {}
        records.spawn(async move { record::finished(&engine, id).await });
    }

    /// Waits until the records written in the background are done: a
    /// process calls it before it exits, so none is lost.
    pub async fn settle(&self) {
        loop {
            let mut pending =
                std::mem::take(&mut *self.inner.records.lock().unwrap_or_else(|e| e.into_inner()));
            if pending.is_empty() {
                return;
            }
            while pending.join_next().await.is_some() {}
        }
    }

    /// Starts a failed or cancelled run again from where it stopped.
    pub async fn resume(&self, id: WorkflowId) -> Result<WorkflowRun, EngineError> {
        let store = self.inner.hub.store();
        let now = wall_millis() as i64;
        let run = store.resume_workflow(id, now).await?;
        store
            .reap_expired(self.inner.config.backoff.as_millis() as i64, now)
            .await?;
        self.signal(id, true);
        Ok(run)
    }

    /// Deletes the runs that ended more than `older_than` ago, with their
    /// tasks and events, in batches of [`PRUNE_BATCH`]; returns how many.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, EngineError> {
        let cutoff = wall_millis() as i64 - older_than.as_millis().min(i64::MAX as u128) as i64;
        let store = self.inner.hub.store();
        let mut pruned = 0;
        loop {
            let batch = store.prune_workflows(cutoff, PRUNE_BATCH).await?;
            pruned += batch;
            if batch < u64::from(PRUNE_BATCH) {
                return Ok(pruned);
            }
        }
    }

    /// A person's decision on an approval step.
    pub async fn decide(
        &self,
        id: WorkflowId,
        task: &str,
        approved: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<WorkflowRun, EngineError> {
        let decision = json!({ "approved": approved, "by": by, "comment": comment });
        let done = self
            .inner
            .hub
            .store()
            .decide_task(id, task, approved, &decision, wall_millis() as i64)
            .await?;
        self.signal(id, true);
        if done.finished.is_some() {
            self.record_later(id);
        }
        self.exists(id).await
    }
}

fn not_found(id: WorkflowId) -> EngineError {
    EngineError::NotFound {
        what: "workflow",
        id: id.to_string(),
    }
}

/// Whether an event ends a run (a resume may start it again).
pub fn is_final_event(kind: &str) -> bool {
    matches!(
        kind,
        "workflow_completed" | "workflow_failed" | "workflow_cancelled"
    )
}

/// Model preferences as role → model id; anything else is refused.
fn preferences(raw: &Map<String, Value>) -> Result<BTreeMap<String, String>, EngineError> {
    raw.iter()
        .map(|(role, value)| match value {
            Value::String(model) if !model.trim().is_empty() => {
                Ok((role.clone(), model.trim().to_owned()))
            }
            other => Err(EngineError::Invalid(format!(
                "model_preferences.{role} must be a model id, not {other}"
            ))),
        })
        .collect()
}

/// The critical path through the plan with each task at its usual length.
fn estimate_seconds(plan: &Plan) -> u64 {
    let index: BTreeMap<&str, usize> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(at, task)| (task.id.as_str(), at))
        .collect();
    let mut finish = vec![0u64; plan.tasks.len()];
    for at in plan.topological_order() {
        let task = &plan.tasks[at];
        let own = match task.kind {
            TaskKind::Agent => 120_000,
            TaskKind::Model => 15_000,
            TaskKind::Sleep => task.sleep_ms.unwrap_or(0),
            TaskKind::Approval | TaskKind::Noop => 0,
        };
        let start = task
            .depends_on
            .iter()
            .filter_map(|dep| index.get(dep.as_str()).map(|&d| finish[d]))
            .max()
            .unwrap_or(0);
        finish[at] = start + own;
    }
    finish.into_iter().max().unwrap_or(0).div_ceil(1000)
}
