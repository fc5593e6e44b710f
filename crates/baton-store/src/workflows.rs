//! Workflow runs: a plan's tasks, the edges between them, fenced claims and
//! the append-only run-event log.
//!
//! Every state change is one transaction that also appends its events, so
//! what a watcher reads is exactly what happened, in order. A claim bumps
//! the task's `epoch`; a completion, failure, checkpoint or park names the
//! epoch it holds and changes nothing when that is no longer current
//! ([`StoreError::Fenced`]). Completing a task counts down its successors'
//! `pending`, makes those that reach zero ready and, when the worker asks,
//! claims one of them for it, all in the same commit as the events: a
//! chain costs one commit per step. On PostgreSQL claims use
//! `FOR UPDATE SKIP LOCKED`, so any number of workers on any number of
//! machines share the work, and every commit that appends events notifies
//! channel [`WORKFLOW_CHANNEL`] with the run id.

use std::collections::BTreeMap;

use baton_core::WorkflowId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::StoreError;
use crate::postgres::{Own, PgStore};
use crate::rows::{check_text, uuid_column};
use crate::store::{Backends, BeginWrite, Store, on_pool};

mod direct;

/// The PostgreSQL notification channel that carries a run id whenever that
/// run's events change (see [`WorkflowNote`]).
pub const WORKFLOW_CHANNEL: &str = "baton_workflow";

/// The word after the run id in a notification that wakes idle workers.
const READY: &str = "ready";
/// Prefixes the run's last event number in a notification.
const UPTO: &str = "upto:";

/// Rows per multi-row insert: far under either backend's bind limit.
const INSERT_CHUNK: usize = 500;

/// The longest a retry waits, whatever the attempt.
const MAX_BACKOFF_STEPS: i64 = 30;

/// Where a workflow run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Running => "running",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<WorkflowStatus> {
        [
            WorkflowStatus::Running,
            WorkflowStatus::Completed,
            WorkflowStatus::Failed,
            WorkflowStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != WorkflowStatus::Running
    }
}

/// Where one task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Some dependency has not completed.
    Blocked,
    /// Waiting for a worker (after `ready_at`, when it is backing off).
    Ready,
    /// A worker holds it under a lease.
    Claimed,
    /// Parked until a person decides (an approval step); holds no worker.
    Waiting,
    Completed,
    Failed,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Blocked => "blocked",
            TaskState::Ready => "ready",
            TaskState::Claimed => "claimed",
            TaskState::Waiting => "waiting",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        [
            TaskState::Blocked,
            TaskState::Ready,
            TaskState::Claimed,
            TaskState::Waiting,
            TaskState::Completed,
            TaskState::Failed,
            TaskState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// A workflow run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowRun {
    pub id: WorkflowId,
    pub name: String,
    /// The request as it was made.
    pub request: Value,
    /// The validated plan the run follows.
    pub plan: Value,
    pub workspace: String,
    pub device_id: String,
    pub status: WorkflowStatus,
    /// Why the run ended, when it did not simply complete.
    pub reason: Option<String>,
    pub total_tasks: i64,
    /// Tasks that completed.
    pub done_tasks: i64,
    /// The sequence number of the run's latest event.
    pub last_event: i64,
    /// The outputs of the tasks nothing depends on, by task id.
    pub result: Option<Value>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
}

/// One task of a run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowTask {
    pub key: String,
    /// Its place in the plan.
    pub position: i64,
    pub kind: String,
    /// The plan's task, as given.
    pub spec: Value,
    pub queue: String,
    pub priority: i64,
    pub state: TaskState,
    /// Dependencies not yet completed.
    pub pending: i64,
    pub depends_on: Vec<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub timeout_ms: i64,
    pub epoch: i64,
    pub worker_id: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub ready_at_ms: i64,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

/// One entry of a run's event log. `seq` counts from 1 without gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkflowEvent {
    pub run_id: WorkflowId,
    pub seq: i64,
    /// `workflow_started`, `task_started`, `task_checkpointed`,
    /// `task_completed`, `task_retrying`, `task_released`, `task_failed`,
    /// `task_waiting`,
    /// `workflow_completed`, `workflow_failed`, `workflow_cancelled`,
    /// `workflow_resumed`.
    pub kind: String,
    pub task: Option<String>,
    pub data: Value,
    pub created_ms: i64,
}

/// A run to store, with its tasks in plan order.
#[derive(Debug, Clone)]
pub struct NewWorkflow<'a> {
    pub id: WorkflowId,
    pub name: &'a str,
    pub request: &'a Value,
    pub plan: &'a Value,
    pub workspace: &'a str,
    pub device_id: &'a str,
    pub tasks: &'a [NewTask],
    pub now_ms: i64,
}

/// One task of a [`NewWorkflow`]; the plan was validated (known
/// dependencies, no cycle) before it got here.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub key: String,
    pub kind: String,
    pub spec: Value,
    pub queue: String,
    pub priority: i64,
    pub max_attempts: i64,
    pub timeout_ms: i64,
    pub depends_on: Vec<String>,
}

/// What a worker asks for when it claims.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub worker: &'a str,
    /// Only these queues; `None` serves every queue.
    pub queues: Option<&'a [String]>,
    /// Only this run's tasks (a CLI that runs one workflow); `None` serves
    /// every run.
    pub run: Option<WorkflowId>,
    pub limit: u32,
    /// How long the lease lasts without a heartbeat.
    pub lease_ms: i64,
    pub now_ms: i64,
}

/// A task a worker now holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTask {
    pub run_id: WorkflowId,
    pub key: String,
    pub kind: String,
    pub spec: Value,
    pub queue: String,
    /// The fencing token every later write for this attempt must carry.
    pub epoch: i64,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub max_attempts: i64,
    pub timeout_ms: i64,
    /// What an earlier attempt stored before it was cut off.
    pub checkpoint: Option<Value>,
}

/// What a finished task produced and cost.
#[derive(Debug, Clone, Copy)]
pub struct TaskOutcome<'a> {
    pub output: &'a Value,
    pub model: Option<&'a str>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

impl<'a> TaskOutcome<'a> {
    /// An outcome that used no model.
    pub fn plain(output: &'a Value) -> TaskOutcome<'a> {
        TaskOutcome {
            output,
            model: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
        }
    }
}

/// One claimed task to complete in [`Store::complete_tasks`].
#[derive(Debug, Clone, Copy)]
pub struct CompleteItem<'a> {
    pub run_id: WorkflowId,
    pub key: &'a str,
    /// The epoch of the claim.
    pub epoch: i64,
    pub outcome: TaskOutcome<'a>,
}

/// The worker that completes tasks takes, in the same commit, one task for
/// each completed one: a newly ready successor when there is one (the most
/// urgent first), else the most urgent ready task it serves. A chain runs
/// without a claim per step, and a fan-out's leaves refill the slots their
/// predecessors free without a claim of their own.
#[derive(Debug, Clone, Copy)]
pub struct ClaimNext<'a> {
    pub worker: &'a str,
    pub queues: Option<&'a [String]>,
    /// Only this run's tasks refill a slot (successors are the run's own).
    pub run: Option<WorkflowId>,
    pub lease_ms: i64,
}

/// What a completion changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The successor claimed for the completing worker.
    pub next: Option<ClaimedTask>,
    /// Other tasks that became ready.
    pub released: usize,
    /// The run's status when this completion ended it.
    pub finished: Option<WorkflowStatus>,
}

/// What a batch of completions changed: one result per item, in order, and
/// the events the commit appended, in each run's log order, where the
/// backend reports them: SQLite's write thread builds them; on PostgreSQL
/// they are appended server-side and `events` is empty (returning them cost
/// the completion function more than the watchers' reads it saved: fan1000
/// 6.8k → 6.2k tasks/s, the chain step unchanged). A process hands them to
/// its own watchers, who then need not read the log.
#[derive(Debug)]
pub struct CompletedBatch {
    pub results: Vec<Result<Completion, StoreError>>,
    pub events: Vec<WorkflowEvent>,
}

/// Why an attempt failed and whether it may be tried again: the task is
/// retried after a linear backoff of `backoff_ms` per attempt while
/// attempts remain and `retry` is set; otherwise it fails, and its run
/// with it.
#[derive(Debug, Clone, Copy)]
pub struct TaskFailure<'a> {
    pub error: &'a str,
    pub retry: bool,
    pub backoff_ms: i64,
}

/// What a failed attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// The task will be tried again after its backoff.
    Retrying { attempt: i64, ready_at_ms: i64 },
    /// The task failed for good and took its run with it.
    Failed,
}

/// Which hold a finishing write proves.
#[derive(Debug, Clone, Copy)]
enum Hold {
    /// A worker's claim under this epoch.
    Claimed(i64),
    /// An approval step parked for a person.
    Waiting,
}

/// One task to complete in a batch.
#[derive(Clone)]
struct Finishing<'a> {
    run: String,
    key: &'a str,
    hold: Hold,
    outcome: TaskOutcome<'a>,
}

/// One event to append.
struct NewEvent<'a> {
    kind: &'static str,
    task: Option<&'a str>,
    data: Value,
}

/// Begins a write transaction on whichever backend the store has
/// ([`BeginWrite`]: `IMMEDIATE` on SQLite), runs `$body` with it and
/// commits.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        on_pool!($store, write, |pool| {
            let mut $tx = pool.begin_write().await?;
            let value = $body;
            $tx.commit().await?;
            value
        })
    };
}

/// What differs between the backends inside a workflow transaction.
trait Dialect {
    /// Tells other processes the run changed, at commit; `ready` when it
    /// has tasks no worker holds yet, so idle workers look.
    fn notify(
        &mut self,
        run: &str,
        ready: bool,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

/// The columns a claim returns.
const CLAIMED_COLUMNS: &str =
    "run_id, key, kind, spec, queue, epoch, attempts, max_attempts, timeout_ms, checkpoint";

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    run_id: String,
    key: String,
    kind: String,
    spec: String,
    queue: String,
    epoch: i64,
    attempts: i64,
    max_attempts: i64,
    timeout_ms: i64,
    checkpoint: Option<String>,
}

impl ClaimedRow {
    fn into_claimed(self) -> Result<ClaimedTask, StoreError> {
        Ok(ClaimedTask {
            run_id: WorkflowId(uuid_column(&self.run_id)?),
            spec: json_column(&self.spec)?,
            checkpoint: self.checkpoint.as_deref().map(json_column).transpose()?,
            key: self.key,
            kind: self.kind,
            queue: self.queue,
            epoch: self.epoch,
            attempt: self.attempts,
            max_attempts: self.max_attempts,
            timeout_ms: self.timeout_ms,
        })
    }
}

impl Dialect for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn notify(&mut self, _run: &str, _ready: bool) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl Dialect for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn notify(&mut self, run: &str, ready: bool) -> Result<(), sqlx::Error> {
        let payload = if ready {
            format!("{run} {READY}")
        } else {
            run.to_owned()
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(WORKFLOW_CHANNEL)
            .bind(payload)
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

fn json_column(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(format!("stored JSON: {e}")))
}

fn json_text(value: &Value) -> Result<String, StoreError> {
    let text = value.to_string();
    check_text("workflow JSON", &text)?;
    Ok(text)
}

fn fenced(run: &str, key: &str, hold: Hold) -> StoreError {
    StoreError::Fenced(match hold {
        Hold::Claimed(epoch) => format!(
            "task {key} of workflow {run} is no longer held under epoch {epoch} \
             (its lease ran out, or the run ended)"
        ),
        Hold::Waiting => format!("task {key} of workflow {run} is not waiting for a decision"),
    })
}

/// Adds `$2` events and `$3` completed tasks to run `$1`'s counters.
const BUMP_RUN_EVENTS: &str = "UPDATE workflow_runs SET last_event = last_event + $2, \
     done_tasks = done_tasks + $3, updated_at = $4 WHERE id = $1 \
     RETURNING last_event, done_tasks, total_tasks";

/// One event row (the sqlx path inserts many per statement).
const INSERT_EVENT: &str = "INSERT INTO workflow_events \
     (run_id, seq, kind, task_key, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Appends `events` to `run`'s log inside the caller's transaction, adding
/// `done` to its completed-task count; returns the run's counters after.
macro_rules! append_events {
    ($tx:ident, $run:expr, $events:expr, $done:expr, $now:expr) => {{
        let run: &str = $run;
        let events: &[NewEvent<'_>] = $events;
        let (last, done, total): (i64, i64, i64) = sqlx::query_as(BUMP_RUN_EVENTS)
            .bind(run)
            .bind(events.len() as i64)
            .bind($done)
            .bind($now)
            .fetch_one(&mut *$tx)
            .await?;
        let mut seq = last - events.len() as i64;
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at) ",
            );
            let mut rows = Vec::with_capacity(chunk.len());
            for event in chunk {
                seq += 1;
                rows.push((seq, event.kind, event.task, json_text(&event.data)?));
            }
            insert.push_values(rows, |mut b, (seq, kind, task, data)| {
                b.push_bind(run)
                    .push_bind(seq)
                    .push_bind(kind)
                    .push_bind(task)
                    .push_bind(data)
                    .push_bind($now);
            });
            insert.build().execute(&mut *$tx).await?;
        }
        $tx.notify(run, false).await?;
        (last, done, total)
    }};
}

/// Cancels every unfinished task of run `$1` at `$2`.
const CANCEL_UNFINISHED: &str = "UPDATE workflow_tasks SET state = 'cancelled', \
     worker_id = NULL, lease_until = NULL, finished_at = $2 WHERE run_id = $1 \
     AND state IN ('blocked', 'ready', 'claimed', 'waiting')";

/// Marks run `$1` failed for reason `$2` at `$3`.
const MARK_RUN_FAILED: &str =
    "UPDATE workflow_runs SET status = 'failed', reason = $2, finished_at = $3 WHERE id = $1";

/// Fails task `$2` of run `$1` with error `$3` at `$4`, whatever its state.
const FAIL_UNREADABLE: &str = "UPDATE workflow_tasks SET state = 'failed', error = $3, \
     worker_id = NULL, lease_until = NULL, finished_at = $4 WHERE run_id = $1 AND key = $2";

/// A claimed row that cannot be read back, as (run, key, why).
type Unreadable = (String, String, String);

/// Splits claimed rows into the tasks and the rows that cannot be read (a
/// stored spec that is not JSON, a run id that is not a UUID: written
/// behind baton's back). Left ready, such a row would be the most urgent
/// task of every later claim and fail each of them: the engine would stop.
fn readable(rows: Vec<ClaimedRow>) -> (Vec<ClaimedTask>, Vec<Unreadable>) {
    let mut tasks = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    for row in rows {
        let (run, key) = (row.run_id.clone(), row.key.clone());
        match row.into_claimed() {
            Ok(task) => tasks.push(task),
            Err(why) => unreadable.push((run, key, why.to_string())),
        }
    }
    (tasks, unreadable)
}

/// Drops the tasks of runs that an unreadable task fails: those runs'
/// other tasks are cancelled, not handed out.
fn without_runs_of(tasks: &mut Vec<ClaimedTask>, unreadable: &[Unreadable]) {
    if unreadable.is_empty() {
        return;
    }
    tasks.retain(|task| {
        let run = task.run_id.to_string();
        !unreadable.iter().any(|(bad, ..)| *bad == run)
    });
}

/// What an unreadable task's failure says.
fn unreadable_error(why: &str) -> String {
    format!("the stored task cannot be read: {why}")
}

/// Fails each unreadable task and its run inside the caller's transaction.
macro_rules! fail_unreadable {
    ($tx:ident, $unreadable:expr, $now:expr) => {{
        for (run, key, why) in $unreadable {
            let error = unreadable_error(why);
            sqlx::query(FAIL_UNREADABLE)
                .bind(run)
                .bind(key)
                .bind(&error)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
            let failed = NewEvent {
                kind: "task_failed",
                task: Some(key),
                data: json!({ "error": error }),
            };
            let reason = format!("task {key} failed: {error}");
            fail_run!($tx, run, failed, &reason, $now);
        }
    }};
}

/// Cancels every unfinished task of `run` (a worker still holding one is
/// fenced out): the first half of failing a run.
macro_rules! cancel_unfinished {
    ($tx:ident, $run:expr, $now:expr) => {{
        sqlx::query(CANCEL_UNFINISHED)
            .bind($run)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Marks `run` failed for `reason` after the task events `failed`: the
/// second half, once [`cancel_unfinished!`] has run for it (task rows are
/// locked before run rows, the order every transaction keeps, so that
/// PostgreSQL never finds a deadlock).
macro_rules! mark_failed {
    ($tx:ident, $run:expr, $failed:expr, $reason:expr, $now:expr) => {{
        let run: &str = $run;
        let reason: &str = $reason;
        let mut events: Vec<NewEvent<'_>> = $failed;
        sqlx::query(MARK_RUN_FAILED)
            .bind(run)
            .bind(reason)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        events.push(NewEvent {
            kind: "workflow_failed",
            task: None,
            data: json!({ "reason": reason }),
        });
        append_events!($tx, run, &events, 0i64, $now);
    }};
}

/// Ends `run` as failed after the task event `failed`: every unfinished
/// task is cancelled, and the events say why.
macro_rules! fail_run {
    ($tx:ident, $run:expr, $failed:expr, $reason:expr, $now:expr) => {{
        let run: &str = $run;
        cancel_unfinished!($tx, run, $now);
        mark_failed!($tx, run, vec![$failed], $reason, $now);
    }};
}

/// The data of a `task_completed` event.
fn completed_data(outcome: &TaskOutcome<'_>) -> Value {
    json!({
        "model": outcome.model,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "cost_usd": outcome.cost_usd,
    })
}

/// The items of a completion batch as SQLite's set-based SQL reads them
/// (`json_each`):
/// `[{"run","key","state","epoch","output" (JSON text),"model",
/// "prompt_tokens","completion_tokens","cost_usd"}]`, where `state` and
/// `epoch` say how the task must be held (`epoch` -1: any).
fn items_json(items: &[Finishing<'_>]) -> Result<String, StoreError> {
    let mut payload = Vec::with_capacity(items.len());
    for item in items {
        let (state, epoch) = match item.hold {
            Hold::Claimed(epoch) => ("claimed", epoch),
            Hold::Waiting => ("waiting", -1),
        };
        payload.push(json!({
            "run": item.run,
            "key": item.key,
            "state": state,
            "epoch": epoch,
            "output": json_text(item.outcome.output)?,
            "model": item.outcome.model,
            "prompt_tokens": item.outcome.prompt_tokens,
            "completion_tokens": item.outcome.completion_tokens,
            "cost_usd": item.outcome.cost_usd,
        }));
    }
    Ok(Value::Array(payload).to_string())
}

/// A new run as the rows it becomes, one vector per task column, owned so
/// it can cross to the SQLite thread and bind as PostgreSQL arrays. The
/// run starts with its `workflow_started` event (number 1).
pub(super) struct NewRunRows {
    pub id: String,
    pub name: String,
    pub request: String,
    pub plan: String,
    pub workspace: String,
    pub device_id: String,
    pub now_ms: i64,
    pub keys: Vec<String>,
    pub kinds: Vec<String>,
    pub specs: Vec<String>,
    pub queues: Vec<String>,
    pub priorities: Vec<i64>,
    /// Dependencies of each task: 0 makes it ready at once.
    pub pending: Vec<i64>,
    pub max_attempts: Vec<i64>,
    pub timeouts_ms: Vec<i64>,
    pub edges_from: Vec<String>,
    pub edges_to: Vec<String>,
    /// The data of the `workflow_started` event.
    pub started: String,
}

impl NewRunRows {
    fn of(new: &NewWorkflow<'_>) -> Result<NewRunRows, StoreError> {
        let count = new.tasks.len();
        let mut rows = NewRunRows {
            id: new.id.to_string(),
            name: new.name.to_owned(),
            request: json_text(new.request)?,
            plan: json_text(new.plan)?,
            workspace: new.workspace.to_owned(),
            device_id: new.device_id.to_owned(),
            now_ms: new.now_ms,
            keys: Vec::with_capacity(count),
            kinds: Vec::with_capacity(count),
            specs: Vec::with_capacity(count),
            queues: Vec::with_capacity(count),
            priorities: Vec::with_capacity(count),
            pending: Vec::with_capacity(count),
            max_attempts: Vec::with_capacity(count),
            timeouts_ms: Vec::with_capacity(count),
            edges_from: Vec::new(),
            edges_to: Vec::new(),
            started: json!({ "name": new.name, "total_tasks": count }).to_string(),
        };
        for task in new.tasks {
            check_text("task id", &task.key)?;
            check_text("task queue", &task.queue)?;
            rows.keys.push(task.key.clone());
            rows.kinds.push(task.kind.clone());
            rows.specs.push(json_text(&task.spec)?);
            rows.queues.push(task.queue.clone());
            rows.priorities.push(task.priority);
            rows.pending.push(task.depends_on.len() as i64);
            rows.max_attempts.push(task.max_attempts);
            rows.timeouts_ms.push(task.timeout_ms);
            for from in &task.depends_on {
                rows.edges_from.push(from.clone());
                rows.edges_to.push(task.key.clone());
            }
        }
        Ok(rows)
    }
}

/// A new run on PostgreSQL in one statement (so one round trip and one
/// commit): the run, its tasks and edges from arrays, its first event and
/// the notification that wakes workers and watchers. Foreign keys are
/// checked at the statement's end, when the run row is there. Written as
/// one transaction of many statements it took 3.2 ms of a 40-task chain's
/// run on a durable cluster: a round trip per statement.
async fn create_on_postgres(pg: &PgStore, rows: &NewRunRows) -> Result<(), StoreError> {
    let query = sqlx::query_as::<_, (i64,)>(
        "WITH run AS ( \
             INSERT INTO workflow_runs (id, name, request, plan, workspace, device_id, \
             status, total_tasks, last_event, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'running', cardinality($7::text[]), 1, $15, $15) \
         ), tasks AS ( \
             INSERT INTO workflow_tasks (run_id, key, position, kind, spec, queue, priority, \
             state, pending, max_attempts, timeout_ms, ready_at) \
             SELECT $1, t.key, t.ord - 1, t.kind, t.spec, t.queue, t.priority, \
             CASE WHEN t.pending = 0 THEN 'ready' ELSE 'blocked' END, t.pending, \
             t.max_attempts, t.timeout_ms, $15 \
             FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], \
             $12::bigint[], $13::bigint[], $14::bigint[]) WITH ORDINALITY \
             AS t(key, kind, spec, queue, priority, pending, max_attempts, timeout_ms, ord) \
         ), edges AS ( \
             INSERT INTO workflow_edges (run_id, from_key, to_key) \
             SELECT $1, e.from_key, e.to_key FROM unnest($16::text[], $17::text[]) \
             AS e(from_key, to_key) \
         ), started AS ( \
             INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at) \
             VALUES ($1, 1, 'workflow_started', NULL, $18, $15) \
         ) \
         SELECT count(pg_notify($19, $20))",
    )
    .bind(&rows.id)
    .bind(&rows.name)
    .bind(&rows.request)
    .bind(&rows.plan)
    .bind(&rows.workspace)
    .bind(&rows.device_id)
    .bind(&rows.keys)
    .bind(&rows.kinds)
    .bind(&rows.specs)
    .bind(&rows.queues)
    .bind(&rows.priorities)
    .bind(&rows.pending)
    .bind(&rows.max_attempts)
    .bind(&rows.timeouts_ms)
    .bind(rows.now_ms)
    .bind(&rows.edges_from)
    .bind(&rows.edges_to)
    .bind(&rows.started)
    .bind(WORKFLOW_CHANNEL)
    .bind(format!("{} {UPTO}1 {READY}", rows.id));
    pg.fetch_on_own(Own::Submissions, query).await?;
    Ok(())
}

/// A completion batch on PostgreSQL: the same transaction as
/// [`direct::complete`], run server-side by `baton_complete_tasks`
/// (migration 0009) in one round trip, the items bound as one array per
/// field.
///
/// Handed tasks that cannot be read come back beside the batch, to be
/// failed in a transaction of their own (this one has committed).
async fn complete_on_postgres(
    pg: &PgStore,
    items: &[Finishing<'_>],
    next: Option<&ClaimNext<'_>>,
    now_ms: i64,
) -> Result<(CompletedBatch, Vec<Unreadable>), StoreError> {
    let mut outputs = Vec::with_capacity(items.len());
    for item in items {
        outputs.push(json_text(item.outcome.output)?);
    }
    let (states, epochs): (Vec<&str>, Vec<i64>) = items
        .iter()
        .map(|item| match item.hold {
            Hold::Claimed(epoch) => ("claimed", epoch),
            Hold::Waiting => ("waiting", -1),
        })
        .unzip();
    let runs: Vec<&str> = items.iter().map(|item| item.run.as_str()).collect();
    let keys: Vec<&str> = items.iter().map(|item| item.key).collect();
    let models: Vec<Option<&str>> = items.iter().map(|item| item.outcome.model).collect();
    let prompt_tokens: Vec<i64> = items
        .iter()
        .map(|item| item.outcome.prompt_tokens)
        .collect();
    let completion_tokens: Vec<i64> = items
        .iter()
        .map(|item| item.outcome.completion_tokens)
        .collect();
    let costs: Vec<f64> = items.iter().map(|item| item.outcome.cost_usd).collect();
    let query = sqlx::query_as::<_, CompletedRow>(
        "SELECT * FROM baton_complete_tasks($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15)",
    )
    .bind(runs)
    .bind(keys)
    .bind(states)
    .bind(epochs)
    .bind(outputs)
    .bind(models)
    .bind(prompt_tokens)
    .bind(completion_tokens)
    .bind(costs)
    .bind(next.map(|n| n.worker).unwrap_or_default())
    .bind(next.map(|n| n.lease_ms).unwrap_or_default())
    .bind(next.and_then(|n| n.queues).map(<[String]>::to_vec))
    .bind(next.and_then(|n| n.run).map(|run| run.to_string()))
    .bind(next.is_some())
    .bind(now_ms);
    let rows = pg.fetch_on_own(Own::Completions, query).await?;
    if rows.len() != items.len() {
        return Err(StoreError::corrupt(
            "baton_complete_tasks answered another batch",
        ));
    }
    // A run that ended is reported on its last completed item.
    let mut last_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (at, (item, row)) in items.iter().zip(&rows).enumerate() {
        if row.ok && row.run_finished {
            last_of.insert(&item.run, at);
        }
    }
    let ended: Vec<usize> = last_of.into_values().collect();
    let mut unreadable = Vec::new();
    let results = items
        .iter()
        .zip(rows)
        .enumerate()
        .map(|(at, (item, row))| {
            if !row.ok {
                return Err(fenced(&item.run, item.key, item.hold));
            }
            let released = usize::try_from(row.released).unwrap_or(0);
            let next = match row.handed() {
                None => None,
                Some(handed) => {
                    let (run, key) = (handed.run_id.clone(), handed.key.clone());
                    match handed.into_claimed() {
                        Ok(task) => Some(task),
                        Err(why) => {
                            unreadable.push((run, key, why.to_string()));
                            None
                        }
                    }
                }
            };
            Ok(Completion {
                next,
                released,
                finished: ended.contains(&at).then_some(WorkflowStatus::Completed),
            })
        })
        .collect();
    // The events are appended server-side; watchers read them (the
    // notification says how far the log goes).
    let events = Vec::new();
    Ok((CompletedBatch { results, events }, unreadable))
}

/// One item's answer from `baton_complete_tasks`: whether it completed,
/// and the task handed to the worker in its slot (`next_*`, all NULL when
/// none).
#[derive(sqlx::FromRow)]
struct CompletedRow {
    ok: bool,
    released: i64,
    run_finished: bool,
    next_run: Option<String>,
    next_key: Option<String>,
    next_kind: Option<String>,
    next_spec: Option<String>,
    next_queue: Option<String>,
    next_epoch: Option<i64>,
    next_attempts: Option<i64>,
    next_max_attempts: Option<i64>,
    next_timeout_ms: Option<i64>,
    next_checkpoint: Option<String>,
}

impl CompletedRow {
    fn handed(self) -> Option<ClaimedRow> {
        Some(ClaimedRow {
            run_id: self.next_run?,
            key: self.next_key?,
            kind: self.next_kind?,
            spec: self.next_spec?,
            queue: self.next_queue?,
            epoch: self.next_epoch?,
            attempts: self.next_attempts?,
            max_attempts: self.next_max_attempts?,
            timeout_ms: self.next_timeout_ms?,
            checkpoint: self.next_checkpoint,
        })
    }
}

fn started_event<'a>(task: &'a ClaimedTask, worker: &str) -> NewEvent<'a> {
    NewEvent {
        kind: "task_started",
        task: Some(&task.key),
        data: json!({ "attempt": task.attempt, "worker": worker, "epoch": task.epoch }),
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    name: String,
    request: String,
    plan: String,
    workspace: String,
    device_id: String,
    status: String,
    reason: Option<String>,
    total_tasks: i64,
    done_tasks: i64,
    last_event: i64,
    result: Option<String>,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_usd: f64,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, name, request, plan, workspace, device_id, status, reason, \
     total_tasks, done_tasks, last_event, result, prompt_tokens, completion_tokens, cost_usd, \
     created_at, updated_at, finished_at";

impl RunRow {
    fn into_run(self) -> Result<WorkflowRun, StoreError> {
        Ok(WorkflowRun {
            id: WorkflowId(uuid_column(&self.id)?),
            name: self.name,
            request: json_column(&self.request)?,
            plan: json_column(&self.plan)?,
            workspace: self.workspace,
            device_id: self.device_id,
            status: WorkflowStatus::parse(&self.status)
                .ok_or_else(|| StoreError::corrupt(format!("workflow status {:?}", self.status)))?,
            reason: self.reason,
            total_tasks: self.total_tasks,
            done_tasks: self.done_tasks,
            last_event: self.last_event,
            result: self.result.as_deref().map(json_column).transpose()?,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: self.cost_usd,
            created_ms: self.created_at,
            updated_ms: self.updated_at,
            finished_ms: self.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    key: String,
    position: i64,
    kind: String,
    spec: String,
    queue: String,
    priority: i64,
    state: String,
    pending: i64,
    attempts: i64,
    max_attempts: i64,
    timeout_ms: i64,
    epoch: i64,
    worker_id: Option<String>,
    lease_until: Option<i64>,
    ready_at: i64,
    output: Option<String>,
    error: Option<String>,
    model: Option<String>,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_usd: f64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

const TASK_COLUMNS: &str = "key, position, kind, spec, queue, priority, state, pending, \
     attempts, max_attempts, timeout_ms, epoch, worker_id, lease_until, ready_at, output, error, \
     model, prompt_tokens, completion_tokens, cost_usd, started_at, finished_at";

impl TaskRow {
    fn into_task(self, depends_on: Vec<String>) -> Result<WorkflowTask, StoreError> {
        Ok(WorkflowTask {
            state: TaskState::parse(&self.state)
                .ok_or_else(|| StoreError::corrupt(format!("task state {:?}", self.state)))?,
            spec: json_column(&self.spec)?,
            output: self.output.as_deref().map(json_column).transpose()?,
            key: self.key,
            position: self.position,
            kind: self.kind,
            queue: self.queue,
            priority: self.priority,
            pending: self.pending,
            depends_on,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            timeout_ms: self.timeout_ms,
            epoch: self.epoch,
            worker_id: self.worker_id,
            lease_until_ms: self.lease_until,
            ready_at_ms: self.ready_at,
            error: self.error,
            model: self.model,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: self.cost_usd,
            started_ms: self.started_at,
            finished_ms: self.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    run_id: String,
    seq: i64,
    kind: String,
    task_key: Option<String>,
    data: String,
    created_at: i64,
}

impl EventRow {
    fn into_event(self) -> Result<WorkflowEvent, StoreError> {
        Ok(WorkflowEvent {
            run_id: WorkflowId(uuid_column(&self.run_id)?),
            seq: self.seq,
            kind: self.kind,
            task: self.task_key,
            data: json_column(&self.data)?,
            created_ms: self.created_at,
        })
    }
}

/// When a task tried `attempts` times may run again: a linear backoff of
/// `base` (a bound parameter) per attempt after `now`, capped.
fn backoff_sql(now: &str, base: &str) -> String {
    format!(
        "{now} + {base} * (CASE WHEN attempts > {MAX_BACKOFF_STEPS} THEN {MAX_BACKOFF_STEPS} \
         ELSE attempts END)"
    )
}

/// Notifications of workflow changes made by other processes (PostgreSQL
/// `LISTEN` on [`WORKFLOW_CHANNEL`]).
pub struct WorkflowListener {
    inner: sqlx::postgres::PgListener,
}

impl WorkflowListener {
    /// The next run that changed. The listener reconnects by itself; an
    /// error means it could not.
    pub async fn recv(&mut self) -> Result<WorkflowNote, StoreError> {
        loop {
            let note = self.inner.recv().await?;
            if let Some(note) = WorkflowNote::parse(note.payload()) {
                return Ok(note);
            }
        }
    }
}

/// A notification on [`WORKFLOW_CHANNEL`]: `"<run>[ upto:<seq>][ ready]"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowNote {
    pub run: WorkflowId,
    /// The run's log holds events up to this number once the change is
    /// visible, when the writer said (a watcher that has them skips the
    /// read).
    pub upto: Option<i64>,
    /// Tasks became ready that no worker holds.
    pub ready: bool,
}

impl WorkflowNote {
    fn parse(payload: &str) -> Option<WorkflowNote> {
        let mut words = payload.split(' ');
        let run = WorkflowId(words.next()?.parse().ok()?);
        let mut note = WorkflowNote {
            run,
            upto: None,
            ready: false,
        };
        for word in words {
            if word == READY {
                note.ready = true;
            } else if let Some(seq) = word.strip_prefix(UPTO) {
                note.upto = seq.parse().ok();
            }
        }
        Some(note)
    }
}

impl Store {
    /// Listens for other processes' workflow changes; `None` on SQLite,
    /// which has no notifications.
    pub async fn workflow_listener(&self) -> Result<Option<WorkflowListener>, StoreError> {
        match &self.backend {
            Backends::Sqlite(_) => Ok(None),
            Backends::Postgres(pg) => {
                let mut inner = sqlx::postgres::PgListener::connect_with(pg.pool()).await?;
                inner.listen(WORKFLOW_CHANNEL).await?;
                Ok(Some(WorkflowListener { inner }))
            }
        }
    }

    /// Stores a new run with its tasks and edges; tasks without
    /// dependencies are ready at once. Appends `workflow_started`.
    pub async fn create_workflow(&self, new: &NewWorkflow<'_>) -> Result<WorkflowRun, StoreError> {
        check_text("workflow name", new.name)?;
        check_text("workspace", new.workspace)?;
        check_text("device id", new.device_id)?;
        let rows = NewRunRows::of(new)?;
        match &self.backend {
            Backends::Sqlite(sqlite) => {
                sqlite
                    .thread()
                    .transaction(move |tx| direct::create_workflow(tx, &rows))
                    .await?
            }
            Backends::Postgres(pg) => create_on_postgres(pg, &rows).await?,
        }
        Ok(WorkflowRun {
            id: new.id,
            name: new.name.to_owned(),
            request: new.request.clone(),
            plan: new.plan.clone(),
            workspace: new.workspace.to_owned(),
            device_id: new.device_id.to_owned(),
            status: WorkflowStatus::Running,
            reason: None,
            total_tasks: new.tasks.len() as i64,
            done_tasks: 0,
            last_event: 1,
            result: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            created_ms: new.now_ms,
            updated_ms: new.now_ms,
            finished_ms: None,
        })
    }

    /// A run by id.
    pub async fn workflow(&self, id: WorkflowId) -> Result<Option<WorkflowRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.map(RunRow::into_run).transpose()
    }

    /// Runs, newest first; only those older than `before` when given.
    /// Ids are UUIDv7, so their order is creation order and a page never
    /// skips runs created in the same millisecond.
    pub async fn workflows(
        &self,
        limit: u32,
        before: Option<WorkflowId>,
    ) -> Result<Vec<WorkflowRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id < $1 ORDER BY id DESC LIMIT $2"
        );
        // Every canonical UUID sorts below "g".
        let before = before.map_or_else(|| "g".to_owned(), |id| id.to_string());
        let rows: Vec<RunRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(&before)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(RunRow::into_run).collect()
    }

    /// A run's tasks in plan order, with their dependencies.
    pub async fn workflow_tasks(&self, id: WorkflowId) -> Result<Vec<WorkflowTask>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM workflow_tasks WHERE run_id = $1 ORDER BY position"
        );
        let run = id.to_string();
        let (rows, edges): (Vec<TaskRow>, Vec<(String, String)>) = on_pool!(self, read, |pool| {
            let rows = sqlx::query_as(&sql).bind(&run).fetch_all(pool).await?;
            let edges = sqlx::query_as(
                "SELECT from_key, to_key FROM workflow_edges WHERE run_id = $1 ORDER BY from_key",
            )
            .bind(&run)
            .fetch_all(pool)
            .await?;
            (rows, edges)
        });
        let mut depends: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, to) in edges {
            depends.entry(to).or_default().push(from);
        }
        rows.into_iter()
            .map(|row| {
                let deps = depends.remove(&row.key).unwrap_or_default();
                row.into_task(deps)
            })
            .collect()
    }

    /// The outputs of some of a run's completed tasks (a task's inputs).
    pub async fn task_outputs(
        &self,
        id: WorkflowId,
        keys: &[String],
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let keys_json = serde_json::to_string(keys).unwrap_or_default();
        let rows: Vec<(String, Option<String>)> = match &self.backend {
            Backends::Sqlite(sqlite) => {
                sqlx::query_as(
                    "SELECT key, output FROM workflow_tasks WHERE run_id = $1 \
                     AND state = 'completed' AND key IN (SELECT value FROM json_each($2))",
                )
                .bind(id.to_string())
                .bind(keys_json)
                .fetch_all(sqlite.reader())
                .await?
            }
            Backends::Postgres(pg) => {
                sqlx::query_as(
                    "SELECT key, output FROM workflow_tasks WHERE run_id = $1 \
                     AND state = 'completed' AND key = ANY($2)",
                )
                .bind(id.to_string())
                .bind(keys.to_vec())
                .fetch_all(pg.pool())
                .await?
            }
        };
        rows.into_iter()
            .map(|(key, output)| {
                let output = output.as_deref().map(json_column).transpose()?;
                Ok((key, output.unwrap_or(Value::Null)))
            })
            .collect()
    }

    /// A run's events after `after` (0 for all), at most `limit`.
    pub async fn workflow_events(
        &self,
        id: WorkflowId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<WorkflowEvent>, StoreError> {
        const SQL: &str = "SELECT run_id, seq, kind, task_key, data, created_at \
             FROM workflow_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
        let rows: Vec<EventRow> = match &self.backend {
            // A watcher reads once a step: on PostgreSQL on a connection of
            // its own, out of the pool's way.
            Backends::Postgres(pg) => {
                pg.fetch_on_own(
                    Own::EventReads,
                    sqlx::query_as(SQL)
                        .bind(id.to_string())
                        .bind(after)
                        .bind(i64::from(limit)),
                )
                .await?
            }
            Backends::Sqlite(sqlite) => {
                sqlx::query_as(SQL)
                    .bind(id.to_string())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(sqlite.reader())
                    .await?
            }
        };
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// Sets the concurrency limit of a queue (`None` lifts it).
    pub async fn set_queue_limit(
        &self,
        queue: &str,
        concurrency: Option<u32>,
    ) -> Result<(), StoreError> {
        check_text("queue", queue)?;
        in_tx!(self, |tx| {
            match concurrency {
                Some(limit) => {
                    sqlx::query(
                        "INSERT INTO workflow_queues (name, concurrency) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency",
                    )
                    .bind(queue)
                    .bind(i64::from(limit))
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM workflow_queues WHERE name = $1")
                        .bind(queue)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        });
        Ok(())
    }

    /// Claims up to `claim.limit` ready tasks for a worker, most urgent
    /// first; a queue with a concurrency limit gives out only what fits.
    /// One transaction: on the SQLite thread ([`direct::claim`]), or
    /// `baton_claim_tasks` on PostgreSQL (migration 0011).
    pub async fn claim_tasks(
        &self,
        claim: &ClaimRequest<'_>,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        check_text("worker id", claim.worker)?;
        let limit = claim.limit.max(1);
        match &self.backend {
            Backends::Sqlite(sqlite) => {
                let wanted = direct::Claimant::of_claim(claim);
                let now_ms = claim.now_ms;
                sqlite
                    .thread()
                    .transaction(move |tx| {
                        direct::claim(tx, &wanted.request(limit as usize, now_ms))
                    })
                    .await
            }
            Backends::Postgres(pg) => {
                let sql = format!(
                    "SELECT {CLAIMED_COLUMNS} FROM baton_claim_tasks($1, $2, $3, $4, $5, $6)"
                );
                let query = sqlx::query_as(&sql)
                    .bind(claim.worker)
                    .bind(claim.lease_ms)
                    .bind(claim.queues.map(<[String]>::to_vec))
                    .bind(claim.run.map(|run| run.to_string()))
                    .bind(i64::from(limit))
                    .bind(claim.now_ms);
                let (mut claimed, unreadable) =
                    readable(pg.fetch_on_own(Own::Claims, query).await?);
                if !unreadable.is_empty() {
                    without_runs_of(&mut claimed, &unreadable);
                    in_tx!(self, |tx| fail_unreadable!(tx, &unreadable, claim.now_ms));
                }
                Ok(claimed)
            }
        }
    }

    /// Stores what an attempt produced before it is used (a model's
    /// answer, an agent run's id), so a later attempt starts from it.
    pub async fn checkpoint_task(
        &self,
        id: WorkflowId,
        key: &str,
        epoch: i64,
        checkpoint: &Value,
    ) -> Result<(), StoreError> {
        let run = id.to_string();
        let text = json_text(checkpoint)?;
        in_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE workflow_tasks SET checkpoint = $4 \
                 WHERE run_id = $1 AND key = $2 AND epoch = $3 AND state = 'claimed'",
            )
            .bind(&run)
            .bind(key)
            .bind(epoch)
            .bind(&text)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(fenced(&run, key, Hold::Claimed(epoch)));
            }
        });
        Ok(())
    }

    /// Completes a claimed task under its epoch; see [`Completion`].
    pub async fn complete_task(
        &self,
        id: WorkflowId,
        key: &str,
        epoch: i64,
        outcome: &TaskOutcome<'_>,
        next: Option<&ClaimNext<'_>>,
        now_ms: i64,
    ) -> Result<Completion, StoreError> {
        let item = CompleteItem {
            run_id: id,
            key,
            epoch,
            outcome: *outcome,
        };
        self.complete_tasks(&[item], next, now_ms)
            .await?
            .results
            .pop()
            .unwrap_or_else(|| Err(StoreError::corrupt("a batch of one gave no result")))
    }

    /// Completes several claimed tasks in one commit (a worker's completions
    /// that finished together): one result per item, in order. An item no
    /// longer held is [`StoreError::Fenced`] and the others still commit;
    /// any other failure commits nothing.
    pub async fn complete_tasks(
        &self,
        items: &[CompleteItem<'_>],
        next: Option<&ClaimNext<'_>>,
        now_ms: i64,
    ) -> Result<CompletedBatch, StoreError> {
        let finishing: Vec<Finishing<'_>> = items
            .iter()
            .map(|item| Finishing {
                run: item.run_id.to_string(),
                key: item.key,
                hold: Hold::Claimed(item.epoch),
                outcome: item.outcome,
            })
            .collect();
        self.finish(&finishing, next, now_ms).await
    }

    /// Completes `items` in the order of their runs and keys, whatever
    /// order they came in: two workers' batches then lock the rows they
    /// share (a join both count down) in the same order and never deadlock.
    /// The results come back in the callers' order.
    async fn finish(
        &self,
        items: &[Finishing<'_>],
        next: Option<&ClaimNext<'_>>,
        now_ms: i64,
    ) -> Result<CompletedBatch, StoreError> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| (&items[a].run, items[a].key).cmp(&(&items[b].run, items[b].key)));
        let sorted: Vec<Finishing<'_>> = order.iter().map(|&at| items[at].clone()).collect();
        let (results, events) = match &self.backend {
            Backends::Sqlite(sqlite) => {
                let payload = items_json(&sorted)?;
                let held: Vec<direct::Held> = sorted
                    .iter()
                    .map(|item| direct::Held {
                        run: item.run.clone(),
                        key: item.key.to_owned(),
                        hold: item.hold,
                        event: completed_data(&item.outcome),
                    })
                    .collect();
                let next = next.map(direct::Claimant::of_next);
                let batch = sqlite
                    .thread()
                    .transaction(move |tx| {
                        direct::complete(tx, &held, &payload, next.as_ref(), now_ms)
                    })
                    .await?;
                (batch.results, batch.events)
            }
            Backends::Postgres(pg) => {
                let (batch, unreadable) = complete_on_postgres(pg, &sorted, next, now_ms).await?;
                if !unreadable.is_empty() {
                    in_tx!(self, |tx| fail_unreadable!(tx, &unreadable, now_ms));
                }
                (batch.results, batch.events)
            }
        };
        let mut by_caller: Vec<Option<Result<Completion, StoreError>>> =
            (0..items.len()).map(|_| None).collect();
        for (at, result) in order.into_iter().zip(results) {
            by_caller[at] = Some(result);
        }
        let results = by_caller
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| Err(StoreError::corrupt("a batch item got no result")))
            })
            .collect();
        Ok(CompletedBatch { results, events })
    }

    /// Records a failed attempt: see [`TaskFailure`].
    pub async fn fail_task(
        &self,
        id: WorkflowId,
        key: &str,
        epoch: i64,
        failure: &TaskFailure<'_>,
        now_ms: i64,
    ) -> Result<FailureOutcome, StoreError> {
        let TaskFailure {
            error,
            retry,
            backoff_ms,
        } = *failure;
        let run = id.to_string();
        let error = baton_core::one_line(error, 4000);
        check_text("task error", &error)?;
        Ok(in_tx!(self, |tx| {
            let row: Option<(String, i64, i64)> = sqlx::query_as(&format!(
                "UPDATE workflow_tasks SET worker_id = NULL, lease_until = NULL, error = $6, \
                 state = CASE WHEN $7 AND attempts < max_attempts THEN 'ready' ELSE 'failed' END, \
                 ready_at = {}, finished_at = CASE WHEN $7 AND attempts < max_attempts \
                 THEN NULL ELSE $4 END \
                 WHERE run_id = $1 AND key = $2 AND epoch = $3 AND state = 'claimed' \
                 RETURNING state, attempts, ready_at",
                backoff_sql("$4", "$5")
            ))
            .bind(&run)
            .bind(key)
            .bind(epoch)
            .bind(now_ms)
            .bind(backoff_ms)
            .bind(&error)
            .bind(retry)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((state, attempt, ready_at)) = row else {
                return Err(fenced(&run, key, Hold::Claimed(epoch)));
            };
            if state == "ready" {
                append_events!(
                    tx,
                    &run,
                    &[NewEvent {
                        kind: "task_retrying",
                        task: Some(key),
                        data: json!({ "attempt": attempt, "error": error, "retry_at_ms": ready_at }),
                    }],
                    0i64,
                    now_ms
                );
                tx.notify(&run, true).await?;
                FailureOutcome::Retrying {
                    attempt,
                    ready_at_ms: ready_at,
                }
            } else {
                let failed = NewEvent {
                    kind: "task_failed",
                    task: Some(key),
                    data: json!({ "attempt": attempt, "error": error }),
                };
                let reason = format!("task {key} failed: {error}");
                fail_run!(tx, &run, failed, &reason, now_ms);
                FailureOutcome::Failed
            }
        }))
    }

    /// Parks a claimed task until a person decides on it (an approval
    /// step): it holds no worker and no lease while it waits.
    pub async fn park_task(
        &self,
        id: WorkflowId,
        key: &str,
        epoch: i64,
        question: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let run = id.to_string();
        in_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE workflow_tasks SET state = 'waiting', worker_id = NULL, lease_until = NULL \
                 WHERE run_id = $1 AND key = $2 AND epoch = $3 AND state = 'claimed'",
            )
            .bind(&run)
            .bind(key)
            .bind(epoch)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(fenced(&run, key, Hold::Claimed(epoch)));
            }
            append_events!(
                tx,
                &run,
                &[NewEvent {
                    kind: "task_waiting",
                    task: Some(key),
                    data: json!({ "question": question }),
                }],
                0i64,
                now_ms
            );
        });
        Ok(())
    }

    /// A person's decision on a waiting task: approval completes it with
    /// `decision` as its output; a refusal fails it, and its run.
    pub async fn decide_task(
        &self,
        id: WorkflowId,
        key: &str,
        approved: bool,
        decision: &Value,
        now_ms: i64,
    ) -> Result<Completion, StoreError> {
        let run = id.to_string();
        let exists: Option<(String,)> = on_pool!(self, read, |pool| {
            sqlx::query_as("SELECT state FROM workflow_tasks WHERE run_id = $1 AND key = $2")
                .bind(&run)
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: "workflow task",
                id: format!("{run}/{key}"),
            });
        }
        if approved {
            let finishing = [Finishing {
                run: run.clone(),
                key,
                hold: Hold::Waiting,
                outcome: TaskOutcome::plain(decision),
            }];
            return self
                .finish(&finishing, None, now_ms)
                .await?
                .results
                .pop()
                .unwrap_or_else(|| Err(StoreError::corrupt("a batch of one gave no result")));
        }
        let by = decision["by"].as_str().unwrap_or("a person");
        let reason = match decision["comment"]
            .as_str()
            .filter(|c| !c.trim().is_empty())
        {
            Some(comment) => format!("task {key} was refused by {by}: {comment}"),
            None => format!("task {key} was refused by {by}"),
        };
        in_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE workflow_tasks SET state = 'failed', error = $3, finished_at = $4, \
                 output = $5 WHERE run_id = $1 AND key = $2 AND state = 'waiting'",
            )
            .bind(&run)
            .bind(key)
            .bind(&reason)
            .bind(now_ms)
            .bind(json_text(decision)?)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(fenced(&run, key, Hold::Waiting));
            }
            let failed = NewEvent {
                kind: "task_failed",
                task: Some(key),
                data: json!({ "error": reason, "decision": decision }),
            };
            fail_run!(tx, &run, failed, &reason, now_ms);
        });
        Ok(Completion {
            next: None,
            released: 0,
            finished: Some(WorkflowStatus::Failed),
        })
    }

    /// Renews every lease `worker` holds, in one statement; returns how
    /// many it holds. PostgreSQL locks the rows in (run, key) order, the
    /// order completions lock them in, so a beat never deadlocks with a
    /// commit of the same worker's tasks.
    pub async fn heartbeat(
        &self,
        worker: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let renewed = match &self.backend {
            Backends::Sqlite(sqlite) => {
                let worker = worker.to_owned();
                sqlite
                    .thread()
                    .transaction(move |tx| direct::heartbeat(tx, &worker, now_ms + lease_ms))
                    .await?
            }
            Backends::Postgres(pg) => sqlx::query(
                "UPDATE workflow_tasks t SET lease_until = $2 FROM ( \
                 SELECT run_id, key FROM workflow_tasks \
                 WHERE worker_id = $1 AND state = 'claimed' \
                 ORDER BY run_id, key FOR UPDATE) held \
                 WHERE t.run_id = held.run_id AND t.key = held.key",
            )
            .bind(worker)
            .bind(now_ms + lease_ms)
            .execute(pg.pool())
            .await?
            .rows_affected(),
        };
        Ok(renewed)
    }

    /// Gives back every task `worker` holds, at once and without using up
    /// an attempt: a worker that stops in an orderly way lets others go on
    /// without waiting for its leases to run out. Returns how many.
    pub async fn release_tasks(&self, worker: &str, now_ms: i64) -> Result<usize, StoreError> {
        Ok(in_tx!(self, |tx| {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "UPDATE workflow_tasks SET state = 'ready', worker_id = NULL, \
                 lease_until = NULL, ready_at = $2, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
                 WHERE worker_id = $1 AND state = 'claimed' RETURNING run_id, key",
            )
            .bind(worker)
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?;
            let mut by_run: BTreeMap<&str, Vec<NewEvent<'_>>> = BTreeMap::new();
            for (run, key) in &rows {
                by_run.entry(run).or_default().push(NewEvent {
                    kind: "task_released",
                    task: Some(key),
                    data: json!({ "worker": worker }),
                });
            }
            for (run, events) in &by_run {
                append_events!(tx, run, events, 0i64, now_ms);
                tx.notify(run, true).await?;
            }
            rows.len()
        }))
    }

    /// Returns tasks whose lease ran out (their worker died or stalled) to
    /// ready after a linear backoff of `backoff_ms` per attempt, or fails
    /// them (and their runs) when no attempt is left. Returns how many.
    pub async fn reap_expired(&self, backoff_ms: i64, now_ms: i64) -> Result<usize, StoreError> {
        Ok(in_tx!(self, |tx| {
            let rows: Vec<(String, String, String, i64, i64, Option<String>)> =
                sqlx::query_as(&format!(
                    "UPDATE workflow_tasks SET \
                     error = 'the lease of worker ' || COALESCE(worker_id, '?') || ' ran out', \
                     worker_id = NULL, lease_until = NULL, \
                     state = CASE WHEN attempts < max_attempts THEN 'ready' ELSE 'failed' END, \
                     ready_at = {}, finished_at = CASE WHEN attempts < max_attempts \
                     THEN NULL ELSE $1 END \
                     WHERE state = 'claimed' AND lease_until < $1 \
                     RETURNING run_id, key, state, attempts, ready_at, error",
                    backoff_sql("$1", "$2")
                ))
                .bind(now_ms)
                .bind(backoff_ms)
                .fetch_all(&mut *tx)
                .await?;
            // A run fails once, with every task of it that ran out of
            // attempts; its other tasks are cancelled (not retried). Task
            // rows first, then run rows: the order every transaction keeps.
            let mut failed: BTreeMap<&str, (Vec<NewEvent<'_>>, String)> = BTreeMap::new();
            for (run, key, state, attempt, _, error) in &rows {
                if state != "ready" {
                    let reason = format!(
                        "task {key} failed: {}",
                        error.as_deref().unwrap_or("its lease ran out")
                    );
                    failed
                        .entry(run.as_str())
                        .or_insert_with(|| (Vec::new(), reason))
                        .0
                        .push(NewEvent {
                            kind: "task_failed",
                            task: Some(key),
                            data: json!({ "attempt": attempt, "error": error }),
                        });
                }
            }
            for run in failed.keys() {
                cancel_unfinished!(tx, *run, now_ms);
            }
            let mut retrying: BTreeMap<&str, Vec<NewEvent<'_>>> = BTreeMap::new();
            for (run, key, state, attempt, ready_at, error) in &rows {
                if state == "ready" && !failed.contains_key(run.as_str()) {
                    retrying.entry(run.as_str()).or_default().push(NewEvent {
                        kind: "task_retrying",
                        task: Some(key),
                        data: json!({ "attempt": attempt, "error": error, "retry_at_ms": ready_at }),
                    });
                }
            }
            for (run, (events, reason)) in failed {
                mark_failed!(tx, run, events, &reason, now_ms);
            }
            for (run, events) in &retrying {
                append_events!(tx, run, events, 0i64, now_ms);
                tx.notify(run, true).await?;
            }
            rows.len()
        }))
    }

    /// Cancels a running run: unfinished tasks are cancelled (a worker
    /// still holding one is fenced out). A run that already ended is a
    /// [`StoreError::Conflict`] and stays as it was.
    pub async fn cancel_workflow(
        &self,
        id: WorkflowId,
        reason: &str,
        now_ms: i64,
    ) -> Result<WorkflowRun, StoreError> {
        check_text("reason", reason)?;
        let run = id.to_string();
        in_tx!(self, |tx| {
            // Tasks before the run row: the lock order every transaction keeps.
            sqlx::query(
                "UPDATE workflow_tasks SET state = 'cancelled', worker_id = NULL, \
                 lease_until = NULL, finished_at = $2 WHERE run_id = $1 \
                 AND state IN ('blocked', 'ready', 'claimed', 'waiting')",
            )
            .bind(&run)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "UPDATE workflow_runs SET status = 'cancelled', reason = $2, finished_at = $3 \
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(&run)
            .bind(reason)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(self.not_running(id).await);
            }
            append_events!(
                tx,
                &run,
                &[NewEvent {
                    kind: "workflow_cancelled",
                    task: None,
                    data: json!({ "reason": reason }),
                }],
                0i64,
                now_ms
            );
        });
        self.workflow(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "workflow",
                id: run,
            })
    }

    /// Why a run that was to be cancelled is not running.
    async fn not_running(&self, id: WorkflowId) -> StoreError {
        match self.workflow(id).await {
            Ok(Some(stored)) => StoreError::Conflict(format!(
                "workflow {id} already ended ({})",
                stored.status.as_str()
            )),
            Ok(None) => StoreError::NotFound {
                what: "workflow",
                id: id.to_string(),
            },
            Err(error) => error,
        }
    }

    /// Deletes up to `limit` runs that ended before `ended_before_ms`,
    /// oldest first, with their tasks, edges and events; returns how many.
    /// A run that is still going is never deleted, and a resumed one is
    /// going again. Batches keep each transaction short beside workers.
    pub async fn prune_workflows(
        &self,
        ended_before_ms: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let pruned = on_pool!(self, write, |pool| {
            sqlx::query(
                "DELETE FROM workflow_runs WHERE id IN ( \
                 SELECT id FROM workflow_runs \
                 WHERE finished_at IS NOT NULL AND finished_at < $1 AND status <> 'running' \
                 ORDER BY finished_at LIMIT $2)",
            )
            .bind(ended_before_ms)
            .bind(i64::from(limit))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(pruned)
    }

    /// Starts a failed or cancelled run again from where it stopped:
    /// completed tasks keep their results, the others start over with
    /// fresh attempts (keeping checkpoints, so a model that already
    /// answered is not asked again). A completed run is a
    /// [`StoreError::Conflict`]; a running one is returned as it is.
    pub async fn resume_workflow(
        &self,
        id: WorkflowId,
        now_ms: i64,
    ) -> Result<WorkflowRun, StoreError> {
        let run = id.to_string();
        let stored = self
            .workflow(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "workflow",
                id: run.clone(),
            })?;
        match stored.status {
            WorkflowStatus::Running => return Ok(stored),
            WorkflowStatus::Completed => {
                return Err(StoreError::Conflict(format!(
                    "workflow {run} already completed; there is nothing to resume"
                )));
            }
            WorkflowStatus::Failed | WorkflowStatus::Cancelled => {}
        }
        in_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE workflow_runs SET status = 'running', reason = NULL, finished_at = NULL \
                 WHERE id = $1 AND status IN ('failed', 'cancelled')",
            )
            .bind(&run)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!(
                    "workflow {run} changed while it was being resumed; try again"
                )));
            }
            sqlx::query(
                "UPDATE workflow_tasks SET state = 'blocked', attempts = 0, error = NULL, \
                 finished_at = NULL, ready_at = $2, pending = (SELECT COUNT(*) \
                 FROM workflow_edges e JOIN workflow_tasks d \
                 ON d.run_id = e.run_id AND d.key = e.from_key \
                 WHERE e.run_id = $1 AND e.to_key = workflow_tasks.key \
                 AND d.state <> 'completed') \
                 WHERE run_id = $1 AND state <> 'completed'",
            )
            .bind(&run)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE workflow_tasks SET state = 'ready' \
                 WHERE run_id = $1 AND state = 'blocked' AND pending = 0",
            )
            .bind(&run)
            .execute(&mut *tx)
            .await?;
            append_events!(
                tx,
                &run,
                &[NewEvent {
                    kind: "workflow_resumed",
                    task: None,
                    data: json!({ "from": stored.status.as_str() }),
                }],
                0i64,
                now_ms
            );
            tx.notify(&run, true).await?;
        });
        self.workflow(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "workflow",
                id: run,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_parse_with_and_without_their_words() {
        let run = "0190a0a0-a0a0-7000-8000-000000000001";
        let id = WorkflowId(run.parse().unwrap());
        let note = |payload: &str| WorkflowNote::parse(payload);
        assert_eq!(
            note(run),
            Some(WorkflowNote {
                run: id,
                upto: None,
                ready: false
            })
        );
        assert_eq!(
            note(&format!("{run} upto:12 ready")),
            Some(WorkflowNote {
                run: id,
                upto: Some(12),
                ready: true
            })
        );
        assert_eq!(note(&format!("{run} ready")).map(|n| n.ready), Some(true));
        assert_eq!(note(&format!("{run} upto:x")).and_then(|n| n.upto), None);
        assert_eq!(note("not-a-run ready"), None);
    }
}
