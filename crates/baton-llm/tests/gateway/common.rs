//! Shared set-up: providers pointing at scripted servers, a gateway
//! configuration with short limits, and helpers to read streams.

use std::collections::HashMap;
use std::time::Duration;

use baton_config::{GatewayConfig, ModelConfig, ProviderConfig, ProviderKind, Secret};
use baton_core::{ChatRequest, Message, StreamAccumulator, StreamEvent};
use baton_llm::{EventStream, Gateway, GatewayError};
use futures::StreamExt;

/// Limits short enough for tests: one second to the first token, two for
/// a whole answer, a breaker that opens after three failures for a second.
pub fn config() -> GatewayConfig {
    GatewayConfig {
        default_model: None,
        fallbacks: Vec::new(),
        retry_after_cap_secs: 2,
        connect_timeout_secs: 1,
        first_token_timeout_secs: 1,
        request_timeout_secs: 2,
        breaker_failures: 3,
        breaker_cooldown_secs: 1,
        detect_ollama: false,
    }
}

/// The same, falling back along `fallbacks`.
pub fn config_with_fallbacks(fallbacks: &[&str]) -> GatewayConfig {
    GatewayConfig {
        fallbacks: fallbacks.iter().map(|s| s.to_string()).collect(),
        ..config()
    }
}

pub fn provider(name: &str, kind: ProviderKind, base_url: &str, models: &[&str]) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        kind: Some(kind),
        base_url: Some(base_url.into()),
        models: models
            .iter()
            .map(|m| ModelConfig {
                name: m.to_string(),
                ..ModelConfig::default()
            })
            .collect(),
        enabled: true,
        ..ProviderConfig::default()
    }
}

pub fn openai(name: &str, base_url: &str, models: &[&str]) -> ProviderConfig {
    provider(name, ProviderKind::Openai, base_url, models)
}

pub fn with_key(mut provider: ProviderConfig, key: &str) -> ProviderConfig {
    provider.api_key = Some(Secret::new(key));
    provider
}

/// An environment holding exactly `pairs`.
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

pub async fn gateway(providers: &[ProviderConfig], cfg: &GatewayConfig) -> Gateway {
    Gateway::new(providers, cfg, &env(&[]))
        .await
        .expect("gateway starts")
}

pub fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message::user(text)],
        ..ChatRequest::default()
    }
}

pub async fn collect(stream: EventStream) -> Vec<Result<StreamEvent, GatewayError>> {
    stream.collect().await
}

/// The events of a stream that must succeed, and the answer they add up to.
pub async fn complete(stream: EventStream) -> (Vec<StreamEvent>, baton_core::ChatResponse) {
    let events: Vec<StreamEvent> = collect(stream)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("the stream succeeds");
    let mut acc = StreamAccumulator::default();
    for e in &events {
        acc.push(e);
    }
    let response = acc.finish().expect("the stream ends with Done");
    (events, response)
}

/// A base URL where nothing listens.
pub fn refused_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

/// The elapsed time of `f`.
pub async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let started = std::time::Instant::now();
    let out = f.await;
    (out, started.elapsed())
}
