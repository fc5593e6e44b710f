//! The seed hub API: `/chat`, `/chat/stream`, `/device/...`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use baton_hub::{ChatInput, ChatOutput, DeviceReport, HubEvent};
use baton_store::{DeviceState, HistorySlice};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};

/// Sends one message; answers with the whole reply once it is recorded.
#[utoipa::path(post, path = "/chat", tag = "hub", request_body = ChatInput,
    responses((status = 200, body = ChatOutput),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn chat(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ChatInput>,
) -> Result<Json<ChatOutput>, ApiError> {
    Ok(Json(state.hub.chat(input).await?))
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
    ApiJson(input): ApiJson<ChatInput>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let events = state.hub.chat_stream(input).await?;
    let sse = events.map(|e| {
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
