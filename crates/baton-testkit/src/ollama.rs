//! Ollama's native wire: `POST /api/chat` whole and as newline-delimited JSON
//! (streaming is its default), plus the discovery routes `GET /`,
//! `GET /api/tags`, `GET /api/version` and `POST /api/show`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::answer::Output;
use crate::embeddings::fnv1a;
use crate::exchange::{Call, Dialect, Turn, bearer_key, denial, json_response, required_model};
use crate::prompt::Prompt;
use crate::record::Wire;
use crate::server::Shared;
use crate::stream::Frame;

/// The Ollama release this server claims to be.
const VERSION: &str = "0.12.6";

/// What `GET /` answers on a real Ollama, which clients probe to detect it.
pub(crate) const BANNER: &str = "Ollama is running";

const CONTEXT_LENGTH: u64 = 8192;

pub(crate) struct Ollama;

impl Dialect for Ollama {
    const WIRE: Wire = Wire::Ollama;
    const STREAM_CONTENT_TYPE: &'static str = "application/x-ndjson";

    fn presented_key(headers: &HeaderMap) -> Option<&str> {
        bearer_key(headers)
    }

    fn error(status: StatusCode, message: &str) -> Response {
        json_response(status, json!({"error": message}))
    }

    fn call(_headers: &HeaderMap, body: &Value) -> Result<Call, String> {
        let model = required_model(body)?;
        let messages = match body.get("messages") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(messages)) => messages.as_slice(),
            Some(_) => return Err("`messages` must be a list".to_owned()),
        };
        Ok(Call {
            model,
            stream: body.get("stream").and_then(Value::as_bool) != Some(false),
            include_usage: false,
            prompt: Prompt::read(None, messages),
        })
    }

    fn complete(turn: &Turn) -> Value {
        let message = match &turn.answer.output {
            Output::Text(text) => json!({"role": "assistant", "content": text.as_str()}),
            Output::ToolCalls(calls) => {
                let calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, call)| tool_call(i, &call.name, &call.arguments))
                    .collect();
                json!({"role": "assistant", "content": "", "tool_calls": calls})
            }
        };
        final_line(turn, &now(), message)
    }

    fn stream(turn: &Turn) -> Vec<Frame> {
        let created_at = now();
        let mut frames = Vec::with_capacity(turn.answer.output.chunk_count() + 1);
        match &turn.answer.output {
            Output::Text(text) => frames.extend(text.iter().map(|piece| {
                Frame::Token(line(&partial_line(
                    turn,
                    &created_at,
                    json!({"role": "assistant", "content": piece}),
                )))
            })),
            Output::ToolCalls(calls) => {
                frames.extend(calls.iter().enumerate().map(|(i, call)| {
                    let message = json!({
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [tool_call(i, &call.name, &call.arguments)],
                    });
                    Frame::Token(line(&partial_line(turn, &created_at, message)))
                }));
            }
        }
        let done = final_line(
            turn,
            &created_at,
            json!({"role": "assistant", "content": ""}),
        );
        frames.push(Frame::Tail(line(&done)));
        frames
    }

    fn malformed_stream(turn: &Turn) -> Vec<Frame> {
        let created_at = now();
        let done = final_line(
            turn,
            &created_at,
            json!({"role": "assistant", "content": ""}),
        );
        vec![
            Frame::Token(Bytes::from(format!(
                "{{\"model\":\"{}\",\"created_at\":\"{created_at}\",\"message\":{{\"role\":\"assistant\",\"content\":\"oops\n",
                turn.model
            ))),
            Frame::Tail(line(&done)),
        ]
    }
}

fn tool_call(index: usize, name: &str, arguments: &Value) -> Value {
    json!({"function": {"index": index, "name": name, "arguments": arguments}})
}

fn partial_line(turn: &Turn, created_at: &str, message: Value) -> Value {
    json!({"model": turn.model, "created_at": created_at, "message": message, "done": false})
}

/// The last line of a stream, and the whole of a non-streamed answer: it
/// carries the token counts and timings.
fn final_line(turn: &Turn, created_at: &str, message: Value) -> Value {
    let usage = turn.answer.usage;
    let eval_nanos = u64::try_from(turn.answer.generation_time().as_nanos()).unwrap_or(u64::MAX);
    json!({
        "model": turn.model,
        "created_at": created_at,
        "message": message,
        "done_reason": "stop",
        "done": true,
        "total_duration": eval_nanos,
        "load_duration": 0,
        "prompt_eval_count": usage.prompt,
        "prompt_eval_duration": 0,
        "eval_count": usage.completion,
        "eval_duration": eval_nanos,
    })
}

fn line(value: &Value) -> Bytes {
    Bytes::from(format!("{value}\n"))
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// `GET /`: the banner that tells clients an Ollama listens here.
pub(crate) async fn banner() -> &'static str {
    BANNER
}

/// `GET /api/tags`: the installed models.
pub(crate) async fn tags(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(denied) = denial::<Ollama>(&shared, &headers) {
        return denied;
    }
    let models: Vec<Value> = shared
        .models
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 1_000_000_000_u64,
                "digest": digest(name),
                "details": details(),
            })
        })
        .collect();
    json_response(StatusCode::OK, json!({"models": models}))
}

/// `GET /api/version`.
pub(crate) async fn version(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(denied) = denial::<Ollama>(&shared, &headers) {
        return denied;
    }
    json_response(StatusCode::OK, json!({"version": VERSION}))
}

/// `POST /api/show`: a model's details, context length and capabilities.
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = denial::<Ollama>(&shared, &headers) {
        return denied;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if required_model(&body).is_err() {
        return Ollama::error(StatusCode::BAD_REQUEST, "model is required");
    }
    json_response(
        StatusCode::OK,
        json!({
            "license": "",
            "modelfile": "",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": details(),
            "model_info": {
                "general.architecture": "scripted",
                "scripted.context_length": CONTEXT_LENGTH,
            },
            "capabilities": ["completion", "tools"],
            "modified_at": "2025-01-01T00:00:00Z",
        }),
    )
}

fn details() -> Value {
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": "scripted",
        "families": ["scripted"],
        "parameter_size": "1B",
        "quantization_level": "Q4_0",
    })
}

/// A stable, sha256-shaped digest for a model name.
fn digest(name: &str) -> String {
    let seed = fnv1a(name.as_bytes());
    (0..4u32)
        .map(|i| format!("{:016x}", seed.rotate_left(16 * i) ^ u64::from(i)))
        .collect()
}
