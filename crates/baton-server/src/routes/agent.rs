//! The agent API: start and resume runs (their events streamed as
//! Server-Sent Events), read runs, and answer the approvals they ask for.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use baton_agent::{AgentError, AgentEvent, RunHandle, RunRequest};
use baton_core::{ApprovalId, RunId};
use baton_store::{AgentRun, Approval, ApprovalScope, RunStatus, ToolCallRecord};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        use axum::http::StatusCode;
        match e {
            AgentError::Invalid(_) | AgentError::Context(_) => ApiError::bad_request(e.to_string()),
            AgentError::NotFound(_) => ApiError::not_found(e.to_string()),
            AgentError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            AgentError::Model(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", e.to_string())
            }
            AgentError::Store(inner) => ApiError::from(baton_hub::HubError::Store(inner)),
            AgentError::Tool(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "tool_error",
                e.to_string(),
            ),
        }
    }
}

/// The run's events as SSE, named by their `type`. The run itself goes on
/// if the client disconnects; `GET /agent/runs/{id}` shows how it ended.
fn stream(handle: RunHandle) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let run_id = handle.run_id;
    tokio::spawn(async move {
        match handle.done.await {
            Ok(Ok(summary)) => {
                tracing::info!(run = %run_id, status = summary.status.as_str(), "agent run ended")
            }
            Ok(Err(error)) => tracing::error!(run = %run_id, %error, "agent run failed"),
            Err(error) => tracing::error!(run = %run_id, %error, "agent run task failed"),
        }
    });
    let events = UnboundedReceiverStream::new(handle.events).map(|event| {
        let name = event_name(&event);
        Ok(Event::default()
            .event(name)
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().event("error")))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn event_name(event: &AgentEvent) -> &'static str {
    match event {
        AgentEvent::Started { .. } => "started",
        AgentEvent::Step { .. } => "step",
        AgentEvent::Text { .. } => "text",
        AgentEvent::ToolCallDelta { .. } => "tool_call_delta",
        AgentEvent::ToolCall { .. } => "tool_call",
        AgentEvent::ApprovalRequested { .. } => "approval_requested",
        AgentEvent::ApprovalAnswered { .. } => "approval_answered",
        AgentEvent::Blocked { .. } => "blocked",
        AgentEvent::ToolResult { .. } => "tool_result",
        AgentEvent::Note { .. } => "note",
        AgentEvent::Finished { .. } => "finished",
    }
}

/// Starts an agent run toward a goal; streams its events (`started`,
/// `step`, `text`, `tool_call`, `approval_requested`, `blocked`,
/// `tool_result`, `note`, and last `finished`) as Server-Sent Events.
#[utoipa::path(post, path = "/agent/run", tag = "agent", request_body = RunRequest,
    responses((status = 200, description = "SSE stream of AgentEvent", content_type = "text/event-stream", body = AgentEvent),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn start_run(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RunRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    Ok(stream(state.agent.start(request).await?))
}

/// Resumes a run that stopped before it ended; finished tool calls are not
/// run again, interrupted ones are reported to the model.
#[utoipa::path(post, path = "/agent/runs/{id}/resume", tag = "agent",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, description = "SSE stream of AgentEvent", content_type = "text/event-stream", body = AgentEvent),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_run(&id)?;
    Ok(stream(state.agent.resume(id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only runs in this status (`running`, `completed`, …).
    pub status: Option<String>,
    /// At most this many, newest first (1-1000, default 50).
    pub limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub runs: Vec<AgentRun>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/agent/runs", tag = "agent", params(RunsQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            RunStatus::parse(s)
                .ok_or_else(|| ApiError::bad_request(format!("status {s:?} is not a run status")))
        })
        .transpose()?;
    let runs = state.agent.runs(status, query.limit.unwrap_or(50)).await?;
    Ok(Json(RunList { runs }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    pub run: AgentRun,
    pub tool_calls: Vec<ToolCallRecord>,
}

/// One run with every tool call it made.
#[utoipa::path(get, path = "/agent/runs/{id}", tag = "agent",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    let (run, tool_calls) = state.agent.run(parse_run(&id)?).await?;
    Ok(Json(RunDetail { run, tool_calls }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
}

/// Approvals waiting for an answer, oldest first.
#[utoipa::path(get, path = "/approvals", tag = "agent",
    responses((status = 200, body = ApprovalList)))]
pub async fn pending_approvals(
    State(state): State<AppState>,
) -> Result<Json<ApprovalList>, ApiError> {
    let approvals = state
        .agent
        .approvals()
        .pending(500)
        .await
        .map_err(AgentError::from)?;
    Ok(Json(ApprovalList { approvals }))
}

/// A person's answer to an approval.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// `allow_once`, `allow_always` (this exact call in this workspace from
    /// now on) or `deny`.
    pub decision: DecisionKind,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    AllowOnce,
    AllowAlways,
    Deny,
}

/// Answers an approval; the first answer wins (a second is 409).
#[utoipa::path(post, path = "/approvals/{id}", tag = "agent", request_body = ApprovalDecision,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = Approval), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn decide_approval(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApprovalDecision>,
) -> Result<Json<Approval>, ApiError> {
    let id: ApprovalId = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("approval id {id:?} is not a UUID")))?;
    let (allowed, scope) = match body.decision {
        DecisionKind::AllowOnce => (true, ApprovalScope::Once),
        DecisionKind::AllowAlways => (true, ApprovalScope::Always),
        DecisionKind::Deny => (false, ApprovalScope::Once),
    };
    let approval = state
        .agent
        .approvals()
        .decide(id, allowed, scope, "http")
        .await
        .map_err(|e| match e {
            baton_store::StoreError::Conflict(message) => {
                ApiError::new(axum::http::StatusCode::CONFLICT, "conflict", message)
            }
            other => AgentError::from(other).into(),
        })?;
    Ok(Json(approval))
}

fn parse_run(id: &str) -> Result<RunId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("run id {id:?} is not a UUID")))
}
