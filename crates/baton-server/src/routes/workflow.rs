//! The workflow API: submit a request (the engine plans it, or runs the plan
//! given), read runs, cancel, resume and decide, and follow a run's events
//! as Server-Sent Events or over a WebSocket in the seed's message shapes.
//!
//! Both followers read the engine's gapless event log through
//! [`Engine::watch`], which wakes on the engine's own signal (and
//! PostgreSQL `LISTEN` for other processes) instead of polling, so an event
//! reaches the client as soon as its commit does, and a follower that
//! reconnects from the last id it saw gets exactly the events after it.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use baton_core::{WorkflowId, one_line};
use baton_engine::{Engine, EngineError, Submitted, WorkflowRequest, WorkflowView, is_final_event};
use baton_store::{WorkflowEvent, WorkflowRun, WorkflowStatus};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};

/// The longest cancel reason kept: it is stored with the run and repeated
/// in its events, so a paragraph is plenty.
const MAX_REASON_CHARS: usize = 1_000;
/// The longest `by` and `comment` of a decision, for the same reason.
const MAX_DECIDER_CHARS: usize = 128;
const MAX_COMMENT_CHARS: usize = 4_000;
/// How long one human line of a status update may be: a UI shows it as one
/// row.
const MESSAGE_CHARS: usize = 200;
/// How often an idle WebSocket is pinged: a run may wait hours for an
/// approval, and proxies close connections that stay silent for a minute
/// or so; the ping also finds clients that vanished without a close.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(25);

/// Plans the request (or takes its `plan`), assigns a model to every model
/// and agent task, stores the run and starts it. Answers at once with the
/// seed's fields; follow the run at `/api/v1/workflow/{id}/events` or
/// `/ws/workflow/{id}`. Nothing is stored when the request, or the plan
/// given or written, is refused.
#[utoipa::path(post, path = "/api/v1/workflow/execute", tag = "workflow",
    request_body = WorkflowRequest,
    responses((status = 202, body = Submitted, description = "the run was stored and started; `Location` names it",
                headers(("location" = String, description = "/api/v1/workflow/{id}"))),
              (status = 400, body = ErrorBody, description = "malformed JSON, an unknown field, an empty description, an invalid plan (a cycle, an unknown dependency, more than 10,000 tasks, …)"),
              (status = 404, body = ErrorBody, description = "a model named in the request or plan is not known"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 502, body = ErrorBody, description = "the planning model failed, or kept writing invalid plans")))]
pub async fn execute(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<WorkflowRequest>,
) -> Result<Response, ApiError> {
    let submitted = state.engine.submit(request).await?;
    let location = format!("/api/v1/workflow/{}", submitted.workflow_id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(submitted),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many runs, newest first (1-1000, default 50).
    pub limit: Option<u32>,
    /// Only runs created before this one: the previous page's
    /// `next_before` (run ids are time-ordered UUIDv7).
    pub before: Option<String>,
}

/// One page of runs.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkflowList {
    /// Newest first.
    pub workflows: Vec<WorkflowRun>,
    /// `before` for the next page; absent on the last one.
    pub next_before: Option<WorkflowId>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflow", params(ListQuery),
    responses((status = 200, body = WorkflowList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<WorkflowList>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to 1000, not {limit}"
        )));
    }
    let before = query
        .before
        .as_deref()
        .map(|id| {
            id.parse::<WorkflowId>()
                .map_err(|_| ApiError::bad_request(format!("before {id:?} is not a workflow id")))
        })
        .transpose()?;
    let workflows = state.engine.list(limit, before).await?;
    let next_before = (workflows.len() == limit as usize)
        .then(|| workflows.last().map(|run| run.id))
        .flatten();
    Ok(Json(WorkflowList {
        workflows,
        next_before,
    }))
}

/// One run with all its tasks: states, attempts, models, outputs, errors.
#[utoipa::path(get, path = "/api/v1/workflow/{id}", tag = "workflow",
    params(("id" = String, Path, description = "workflow id")),
    responses((status = 200, body = WorkflowView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowView>, ApiError> {
    Ok(Json(state.engine.get(parse_id(&id)?).await?))
}

/// The optional body of a cancel.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why, kept with the run (at most 1,000 characters).
    pub reason: Option<String>,
}

/// Cancels a running run: its unfinished tasks are cancelled, and a worker
/// still busy with one has its result refused. The body is optional.
#[utoipa::path(post, path = "/api/v1/workflow/{id}/cancel", tag = "workflow",
    params(("id" = String, Path, description = "workflow id")),
    request_body(content = Option<CancelRequest>, description = "optional"),
    responses((status = 200, body = WorkflowRun, description = "the cancelled run"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the run already ended; it is left as it was")))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<WorkflowRun>, ApiError> {
    let id = parse_id(&id)?;
    let request: CancelRequest = optional_json(&body)?.unwrap_or_default();
    let reason = match request.reason.as_deref().map(str::trim) {
        None | Some("") => "cancelled over the HTTP API".to_owned(),
        Some(reason) if reason.chars().count() > MAX_REASON_CHARS => {
            return Err(ApiError::bad_request(format!(
                "reason is longer than {MAX_REASON_CHARS} characters"
            )));
        }
        Some(reason) => reason.to_owned(),
    };
    Ok(Json(state.engine.cancel(id, &reason).await?))
}

/// Starts a failed or cancelled run again from where it stopped: completed
/// tasks keep their results, the rest start over (a model that already
/// answered is not asked again). A running run is returned as it is.
#[utoipa::path(post, path = "/api/v1/workflow/{id}/resume", tag = "workflow",
    params(("id" = String, Path, description = "workflow id")),
    responses((status = 200, body = WorkflowRun, description = "the running run"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the run completed; there is nothing to resume")))]
pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowRun>, ApiError> {
    Ok(Json(state.engine.resume(parse_id(&id)?).await?))
}

/// A person's decision on an approval task.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `true` completes the task (its dependents run); `false` fails it and
    /// the run.
    pub approved: bool,
    /// Who decided (default `http`; at most 128 characters).
    pub by: Option<String>,
    /// Why (at most 4,000 characters).
    pub comment: Option<String>,
}

/// Decides an approval task that is waiting; the decision becomes the
/// task's output. Only the first decision counts.
#[utoipa::path(post, path = "/api/v1/workflow/{id}/tasks/{task}/decision", tag = "workflow",
    params(("id" = String, Path, description = "workflow id"),
           ("task" = String, Path, description = "the approval task's id in the plan")),
    request_body = DecisionRequest,
    responses((status = 200, body = WorkflowRun, description = "the run after the decision"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the task is not waiting for a decision (not yet, or already decided)")))]
pub async fn decide(
    State(state): State<AppState>,
    Path((id, task)): Path<(String, String)>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<WorkflowRun>, ApiError> {
    let id = parse_id(&id)?;
    let by = match request.by.as_deref().map(str::trim) {
        None | Some("") => "http",
        Some(by) if by.chars().count() > MAX_DECIDER_CHARS => {
            return Err(ApiError::bad_request(format!(
                "by is longer than {MAX_DECIDER_CHARS} characters"
            )));
        }
        Some(by) => by,
    };
    let comment = request
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(ApiError::bad_request(format!(
            "comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(Json(
        state
            .engine
            .decide(id, &task, request.approved, by, comment)
            .await?,
    ))
}

/// How `/events` answers.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventsFormat {
    /// Server-Sent Events, to the run's end.
    Sse,
    /// One page (at most 500) of events as a JSON array.
    Json,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events after this sequence number (default 0: from the
    /// start). A `Last-Event-ID` header wins over it.
    pub after: Option<i64>,
    /// `sse` (the default, unless `Accept` asks for `application/json`
    /// only) or `json`.
    #[param(inline)]
    pub format: Option<EventsFormat>,
}

/// The run's events in order. As Server-Sent Events (the default) each is
/// `id: <seq>`, `event: <kind>`, `data: <WorkflowEvent>`; the stream
/// follows the run as it goes and ends after its final event
/// (`workflow_completed`, `workflow_failed` or `workflow_cancelled`), with
/// keep-alive comments while it waits. A reconnecting client sends
/// `Last-Event-ID` (browsers do) and gets exactly the events after it.
/// With `format=json` (or `Accept: application/json`) it answers one page
/// of at most 500 events as a JSON array at once.
#[utoipa::path(get, path = "/api/v1/workflow/{id}/events", tag = "workflow",
    params(("id" = String, Path, description = "workflow id"),
           ("Last-Event-ID" = Option<i64>, Header, description = "the last event id seen: only later events are sent"),
           EventsQuery),
    responses((status = 200, description = "SSE stream of WorkflowEvent, or a JSON page of them",
                content((WorkflowEvent = "text/event-stream"), (Vec<WorkflowEvent> = "application/json"))),
              (status = 204, description = "the run has ended and every event after the one given was sent already (tells an EventSource to stop reconnecting)"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let after = resume_point(&headers, query.after)?;
    let json = match query.format {
        Some(EventsFormat::Json) => true,
        Some(EventsFormat::Sse) => false,
        None => wants_json(&headers),
    };
    if json {
        return Ok(Json(state.engine.events(id, after).await?).into_response());
    }
    // A browser's EventSource reconnects whenever a stream ends, sending
    // the last id it saw; for an ended run there is nothing after that, and
    // 204 is the answer that makes it stop instead of retrying forever.
    let run = state
        .hub
        .store()
        .workflow(id)
        .await
        .map_err(EngineError::from)?
        .ok_or_else(|| not_found(id))?;
    if run.status.is_final() && after >= run.last_event {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let watched = state.engine.watch(id, after).await?;
    Ok(Sse::new(sse_events(watched))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Each event as SSE; a failure mid-stream becomes a last `error` event,
/// after which the client reconnects from the last id it got.
fn sse_events(
    watched: impl Stream<Item = Result<WorkflowEvent, EngineError>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    async_stream::stream! {
        futures::pin_mut!(watched);
        while let Some(next) = watched.next().await {
            match next {
                Ok(event) => {
                    yield Ok(Event::default()
                        .id(event.seq.to_string())
                        .event(event.kind.clone())
                        .json_data(&event)
                        .unwrap_or_else(|_| Event::default().event("error")));
                }
                Err(error) => {
                    tracing::warn!(%error, "following a workflow's events failed");
                    let body = serde_json::json!({ "message": ApiError::from(error).message });
                    yield Ok(Event::default().event("error").data(body.to_string()));
                    break;
                }
            }
        }
    }
}

/// Where a follower starts: after `Last-Event-ID` when the client sent one
/// (a reconnecting `EventSource` repeats the original URL, whose `after`
/// is older than the header), else after `after`.
fn resume_point(headers: &HeaderMap, after: Option<i64>) -> Result<i64, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .map(str::trim)
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event's id"))
        })
        .transpose()?
        .filter(|value| !value.is_empty());
    let after = match header {
        Some(value) => value.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "Last-Event-ID {value:?} is not an event id (a whole number)"
            ))
        })?,
        None => after.unwrap_or(0),
    };
    if after < 0 {
        return Err(ApiError::bad_request(format!(
            "event ids start at 1; {after} is not one"
        )));
    }
    Ok(after)
}

/// Whether `Accept` asks for JSON and not for an event stream.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    accept.contains("application/json") && !accept.contains("text/event-stream")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Only events after this sequence number: the `seq` of the last
    /// `status_update.event` received, for a reconnect (default 0).
    pub after: Option<i64>,
    /// The server's token, for browsers, whose WebSocket cannot send an
    /// `Authorization` header; accepted on `/ws/` routes only.
    #[allow(
        dead_code,
        reason = "auth::require_token checks it before the handler runs"
    )]
    pub token: Option<String>,
}

/// One WebSocket text message, in the seed's shapes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkflowMessage {
    /// Sent for every event of the run, in order.
    StatusUpdate {
        workflow_id: WorkflowId,
        /// Tasks completed so far.
        current_step: i64,
        total_steps: i64,
        /// The models of the tasks running now.
        active_models: Vec<String>,
        /// Completed tasks as a percentage, 0 to 100.
        progress: f64,
        /// What happened, for a person.
        messages: Vec<String>,
        event: WorkflowEvent,
    },
    /// The last message before the server closes the socket.
    WorkflowComplete {
        workflow_id: WorkflowId,
        status: WorkflowStatus,
        /// The outputs of the tasks nothing depends on, by task id, when
        /// the run completed.
        result: Option<Value>,
        /// Why it failed or was cancelled.
        reason: Option<String>,
    },
    /// Following the run failed; the server closes the socket after it.
    Error { message: String },
}

/// Follows a run over a WebSocket: a `status_update` per event as it
/// happens, then `workflow_complete` at the run's end, then the server
/// closes. A failure is an `error` message before the close. A client that
/// reconnects with `after` (the last `event.seq` it got) misses and repeats
/// nothing; the counts in each update are those as of its event. The id and
/// the run are checked before the upgrade: a bad id is 400, an unknown run
/// 404. Browsers, which cannot set headers on a WebSocket, pass the token
/// as `?token=`.
#[utoipa::path(get, path = "/ws/workflow/{id}", tag = "workflow",
    params(("id" = String, Path, description = "workflow id"), WatchQuery),
    responses((status = 101, body = WorkflowMessage, description = "switching to the WebSocket protocol; every message is a WorkflowMessage as JSON text"),
              (status = 400, body = ErrorBody, description = "a bad id or `after`, or not a WebSocket handshake"),
              (status = 404, body = ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<WatchQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request(format!(
            "event ids start at 1; {after} is not one"
        )));
    }
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "websocket_required",
            format!(
                "this route speaks WebSocket only: {}",
                rejection.body_text()
            ),
        )
    })?;
    let view = state.engine.get(id).await?;
    let engine = state.engine.clone();
    Ok(upgrade.on_upgrade(move |socket| follow(socket, engine, view, after)))
}

async fn follow(mut socket: WebSocket, engine: Engine, view: WorkflowView, after: i64) {
    let id = view.run.id;
    let mut progress = Progress::new(&view);
    drop(view);
    // Replayed from the first event so that the counts of every update are
    // those as of its event; only the events after `after` are sent.
    let watched = match engine.watch(id, 0).await {
        Ok(watched) => watched,
        Err(error) => {
            send_error(&mut socket, failure(error)).await;
            return;
        }
    };
    futures::pin_mut!(watched);
    let mut last: Option<WorkflowEvent> = None;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        tokio::select! {
            next = watched.next() => match next {
                Some(Ok(event)) => {
                    let line = progress.apply(&event);
                    if event.seq > after {
                        let update = progress.update(id, line, event.clone());
                        if !send(&mut socket, &update).await {
                            return;
                        }
                    }
                    last = Some(event);
                }
                Some(Err(error)) => {
                    send_error(&mut socket, failure(error)).await;
                    return;
                }
                None => break,
            },
            // Read too, so pings are answered and a client that leaves
            // stops the watch at once.
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
        }
    }
    // The watch ends only after the run's final event.
    let Some(event) = last.filter(|event| is_final_event(&event.kind)) else {
        send_error(
            &mut socket,
            "the run's events ended before its end".to_owned(),
        )
        .await;
        return;
    };
    let status = event
        .kind
        .strip_prefix("workflow_")
        .and_then(WorkflowStatus::parse)
        .unwrap_or(WorkflowStatus::Failed);
    let complete = WorkflowMessage::WorkflowComplete {
        workflow_id: id,
        status,
        result: event.data.get("result").cloned(),
        reason: event.data["reason"].as_str().map(str::to_owned),
    };
    if send(&mut socket, &complete).await {
        close(&mut socket, close_code::NORMAL, "the run ended").await;
    }
}

/// Sends one message; `false` when the client is gone.
async fn send(socket: &mut WebSocket, message: &WorkflowMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => socket.send(Message::text(text)).await.is_ok(),
        Err(error) => {
            tracing::error!(%error, "a workflow message could not be written");
            false
        }
    }
}

/// Tells the client why following failed, then closes.
async fn send_error(socket: &mut WebSocket, message: String) {
    if send(socket, &WorkflowMessage::Error { message }).await {
        close(socket, close_code::ERROR, "following the run failed").await;
    }
}

/// What a client is told of an engine failure (the log gets the rest).
fn failure(error: EngineError) -> String {
    tracing::warn!(%error, "following a workflow over a WebSocket failed");
    ApiError::from(error).message
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// A run's counts as its events tell them, so that each update says where
/// the run stood at its own event, whenever it is read.
struct Progress {
    total: i64,
    done: i64,
    /// Tasks claimed by a worker now.
    running: BTreeSet<String>,
    /// The model assigned to each model or agent task.
    models: HashMap<String, String>,
}

impl Progress {
    fn new(view: &WorkflowView) -> Progress {
        Progress {
            total: view.run.total_tasks,
            done: 0,
            running: BTreeSet::new(),
            models: view
                .tasks
                .iter()
                .filter_map(|task| {
                    let model = task.spec["model"].as_str()?;
                    Some((task.key.clone(), model.to_owned()))
                })
                .collect(),
        }
    }

    /// Takes `event` into the counts; returns its line for a person.
    fn apply(&mut self, event: &WorkflowEvent) -> String {
        let task = event.task.as_deref().unwrap_or("?");
        let data = &event.data;
        let text = |key: &str| one_line(data[key].as_str().unwrap_or(""), MESSAGE_CHARS);
        match event.kind.as_str() {
            "workflow_started" => {
                if let Some(total) = data["total_tasks"].as_i64() {
                    self.total = total;
                }
                format!("workflow started: {} tasks", self.total)
            }
            "task_started" => {
                self.running.insert(task.to_owned());
                let on = self
                    .models
                    .get(task)
                    .map(|model| format!(" on {model}"))
                    .unwrap_or_default();
                match data["attempt"].as_i64() {
                    Some(attempt) if attempt > 1 => {
                        format!("task {task} started{on} (attempt {attempt})")
                    }
                    _ => format!("task {task} started{on}"),
                }
            }
            "task_completed" => {
                self.running.remove(task);
                self.done += 1;
                format!("task {task} completed ({}/{})", self.done, self.total)
            }
            "task_retrying" => {
                self.running.remove(task);
                format!("task {task} failed and will be retried: {}", text("error"))
            }
            "task_failed" => {
                self.running.remove(task);
                format!("task {task} failed: {}", text("error"))
            }
            "task_waiting" => {
                self.running.remove(task);
                format!("task {task} waits for a decision: {}", text("question"))
            }
            "task_released" => {
                self.running.remove(task);
                format!("task {task} was handed back by a stopping worker; it will run again")
            }
            "task_checkpointed" => format!("task {task} saved its progress"),
            "workflow_completed" => {
                self.running.clear();
                "workflow completed".to_owned()
            }
            "workflow_failed" => {
                self.running.clear();
                format!("workflow failed: {}", text("reason"))
            }
            "workflow_cancelled" => {
                self.running.clear();
                format!("workflow cancelled: {}", text("reason"))
            }
            "workflow_resumed" => {
                self.running.clear();
                "workflow resumed".to_owned()
            }
            other => other.replace('_', " "),
        }
    }

    fn update(&self, id: WorkflowId, line: String, event: WorkflowEvent) -> WorkflowMessage {
        let active_models: BTreeSet<&String> = self
            .running
            .iter()
            .filter_map(|task| self.models.get(task))
            .collect();
        let progress = if self.total > 0 {
            (self.done as f64 * 1000.0 / self.total as f64).round() / 10.0
        } else {
            0.0
        };
        WorkflowMessage::StatusUpdate {
            workflow_id: id,
            current_step: self.done,
            total_steps: self.total,
            active_models: active_models.into_iter().cloned().collect(),
            progress,
            messages: vec![line],
            event,
        }
    }
}

/// A body that may be empty: JSON when there is one.
fn optional_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        if e.is_data() {
            ApiError::bad_request(e.to_string())
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {e}"),
            )
        }
    })
}

fn parse_id(id: &str) -> Result<WorkflowId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("workflow id {id:?} is not a UUID")))
}

fn not_found(id: WorkflowId) -> EngineError {
    EngineError::NotFound {
        what: "workflow",
        id: id.to_string(),
    }
}
