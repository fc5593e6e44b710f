//! The OpenAI-compatible API: `POST /v1/chat/completions`, `GET /v1/models`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use baton_core::{StreamEvent, Usage};
use baton_hub::CallContext;
use futures::StreamExt;
use std::convert::Infallible;

use crate::AppState;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::openai_wire::{
    Chunk, Completion, CompletionRequest, Delta, DeltaFunction, DeltaToolCall, ModelList, WireModel,
};

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn unix_now() -> i64 {
    baton_core::wall_millis() as i64 / 1000
}

/// Chat completions, streamed (`"stream": true`, Server-Sent Events ending
/// in `data: [DONE]`) or not. Optional headers: `X-Baton-Device` names the
/// calling device; `X-Baton-Session` groups calls into one recorded session.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = CompletionRequest,
    params(("X-Baton-Device" = Option<String>, Header, description = "calling device id"),
           ("X-Baton-Session" = Option<String>, Header, description = "session to record this call in")),
    responses((status = 200, description = "a chat.completion object, or with stream=true an SSE stream of chat.completion.chunk objects", body = Completion),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let ctx = CallContext {
        device_id: header(&headers, "x-baton-device"),
        session_id: header(&headers, "x-baton-session"),
    };
    let stream = body.stream;
    let include_usage = body.include_usage();
    let request = body.into_chat_request()?;
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = unix_now();
    if !stream {
        let routed = state.hub.complete(request, ctx).await?;
        let model = routed.model.id.to_string();
        return Ok(Json(Completion::new(id, created, model, routed.value)).into_response());
    }
    let routed = state.hub.complete_stream(request, ctx).await?;
    let model = routed.model.id.to_string();
    let mut upstream = routed.value;
    let events = async_stream::stream! {
        let data = |chunk: &Chunk<'_>| Ok::<_, Infallible>(Event::default().json_data(chunk).unwrap_or_default());
        let role = Delta { role: Some("assistant"), content: Some(String::new()), tool_calls: None };
        yield data(&Chunk::delta(&id, created, &model, role, None));
        let mut usage: Option<Usage> = None;
        while let Some(item) = upstream.next().await {
            match item {
                Ok(StreamEvent::Text { text }) => {
                    let delta = Delta { content: Some(text), ..Default::default() };
                    yield data(&Chunk::delta(&id, created, &model, delta, None));
                }
                Ok(StreamEvent::ToolCall { index, id: call_id, name, arguments }) => {
                    let kind = call_id.as_ref().map(|_| "function");
                    let call = DeltaToolCall { index, id: call_id, kind, function: DeltaFunction { name, arguments } };
                    let delta = Delta { tool_calls: Some(vec![call]), ..Default::default() };
                    yield data(&Chunk::delta(&id, created, &model, delta, None));
                }
                Ok(StreamEvent::Usage { usage: u }) => usage = Some(u),
                Ok(StreamEvent::Done { finish_reason, .. }) => {
                    yield data(&Chunk::delta(&id, created, &model, Delta::default(), Some(finish_reason)));
                    if include_usage {
                        yield data(&Chunk::usage(&id, created, &model, usage.unwrap_or_default()));
                    }
                    yield Ok(Event::default().data("[DONE]"));
                    return;
                }
                Err(e) => {
                    let err = ApiError::new(
                        axum::http::StatusCode::from_u16(e.status()).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
                        e.code(),
                        e.to_string(),
                    );
                    yield Ok(Event::default().json_data(err.body()).unwrap_or_default());
                    return;
                }
            }
        }
    };
    Ok(Sse::new(events).into_response())
}

/// Every model baton can route to, with its limits and prices.
#[utoipa::path(get, path = "/v1/models", tag = "openai", responses((status = 200, body = ModelList)))]
pub async fn list_models(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: state
            .hub
            .models()
            .into_iter()
            .map(WireModel::from)
            .collect(),
    })
}

/// One model, by `provider/model` id or unique bare name.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai",
    params(("id" = String, Path, description = "model id")),
    responses((status = 200, body = WireModel), (status = 404, body = ErrorBody)))]
pub async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WireModel>, ApiError> {
    let info = state
        .hub
        .gateway()
        .resolve(&id)
        .map_err(baton_hub::HubError::from)?;
    Ok(Json(info.into()))
}
