//! The seed hub's conversation: `POST /chat`, `POST /chat/stream` and
//! `baton chat`. The hub keeps the history; the caller sends one message.

use baton_core::{
    ChatRequest, DeviceId, Message, MessageId, SessionId, StreamAccumulator, StreamEvent, Usage,
    wall_millis,
};
use baton_llm::{GatewayError, Routed};
use baton_store::Session;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::time::Instant;
use tokio::sync::mpsc;

use crate::recording::{CallFacts, Exchange};
use crate::{Hub, HubError};

/// Longest message the hub accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// One turn from a person or device.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ChatInput {
    pub message: String,
    /// Continue this session; a new one is started when absent.
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub device_id: Option<String>,
    /// `provider/model`, a unique bare name, or `auto`; defaults to the
    /// session's model, then the configured default.
    #[serde(default)]
    pub model: Option<String>,
    /// A directory inside the server's workspace whose continuity the turn
    /// joins: the face resolves it and fills `context`; the hub itself does
    /// not read it.
    #[serde(default)]
    pub workspace: Option<String>,
    /// What the session starts from (the workspace's handoff context), sent
    /// after the configured system prompt on every turn and never stored.
    /// Set by the faces from the continuity service, not by callers.
    #[serde(skip)]
    #[schema(ignore)]
    pub context: Option<String>,
}

/// The model's answer and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatOutput {
    pub reply: String,
    pub session_id: SessionId,
    pub message_id: MessageId,
    /// The `provider/model` that answered.
    pub model: String,
    pub usage: Usage,
    pub cost_usd: f64,
    pub latency_ms: u64,
    /// Models tried and failed before this one answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
}

/// What a streamed conversation sends, in order: `Started`, any number of
/// `Token`s, then `Done` or `Error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HubEvent {
    Started {
        session_id: SessionId,
        model: String,
    },
    Token {
        text: String,
    },
    Done(ChatOutput),
    Error {
        code: String,
        message: String,
    },
}

pub type HubStream = Pin<Box<dyn futures::Stream<Item = HubEvent> + Send>>;

/// A turn ready to be sent: the resolved session and the full request.
struct Prepared {
    session_id: SessionId,
    device_id: DeviceId,
    new_session: Option<Session>,
    request: ChatRequest,
    user: Message,
}

impl Hub {
    /// Sends one message and waits for the whole reply; both are durable
    /// before this returns.
    pub async fn chat(&self, input: ChatInput) -> Result<ChatOutput, HubError> {
        let started = Instant::now();
        let p = self.prepare(input).await?;
        let routed = self.inner.gateway.chat(&p.request).await?;
        let latency_ms = started.elapsed().as_millis() as u64;
        let Routed {
            model,
            value: response,
            attempts,
        } = routed;
        let facts = CallFacts {
            model: model.id.to_string(),
            usage: response.usage,
            cost_usd: model.pricing.cost(&response.usage),
            latency_ms,
        };
        let reply = response.message.text();
        let (session_id, message_id) = self.record(p, response.message, &facts).await?;
        Ok(ChatOutput {
            reply,
            session_id,
            message_id,
            model: facts.model,
            usage: facts.usage,
            cost_usd: facts.cost_usd,
            latency_ms,
            fallbacks: attempts.iter().map(|a| a.model.to_string()).collect(),
        })
    }

    /// Sends one message and streams the reply token by token. Errors that
    /// happen before the first token are returned here; later ones arrive as
    /// an `Error` event. The exchange is recorded even if the caller goes
    /// away mid-stream (with what had arrived).
    pub async fn chat_stream(&self, input: ChatInput) -> Result<HubStream, HubError> {
        let started = Instant::now();
        let p = self.prepare(input).await?;
        let routed = self.inner.gateway.chat_stream(&p.request).await?;
        let (tx, rx) = mpsc::channel::<HubEvent>(64);
        let hub = self.clone();
        let model_id = routed.model.id.to_string();
        let fallbacks: Vec<String> = routed
            .attempts
            .iter()
            .map(|a| a.model.to_string())
            .collect();
        let _ = tx
            .send(HubEvent::Started {
                session_id: p.session_id,
                model: model_id.clone(),
            })
            .await;
        self.inner.background.spawn(async move {
            let mut upstream = routed.value;
            let mut acc = StreamAccumulator::default();
            let mut failure: Option<GatewayError> = None;
            let mut caller_gone = false;
            while let Some(item) = upstream.next().await {
                match item {
                    Ok(event) => {
                        acc.push(&event);
                        if let StreamEvent::Text { text } = event
                            && tx.send(HubEvent::Token { text }).await.is_err()
                        {
                            caller_gone = true;
                            break;
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let usage = acc.usage();
            let message = acc.into_message();
            let facts = CallFacts {
                model: model_id,
                usage,
                cost_usd: routed.model.pricing.cost(&usage),
                latency_ms: started.elapsed().as_millis() as u64,
            };
            let reply = message.text();
            let recorded = hub.record(p, message, &facts).await;
            if caller_gone {
                return;
            }
            let last = match (failure, recorded) {
                (Some(e), _) => HubEvent::Error {
                    code: e.code().to_owned(),
                    message: e.to_string(),
                },
                (None, Err(e)) => HubEvent::Error {
                    code: e.code().to_owned(),
                    message: e.to_string(),
                },
                (None, Ok((session_id, message_id))) => HubEvent::Done(ChatOutput {
                    reply,
                    session_id,
                    message_id,
                    model: facts.model,
                    usage,
                    cost_usd: facts.cost_usd,
                    latency_ms: facts.latency_ms,
                    fallbacks,
                }),
            };
            let _ = tx.send(last).await;
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn prepare(&self, input: ChatInput) -> Result<Prepared, HubError> {
        let inner = &self.inner;
        if input.message.trim().is_empty() {
            return Err(HubError::InvalidInput("`message` must not be empty".into()));
        }
        if input.message.len() > MAX_MESSAGE_BYTES {
            return Err(HubError::InvalidInput(format!(
                "`message` is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                input.message.len()
            )));
        }
        let device_id = parse_device(input.device_id.as_deref(), &inner.chat.default_device)?;
        let (session_id, new_session, history, session_model) = match input.session_id.as_deref() {
            Some(raw) => {
                let id: SessionId = raw.parse().map_err(|_| {
                    HubError::InvalidInput(format!("`session_id` {raw:?} is not a UUID"))
                })?;
                let session = inner
                    .store
                    .session(id)
                    .await?
                    .ok_or_else(|| HubError::SessionNotFound(id.to_string()))?;
                let history = inner
                    .store
                    .session_messages(id, inner.chat.history_messages)
                    .await?;
                (id, None, history, session.model)
            }
            None => {
                let now = wall_millis() as i64;
                let session = Session {
                    id: SessionId::new(),
                    device_id: device_id.clone(),
                    title: Some(title_of(&input.message)),
                    model: input.model.clone().filter(|m| !m.is_empty()),
                    created_ms: now,
                    updated_ms: now,
                    hlc: inner.clock.now(),
                };
                (session.id, Some(session), Vec::new(), None)
            }
        };
        let model = input
            .model
            .filter(|m| !m.is_empty())
            .or(session_model)
            .unwrap_or_default();
        let info = inner.gateway.resolve(&model)?;
        let user = Message::user(input.message);
        let mut messages = Vec::with_capacity(history.len() + 2);
        if let Some(system) = &inner.chat.system_prompt {
            messages.push(Message::system(system.clone()));
        }
        if let Some(context) = input.context.filter(|c| !c.is_empty()) {
            messages.push(Message::system(context));
        }
        messages.extend(history.into_iter().map(|r| r.message));
        messages.push(user.clone());
        fit_to_context(&mut messages, info.context_window, info.max_output_tokens);
        Ok(Prepared {
            session_id,
            device_id,
            new_session,
            request: ChatRequest {
                model: info.id.to_string(),
                messages,
                ..Default::default()
            },
            user,
        })
    }

    /// Records the user's message and the reply; durable on return.
    async fn record(
        &self,
        p: Prepared,
        reply: Message,
        facts: &CallFacts,
    ) -> Result<(SessionId, MessageId), HubError> {
        let inner = &self.inner;
        let mut exchange = Exchange::new(p.session_id, p.device_id, p.new_session);
        exchange.push(inner, p.user, None);
        let reply_id = exchange.push(inner, reply, Some(facts));
        exchange.commit(inner).await?;
        Ok((p.session_id, reply_id))
    }
}

pub(crate) fn parse_device(raw: Option<&str>, default: &str) -> Result<DeviceId, HubError> {
    DeviceId::parse(raw.filter(|d| !d.is_empty()).unwrap_or(default))
        .map_err(|e| HubError::InvalidInput(format!("`device_id`: {e}")))
}

fn title_of(message: &str) -> String {
    let line = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut title: String = line.trim().chars().take(80).collect();
    if line.trim().chars().count() > 80 {
        title.push('…');
    }
    title
}

/// A deliberately pessimistic token estimate (3 bytes a token, plus a few
/// per message) so that trimming errs on the side of fitting.
fn estimate_tokens(m: &Message) -> u64 {
    let tool_bytes: usize = m
        .tool_calls
        .iter()
        .map(|c| c.name.len() + c.arguments.len())
        .sum();
    ((m.text().len() + tool_bytes) as u64).div_ceil(3) + 4
}

/// Drops the oldest history (never the system prompt or the new message)
/// until the conversation fits the model's window with room for the answer.
fn fit_to_context(messages: &mut Vec<Message>, window: u32, max_output: Option<u32>) {
    let reserve = u64::from(max_output.unwrap_or(1024).min(window / 4));
    let budget = u64::from(window).saturating_sub(reserve);
    let mut total: u64 = messages.iter().map(estimate_tokens).sum();
    let first_history = usize::from(
        messages
            .first()
            .is_some_and(|m| m.role == baton_core::Role::System),
    );
    while total > budget && messages.len() > first_history + 1 {
        let dropped = messages.remove(first_history);
        total -= estimate_tokens(&dropped);
    }
    // A tool result without its call is refused by providers: drop it too.
    while messages.len() > first_history + 1
        && messages[first_history].role == baton_core::Role::Tool
    {
        messages.remove(first_history);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_system_and_newest() {
        let mut m = vec![Message::system("sys")];
        for i in 0..100 {
            m.push(Message::user(format!("{i} {}", "x".repeat(300))));
        }
        fit_to_context(&mut m, 2048, Some(512));
        assert_eq!(m[0].role, baton_core::Role::System);
        assert!(m.last().unwrap().text().starts_with("99 "));
        let total: u64 = m.iter().map(estimate_tokens).sum();
        assert!(total <= 2048 - 512, "{total}");
        assert!(m.len() < 101);
    }

    #[test]
    fn titles_are_short_first_lines() {
        assert_eq!(title_of("\n  hello \nworld"), "hello");
        assert_eq!(title_of(&"a".repeat(100)).chars().count(), 81);
    }
}
