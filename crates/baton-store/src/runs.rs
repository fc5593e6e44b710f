//! Agent runs, their tool calls, approvals and remembered grants.
//!
//! A tool call is stored as an *intent* before it runs and finished with
//! its result after, each write durable when it returns: after a crash a
//! resumed run sees which calls finished (their results are reused, never
//! re-run), and which were cut off (reported as interrupted, not silently
//! repeated). A model's call id is unique within its run, so a repeated id
//! finds the stored call instead of running twice.
//!
//! These tables use portable column types, so one SQL text serves both
//! backends: [`on_pool!`] runs the same statement on whichever pool the
//! store has, type-checked once per backend.

use baton_core::{ApprovalId, DeviceId, RunId, SessionId, ToolCallId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::StoreError;
use crate::rows::check_text;
use crate::store::{Store, on_pool};

/// Where a run stands. Every run that ends says why, never silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Working (or, after a crash, waiting to be resumed).
    Running,
    /// The goal check said the goal is met.
    Completed,
    /// The step budget ran out first.
    MaxStepsReached,
    /// The same action, the same error, or an A/B alternation kept coming.
    Stuck,
    /// The token, cost or time budget ran out.
    BudgetExhausted,
    /// An error baton could not work around (the model failed for good).
    Failed,
    /// Stopped by a person.
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::MaxStepsReached => "max_steps_reached",
            RunStatus::Stuck => "stuck",
            RunStatus::BudgetExhausted => "budget_exhausted",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::MaxStepsReached,
            RunStatus::Stuck,
            RunStatus::BudgetExhausted,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        self != RunStatus::Running
    }
}

/// One agent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentRun {
    pub id: RunId,
    /// The run that started this one as a sub-agent.
    pub parent_id: Option<RunId>,
    /// The conversation that holds the run's transcript.
    pub session_id: SessionId,
    pub device_id: DeviceId,
    pub goal: String,
    /// The workspace root the tools are jailed in.
    pub workspace: String,
    pub model: String,
    /// How the run was asked for (budgets, mode, rules), to resume it the
    /// same way.
    pub spec: serde_json::Value,
    pub status: RunStatus,
    /// Why it ended (or the last blocker), in words.
    pub reason: Option<String>,
    pub steps: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
}

/// What a step changes on a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    pub status: RunStatus,
    pub reason: Option<String>,
    pub steps: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub updated_ms: i64,
}

/// Where a tool call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Stored before running; still so after a crash means it was cut off.
    Intent,
    /// Ran and returned a result.
    Done,
    /// Ran and failed (the error is its output).
    Failed,
    /// Never ran: the policy or a person said no.
    Refused,
    /// Was running when baton stopped; its effects are unknown.
    Interrupted,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Intent => "intent",
            CallState::Done => "done",
            CallState::Failed => "failed",
            CallState::Refused => "refused",
            CallState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<CallState> {
        [
            CallState::Intent,
            CallState::Done,
            CallState::Failed,
            CallState::Refused,
            CallState::Interrupted,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// One tool call of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRecord {
    pub id: ToolCallId,
    pub run_id: RunId,
    /// The model's id for the call.
    pub call_id: String,
    pub step: i64,
    pub tool: String,
    /// The arguments as JSON text, as the model wrote them.
    pub arguments: String,
    /// What the policy matched (the command line, the path).
    pub subject: String,
    /// Whether running it may change the world (so it must not be repeated
    /// blindly after a crash).
    pub side_effect: bool,
    pub state: CallState,
    /// What the model was (or will be) shown.
    pub output: Option<String>,
    /// One line for traces.
    pub summary: Option<String>,
    pub truncated: bool,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub state: CallState,
    pub output: String,
    pub summary: String,
    pub truncated: bool,
    pub finished_ms: i64,
}

/// What storing an intent found.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Stored: the caller may run the call.
    New,
    /// The run already has this call id: the caller must not run it again.
    Existing(Box<ToolCallRecord>),
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Allowed,
    Denied,
    /// The run ended (or was resumed elsewhere) before anyone answered.
    Cancelled,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Allowed => "allowed",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Allowed,
            ApprovalStatus::Denied,
            ApprovalStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// How far an answer reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalScope {
    /// This call only.
    Once,
    /// This exact call (same tool and subject) in this workspace from now on.
    Always,
}

impl ApprovalScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalScope::Once => "once",
            ApprovalScope::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalScope> {
        match s {
            "once" => Some(ApprovalScope::Once),
            "always" => Some(ApprovalScope::Always),
            _ => None,
        }
    }
}

/// A question to a person: may this call run?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub id: ApprovalId,
    pub run_id: RunId,
    pub call_id: String,
    pub tool: String,
    pub subject: String,
    pub arguments: String,
    /// Why the policy asks.
    pub reason: String,
    pub status: ApprovalStatus,
    pub scope: Option<ApprovalScope>,
    /// Who answered (`cli`, `http`, a token's name).
    pub decided_by: Option<String>,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalAnswer {
    pub allowed: bool,
    pub scope: ApprovalScope,
    pub decided_by: String,
    pub decided_ms: i64,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    parent_id: Option<String>,
    session_id: String,
    device_id: String,
    goal: String,
    workspace: String,
    model: String,
    spec: String,
    status: String,
    reason: Option<String>,
    steps: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_usd: f64,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

const RUN_COLUMNS: &str = "id, parent_id, session_id, device_id, goal, workspace, model, spec, \
     status, reason, steps, prompt_tokens, completion_tokens, cost_usd, created_at, updated_at, \
     finished_at";

impl RunRow {
    fn into_run(self) -> Result<AgentRun, StoreError> {
        Ok(AgentRun {
            id: parse_id(&self.id, "run id")?,
            parent_id: self
                .parent_id
                .as_deref()
                .map(|p| parse_id(p, "parent run id"))
                .transpose()?,
            session_id: parse_id(&self.session_id, "run session id")?,
            device_id: DeviceId::parse(&self.device_id)
                .map_err(|e| StoreError::corrupt(format!("run device id: {e}")))?,
            goal: self.goal,
            workspace: self.workspace,
            model: self.model,
            spec: serde_json::from_str(&self.spec)
                .map_err(|e| StoreError::corrupt(format!("run spec: {e}")))?,
            status: RunStatus::parse(&self.status)
                .ok_or_else(|| StoreError::corrupt(format!("run status {:?}", self.status)))?,
            reason: self.reason,
            steps: self.steps,
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
struct CallRow {
    id: String,
    run_id: String,
    call_id: String,
    step: i64,
    tool: String,
    arguments: String,
    subject: String,
    side_effect: i64,
    state: String,
    output: Option<String>,
    summary: Option<String>,
    truncated: i64,
    started_at: i64,
    finished_at: Option<i64>,
}

const CALL_COLUMNS: &str = "id, run_id, call_id, step, tool, arguments, subject, side_effect, \
     state, output, summary, truncated, started_at, finished_at";

impl CallRow {
    fn into_record(self) -> Result<ToolCallRecord, StoreError> {
        Ok(ToolCallRecord {
            id: parse_id(&self.id, "tool call id")?,
            run_id: parse_id(&self.run_id, "tool call run id")?,
            call_id: self.call_id,
            step: self.step,
            tool: self.tool,
            arguments: self.arguments,
            subject: self.subject,
            side_effect: self.side_effect != 0,
            state: CallState::parse(&self.state)
                .ok_or_else(|| StoreError::corrupt(format!("tool call state {:?}", self.state)))?,
            output: self.output,
            summary: self.summary,
            truncated: self.truncated != 0,
            started_ms: self.started_at,
            finished_ms: self.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: String,
    run_id: String,
    call_id: String,
    tool: String,
    subject: String,
    arguments: String,
    reason: String,
    status: String,
    scope: Option<String>,
    decided_by: Option<String>,
    created_at: i64,
    decided_at: Option<i64>,
}

const APPROVAL_COLUMNS: &str = "id, run_id, call_id, tool, subject, arguments, reason, status, \
     scope, decided_by, created_at, decided_at";

impl ApprovalRow {
    fn into_approval(self) -> Result<Approval, StoreError> {
        Ok(Approval {
            id: parse_id(&self.id, "approval id")?,
            run_id: parse_id(&self.run_id, "approval run id")?,
            call_id: self.call_id,
            tool: self.tool,
            subject: self.subject,
            arguments: self.arguments,
            reason: self.reason,
            status: ApprovalStatus::parse(&self.status)
                .ok_or_else(|| StoreError::corrupt(format!("approval status {:?}", self.status)))?,
            scope: self
                .scope
                .as_deref()
                .map(|s| {
                    ApprovalScope::parse(s)
                        .ok_or_else(|| StoreError::corrupt(format!("approval scope {s:?}")))
                })
                .transpose()?,
            decided_by: self.decided_by,
            created_ms: self.created_at,
            decided_ms: self.decided_at,
        })
    }
}

fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::corrupt(format!("{what} {raw:?} is not a UUID")))
}

fn check_texts(fields: &[(&str, &str)]) -> Result<(), StoreError> {
    fields
        .iter()
        .try_for_each(|(what, value)| check_text(what, value))
}

impl Store {
    /// Stores a new run.
    pub async fn create_run(&self, run: &AgentRun) -> Result<(), StoreError> {
        check_texts(&[
            ("run goal", &run.goal),
            ("run workspace", &run.workspace),
            ("run model", &run.model),
            ("run reason", run.reason.as_deref().unwrap_or("")),
        ])?;
        let sql = format!(
            "INSERT INTO agent_runs ({RUN_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        let spec = run.spec.to_string();
        check_text("run spec", &spec)?;
        let result = on_pool!(self, write, |pool| {
            sqlx::query(&sql)
                .bind(run.id.to_string())
                .bind(run.parent_id.map(|p| p.to_string()))
                .bind(run.session_id.to_string())
                .bind(run.device_id.as_str())
                .bind(&run.goal)
                .bind(&run.workspace)
                .bind(&run.model)
                .bind(&spec)
                .bind(run.status.as_str())
                .bind(run.reason.as_deref())
                .bind(run.steps)
                .bind(run.prompt_tokens)
                .bind(run.completion_tokens)
                .bind(run.cost_usd)
                .bind(run.created_ms)
                .bind(run.updated_ms)
                .bind(run.finished_ms)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("run {} already exists", run.id),
            )),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound {
                    what: "parent run",
                    id: run.parent_id.map(|p| p.to_string()).unwrap_or_default(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn run(&self, id: RunId) -> Result<Option<AgentRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM agent_runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.map(RunRow::into_run).transpose()
    }

    /// The newest runs first, optionally only those in one status.
    pub async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<AgentRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM agent_runs WHERE ($1 IS NULL OR status = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<RunRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(status.map(RunStatus::as_str))
                .bind(i64::from(limit.clamp(1, 1_000)))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(RunRow::into_run).collect()
    }

    /// Records a step's outcome. A run that has ended does not change any
    /// more: updating one is a conflict.
    pub async fn update_run(&self, id: RunId, progress: &RunProgress) -> Result<(), StoreError> {
        check_text("run reason", progress.reason.as_deref().unwrap_or(""))?;
        let finished = progress.status.is_final().then_some(progress.updated_ms);
        let done = on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE agent_runs SET status = $2, reason = $3, steps = $4, prompt_tokens = $5, \
                 completion_tokens = $6, cost_usd = $7, updated_at = $8, finished_at = $9 \
                 WHERE id = $1 AND status = 'running'",
            )
            .bind(id.to_string())
            .bind(progress.status.as_str())
            .bind(progress.reason.as_deref())
            .bind(progress.steps)
            .bind(progress.prompt_tokens)
            .bind(progress.completion_tokens)
            .bind(progress.cost_usd)
            .bind(progress.updated_ms)
            .bind(finished)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 1 {
            return Ok(());
        }
        match self.run(id).await? {
            None => Err(StoreError::NotFound {
                what: "run",
                id: id.to_string(),
            }),
            Some(run) => Err(StoreError::Conflict(format!(
                "run {id} has already ended ({})",
                run.status.as_str()
            ))),
        }
    }

    /// Stores a call before it runs. If the run already has the call id,
    /// nothing is written and the stored call comes back instead.
    pub async fn record_intent(&self, call: &ToolCallRecord) -> Result<Intent, StoreError> {
        check_texts(&[
            ("tool call id", &call.call_id),
            ("tool name", &call.tool),
            ("tool arguments", &call.arguments),
            ("tool subject", &call.subject),
        ])?;
        let sql = format!(
            "INSERT INTO tool_calls ({CALL_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (run_id, call_id) DO NOTHING"
        );
        let inserted = on_pool!(self, write, |pool| {
            sqlx::query(&sql)
                .bind(call.id.to_string())
                .bind(call.run_id.to_string())
                .bind(&call.call_id)
                .bind(call.step)
                .bind(&call.tool)
                .bind(&call.arguments)
                .bind(&call.subject)
                .bind(i64::from(call.side_effect))
                .bind(CallState::Intent.as_str())
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(0_i64)
                .bind(call.started_ms)
                .bind(None::<i64>)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        match inserted {
            Ok(1) => Ok(Intent::New),
            Ok(_) => {
                let sql = format!(
                    "SELECT {CALL_COLUMNS} FROM tool_calls WHERE run_id = $1 AND call_id = $2"
                );
                let row: CallRow = on_pool!(self, write, |pool| {
                    sqlx::query_as(&sql)
                        .bind(call.run_id.to_string())
                        .bind(&call.call_id)
                        .fetch_one(pool)
                        .await?
                });
                Ok(Intent::Existing(Box::new(row.into_record()?)))
            }
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound {
                    what: "run",
                    id: call.run_id.to_string(),
                })
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("tool call {} already exists", call.id),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Finishes a stored intent. A call finishes once: finishing it again,
    /// or finishing one that is not an intent, is a conflict.
    pub async fn finish_tool_call(
        &self,
        id: ToolCallId,
        result: &CallResult,
    ) -> Result<(), StoreError> {
        if result.state == CallState::Intent {
            return Err(StoreError::InvalidInput(
                "a tool call cannot finish as an intent".into(),
            ));
        }
        check_texts(&[
            ("tool output", &result.output),
            ("tool summary", &result.summary),
        ])?;
        let done = on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE tool_calls SET state = $2, output = $3, summary = $4, truncated = $5, \
                 finished_at = $6 WHERE id = $1 AND state = 'intent'",
            )
            .bind(id.to_string())
            .bind(result.state.as_str())
            .bind(&result.output)
            .bind(&result.summary)
            .bind(i64::from(result.truncated))
            .bind(result.finished_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "tool call {id} is unknown or already finished"
            )))
        }
    }

    /// A run's calls in the order they were made.
    pub async fn tool_calls(&self, run: RunId) -> Result<Vec<ToolCallRecord>, StoreError> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM tool_calls WHERE run_id = $1 \
             ORDER BY step, started_at, id"
        );
        let rows: Vec<CallRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(run.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(CallRow::into_record).collect()
    }

    /// Marks every call of `run` still stored as an intent as interrupted
    /// (it was running when baton stopped) and returns them.
    pub async fn interrupt_open_calls(
        &self,
        run: RunId,
        at_ms: i64,
    ) -> Result<Vec<ToolCallRecord>, StoreError> {
        let sql = format!(
            "UPDATE tool_calls SET state = 'interrupted', finished_at = $2, \
             output = 'interrupted: baton stopped while this call was running; its effects are unknown', \
             summary = 'interrupted' \
             WHERE run_id = $1 AND state = 'intent' RETURNING {CALL_COLUMNS}"
        );
        let rows: Vec<CallRow> = on_pool!(self, write, |pool| {
            sqlx::query_as(&sql)
                .bind(run.to_string())
                .bind(at_ms)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(CallRow::into_record).collect()
    }

    pub async fn create_approval(&self, approval: &Approval) -> Result<(), StoreError> {
        check_texts(&[
            ("approval call id", &approval.call_id),
            ("approval tool", &approval.tool),
            ("approval subject", &approval.subject),
            ("approval arguments", &approval.arguments),
            ("approval reason", &approval.reason),
        ])?;
        let sql = format!(
            "INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let result = on_pool!(self, write, |pool| {
            sqlx::query(&sql)
                .bind(approval.id.to_string())
                .bind(approval.run_id.to_string())
                .bind(&approval.call_id)
                .bind(&approval.tool)
                .bind(&approval.subject)
                .bind(&approval.arguments)
                .bind(&approval.reason)
                .bind(approval.status.as_str())
                .bind(approval.scope.map(ApprovalScope::as_str))
                .bind(approval.decided_by.as_deref())
                .bind(approval.created_ms)
                .bind(approval.decided_ms)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound {
                    what: "run",
                    id: approval.run_id.to_string(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn approval(&self, id: ApprovalId) -> Result<Option<Approval>, StoreError> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1");
        let row: Option<ApprovalRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.map(ApprovalRow::into_approval).transpose()
    }

    /// Approvals oldest first, optionally only one status or one run's.
    pub async fn approvals(
        &self,
        status: Option<ApprovalStatus>,
        run: Option<RunId>,
        limit: u32,
    ) -> Result<Vec<Approval>, StoreError> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR run_id = $2) \
             ORDER BY created_at, id LIMIT $3"
        );
        let rows: Vec<ApprovalRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(status.map(ApprovalStatus::as_str))
                .bind(run.map(|r| r.to_string()))
                .bind(i64::from(limit.clamp(1, 1_000)))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(ApprovalRow::into_approval).collect()
    }

    /// Answers a pending approval and returns it as stored. Only a pending
    /// approval can be answered: the first answer wins, a second is a
    /// conflict.
    pub async fn decide_approval(
        &self,
        id: ApprovalId,
        answer: &ApprovalAnswer,
    ) -> Result<Approval, StoreError> {
        check_text("approval decided_by", &answer.decided_by)?;
        let status = if answer.allowed {
            ApprovalStatus::Allowed
        } else {
            ApprovalStatus::Denied
        };
        let done = on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE approvals SET status = $2, scope = $3, decided_by = $4, decided_at = $5 \
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(answer.scope.as_str())
            .bind(&answer.decided_by)
            .bind(answer.decided_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        let stored = self
            .approval(id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "approval",
                id: id.to_string(),
            })?;
        if done == 1 {
            Ok(stored)
        } else {
            Err(StoreError::Conflict(format!(
                "approval {id} was already answered ({})",
                stored.status.as_str()
            )))
        }
    }

    /// Cancels a run's unanswered approvals (the run ended or is being
    /// resumed and will ask again).
    pub async fn cancel_pending_approvals(
        &self,
        run: RunId,
        at_ms: i64,
    ) -> Result<u64, StoreError> {
        Ok(on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE approvals SET status = 'cancelled', decided_at = $2 \
                 WHERE run_id = $1 AND status = 'pending'",
            )
            .bind(run.to_string())
            .bind(at_ms)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Remembers an "allow always" answer as a policy rule for a workspace.
    /// Remembering the same rule again changes nothing.
    pub async fn add_grant(
        &self,
        workspace: &str,
        rule: &str,
        approval: ApprovalId,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        check_texts(&[("grant workspace", workspace), ("grant rule", rule)])?;
        on_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO approval_grants (workspace, rule, approval_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (workspace, rule) DO NOTHING",
            )
            .bind(workspace)
            .bind(rule)
            .bind(approval.to_string())
            .bind(at_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// The rules remembered for a workspace, oldest first.
    pub async fn grants(&self, workspace: &str) -> Result<Vec<String>, StoreError> {
        Ok(on_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT rule FROM approval_grants WHERE workspace = $1 ORDER BY created_at, rule",
            )
            .bind(workspace)
            .fetch_all(pool)
            .await?
        }))
    }
}
