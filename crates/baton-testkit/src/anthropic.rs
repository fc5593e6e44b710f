//! The Anthropic Messages wire: `POST /v1/messages` whole and as named
//! server-sent events, and its flavour of `GET /v1/models`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::answer::{Output, Usage};
use crate::exchange::{
    Call, Dialect, Turn, bearer_key, denial, json_response, required_messages, required_model,
};
use crate::prompt::Prompt;
use crate::record::Wire;
use crate::server::Shared;
use crate::stream::Frame;

/// Every Messages API request must carry this header.
pub(crate) const VERSION_HEADER: &str = "anthropic-version";

/// `openai::MODELS_CREATED` as the RFC 3339 time Anthropic lists.
const MODELS_CREATED_AT: &str = "2023-11-14T22:13:20Z";

pub(crate) struct Anthropic;

impl Dialect for Anthropic {
    const WIRE: Wire = Wire::Anthropic;
    const STREAM_CONTENT_TYPE: &'static str = "text/event-stream; charset=utf-8";

    /// `x-api-key`, or `Authorization: Bearer`, which the API also accepts
    /// and recent SDKs send.
    fn presented_key(headers: &HeaderMap) -> Option<&str> {
        match headers.get("x-api-key") {
            Some(key) => key.to_str().ok(),
            None => bearer_key(headers),
        }
    }

    fn error(status: StatusCode, message: &str) -> Response {
        let kind = match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            500.. => "api_error",
            _ => "invalid_request_error",
        };
        json_response(
            status,
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
    }

    fn call(headers: &HeaderMap, body: &Value) -> Result<Call, String> {
        if !headers.contains_key(VERSION_HEADER) {
            return Err(format!("{VERSION_HEADER}: header is required"));
        }
        let model = required_model(body)?;
        let messages = required_messages(body)?;
        if !body.get("max_tokens").is_some_and(Value::is_u64) {
            return Err("max_tokens: Field required".to_owned());
        }
        Ok(Call {
            model,
            stream: body.get("stream").and_then(Value::as_bool) == Some(true),
            include_usage: false,
            prompt: Prompt::read(body.get("system"), messages),
        })
    }

    fn complete(turn: &Turn) -> Value {
        let content: Vec<Value> = match &turn.answer.output {
            Output::Text(text) => vec![json!({"type": "text", "text": text.as_str()})],
            Output::ToolCalls(calls) => calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    json!({
                        "type": "tool_use",
                        "id": call.id.clone().unwrap_or_else(|| tool_use_id(turn.id, i)),
                        "name": call.name,
                        "input": call.arguments,
                    })
                })
                .collect(),
        };
        json!({
            "id": message_id(turn.id),
            "type": "message",
            "role": "assistant",
            "model": turn.model,
            "content": content,
            "stop_reason": stop_reason(&turn.answer.output),
            "stop_sequence": null,
            "usage": usage(turn.answer.usage),
        })
    }

    fn stream(turn: &Turn) -> Vec<Frame> {
        let answer = turn.answer;
        let mut frames = Vec::with_capacity(answer.output.chunk_count() + 8);
        frames.push(Frame::Meta(message_start(turn)));
        match &answer.output {
            Output::Text(text) => {
                frames.push(Frame::Meta(block_start(
                    0,
                    json!({"type": "text", "text": ""}),
                )));
                frames.push(Frame::Meta(ping()));
                frames.extend(text.iter().map(|piece| {
                    Frame::Token(block_delta(0, json!({"type": "text_delta", "text": piece})))
                }));
                frames.push(Frame::Meta(block_stop(0)));
            }
            Output::ToolCalls(calls) => {
                for (i, call) in calls.iter().enumerate() {
                    let block = json!({
                        "type": "tool_use", "id": call.id.clone().unwrap_or_else(|| tool_use_id(turn.id, i)), "name": call.name, "input": {}
                    });
                    frames.push(Frame::Meta(block_start(i, block)));
                    if i == 0 {
                        frames.push(Frame::Meta(ping()));
                    }
                    frames.extend(call.json.iter().map(|piece| {
                        let delta = json!({"type": "input_json_delta", "partial_json": piece});
                        Frame::Token(block_delta(i, delta))
                    }));
                    frames.push(Frame::Meta(block_stop(i)));
                }
            }
        }
        frames.push(Frame::Tail(event(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(&answer.output), "stop_sequence": null},
                "usage": {"output_tokens": answer.usage.completion},
            }),
        )));
        frames.push(Frame::Tail(message_stop()));
        frames
    }

    fn malformed_stream(turn: &Turn) -> Vec<Frame> {
        vec![
            Frame::Meta(message_start(turn)),
            Frame::Meta(block_start(0, json!({"type": "text", "text": ""}))),
            Frame::Token(Bytes::from_static(
                b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"oops\n\n",
            )),
            Frame::Tail(message_stop()),
        ]
    }
}

/// `GET /v1/models` for a client that sent `anthropic-version`.
pub(crate) fn models(shared: &Shared, headers: &HeaderMap) -> Response {
    if let Some(denied) = denial::<Anthropic>(shared, headers) {
        return denied;
    }
    let data: Vec<Value> = shared
        .models
        .iter()
        .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": MODELS_CREATED_AT}))
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "data": data,
            "has_more": false,
            "first_id": shared.models.first(),
            "last_id": shared.models.last(),
        }),
    )
}

/// Opens the stream; like the real API it reports the prompt's tokens here
/// and the (cumulative) output tokens in `message_delta`.
fn message_start(turn: &Turn) -> Bytes {
    let usage = turn.answer.usage;
    event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": message_id(turn.id),
                "type": "message",
                "role": "assistant",
                "model": turn.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": usage.prompt, "output_tokens": usage.completion.min(1)},
            }
        }),
    )
}

fn block_start(index: usize, block: Value) -> Bytes {
    event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index, "content_block": block}),
    )
}

fn block_delta(index: usize, delta: Value) -> Bytes {
    event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

fn block_stop(index: usize) -> Bytes {
    event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    )
}

fn ping() -> Bytes {
    Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
}

fn message_stop() -> Bytes {
    Bytes::from_static(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn stop_reason(output: &Output) -> &'static str {
    match output {
        Output::Text(_) => "end_turn",
        Output::ToolCalls(_) => "tool_use",
    }
}

fn message_id(id: u64) -> String {
    format!("msg_scripted{id}")
}

fn tool_use_id(id: u64, index: usize) -> String {
    format!("toolu_scripted{id}_{index}")
}

fn usage(usage: Usage) -> Value {
    json!({"input_tokens": usage.prompt, "output_tokens": usage.completion})
}
