//! One chat exchange, the same for every wire: record the request, check the
//! key, take a script step, wait, misbehave if told to, then let the wire's
//! [`Dialect`] format the answer, whole or streamed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::answer::Answer;
use crate::prompt::Prompt;
use crate::record::Wire;
use crate::script::Fault;
use crate::server::Shared;
use crate::stream::{Frame, Pacing, paced_body};

/// A model API's way of saying things: how it authenticates, what a request
/// means, and how answers and errors look on its wire.
pub(crate) trait Dialect: Send + Sync + 'static {
    const WIRE: Wire;
    const STREAM_CONTENT_TYPE: &'static str;

    /// The API key the client presented, if any.
    fn presented_key(headers: &HeaderMap) -> Option<&str>;

    /// An error response in this wire's error format.
    fn error(status: StatusCode, message: &str) -> Response;

    /// Reads a chat request; `Err` is a message for a 400 answer.
    fn call(headers: &HeaderMap, body: &Value) -> Result<Call, String>;

    /// The whole answer as one JSON document.
    fn complete(turn: &Turn) -> Value;

    /// The answer as stream frames, terminator included.
    fn stream(turn: &Turn) -> Vec<Frame>;

    /// A stream that starts well and then carries content that is not JSON.
    fn malformed_stream(turn: &Turn) -> Vec<Frame>;
}

/// What a chat request asks for, read by the wire's [`Dialect`].
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// OpenAI's `stream_options.include_usage`.
    pub(crate) include_usage: bool,
    pub(crate) prompt: Prompt,
}

/// Everything a wire needs to format one answer.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    /// Unique for the server's lifetime; wires derive their ids from it.
    pub(crate) id: u64,
    /// Unix seconds.
    pub(crate) created: u64,
    pub(crate) model: &'a str,
    pub(crate) answer: &'a Answer,
    pub(crate) include_usage: bool,
}

/// The handler behind every wire's chat route.
pub(crate) async fn chat<D: Dialect>(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let call = match &parsed {
        Ok(value) => D::call(&headers, value),
        Err(e) => Err(format!("the request body is not valid JSON: {e}")),
    };
    shared.record(D::WIRE, &uri, &headers, &body, parsed.ok());
    if let Some(denied) = denial::<D>(&shared, &headers) {
        return denied;
    }
    let call = match call {
        Ok(call) => call,
        Err(message) => return D::error(StatusCode::BAD_REQUEST, &message),
    };
    let step = shared.script.take(&call.model);
    let answer = Answer::new(step, &shared.defaults, &call.prompt);
    respond::<D>(&call, &answer, shared.next_id()).await
}

/// The 401 answer for a request that lacks the required key; `None` lets it
/// through.
pub(crate) fn denial<D: Dialect>(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let key = shared.api_key.as_deref()?;
    (D::presented_key(headers) != Some(key))
        .then(|| D::error(StatusCode::UNAUTHORIZED, "invalid or missing API key"))
}

/// The key from `Authorization: Bearer KEY`.
pub(crate) fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// The request's `model`, which every wire requires.
pub(crate) fn required_model(body: &Value) -> Result<String, String> {
    match body.get("model").and_then(Value::as_str) {
        Some(model) if !model.is_empty() => Ok(model.to_owned()),
        _ => Err("`model` is required".to_owned()),
    }
}

/// The request's `messages` list.
pub(crate) fn required_messages(body: &Value) -> Result<&[Value], String> {
    body.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| "`messages` must be a list".to_owned())
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn respond<D: Dialect>(call: &Call, answer: &Answer, id: u64) -> Response {
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    match &answer.fault {
        Some(Fault::Status { status, message }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return D::error(status, message);
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = D::error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            return response;
        }
        Some(Fault::Hang) => return std::future::pending().await,
        _ => {}
    }
    let turn = Turn {
        id,
        created: unix_now(),
        model: &call.model,
        answer,
        include_usage: call.include_usage,
    };
    if call.stream {
        streamed::<D>(&turn)
    } else {
        whole::<D>(&turn).await
    }
}

fn streamed<D: Dialect>(turn: &Turn<'_>) -> Response {
    let answer = turn.answer;
    let frames = match answer.fault {
        Some(Fault::MalformedSse) => D::malformed_stream(turn),
        _ => D::stream(turn),
    };
    let pacing = Pacing {
        first_byte: match answer.fault {
            Some(Fault::SlowFirstToken(wait)) => wait,
            _ => Duration::ZERO,
        },
        token_delay: answer.token_delay,
        cut_after: match answer.fault {
            Some(Fault::CutMidStream { after_chunks }) => Some(after_chunks),
            _ => None,
        },
    };
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static(D::STREAM_CONTENT_TYPE),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        paced_body(frames, pacing),
    )
        .into_response()
}

async fn whole<D: Dialect>(turn: &Turn<'_>) -> Response {
    let answer = turn.answer;
    let (frames, pacing) = match answer.fault {
        Some(Fault::MalformedSse) => (
            vec![Frame::Token(Bytes::from_static(
                b"{\"id\":\"scripted\",\"choices\":[{\"message\":",
            ))],
            Pacing::default(),
        ),
        Some(Fault::CutMidStream { .. }) => {
            let mut body = Bytes::from(D::complete(turn).to_string());
            let rest = body.split_off(body.len() / 2);
            let cut = Pacing {
                cut_after: Some(0),
                ..Pacing::default()
            };
            (vec![Frame::Meta(body), Frame::Tail(rest)], cut)
        }
        Some(Fault::SlowFirstToken(wait)) => {
            let body = Bytes::from(D::complete(turn).to_string());
            let slow = Pacing {
                first_byte: wait,
                ..Pacing::default()
            };
            (vec![Frame::Token(body)], slow)
        }
        _ => {
            let generation = answer.generation_time();
            if !generation.is_zero() {
                tokio::time::sleep(generation).await;
            }
            return Json(D::complete(turn)).into_response();
        }
    };
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        paced_body(frames, pacing),
    )
        .into_response()
}

/// A JSON response with `status`, for wire error bodies.
pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}
