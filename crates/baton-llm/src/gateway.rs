//! The gateway: the one object the rest of baton calls to reach a model.
//!
//! It resolves the name a caller used, walks the fallback chain, waits out
//! short rate limits, skips providers whose breaker is open, and for streams
//! commits to a model only once its first content has arrived, so that a
//! failure the caller never saw is retried elsewhere while one it did see is
//! reported, never silently replayed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use baton_config::{GatewayConfig, ProviderConfig, ProviderKind};
use baton_core::{ChatRequest, ChatResponse, ModelId, ModelInfo, StreamEvent};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::breaker::{Breaker, BreakerState};
use crate::catalog::Catalog;
use crate::embeddings::{Embeddings, MAX_EMBEDDING_INPUTS};
use crate::error::{Attempt, GatewayError, UpstreamError};
use crate::ollama;
use crate::provider::Provider;
use crate::registry::{self, Registry};
use crate::spec::{self, ProviderSpec};
use crate::sse::ProviderStream;

/// The longest baton's start waits for a server's model listing: local
/// servers answer at once, and a slow one must not hold up the start
/// (its models can be fetched later with [`Gateway::refresh_models`]).
const START_LISTING_TIMEOUT: Duration = Duration::from_secs(2);

/// A streamed answer. Items after the first are never retried elsewhere: an
/// upstream failure mid-stream arrives as one final `Err`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, GatewayError>> + Send>>;

/// An answer and how it was reached.
#[derive(Debug)]
pub struct Routed<T> {
    /// The model that answered.
    pub model: ModelInfo,
    /// The answer itself.
    pub value: T,
    /// The models tried or skipped before it, in order.
    pub attempts: Vec<Attempt>,
}

/// What a status page shows about a provider; never a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderStatus {
    /// The provider part of its model ids.
    pub name: String,
    /// The wire protocol it speaks.
    pub kind: ProviderKind,
    /// Without credentials, query or fragment.
    pub base_url: String,
    /// Models registered for this provider.
    pub models: usize,
    /// Whether calls currently reach it.
    pub breaker: BreakerState,
}

/// The model gateway. Cheap to clone: clones share providers, connection
/// pools, breakers and the registry.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Vec<Arc<Slot>>,
    registry: RwLock<Registry>,
    default_model: Option<String>,
    fallbacks: Vec<String>,
    limits: Limits,
}

/// A provider and its breaker.
#[derive(Debug)]
struct Slot {
    provider: Provider,
    breaker: Breaker,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    first_token: Duration,
    request: Duration,
    retry_after_cap: Duration,
}

impl Gateway {
    /// Builds every provider the configuration, the catalogue and the
    /// environment describe, detects Ollama when asked to, and lists the
    /// models of local servers (and of providers that declare none).
    ///
    /// `env` reads environment variables: tests inject a map, the binary
    /// passes `std::env::var`. Only configuration mistakes fail here; an
    /// unreachable server merely contributes no listed models.
    pub async fn new(
        providers: &[ProviderConfig],
        cfg: &GatewayConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Gateway, GatewayError> {
        let catalog = Catalog::builtin();
        let mut specs = spec::assemble(providers, catalog, env)?;
        if cfg.detect_ollama && !providers.iter().any(|p| p.name == "ollama") {
            let host = spec::ollama_host(env);
            if ollama::probe(&host).await {
                info!(host = %host, "found Ollama");
                specs.push(spec::detected_ollama(&host, catalog, env)?);
            } else {
                debug!(host = %host, "no Ollama answered");
            }
        }

        let connect_timeout = Duration::from_secs(cfg.connect_timeout_secs);
        let mut registry = Registry::default();
        let mut slots = Vec::with_capacity(specs.len());
        for spec in &specs {
            registry.add_provider(&spec.name);
            for model in &spec.models {
                registry.insert(registry::declared(&spec.name, model));
            }
            slots.push(Arc::new(Slot {
                provider: Provider::new(spec, connect_timeout)?,
                breaker: Breaker::new(
                    cfg.breaker_failures,
                    Duration::from_secs(cfg.breaker_cooldown_secs),
                ),
            }));
        }

        let limits = Limits {
            first_token: Duration::from_secs(cfg.first_token_timeout_secs),
            request: Duration::from_secs(cfg.request_timeout_secs),
            retry_after_cap: Duration::from_secs(cfg.retry_after_cap_secs),
        };
        let to_list: Vec<Arc<Slot>> = specs
            .iter()
            .zip(&slots)
            .filter(|(spec, _)| listed_at_start(spec))
            .map(|(_, slot)| Arc::clone(slot))
            .collect();
        let gateway = Gateway {
            inner: Arc::new(Inner {
                slots,
                registry: RwLock::new(registry),
                default_model: cfg.default_model.clone(),
                fallbacks: cfg.fallbacks.clone(),
                limits,
            }),
        };
        gateway
            .list(&to_list, START_LISTING_TIMEOUT.min(limits.first_token))
            .await;
        gateway.warn_about_unknown_names();
        Ok(gateway)
    }

    /// Every registered model, sorted by id.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.registry().all()
    }

    /// Asks every provider's listing endpoint for its models and registers
    /// the ones not yet known (with conservative defaults). Reports, per
    /// provider, how many were added or why the listing failed; it logs
    /// failures only at debug level, so the face that asked reports each one
    /// once, its own way.
    pub async fn refresh_models(&self) -> Vec<(String, Result<usize, GatewayError>)> {
        self.list(&self.inner.slots, self.inner.limits.first_token)
            .await
    }

    /// The model a name stands for: `provider/model`; a bare model name one
    /// provider alone serves; `""` or `auto` for the configured default (or
    /// the first model configured).
    pub fn resolve(&self, name: &str) -> Result<ModelInfo, GatewayError> {
        self.registry()
            .resolve(name, self.inner.default_model.as_deref())
    }

    /// A complete answer from the model `req.model` names, or from a
    /// fallback.
    pub async fn chat(&self, req: &ChatRequest) -> Result<Routed<ChatResponse>, GatewayError> {
        let limits = self.inner.limits;
        let (routed, _) = self
            .route(req, |slot, model| async move {
                tokio::time::timeout(
                    limits.request,
                    slot.provider.chat(req, &model, limits.first_token),
                )
                .await
                .map_err(|_| UpstreamError::Timeout("whole response"))?
            })
            .await?;
        Ok(routed)
    }

    /// A streamed answer. Returns once the chosen model has sent its first
    /// content (or finished), so that failures before that point fall back
    /// to the next model instead of reaching the caller.
    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
    ) -> Result<Routed<EventStream>, GatewayError> {
        let limits = self.inner.limits;
        let (routed, slot) = self
            .route(req, |slot, model| async move {
                let (limit, phase) = if model.capabilities.streaming {
                    (limits.first_token, "first token")
                } else {
                    (limits.request, "whole response")
                };
                tokio::time::timeout(limit, open_stream(&slot.provider, req, &model, limits))
                    .await
                    .map_err(|_| UpstreamError::Timeout(phase))?
            })
            .await?;
        let Routed {
            model,
            value: (head, rest),
            attempts,
        } = routed;
        let stream = follow(head, rest, slot, model.id.clone(), limits.first_token);
        Ok(Routed {
            model,
            value: stream,
            attempts,
        })
    }

    /// Vectors for `inputs` from the embeddings model `name` (`provider/model`;
    /// embedding models are not in the chat registry, so the provider must
    /// be named). No fallback: another model's vectors would not be
    /// comparable. At most [`MAX_EMBEDDING_INPUTS`] inputs per call.
    pub async fn embed(&self, name: &str, inputs: &[String]) -> Result<Embeddings, GatewayError> {
        let (provider, model) = name
            .split_once('/')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
            .ok_or_else(|| {
                GatewayError::Config(format!(
                    "embeddings model {name:?} must be written provider/model, e.g. openai/text-embedding-3-small"
                ))
            })?;
        if inputs.is_empty() || inputs.len() > MAX_EMBEDDING_INPUTS {
            return Err(GatewayError::Config(format!(
                "an embeddings call takes 1 to {MAX_EMBEDDING_INPUTS} inputs, not {}",
                inputs.len()
            )));
        }
        let slot = self
            .slot(provider)
            .ok_or_else(|| GatewayError::ModelNotFound {
                name: name.to_owned(),
                suggestions: self
                    .inner
                    .slots
                    .iter()
                    .map(|s| format!("{}/{model}", s.provider.name))
                    .collect(),
            })?;
        let Some(permit) = slot.breaker.admit(Instant::now()) else {
            return Err(GatewayError::CircuitOpen {
                attempts: vec![Attempt {
                    model: ModelId::new(provider, model),
                    error: format!(
                        "skipped: provider {provider} is cooling down after repeated failures"
                    ),
                }],
            });
        };
        let started = Instant::now();
        let answer = slot
            .provider
            .embed(model, inputs, self.inner.limits.request)
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match &answer {
            Ok(_) => permit.succeed(),
            Err(GatewayError::Upstream { .. }) => permit.fail(Instant::now()),
            Err(_) => permit.succeed(),
        }
        info!(model = %name, latency_ms, inputs = inputs.len(), ok = answer.is_ok(), "embeddings call");
        answer
    }

    /// Every provider with its model count and breaker state.
    pub fn providers(&self) -> Vec<ProviderStatus> {
        let registry = self.registry();
        let now = Instant::now();
        self.inner
            .slots
            .iter()
            .map(|slot| ProviderStatus {
                name: slot.provider.name.clone(),
                kind: slot.provider.kind,
                base_url: slot.provider.display_url.clone(),
                models: registry.count(&slot.provider.name),
                breaker: slot.breaker.state(now),
            })
            .collect()
    }

    fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        // Writers only insert whole entries, so a panic elsewhere cannot
        // leave the registry half-written: poisoning is safe to ignore.
        self.inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, provider: &str) -> Option<Arc<Slot>> {
        self.inner
            .slots
            .iter()
            .find(|s| s.provider.name == provider)
            .cloned()
    }

    /// The requested model, then each configured fallback that resolves,
    /// without repeats.
    fn chain(&self, requested: &str) -> Result<Vec<ModelInfo>, GatewayError> {
        let registry = self.registry();
        let default = self.inner.default_model.as_deref();
        let mut chain = vec![registry.resolve(requested, default)?];
        for name in &self.inner.fallbacks {
            match registry.resolve(name, default) {
                Ok(model) if !chain.iter().any(|m| m.id == model.id) => chain.push(model),
                Ok(_) => {}
                Err(e) => debug!(fallback = %name, error = %e, "fallback not available"),
            }
        }
        Ok(chain)
    }

    /// Runs `call` along the fallback chain until one model answers.
    async fn route<T, F, Fut>(
        &self,
        req: &ChatRequest,
        call: F,
    ) -> Result<(Routed<T>, Arc<Slot>), GatewayError>
    where
        F: Fn(Arc<Slot>, ModelInfo) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let chain = self.chain(&req.model)?;
        let mut attempts = Vec::new();
        let mut called = false;
        for model in chain {
            let Some(slot) = self.slot(model.id.provider()) else {
                continue;
            };
            let Some(permit) = slot.breaker.admit(Instant::now()) else {
                debug!(model = %model.id, "skipped: circuit open");
                attempts.push(Attempt {
                    model: model.id.clone(),
                    error: format!(
                        "skipped: provider {} is cooling down after repeated failures",
                        model.id.provider()
                    ),
                });
                continue;
            };
            called = true;
            let mut waited = false;
            loop {
                let started = Instant::now();
                let outcome = call(Arc::clone(&slot), model.clone()).await;
                let latency_ms = started.elapsed().as_millis() as u64;
                match outcome {
                    Ok(value) => {
                        permit.succeed();
                        info!(model = %model.id, latency_ms, outcome = "ok", "model call");
                        return Ok((
                            Routed {
                                model,
                                value,
                                attempts,
                            },
                            slot,
                        ));
                    }
                    Err(e) if !e.retryable() => {
                        // The provider is up; the request (or its key) is wrong.
                        permit.succeed();
                        warn!(model = %model.id, latency_ms, outcome = "rejected", error = %e, "model call");
                        return Err(e.into_gateway(model.id.provider(), model.id.model()));
                    }
                    Err(UpstreamError::Status {
                        status: 429,
                        retry_after: Some(wait),
                        ..
                    }) if !waited && wait <= self.inner.limits.retry_after_cap => {
                        waited = true;
                        info!(model = %model.id, latency_ms, outcome = "rate_limited", wait_ms = wait.as_millis() as u64, "model call; retrying after the requested wait");
                        tokio::time::sleep(wait).await;
                    }
                    Err(e) => {
                        permit.fail(Instant::now());
                        warn!(model = %model.id, latency_ms, outcome = "failed", error = %e, "model call");
                        attempts.push(Attempt {
                            model: model.id.clone(),
                            error: e.to_string(),
                        });
                        break;
                    }
                }
            }
        }
        Err(if called {
            GatewayError::UpstreamUnavailable { attempts }
        } else {
            GatewayError::CircuitOpen { attempts }
        })
    }

    /// Lists the models of `slots` concurrently and registers new ones.
    async fn list(
        &self,
        slots: &[Arc<Slot>],
        timeout: Duration,
    ) -> Vec<(String, Result<usize, GatewayError>)> {
        let listings = futures::future::join_all(slots.iter().map(|slot| async move {
            let listed = tokio::time::timeout(timeout, slot.provider.list_models(timeout))
                .await
                .unwrap_or(Err(UpstreamError::Timeout("model listing")));
            (slot, listed)
        }))
        .await;
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        listings
            .into_iter()
            .map(|(slot, listed)| {
                let name = slot.provider.name.clone();
                let result = match listed {
                    Ok(models) => {
                        let added = models
                            .iter()
                            .filter(|m| registry.insert(registry::listed(&name, m)))
                            .count();
                        debug!(provider = %name, listed = models.len(), added, "listed models");
                        Ok(added)
                    }
                    Err(e) => {
                        debug!(provider = %name, error = %e, "could not list models");
                        Err(e.into_gateway(&name, "(model listing)"))
                    }
                };
                (name, result)
            })
            .collect()
    }

    fn warn_about_unknown_names(&self) {
        let registry = self.registry();
        let configured = self.inner.default_model.iter().chain(&self.inner.fallbacks);
        for name in configured {
            if let Err(e) = registry.resolve(name, None) {
                warn!(model = %name, error = %e, "a model named in [gateway] is not available yet");
            }
        }
    }
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("providers", &self.providers())
            .field("default_model", &self.inner.default_model)
            .field("fallbacks", &self.inner.fallbacks)
            .finish()
    }
}

/// Local servers are asked for their models at start; so is a provider
/// that declares none, which could otherwise not be used at all.
fn listed_at_start(spec: &ProviderSpec) -> bool {
    spec.list_at_start || spec.models.is_empty()
}

/// Starts a stream and reads it up to its first content (or its end), so
/// that the caller commits to this model only once it is producing.
async fn open_stream(
    provider: &Provider,
    req: &ChatRequest,
    model: &ModelInfo,
    limits: Limits,
) -> Result<(Vec<StreamEvent>, ProviderStream), UpstreamError> {
    if !model.capabilities.streaming {
        let response = provider.chat(req, model, limits.first_token).await?;
        let rest: ProviderStream = Box::pin(futures::stream::empty());
        return Ok((response_events(response), rest));
    }
    let mut stream = provider.chat_stream(req, model).await?;
    let mut head = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event?;
        let decisive = matches!(
            event,
            StreamEvent::Text { .. } | StreamEvent::ToolCall { .. } | StreamEvent::Done { .. }
        );
        head.push(event);
        if decisive {
            break;
        }
    }
    Ok((head, stream))
}

/// A complete answer as the events a stream of it would have carried, for
/// models declared as not streaming.
fn response_events(response: ChatResponse) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    let text = response.message.text();
    if !text.is_empty() {
        events.push(StreamEvent::Text { text });
    }
    for (index, call) in response.message.tool_calls.into_iter().enumerate() {
        events.push(StreamEvent::ToolCall {
            index: index as u32,
            id: Some(call.id),
            name: Some(call.name),
            arguments: call.arguments,
        });
    }
    events.push(StreamEvent::Usage {
        usage: response.usage,
    });
    events.push(StreamEvent::Done {
        finish_reason: response.finish_reason,
        model: response.model,
    });
    events
}

/// The caller's stream: what was read while choosing the model, then the
/// rest. A break, or silence longer than the first-token limit, ends it
/// with an error and counts against the provider's breaker.
fn follow(
    head: Vec<StreamEvent>,
    mut rest: ProviderStream,
    slot: Arc<Slot>,
    model: ModelId,
    idle_limit: Duration,
) -> EventStream {
    Box::pin(async_stream::stream! {
        for event in head {
            yield Ok(event);
        }
        loop {
            let failure = match tokio::time::timeout(idle_limit, rest.next()).await {
                Ok(Some(Ok(event))) => {
                    yield Ok(event);
                    continue;
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => e.to_string(),
                Err(_) => format!("no data for {} s", idle_limit.as_secs()),
            };
            slot.breaker.failed(Instant::now());
            warn!(model = %model, outcome = "broken", error = %failure, "stream");
            yield Err(GatewayError::StreamInterrupted { model, message: failure });
            break;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::{FinishReason, Message, Role, StreamAccumulator, ToolCall, Usage};

    #[test]
    fn response_events_rebuild_the_response() {
        let response = ChatResponse {
            model: "m".into(),
            message: Message {
                role: Role::Assistant,
                content: Some("hi".into()),
                tool_calls: vec![ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                }],
                tool_call_id: None,
                name: None,
            },
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
            },
        };
        let mut acc = StreamAccumulator::default();
        for e in response_events(response.clone()) {
            acc.push(&e);
        }
        assert_eq!(acc.finish().unwrap(), response);
    }

    #[tokio::test]
    async fn no_providers_means_no_model() {
        let cfg = GatewayConfig {
            detect_ollama: false,
            ..GatewayConfig::default()
        };
        let gateway = Gateway::new(&[], &cfg, &|_| None).await.unwrap();
        assert!(gateway.models().is_empty());
        assert!(gateway.providers().is_empty());
        let req = ChatRequest {
            model: "auto".into(),
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        let err = gateway.chat(&req).await.err().unwrap();
        assert_eq!((err.status(), err.code()), (503, "no_model"));
        let err = gateway.chat_stream(&req).await.err().unwrap();
        assert_eq!(err.code(), "no_model");
    }

    /// HTTP handlers run on a multi-threaded runtime: every future the
    /// gateway hands out must be `Send`.
    #[tokio::test]
    async fn futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let cfg = GatewayConfig {
            detect_ollama: false,
            ..GatewayConfig::default()
        };
        let env = |_: &str| None;
        let starting = Gateway::new(&[], &cfg, &env);
        send(&starting);
        let gateway = starting.await.unwrap();
        let req = ChatRequest::default();
        send(&gateway.chat(&req));
        send(&gateway.chat_stream(&req));
        send(&gateway.refresh_models());
        send(&gateway);
    }
}
