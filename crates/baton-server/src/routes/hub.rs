//! The seed hub API: `/chat`, `/chat/stream`, `/device/...`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use std::path::{Path as FsPath, PathBuf};

use baton_continuity::{ConversationLoop, remember_exchange};
use baton_hub::{ChatInput, ChatOutput, DeviceReport, HubEvent};
use baton_store::{DeviceState, HistorySlice};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};

/// Joins the request to its workspace's continuity: the context goes into
/// the turn; the workspace comes back for remembering the exchange.
async fn join_workspace(
    state: &AppState,
    input: &mut ChatInput,
) -> Result<Option<PathBuf>, ApiError> {
    let Some(requested) = input.workspace.take() else {
        return Ok(None);
    };
    let dir = super::workspace(state, Some(requested))?;
    let memories = state.agent.memories();
    let Some(mut conversation) = ConversationLoop::in_workspace(
        dir.clone(),
        state.hub.store().clone(),
        Some(memories.clone()),
        memories.device().clone(),
    ) else {
        return Ok(None);
    };
    input.context = Some(
        conversation
            .context(&input.message, input.model.as_deref())
            .await?,
    );
    Ok(Some(dir))
}

/// Remembers an answered exchange in the workspace it joined; a failure is
/// logged, the reply stands.
async fn remember(state: &AppState, dir: &FsPath, message: &str, done: &ChatOutput) {
    let session = done.session_id.to_string();
    let memories = state.agent.memories();
    if let Err(error) = remember_exchange(memories, dir, message, &done.reply, &session).await {
        tracing::warn!(%error, "the exchange could not be remembered in its workspace");
    }
}

/// Sends one message; answers with the whole reply once it is recorded.
#[utoipa::path(post, path = "/chat", tag = "hub", request_body = ChatInput,
    responses((status = 200, body = ChatOutput),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn chat(
    State(state): State<AppState>,
    ApiJson(mut input): ApiJson<ChatInput>,
) -> Result<Json<ChatOutput>, ApiError> {
    let message = input.message.clone();
    let joined = join_workspace(&state, &mut input).await?;
    let output = state.hub.chat(input).await?;
    if let Some(dir) = joined {
        remember(&state, &dir, &message, &output).await;
    }
    Ok(Json(output))
}

/// Sends one message; streams the reply as Server-Sent Events: one
/// `started`, a `token` per fragment, then `done` (the same body as
/// `/chat`) or `error`.
#[utoipa::path(post, path = "/chat/stream", tag = "hub", request_body = ChatInput,
    responses((status = 200, description = "SSE stream of HubEvent", content_type = "text/event-stream", body = HubEvent),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn chat_stream(
    State(state): State<AppState>,
    ApiJson(mut input): ApiJson<ChatInput>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let message = input.message.clone();
    let joined = join_workspace(&state, &mut input).await?;
    let events = state.hub.chat_stream(input).await?;
    let sse = events.map(move |e| {
        if let (HubEvent::Done(done), Some(dir)) = (&e, &joined) {
            let (state, dir, message, done) =
                (state.clone(), dir.clone(), message.clone(), done.clone());
            tokio::spawn(async move { remember(&state, &dir, &message, &done).await });
        }
        let name = match &e {
            HubEvent::Started { .. } => "started",
            HubEvent::Token { .. } => "token",
            HubEvent::Done(_) => "done",
            HubEvent::Error { .. } => "error",
        };
        Ok(Event::default()
            .event(name)
            .json_data(&e)
            .unwrap_or_else(|_| Event::default().event("error")))
    });
    Ok(Sse::new(sse).keep_alive(KeepAlive::default()))
}

/// Records what a device reports about itself.
#[utoipa::path(post, path = "/device/state", tag = "hub", request_body = DeviceReport,
    responses((status = 200, body = DeviceState), (status = 400, body = ErrorBody)))]
pub async fn report_device(
    State(state): State<AppState>,
    ApiJson(report): ApiJson<DeviceReport>,
) -> Result<Json<DeviceState>, ApiError> {
    Ok(Json(state.hub.report_device(report).await?))
}

/// A device's last reported state.
#[utoipa::path(get, path = "/device/{id}/state", tag = "hub",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, body = DeviceState), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn device_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeviceState>, ApiError> {
    Ok(Json(state.hub.device(&id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The `next_cursor` of the previous page.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// A device's messages, newest first, a page at a time.
#[utoipa::path(get, path = "/device/{id}/history", tag = "hub",
    params(("id" = String, Path, description = "device id"), HistoryQuery),
    responses((status = 200, body = HistorySlice), (status = 400, body = ErrorBody)))]
pub async fn device_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HistorySlice>, ApiError> {
    Ok(Json(
        state.hub.device_history(&id, q.before, q.limit).await?,
    ))
}
