//! The gateway path: OpenAI-compatible chat completions. The caller sends
//! the whole conversation each time (as OpenAI clients do); baton routes it,
//! streams the answer through, and records the new turn off the hot path.

use baton_core::{
    ChatRequest, ChatResponse, DeviceId, Message, ModelInfo, Pricing, Role, SessionId,
    StreamAccumulator, StreamEvent, wall_millis,
};
use baton_llm::{EventStream, GatewayError, Routed};
use baton_store::Session;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::conversation::parse_device;
use crate::recording::{CallFacts, Exchange};
use crate::{Hub, HubError};

/// Most messages one request may carry.
pub const MAX_MESSAGES: usize = 10_000;
/// Most tools one request may offer.
pub const MAX_TOOLS: usize = 512;

/// Who is calling, from request headers (`X-Baton-Device`,
/// `X-Baton-Session`); both optional.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub device_id: Option<String>,
    /// Group this call's record with earlier ones of the same session.
    pub session_id: Option<String>,
}

/// Where a call's record goes.
struct Target {
    session_id: SessionId,
    device_id: DeviceId,
    new_session: Option<Session>,
    /// Index of the first request message not recorded before.
    first_new: usize,
}

impl Hub {
    /// Every model the gateway can route to.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.inner.gateway.models()
    }

    /// One non-streamed completion.
    pub async fn complete(
        &self,
        request: ChatRequest,
        ctx: CallContext,
    ) -> Result<Routed<ChatResponse>, HubError> {
        let started = Instant::now();
        let target = self.target(&request, &ctx).await?;
        let routed = self.inner.gateway.chat(&request).await?;
        let facts = CallFacts {
            model: routed.model.id.to_string(),
            usage: routed.value.usage,
            cost_usd: routed.model.pricing.cost(&routed.value.usage),
            latency_ms: started.elapsed().as_millis() as u64,
        };
        self.record_turn(
            target,
            request.messages,
            routed.value.message.clone(),
            &facts,
        );
        Ok(routed)
    }

    /// One streamed completion: events pass through as they arrive; the turn
    /// is recorded when the stream ends, or with what had arrived when the
    /// caller goes away.
    pub async fn complete_stream(
        &self,
        request: ChatRequest,
        ctx: CallContext,
    ) -> Result<Routed<EventStream>, HubError> {
        let started = Instant::now();
        let target = self.target(&request, &ctx).await?;
        let routed = self.inner.gateway.chat_stream(&request).await?;
        let Routed {
            model,
            value: upstream,
            attempts,
        } = routed;
        let stream = RecordingStream {
            upstream,
            acc: StreamAccumulator::default(),
            pending: Some(PendingTurn {
                hub: self.clone(),
                target,
                messages: request.messages,
                model_id: model.id.to_string(),
                pricing: model.pricing,
                started,
            }),
        };
        Ok(Routed {
            model,
            value: Box::pin(stream),
            attempts,
        })
    }

    async fn target(&self, request: &ChatRequest, ctx: &CallContext) -> Result<Target, HubError> {
        check_request(request)?;
        let inner = &self.inner;
        let device_id = parse_device(ctx.device_id.as_deref(), "api")?;
        match ctx.session_id.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => {
                let id: SessionId = raw.parse().map_err(|_| {
                    HubError::InvalidInput(format!("X-Baton-Session {raw:?} is not a UUID"))
                })?;
                if inner.store.session(id).await?.is_none() {
                    return Err(HubError::SessionNotFound(id.to_string()));
                }
                let first_new = request
                    .messages
                    .iter()
                    .rposition(|m| m.role == Role::Assistant)
                    .map_or(0, |i| i + 1);
                Ok(Target {
                    session_id: id,
                    device_id,
                    new_session: None,
                    first_new,
                })
            }
            None => {
                let now = wall_millis() as i64;
                let title = request
                    .messages
                    .iter()
                    .find(|m| m.role == Role::User)
                    .map(|m| m.text().chars().take(80).collect());
                let session = Session {
                    id: SessionId::new(),
                    device_id: device_id.clone(),
                    title,
                    model: Some(request.model.clone()),
                    created_ms: now,
                    updated_ms: now,
                    hlc: inner.clock.now(),
                };
                Ok(Target {
                    session_id: session.id,
                    device_id,
                    new_session: Some(session),
                    first_new: 0,
                })
            }
        }
    }

    fn record_turn(
        &self,
        target: Target,
        messages: Vec<Message>,
        reply: Message,
        facts: &CallFacts,
    ) {
        let inner = &self.inner;
        let mut exchange = Exchange::new(target.session_id, target.device_id, target.new_session);
        for m in messages.into_iter().skip(target.first_new) {
            exchange.push(inner, m, None);
        }
        exchange.push(inner, reply, Some(facts));
        exchange.record_in_background(inner);
    }
}

/// Refuses requests no provider could answer, before any is called.
fn check_request(r: &ChatRequest) -> Result<(), HubError> {
    let bad = |m: String| Err(HubError::InvalidInput(m));
    if r.messages.is_empty() {
        return bad("`messages` must contain at least one message".into());
    }
    if r.messages.len() > MAX_MESSAGES {
        return bad(format!(
            "`messages` has {} entries; the limit is {MAX_MESSAGES}",
            r.messages.len()
        ));
    }
    if r.tools.len() > MAX_TOOLS {
        return bad(format!(
            "`tools` has {} entries; the limit is {MAX_TOOLS}",
            r.tools.len()
        ));
    }
    for (i, m) in r.messages.iter().enumerate() {
        if m.role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
            return bad(format!(
                "`messages[{i}]` has role \"tool\" but no `tool_call_id`"
            ));
        }
    }
    for (i, t) in r.tools.iter().enumerate() {
        let ok = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return bad(format!(
                "`tools[{i}].function.name` must be 1-64 characters of a-z, A-Z, 0-9, '_' or '-'"
            ));
        }
    }
    if let Some(t) = r.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return bad(format!("`temperature` must be between 0 and 2 (got {t})"));
    }
    if let Some(p) = r.top_p
        && !(0.0..=1.0).contains(&p)
    {
        return bad(format!("`top_p` must be between 0 and 1 (got {p})"));
    }
    if r.max_tokens == Some(0) {
        return bad("`max_tokens` must be at least 1".into());
    }
    Ok(())
}

/// What a streamed turn needs to be recorded once it ends.
struct PendingTurn {
    hub: Hub,
    target: Target,
    messages: Vec<Message>,
    model_id: String,
    pricing: Pricing,
    started: Instant,
}

/// Passes a provider's events through untouched and records the turn when
/// the stream ends, fails, or is dropped by a caller that went away. No task
/// or channel sits between the upstream and the caller, so a token costs no
/// extra wake-up on its way through.
struct RecordingStream {
    upstream: EventStream,
    acc: StreamAccumulator,
    pending: Option<PendingTurn>,
}

impl RecordingStream {
    fn finish(&mut self) {
        let Some(turn) = self.pending.take() else {
            return;
        };
        let acc = std::mem::take(&mut self.acc);
        let usage = acc.usage();
        let facts = CallFacts {
            model: turn.model_id,
            usage,
            cost_usd: turn.pricing.cost(&usage),
            latency_ms: turn.started.elapsed().as_millis() as u64,
        };
        turn.hub
            .record_turn(turn.target, turn.messages, acc.into_message(), &facts);
    }
}

impl futures::Stream for RecordingStream {
    type Item = Result<StreamEvent, GatewayError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = this.upstream.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(event))) => this.acc.push(event),
            Poll::Ready(Some(Err(_)) | None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for RecordingStream {
    fn drop(&mut self) {
        self.finish();
    }
}
