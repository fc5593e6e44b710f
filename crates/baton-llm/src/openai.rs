//! The OpenAI chat-completions protocol, spoken by OpenAI itself and by
//! nearly every other server (vLLM, llama.cpp, LM Studio, Ollama, Groq, …).

use std::time::Duration;

use baton_core::{
    ChatRequest, ChatResponse, Content, FinishReason, Message, ModelInfo, Role, StreamEvent,
    ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::embeddings::{self, Embeddings};
use crate::error::UpstreamError;
use crate::http::Http;
use crate::sse::{self, Decoder, ProviderStream};

/// A client for one OpenAI-compatible server.
#[derive(Debug, Clone)]
pub(crate) struct OpenAiClient {
    http: Http,
    /// Base URL including the version path, without a trailing `/`.
    base: String,
    /// `max_tokens`, or `max_completion_tokens` for OpenAI's own API.
    max_tokens_field: String,
}

impl OpenAiClient {
    pub(crate) fn new(http: Http, base: &str, max_tokens_field: &str) -> Self {
        OpenAiClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            max_tokens_field: max_tokens_field.to_owned(),
        }
    }

    pub(crate) async fn chat(
        &self,
        req: &ChatRequest,
        model: &ModelInfo,
        headers_timeout: Duration,
    ) -> Result<ChatResponse, UpstreamError> {
        let body = request_body(req, model.id.model(), false, &self.max_tokens_field);
        let response = self
            .http
            .post_json(self.url("/chat/completions"), &body, Some(headers_timeout))
            .await?;
        let completion: Completion = self.http.json(response).await?;
        into_response(completion, model.id.model())
    }

    pub(crate) async fn chat_stream(
        &self,
        req: &ChatRequest,
        model: &ModelInfo,
    ) -> Result<ProviderStream, UpstreamError> {
        let body = request_body(req, model.id.model(), true, &self.max_tokens_field);
        let response = self
            .http
            .post_json(self.url("/chat/completions"), &body, None)
            .await?;
        Ok(sse::decode(
            response.bytes_stream(),
            ChunkDecoder::new(model.id.model()),
            self.http.redactor().clone(),
        ))
    }

    /// Vectors for `inputs` from `POST /embeddings`.
    pub(crate) async fn embed(
        &self,
        model: &str,
        inputs: &[String],
        timeout: Duration,
    ) -> Result<Embeddings, UpstreamError> {
        embeddings::embed(&self.http, self.url("/embeddings"), model, inputs, timeout).await
    }

    /// The ids `GET /models` lists.
    pub(crate) async fn list_models(
        &self,
        timeout: Duration,
    ) -> Result<Vec<String>, UpstreamError> {
        self.http.list_ids(self.url("/models"), timeout).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The JSON body of a chat-completions call. `extra` goes first so that it
/// passes through verbatim, but never overrides what baton itself must
/// control (model, messages, streaming) or a typed field the caller set.
pub(crate) fn request_body(
    req: &ChatRequest,
    model: &str,
    stream: bool,
    max_tokens_field: &str,
) -> Value {
    let mut body: Map<String, Value> = req.extra.clone();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Value::Array(req.messages.iter().map(wire_message).collect()),
    );
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    function.insert("description".into(), json!(d));
                }
                function.insert("parameters".into(), t.parameters.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        body.insert("tool_choice".into(), choice.clone());
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(n) = req.max_tokens {
        body.insert(max_tokens_field.into(), json!(n));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    body.insert("stream".into(), json!(stream));
    if stream {
        // Without this OpenAI sends no usage in streams; servers that do not
        // know the option ignore it, and the decoder copes with no usage.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    } else {
        body.remove("stream_options");
    }
    Value::Object(body)
}

fn wire_message(m: &Message) -> Value {
    let role = match m.role {
        // `developer` is OpenAI's newer name; most compatible servers only
        // know `system`, and OpenAI accepts both.
        Role::System | Role::Developer => "system",
        other => other.as_str(),
    };
    let mut obj = Map::new();
    obj.insert("role".into(), json!(role));
    let content = match &m.content {
        Some(content) => serde_json::to_value(content).unwrap_or(Value::Null),
        None if m.role == Role::Assistant => Value::Null,
        None => json!(""),
    };
    obj.insert("content".into(), content);
    if !m.tool_calls.is_empty() {
        let calls = m
            .tool_calls
            .iter()
            .map(|c| {
                let arguments = if c.arguments.trim().is_empty() {
                    "{}"
                } else {
                    c.arguments.as_str()
                };
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": arguments},
                })
            })
            .collect();
        obj.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(id) = &m.tool_call_id {
        obj.insert("tool_call_id".into(), json!(id));
    }
    if let Some(name) = &m.name {
        obj.insert("name".into(), json!(name));
    }
    Value::Object(obj)
}

/// Maps OpenAI's `finish_reason`; unknown values count as a normal stop.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

#[derive(Debug, Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    /// A JSON string per the spec; a few servers send the object itself.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens.unwrap_or(0),
            completion_tokens: u.completion_tokens.unwrap_or(0),
        }
    }
}

fn arguments_text(arguments: Option<Value>) -> String {
    match arguments {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn into_response(completion: Completion, requested: &str) -> Result<ChatResponse, UpstreamError> {
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| UpstreamError::Protocol("the response has no choices".into()))?;
    let tool_calls: Vec<ToolCall> = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| ToolCall {
            id: c.id.unwrap_or_default(),
            name: c.function.name.unwrap_or_default(),
            arguments: arguments_text(c.function.arguments),
        })
        .collect();
    let text = choice.message.content.map(|c| c.text()).unwrap_or_default();
    let finish_reason = match choice.finish_reason.as_deref() {
        Some(reason) => finish_reason(reason),
        None if !tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        model: completion
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested.to_owned()),
        message: Message {
            role: Role::Assistant,
            content: (!text.is_empty() || tool_calls.is_empty()).then_some(Content::Text(text)),
            tool_calls,
            tool_call_id: None,
            name: None,
        },
        finish_reason,
        usage: completion.usage.map(Usage::from).unwrap_or_default(),
    })
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaToolCall>>,
}

#[derive(Debug, Deserialize)]
struct DeltaToolCall {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Debug, Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

/// Decodes `data: {chunk}` events up to `data: [DONE]`. Usage is held back
/// until the end so that it always arrives just before `Done`, whichever
/// chunk the server put it in.
#[derive(Debug)]
pub(crate) struct ChunkDecoder {
    model: String,
    finish: Option<FinishReason>,
    saw_tool_call: bool,
    usage: Option<Usage>,
    done: bool,
}

impl ChunkDecoder {
    pub(crate) fn new(requested_model: &str) -> Self {
        ChunkDecoder {
            model: requested_model.to_owned(),
            finish: None,
            saw_tool_call: false,
            usage: None,
            done: false,
        }
    }
}

impl Decoder for ChunkDecoder {
    const TERMINATOR: &'static str = "data: [DONE]";

    fn decode(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), UpstreamError> {
        let data = data.trim();
        if data == "[DONE]" {
            if let Some(usage) = self.usage {
                out.push(StreamEvent::Usage { usage });
            }
            let finish_reason = self.finish.unwrap_or(if self.saw_tool_call {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            });
            out.push(StreamEvent::Done {
                finish_reason,
                model: self.model.clone(),
            });
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Chunk = sse::parse(data)?;
        if let Some(error) = chunk.error {
            let message = crate::http::upstream_message(&json!({ "error": error }).to_string());
            return Err(UpstreamError::Transport(format!(
                "the server reported an error mid-stream: {message}"
            )));
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        for choice in chunk.choices.unwrap_or_default() {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text { text });
                }
                for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate()
                {
                    self.saw_tool_call = true;
                    let (name, arguments) = match call.function {
                        Some(f) => (f.name, arguments_text(f.arguments)),
                        None => (None, String::new()),
                    };
                    out.push(StreamEvent::ToolCall {
                        index: call.index.unwrap_or(position as u32),
                        id: call.id.filter(|id| !id.is_empty()),
                        name: name.filter(|n| !n.is_empty()),
                        arguments,
                    });
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(&reason));
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::testing::run;
    use baton_core::{ContentPart, ImageUrl, StreamAccumulator, ToolSpec};

    fn request() -> ChatRequest {
        let mut extra = Map::new();
        extra.insert("seed".into(), json!(7));
        extra.insert("model".into(), json!("sneaky"));
        ChatRequest {
            model: "openai/gpt-x".into(),
            messages: vec![
                Message::new(Role::Developer, "be brief"),
                Message::user("hi"),
                Message {
                    role: Role::Assistant,
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "search".into(),
                        arguments: "{\"q\":\"x\"}".into(),
                    }],
                    tool_call_id: None,
                    name: None,
                },
                Message {
                    role: Role::Tool,
                    content: Some("result".into()),
                    tool_calls: vec![],
                    tool_call_id: Some("call_1".into()),
                    name: None,
                },
            ],
            tools: vec![ToolSpec {
                name: "search".into(),
                description: Some("web search".into()),
                parameters: json!({"type":"object","properties":{"q":{"type":"string"}}}),
            }],
            tool_choice: Some(json!("auto")),
            temperature: Some(0.5),
            max_tokens: Some(100),
            stop: vec!["END".into()],
            extra,
            ..Default::default()
        }
    }

    #[test]
    fn body_maps_messages_tools_and_extra() {
        let body = request_body(&request(), "gpt-x", true, "max_completion_tokens");
        assert_eq!(body["model"], "gpt-x", "extra never overrides the model");
        assert_eq!(body["seed"], 7, "extra passes through");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 100);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(
            body["tools"][0],
            json!({"type":"function","function":{"name":"search","description":"web search",
                "parameters":{"type":"object","properties":{"q":{"type":"string"}}}}})
        );
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs[0], json!({"role":"system","content":"be brief"}));
        assert_eq!(
            msgs[2],
            json!({"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"search","arguments":"{\"q\":\"x\"}"}}]})
        );
        assert_eq!(
            msgs[3],
            json!({"role":"tool","content":"result","tool_call_id":"call_1"})
        );
        let plain = request_body(&request(), "gpt-x", false, "max_tokens");
        assert_eq!(plain["max_tokens"], 100);
        assert!(plain.get("stream_options").is_none());
    }

    #[test]
    fn image_parts_pass_through() {
        let req = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: Some(Content::Parts(vec![
                    ContentPart::Text {
                        text: "what".into(),
                    },
                    ContentPart::ImageUrl {
                        image_url: ImageUrl {
                            url: "https://x/y.png".into(),
                            detail: None,
                        },
                    },
                ])),
                tool_calls: vec![],
                tool_call_id: None,
                name: None,
            }],
            ..Default::default()
        };
        let body = request_body(&req, "m", false, "max_tokens");
        assert_eq!(
            body["messages"][0]["content"][1],
            json!({"type":"image_url","image_url":{"url":"https://x/y.png"}})
        );
    }

    #[test]
    fn response_with_tool_calls() {
        let completion: Completion = serde_json::from_value(json!({
            "id": "x", "model": "gpt-x-2025",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_9", "type": "function",
                    "function": {"name": "search", "arguments": "{\"q\":\"rust\"}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
        }))
        .unwrap();
        let r = into_response(completion, "gpt-x").unwrap();
        assert_eq!(r.model, "gpt-x-2025");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.message.content, None);
        assert_eq!(
            r.message.tool_calls,
            vec![ToolCall {
                id: "call_9".into(),
                name: "search".into(),
                arguments: "{\"q\":\"rust\"}".into()
            }]
        );
        assert_eq!(r.usage.total(), 15);
    }

    #[test]
    fn response_without_choices_is_malformed() {
        let completion: Completion = serde_json::from_value(json!({"choices": []})).unwrap();
        assert!(matches!(
            into_response(completion, "m"),
            Err(UpstreamError::Protocol(_))
        ));
    }

    const TEXT_STREAM: &str = concat!(
        "data: {\"model\":\"gpt-x-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"model\":\"gpt-x-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"model\":\"gpt-x-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"model\":\"gpt-x-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );

    #[tokio::test]
    async fn stream_of_text_split_anywhere() {
        for split in [1, 7, 50, TEXT_STREAM.len()] {
            let chunks: Vec<String> = TEXT_STREAM
                .as_bytes()
                .chunks(split)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
            let events: Vec<StreamEvent> = run(ChunkDecoder::new("gpt-x"), &refs)
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                events,
                vec![
                    StreamEvent::Text { text: "Hel".into() },
                    StreamEvent::Text { text: "lo".into() },
                    StreamEvent::Usage {
                        usage: Usage {
                            prompt_tokens: 5,
                            completion_tokens: 2
                        }
                    },
                    StreamEvent::Done {
                        finish_reason: FinishReason::Stop,
                        model: "gpt-x-1".into()
                    },
                ],
                "split every {split} bytes"
            );
        }
    }

    #[tokio::test]
    async fn stream_of_tool_calls_without_usage() {
        let events = run(
            ChunkDecoder::new("m"),
            &[
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"search\",\"arguments\":\"\"}}]}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"x\\\"}\"}}]}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
                "data: [DONE]\n\n",
            ],
        )
        .await;
        let mut acc = StreamAccumulator::default();
        for e in &events {
            acc.push(e.as_ref().unwrap());
        }
        let r = acc.finish().unwrap();
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.message.tool_calls[0].id, "c1");
        assert_eq!(r.message.tool_calls[0].name, "search");
        assert_eq!(r.message.tool_calls[0].arguments, "{\"q\":\"x\"}");
        assert_eq!(r.model, "m");
    }

    #[tokio::test]
    async fn stream_without_done_is_an_error() {
        let events = run(
            ChunkDecoder::new("m"),
            &["data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"],
        )
        .await;
        assert_eq!(events.len(), 2);
        assert!(events[0].is_ok());
        let err = events[1].as_ref().unwrap_err();
        assert!(err.to_string().contains("[DONE]"), "{err}");
    }

    #[tokio::test]
    async fn malformed_chunk_is_an_error() {
        let events = run(ChunkDecoder::new("m"), &["data: {\"choices\": [\n\n"]).await;
        assert!(matches!(
            events.as_slice(),
            [Err(UpstreamError::Protocol(_))]
        ));
    }

    #[tokio::test]
    async fn error_chunk_is_an_error() {
        let events = run(
            ChunkDecoder::new("m"),
            &["data: {\"error\":{\"message\":\"overloaded\"}}\n\n"],
        )
        .await;
        let err = events[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("overloaded"));
    }
}
