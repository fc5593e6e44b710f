//! Chat messages, requests and responses in one provider-neutral shape.
//!
//! The field names follow the OpenAI chat-completions wire format, the lingua
//! franca of the field, so the OpenAI-compatible face and provider can pass
//! them through unchanged; other providers translate at their edge.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// OpenAI's newer name for system instructions; treated as `system`.
    Developer,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => return None,
        })
    }
}

/// A message body: plain text, or typed parts when images are attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The text of the message, with the text parts joined; images are skipped.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }

    pub fn has_images(&self) -> bool {
        matches!(self, Content::Parts(parts) if parts.iter().any(|p| matches!(p, ContentPart::ImageUrl { .. })))
    }
}

impl From<String> for Content {
    fn from(s: String) -> Self {
        Content::Text(s)
    }
}

impl From<&str> for Content {
    fn from(s: &str) -> Self {
        Content::Text(s.to_owned())
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageUrl {
    /// An `https:` URL or a `data:image/...;base64,` URL.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub role: Role,
    /// `None` only for an assistant turn that consists of tool calls.
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `role = tool`: the id of the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, text)
    }

    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, text)
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, text)
    }

    /// The text of the message (empty when it has none).
    pub fn text(&self) -> String {
        self.content.as_ref().map(Content::text).unwrap_or_default()
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text, possibly invalid.
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments object.
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Why a model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// What baton asks a provider for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// A `provider/model` id, a bare model name, or `auto`.
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name":…}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Provider-specific fields passed through untouched to OpenAI-compatible
    /// upstreams (`seed`, `response_format`, `user`, …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// A provider's complete answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The upstream's own name for the model that answered.
    pub model: String,
    pub message: Message,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// One piece of a streamed answer, in arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A fragment of the assistant's text.
    Text { text: String },
    /// A fragment of a tool call; `index` groups fragments of one call, and
    /// `id`/`name` arrive with the first fragment.
    ToolCall {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        arguments: String,
    },
    /// Token counts, usually just before `Done`.
    Usage { usage: Usage },
    /// The stream ended normally.
    Done {
        finish_reason: FinishReason,
        /// The upstream's own name for the model that answered.
        model: String,
    },
}

/// Folds stream events back into a complete response, so that streaming and
/// non-streaming paths record the same thing.
#[derive(Debug, Default, Clone)]
pub struct StreamAccumulator {
    text: String,
    calls: Vec<ToolCall>,
    usage: Usage,
    finish: Option<(FinishReason, String)>,
}

impl StreamAccumulator {
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Text { text } => self.text.push_str(text),
            StreamEvent::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                let i = *index as usize;
                while self.calls.len() <= i {
                    self.calls.push(ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let call = &mut self.calls[i];
                if let Some(id) = id {
                    call.id.clone_from(id);
                }
                if let Some(name) = name {
                    call.name.push_str(name);
                }
                call.arguments.push_str(arguments);
            }
            StreamEvent::Usage { usage } => self.usage = *usage,
            StreamEvent::Done {
                finish_reason,
                model,
            } => self.finish = Some((*finish_reason, model.clone())),
        }
    }

    /// Whether any content has arrived yet (a stream that breaks before this
    /// point may safely be retried on another model).
    pub fn has_content(&self) -> bool {
        !self.text.is_empty() || !self.calls.is_empty()
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The response; `None` until `Done` arrived.
    pub fn finish(self) -> Option<ChatResponse> {
        let (finish_reason, model) = self.finish.clone()?;
        let usage = self.usage;
        Some(ChatResponse {
            model,
            message: self.into_message(),
            finish_reason,
            usage,
        })
    }

    /// The assistant message as far as it arrived, complete or not (what a
    /// broken or abandoned stream leaves to record).
    pub fn into_message(self) -> Message {
        let content = if self.text.is_empty() && !self.calls.is_empty() {
            None
        } else {
            Some(Content::Text(self.text))
        };
        Message {
            role: Role::Assistant,
            content,
            tool_calls: self.calls,
            tool_call_id: None,
            name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_accepts_string_and_parts() {
        let m: Message = serde_json::from_str(r#"{"role":"user","content":"hi"}"#).unwrap();
        assert_eq!(m.text(), "hi");
        let m: Message = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}},{"type":"text","text":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(m.text(), "ab");
        assert!(m.content.unwrap().has_images());
    }

    #[test]
    fn accumulator_joins_fragments() {
        let mut acc = StreamAccumulator::default();
        for e in [
            StreamEvent::Text { text: "Hel".into() },
            StreamEvent::Text { text: "lo".into() },
            StreamEvent::ToolCall {
                index: 0,
                id: Some("c1".into()),
                name: Some("search".into()),
                arguments: "{\"q\":".into(),
            },
            StreamEvent::ToolCall {
                index: 0,
                id: None,
                name: None,
                arguments: "\"x\"}".into(),
            },
            StreamEvent::Usage {
                usage: Usage {
                    prompt_tokens: 3,
                    completion_tokens: 2,
                },
            },
            StreamEvent::Done {
                finish_reason: FinishReason::ToolCalls,
                model: "m".into(),
            },
        ] {
            acc.push(&e);
        }
        let r = acc.finish().unwrap();
        assert_eq!(r.message.text(), "Hello");
        assert_eq!(r.message.tool_calls[0].arguments, "{\"q\":\"x\"}");
        assert_eq!(r.usage.total(), 5);
    }

    #[test]
    fn accumulator_without_done_is_incomplete() {
        let mut acc = StreamAccumulator::default();
        acc.push(&StreamEvent::Text { text: "x".into() });
        assert!(acc.has_content());
        assert!(acc.finish().is_none());
    }
}
