//! The OpenAI chat-completions wire: `POST /v1/chat/completions` whole and as
//! `chat.completion.chunk` server-sent events, and `GET /v1/models`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::answer::{Output, Usage};
use crate::anthropic;
use crate::exchange::{
    Call, Dialect, Turn, bearer_key, denial, json_response, required_messages, required_model,
};
use crate::prompt::Prompt;
use crate::record::Wire;
use crate::server::Shared;
use crate::stream::Frame;

/// When the listed models were "created"; fixed so listings are stable.
pub(crate) const MODELS_CREATED: u64 = 1_700_000_000;

const DONE: &[u8] = b"data: [DONE]\n\n";

pub(crate) struct OpenAi;

impl Dialect for OpenAi {
    const WIRE: Wire = Wire::OpenAi;
    const STREAM_CONTENT_TYPE: &'static str = "text/event-stream; charset=utf-8";

    fn presented_key(headers: &HeaderMap) -> Option<&str> {
        bearer_key(headers)
    }

    fn error(status: StatusCode, message: &str) -> Response {
        let (kind, code) = match status.as_u16() {
            401 => ("invalid_request_error", json!("invalid_api_key")),
            403 => ("permission_error", Value::Null),
            404 => ("invalid_request_error", json!("model_not_found")),
            429 => ("requests", json!("rate_limit_exceeded")),
            500.. => ("server_error", Value::Null),
            _ => ("invalid_request_error", Value::Null),
        };
        json_response(
            status,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
    }

    fn call(_headers: &HeaderMap, body: &Value) -> Result<Call, String> {
        let model = required_model(body)?;
        let messages = required_messages(body)?;
        Ok(Call {
            model,
            stream: body.get("stream").and_then(Value::as_bool) == Some(true),
            include_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true),
            prompt: Prompt::read(None, messages),
        })
    }

    fn complete(turn: &Turn) -> Value {
        let (message, finish) = match &turn.answer.output {
            Output::Text(text) => (
                json!({"role": "assistant", "content": text.as_str(), "refusal": null}),
                "stop",
            ),
            Output::ToolCalls(calls) => {
                let calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, call)| {
                        json!({
                            "id": call.id.clone().unwrap_or_else(|| call_id(turn.id, i)),
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.json.as_str()}
                        })
                    })
                    .collect();
                (
                    json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": calls}),
                    "tool_calls",
                )
            }
        };
        json!({
            "id": completion_id(turn.id),
            "object": "chat.completion",
            "created": turn.created,
            "model": turn.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage(turn.answer.usage),
        })
    }

    fn stream(turn: &Turn) -> Vec<Frame> {
        let chunks = Chunks::new(turn);
        let mut frames = Vec::with_capacity(turn.answer.output.chunk_count() + 4);
        match &turn.answer.output {
            Output::Text(text) => {
                frames.push(Frame::Meta(
                    chunks.delta(json!({"role": "assistant", "content": ""}), None),
                ));
                frames.extend(
                    text.iter()
                        .map(|piece| Frame::Token(chunks.delta(json!({"content": piece}), None))),
                );
            }
            Output::ToolCalls(calls) => {
                frames.push(Frame::Meta(
                    chunks.delta(json!({"role": "assistant", "content": null}), None),
                ));
                for (i, call) in calls.iter().enumerate() {
                    let opening = json!({"tool_calls": [{
                        "index": i,
                        "id": call.id.clone().unwrap_or_else(|| call_id(turn.id, i)),
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""}
                    }]});
                    frames.push(Frame::Meta(chunks.delta(opening, None)));
                    frames.extend(call.json.iter().map(|piece| {
                        let fragment =
                            json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]});
                        Frame::Token(chunks.delta(fragment, None))
                    }));
                }
            }
        }
        let finish = match turn.answer.output {
            Output::Text(_) => "stop",
            Output::ToolCalls(_) => "tool_calls",
        };
        frames.push(Frame::Tail(chunks.delta(json!({}), Some(finish))));
        if turn.include_usage {
            frames.push(Frame::Tail(chunks.usage(turn.answer.usage)));
        }
        frames.push(Frame::Tail(Bytes::from_static(DONE)));
        frames
    }

    fn malformed_stream(turn: &Turn) -> Vec<Frame> {
        let chunks = Chunks::new(turn);
        vec![
            Frame::Meta(chunks.delta(json!({"role": "assistant", "content": ""}), None)),
            Frame::Token(Bytes::from(format!(
                "data: {{\"id\":\"{}\",\"choices\":[{{\"delta\":{{\"content\":\"oops\n\n",
                chunks.id
            ))),
            Frame::Tail(Bytes::from_static(DONE)),
        ]
    }
}

/// Builds the `data:` lines of one streamed completion.
struct Chunks<'a> {
    turn: &'a Turn<'a>,
    id: String,
}

impl<'a> Chunks<'a> {
    fn new(turn: &'a Turn<'a>) -> Self {
        Chunks {
            turn,
            id: completion_id(turn.id),
        }
    }

    fn delta(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let mut chunk = self.envelope(json!([{
            "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish
        }]));
        if self.turn.include_usage {
            chunk["usage"] = Value::Null;
        }
        sse_data(&chunk)
    }

    /// The extra chunk that `stream_options.include_usage` asks for.
    fn usage(&self, counts: Usage) -> Bytes {
        let mut chunk = self.envelope(json!([]));
        chunk["usage"] = usage(counts);
        sse_data(&chunk)
    }

    fn envelope(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.turn.created,
            "model": self.turn.model,
            "system_fingerprint": null,
            "choices": choices,
        })
    }
}

fn sse_data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn completion_id(id: u64) -> String {
    format!("chatcmpl-scripted{id}")
}

fn call_id(id: u64, index: usize) -> String {
    format!("call_scripted{id}_{index}")
}

fn usage(usage: Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.prompt + usage.completion,
    })
}

/// `GET /v1/models`, in Anthropic's listing format when the client sent
/// `anthropic-version` (both APIs use the path).
pub(crate) async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if headers.contains_key(anthropic::VERSION_HEADER) {
        return anthropic::models(&shared, &headers);
    }
    if let Some(denied) = denial::<OpenAi>(&shared, &headers) {
        return denied;
    }
    let data: Vec<Value> = shared
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": MODELS_CREATED, "owned_by": "baton-testkit"}))
        .collect();
    json_response(StatusCode::OK, json!({"object": "list", "data": data}))
}
