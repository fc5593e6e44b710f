//! The OpenAI chat-completions wire format as a server speaks it: requests
//! in, completions and chunks out, translated to and from baton's types.

use baton_core::{
    ChatRequest, ChatResponse, Content, FinishReason, Message, Role, ToolCall, ToolSpec, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// `POST /v1/chat/completions` body. Fields baton does not interpret
/// (`seed`, `response_format`, `user`, …) pass through to the upstream.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompletionRequest {
    /// `provider/model`, a unique bare model name, or `auto`.
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub tools: Option<Vec<WireTool>>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub stop: Option<Value>,
    /// Only 1 is supported.
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WireMessage {
    #[schema(value_type = String)]
    pub role: Role,
    /// A string, or an array of `text` / `image_url` parts.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WireToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: WireFunctionCall,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WireFunctionCall {
    pub name: String,
    /// JSON text.
    pub arguments: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WireTool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
}

fn function_type() -> String {
    "function".into()
}

impl CompletionRequest {
    /// Whether the caller asked for a final usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// Translates to baton's request, refusing what no provider could do.
    pub fn into_chat_request(self) -> Result<ChatRequest, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::bad_request(
                "`n` must be 1: baton returns one choice",
            ));
        }
        let stop = match self.stop {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(ApiError::bad_request(
                        "`stop` must be a string or an array of strings",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "`stop` must be a string or an array of strings",
                ));
            }
        };
        let mut tools = Vec::new();
        for (i, t) in self.tools.unwrap_or_default().into_iter().enumerate() {
            if t.kind != "function" {
                return Err(ApiError::bad_request(format!(
                    "`tools[{i}].type` must be \"function\" (got {:?})",
                    t.kind
                )));
            }
            tools.push(ToolSpec {
                name: t.function.name,
                description: t.function.description,
                parameters: t
                    .function
                    .parameters
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            });
        }
        let messages = self
            .messages
            .into_iter()
            .map(|m| Message {
                role: m.role,
                content: m.content,
                tool_calls: m
                    .tool_calls
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| ToolCall {
                        id: c.id,
                        name: c.function.name,
                        arguments: c.function.arguments,
                    })
                    .collect(),
                tool_call_id: m.tool_call_id,
                name: m.name,
            })
            .collect();
        Ok(ChatRequest {
            model: self.model,
            messages,
            tools,
            tool_choice: self.tool_choice,
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stop,
            extra: self.extra,
        })
    }
}

/// A non-streamed answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Completion {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    /// The `provider/model` that answered.
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    pub usage: WireUsage,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: WireMessage,
    pub finish_reason: &'static str,
    #[schema(value_type = Object)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct WireUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl From<Usage> for WireUsage {
    fn from(u: Usage) -> Self {
        WireUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
        }
    }
}

fn wire_tool_calls(calls: Vec<ToolCall>) -> Option<Vec<WireToolCall>> {
    (!calls.is_empty()).then(|| {
        calls
            .into_iter()
            .map(|c| WireToolCall {
                id: c.id,
                kind: function_type(),
                function: WireFunctionCall {
                    name: c.name,
                    arguments: c.arguments,
                },
            })
            .collect()
    })
}

impl Completion {
    pub fn new(id: String, created: i64, model: String, r: ChatResponse) -> Self {
        let message = WireMessage {
            role: Role::Assistant,
            content: r.message.content.or_else(|| {
                r.message
                    .tool_calls
                    .is_empty()
                    .then(|| Content::Text(String::new()))
            }),
            tool_calls: wire_tool_calls(r.message.tool_calls),
            tool_call_id: None,
            name: None,
        };
        Completion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![CompletionChoice {
                index: 0,
                message,
                finish_reason: r.finish_reason.as_str(),
                logprobs: None,
            }],
            usage: r.usage.into(),
        }
    }
}

/// One streamed chunk.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Chunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<&'static str>,
    #[schema(value_type = Object)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<DeltaToolCall>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeltaToolCall {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: DeltaFunction,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeltaFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

impl<'a> Chunk<'a> {
    pub fn delta(
        id: &'a str,
        created: i64,
        model: &'a str,
        delta: Delta,
        finish: Option<FinishReason>,
    ) -> Self {
        Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(FinishReason::as_str),
                logprobs: None,
            }],
            usage: None,
        }
    }

    pub fn usage(id: &'a str, created: i64, model: &'a str, usage: Usage) -> Self {
        Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: Vec::new(),
            usage: Some(usage.into()),
        }
    }
}

/// `GET /v1/models` entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WireModel {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub owned_by: String,
    /// baton's additions: what it knows of the model.
    pub context_window: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    pub input_price_per_mtok: f64,
    pub output_price_per_mtok: f64,
    pub supports_tools: bool,
    pub supports_vision: bool,
}

impl From<baton_core::ModelInfo> for WireModel {
    fn from(m: baton_core::ModelInfo) -> Self {
        WireModel {
            owned_by: m.id.provider().to_owned(),
            id: m.id.to_string(),
            object: "model",
            created: 0,
            context_window: m.context_window,
            max_output_tokens: m.max_output_tokens,
            input_price_per_mtok: m.pricing.input_per_mtok,
            output_price_per_mtok: m.pricing.output_per_mtok,
            supports_tools: m.capabilities.tools,
            supports_vision: m.capabilities.vision,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<WireModel>,
}
