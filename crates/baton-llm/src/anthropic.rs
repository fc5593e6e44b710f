//! Anthropic's Messages API, spoken natively so that system prompts, tool
//! use and images keep their full meaning instead of passing through a
//! compatibility shim.

use std::collections::HashMap;
use std::time::Duration;

use baton_core::{
    ChatRequest, ChatResponse, Content, ContentPart, FinishReason, Message, ModelInfo, Role,
    StreamEvent, ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::UpstreamError;
use crate::http::Http;
use crate::sse::{self, Decoder, ProviderStream};

/// The API version baton speaks; sent as `anthropic-version`.
pub(crate) const API_VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`; this is used when neither the request
/// nor the model's declared limit gives one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A client for the Messages API at one base URL.
#[derive(Debug, Clone)]
pub(crate) struct AnthropicClient {
    http: Http,
    /// The base URL without `/v1` (as `ANTHROPIC_BASE_URL` has it).
    base: String,
}

impl AnthropicClient {
    pub(crate) fn new(http: Http, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        AnthropicClient {
            http,
            base: base.strip_suffix("/v1").unwrap_or(base).to_owned(),
        }
    }

    pub(crate) async fn chat(
        &self,
        req: &ChatRequest,
        model: &ModelInfo,
        headers_timeout: Duration,
    ) -> Result<ChatResponse, UpstreamError> {
        let body = request_body(req, model, false);
        let response = self
            .http
            .post_json(self.url("/v1/messages"), &body, Some(headers_timeout))
            .await?;
        let message: WireResponse = self.http.json(response).await?;
        Ok(into_response(message, model.id.model()))
    }

    pub(crate) async fn chat_stream(
        &self,
        req: &ChatRequest,
        model: &ModelInfo,
    ) -> Result<ProviderStream, UpstreamError> {
        let body = request_body(req, model, true);
        let response = self
            .http
            .post_json(self.url("/v1/messages"), &body, None)
            .await?;
        Ok(sse::decode(
            response.bytes_stream(),
            EventDecoder::new(model.id.model()),
            self.http.redactor().clone(),
        ))
    }

    /// The ids `GET /v1/models` lists.
    pub(crate) async fn list_models(
        &self,
        timeout: Duration,
    ) -> Result<Vec<String>, UpstreamError> {
        self.http
            .list_ids(self.url("/v1/models?limit=1000"), timeout)
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The Messages request body. System messages (wherever they appear) are
/// lifted into `system`; tool results become `tool_result` blocks of a user
/// turn; consecutive turns of one role are merged, as the API requires
/// alternation. `extra` is not sent: its fields are meant for
/// OpenAI-compatible servers and Anthropic rejects unknown ones.
pub(crate) fn request_body(req: &ChatRequest, model: &ModelInfo, stream: bool) -> Value {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                let text = m.text();
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Role::User => ("user", content_blocks(m.content.as_ref())),
            Role::Assistant => ("assistant", assistant_blocks(m)),
            Role::Tool => ("user", vec![tool_result(m)]),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let max_tokens = req
        .max_tokens
        .or(model.max_output_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut body = Map::new();
    body.insert("model".into(), json!(model.id.model()));
    body.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| {
                let mut tool = Map::new();
                tool.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    tool.insert("description".into(), json!(d));
                }
                tool.insert("input_schema".into(), t.parameters.clone());
                Value::Object(tool)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = req.tool_choice.as_ref().and_then(tool_choice) {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// OpenAI's `tool_choice` in Anthropic's words.
fn tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" | "any" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            _ => None,
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))?;
            Some(json!({"type": "tool", "name": name}))
        }
        _ => None,
    }
}

fn text_block(text: &str) -> Option<Value> {
    // The API rejects empty text blocks.
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

fn content_blocks(content: Option<&Content>) -> Vec<Value> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) => text_block(t).into_iter().collect(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => text_block(text),
                ContentPart::ImageUrl { image_url } => Some(image_block(&image_url.url)),
            })
            .collect(),
    }
}

/// `data:` URLs become base64 sources; any other URL is fetched by
/// Anthropic itself.
fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return json!({"type": "image", "source":
            {"type": "base64", "media_type": media_type, "data": data}});
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

fn assistant_blocks(m: &Message) -> Vec<Value> {
    let mut blocks = content_blocks(m.content.as_ref());
    blocks.extend(m.tool_calls.iter().map(|c| {
        // `input` must be an object; arguments a model wrote badly are sent
        // as an empty one rather than failing the whole conversation.
        let input = serde_json::from_str::<Value>(&c.arguments)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
    }));
    blocks
}

fn tool_result(m: &Message) -> Value {
    json!({
        "type": "tool_result",
        "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
        "content": m.text(),
    })
}

/// Maps Anthropic's `stop_reason`.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// All prompt tokens, cached or not: what counts against the context
    /// window. `None` when this report says nothing about the prompt.
    fn prompt_tokens(&self) -> Option<u64> {
        self.input_tokens.map(|input| {
            input
                + self.cache_creation_input_tokens.unwrap_or(0)
                + self.cache_read_input_tokens.unwrap_or(0)
        })
    }
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

fn into_response(message: WireResponse, requested: &str) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: str_field(block, "id"),
                name: str_field(block, "name"),
                arguments: block
                    .get("input")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            }),
            _ => {}
        }
    }
    let finish_reason = match message.stop_reason.as_deref() {
        Some(reason) => finish_reason(reason),
        None if !tool_calls.is_empty() => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    ChatResponse {
        model: message
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
        usage: Usage {
            prompt_tokens: message.usage.prompt_tokens().unwrap_or(0),
            completion_tokens: message.usage.output_tokens.unwrap_or(0),
        },
    }
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The HTTP status an in-stream `error` event stands for, so that it is
/// classified like the same error sent as a response.
fn error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// One tool-use block of the stream.
#[derive(Debug)]
struct ToolBlock {
    /// The tool call's position among the calls (block indices also count
    /// text blocks).
    index: u32,
    saw_arguments: bool,
}

/// Decodes the Messages event stream up to `message_stop`.
#[derive(Debug)]
pub(crate) struct EventDecoder {
    model: String,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    finish: Option<FinishReason>,
    tools: HashMap<u64, ToolBlock>,
    done: bool,
}

impl EventDecoder {
    pub(crate) fn new(requested_model: &str) -> Self {
        EventDecoder {
            model: requested_model.to_owned(),
            prompt_tokens: None,
            completion_tokens: None,
            finish: None,
            tools: HashMap::new(),
            done: false,
        }
    }

    fn take_usage(&mut self, usage: Option<&Value>) -> Result<(), UpstreamError> {
        let Some(usage) = usage else {
            return Ok(());
        };
        let usage: WireUsage = serde_json::from_value(usage.clone())
            .map_err(|e| UpstreamError::Protocol(format!("invalid usage in stream: {e}")))?;
        if let Some(prompt) = usage.prompt_tokens() {
            self.prompt_tokens = Some(prompt);
        }
        if let Some(output) = usage.output_tokens {
            self.completion_tokens = Some(output);
        }
        Ok(())
    }
}

impl Decoder for EventDecoder {
    const TERMINATOR: &'static str = "message_stop";

    fn decode(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), UpstreamError> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let value: Value = sse::parse(data)?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event)
            .to_owned();
        let index = value.get("index").and_then(Value::as_u64);
        match kind.as_str() {
            "message_start" => {
                let message = value.get("message");
                if let Some(model) = message
                    .and_then(|m| m.get("model"))
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                {
                    self.model = model.to_owned();
                }
                self.take_usage(message.and_then(|m| m.get("usage")))?;
            }
            "content_block_start" => {
                let block = value.get("content_block").unwrap_or(&Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(text) = block.get("text").and_then(Value::as_str)
                            && !text.is_empty()
                        {
                            out.push(StreamEvent::Text { text: text.into() });
                        }
                    }
                    Some("tool_use") => {
                        let tool_index = self.tools.len() as u32;
                        self.tools.insert(
                            index.unwrap_or(u64::from(tool_index)),
                            ToolBlock {
                                index: tool_index,
                                saw_arguments: false,
                            },
                        );
                        out.push(StreamEvent::ToolCall {
                            index: tool_index,
                            id: Some(str_field(block, "id")),
                            name: Some(str_field(block, "name")),
                            arguments: String::new(),
                        });
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = value.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = str_field(delta, "text");
                        if !text.is_empty() {
                            out.push(StreamEvent::Text { text });
                        }
                    }
                    Some("input_json_delta") => {
                        let partial = str_field(delta, "partial_json");
                        let block =
                            index.and_then(|i| self.tools.get_mut(&i)).ok_or_else(|| {
                                UpstreamError::Protocol(
                                    "input_json_delta for a block that is not a tool_use".into(),
                                )
                            })?;
                        if !partial.is_empty() {
                            block.saw_arguments = true;
                            out.push(StreamEvent::ToolCall {
                                index: block.index,
                                id: None,
                                name: None,
                                arguments: partial,
                            });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                // A tool without parameters streams no JSON at all; its
                // arguments are still an (empty) object.
                if let Some(block) = index.and_then(|i| self.tools.get_mut(&i))
                    && !block.saw_arguments
                {
                    block.saw_arguments = true;
                    out.push(StreamEvent::ToolCall {
                        index: block.index,
                        id: None,
                        name: None,
                        arguments: "{}".into(),
                    });
                }
            }
            "message_delta" => {
                if let Some(reason) = value
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.finish = Some(finish_reason(reason));
                }
                self.take_usage(value.get("usage"))?;
            }
            "message_stop" => {
                if self.prompt_tokens.is_some() || self.completion_tokens.is_some() {
                    out.push(StreamEvent::Usage {
                        usage: Usage {
                            prompt_tokens: self.prompt_tokens.unwrap_or(0),
                            completion_tokens: self.completion_tokens.unwrap_or(0),
                        },
                    });
                }
                let finish_reason = self.finish.unwrap_or(if self.tools.is_empty() {
                    FinishReason::Stop
                } else {
                    FinishReason::ToolCalls
                });
                out.push(StreamEvent::Done {
                    finish_reason,
                    model: self.model.clone(),
                });
                self.done = true;
            }
            "error" => {
                let error = value.get("error").unwrap_or(&Value::Null);
                return Err(UpstreamError::Status {
                    status: error_status(error.get("type").and_then(Value::as_str).unwrap_or("")),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error event without a message")
                        .to_owned(),
                    retry_after: None,
                });
            }
            // `ping`, and whatever newer versions add, carry nothing for us.
            _ => {}
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
    use baton_core::{Capabilities, ImageUrl, ModelId, Pricing, StreamAccumulator, ToolSpec};

    fn model(max_output: Option<u32>) -> ModelInfo {
        ModelInfo {
            id: ModelId::new("anthropic", "claude-x"),
            context_window: 200_000,
            max_output_tokens: max_output,
            pricing: Pricing::default(),
            capabilities: Capabilities::default(),
        }
    }

    fn tool_message(id: &str, text: &str) -> Message {
        Message {
            role: Role::Tool,
            content: Some(text.into()),
            tool_calls: vec![],
            tool_call_id: Some(id.into()),
            name: None,
        }
    }

    #[test]
    fn body_lifts_system_and_maps_tool_turns() {
        let req = ChatRequest {
            messages: vec![
                Message::system("rule one"),
                Message::user("find x"),
                Message::user("and y"),
                Message {
                    role: Role::Assistant,
                    content: Some("looking".into()),
                    tool_calls: vec![
                        ToolCall {
                            id: "t1".into(),
                            name: "search".into(),
                            arguments: "{\"q\":\"x\"}".into(),
                        },
                        ToolCall {
                            id: "t2".into(),
                            name: "search".into(),
                            arguments: "not json".into(),
                        },
                    ],
                    tool_call_id: None,
                    name: None,
                },
                tool_message("t1", "x found"),
                tool_message("t2", "y found"),
                Message::new(Role::Developer, "rule two"),
                Message::user("thanks"),
            ],
            tools: vec![ToolSpec {
                name: "search".into(),
                description: None,
                parameters: json!({"type":"object"}),
            }],
            tool_choice: Some(json!("required")),
            stop: vec!["END".into()],
            ..Default::default()
        };
        let body = request_body(&req, &model(Some(8000)), true);
        assert_eq!(body["system"], "rule one\n\nrule two");
        assert_eq!(body["max_tokens"], 8000);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(body["tool_choice"], json!({"type":"any"}));
        assert_eq!(
            body["tools"],
            json!([{"name":"search","input_schema":{"type":"object"}}])
        );
        assert_eq!(
            body["messages"],
            json!([
                {"role":"user","content":[{"type":"text","text":"find x"},{"type":"text","text":"and y"}]},
                {"role":"assistant","content":[
                    {"type":"text","text":"looking"},
                    {"type":"tool_use","id":"t1","name":"search","input":{"q":"x"}},
                    {"type":"tool_use","id":"t2","name":"search","input":{}}]},
                {"role":"user","content":[
                    {"type":"tool_result","tool_use_id":"t1","content":"x found"},
                    {"type":"tool_result","tool_use_id":"t2","content":"y found"},
                    {"type":"text","text":"thanks"}]}
            ])
        );
    }

    #[test]
    fn max_tokens_prefers_request_then_model_then_default() {
        let mut req = ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        assert_eq!(request_body(&req, &model(None), false)["max_tokens"], 4096);
        assert_eq!(
            request_body(&req, &model(Some(64)), false)["max_tokens"],
            64
        );
        req.max_tokens = Some(10);
        assert_eq!(
            request_body(&req, &model(Some(64)), false)["max_tokens"],
            10
        );
        assert!(
            request_body(&req, &model(None), false)
                .get("stream")
                .is_none()
        );
    }

    #[test]
    fn images_become_source_blocks() {
        let part = |url: &str| ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        };
        let req = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: Some(Content::Parts(vec![
                    ContentPart::Text { text: "see".into() },
                    part("data:image/png;base64,iVBORw0KGgo="),
                    part("https://example.com/cat.jpg"),
                ])),
                tool_calls: vec![],
                tool_call_id: None,
                name: None,
            }],
            ..Default::default()
        };
        let body = request_body(&req, &model(None), false);
        assert_eq!(
            body["messages"][0]["content"][1],
            json!({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}})
        );
        assert_eq!(
            body["messages"][0]["content"][2],
            json!({"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}})
        );
    }

    #[test]
    fn tool_choice_variants() {
        assert_eq!(tool_choice(&json!("auto")), Some(json!({"type":"auto"})));
        assert_eq!(tool_choice(&json!("none")), Some(json!({"type":"none"})));
        assert_eq!(
            tool_choice(&json!({"type":"function","function":{"name":"f"}})),
            Some(json!({"type":"tool","name":"f"}))
        );
        assert_eq!(tool_choice(&json!(3)), None);
    }

    #[test]
    fn response_maps_blocks_stop_reason_and_usage() {
        let wire: WireResponse = serde_json::from_value(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x-2025",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "x"}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 20, "output_tokens": 7, "cache_read_input_tokens": 5}
        }))
        .unwrap();
        let r = into_response(wire, "claude-x");
        assert_eq!(r.model, "claude-x-2025");
        assert_eq!(r.message.text(), "Let me look.");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.message.tool_calls[0].arguments, "{\"q\":\"x\"}");
        assert_eq!(
            r.usage,
            Usage {
                prompt_tokens: 25,
                completion_tokens: 7
            }
        );
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
    }

    const STREAM: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x-2025\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"search\",\"input\":{}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"x\\\"}\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"now\",\"input\":{}}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );

    #[tokio::test]
    async fn stream_maps_text_tools_usage_and_stop() {
        let events: Vec<StreamEvent> = run(EventDecoder::new("claude-x"), &[STREAM])
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(events[0], StreamEvent::Text { text: "Hi".into() });
        assert_eq!(
            events[1],
            StreamEvent::ToolCall {
                index: 0,
                id: Some("toolu_1".into()),
                name: Some("search".into()),
                arguments: String::new()
            }
        );
        let n = events.len();
        assert_eq!(
            events[n - 2],
            StreamEvent::Usage {
                usage: Usage {
                    prompt_tokens: 25,
                    completion_tokens: 15
                }
            }
        );
        let mut acc = StreamAccumulator::default();
        for e in &events {
            acc.push(e);
        }
        let r = acc.finish().unwrap();
        assert_eq!(r.model, "claude-x-2025");
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.message.text(), "Hi");
        assert_eq!(r.message.tool_calls.len(), 2);
        assert_eq!(r.message.tool_calls[0].arguments, "{\"q\":\"x\"}");
        assert_eq!(r.message.tool_calls[1].id, "toolu_2");
        assert_eq!(r.message.tool_calls[1].arguments, "{}");
    }

    #[tokio::test]
    async fn stream_without_message_stop_is_an_error() {
        let cut = &STREAM[..STREAM.find("event: message_delta").unwrap()];
        let events = run(EventDecoder::new("claude-x"), &[cut]).await;
        let err = events.last().unwrap().as_ref().unwrap_err();
        assert!(err.to_string().contains("message_stop"), "{err}");
    }

    #[tokio::test]
    async fn error_event_keeps_its_meaning() {
        let events = run(
            EventDecoder::new("claude-x"),
            &["event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"],
        )
        .await;
        match &events[..] {
            [Err(e @ UpstreamError::Status { status: 529, .. })] => assert!(e.retryable()),
            other => panic!("unexpected {other:?}"),
        }
    }
}
