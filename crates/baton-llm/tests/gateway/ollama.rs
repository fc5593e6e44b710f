//! Ollama found through `OLLAMA_HOST`, listed from `/api/tags` and chatted
//! with over its OpenAI-compatible API.

use baton_config::{GatewayConfig, ProviderKind};
use baton_llm::Gateway;
use baton_testkit::{ScriptedServer, ServerOptions, Step, Wire};

use crate::common::*;

fn detecting() -> GatewayConfig {
    GatewayConfig {
        detect_ollama: true,
        ..config()
    }
}

fn ollama_server() -> ServerOptions {
    ServerOptions {
        models: vec!["llama3.2:3b".into(), "qwen2.5:7b".into()],
        ..ServerOptions::default()
    }
}

#[tokio::test]
async fn ollama_detected_through_ollama_host() {
    let srv = ScriptedServer::start_with(ollama_server()).await;
    // `host:port`, the form Ollama's own docs use, and a full URL.
    for host in [srv.addr().to_string(), srv.ollama_base()] {
        let gw = Gateway::new(&[], &detecting(), &env(&[("OLLAMA_HOST", &host)]))
            .await
            .unwrap();
        let providers = gw.providers();
        assert_eq!(providers.len(), 1, "OLLAMA_HOST={host}");
        assert_eq!(providers[0].name, "ollama");
        assert_eq!(providers[0].kind, ProviderKind::Ollama);
        assert_eq!(providers[0].models, 2);
        assert_eq!(providers[0].base_url, srv.url());
        let ids: Vec<String> = gw.models().iter().map(|m| m.id.to_string()).collect();
        assert_eq!(ids, ["ollama/llama3.2:3b", "ollama/qwen2.5:7b"]);
    }
}

#[tokio::test]
async fn ollama_chat_uses_its_openai_endpoint() {
    let srv = ScriptedServer::start_with(ollama_server()).await;
    srv.push(Step::text("hi from llama").for_model("llama3.2:3b"));
    srv.push(Step::text("streamed llama").for_model("llama3.2:3b"));
    let gw = Gateway::new(
        &[],
        &detecting(),
        &env(&[("OLLAMA_HOST", &srv.ollama_base())]),
    )
    .await
    .unwrap();

    let routed = gw.chat(&ask("llama3.2:3b", "hello")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "ollama/llama3.2:3b");
    assert_eq!(routed.value.message.text(), "hi from llama");
    let (_, streamed) = complete(
        gw.chat_stream(&ask("ollama/llama3.2:3b", "again"))
            .await
            .unwrap()
            .value,
    )
    .await;
    assert_eq!(streamed.message.text(), "streamed llama");

    let chats: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .collect();
    assert_eq!(chats.len(), 2);
    assert!(
        chats
            .iter()
            .all(|r| r.wire == Wire::OpenAi && r.path == "/v1/chat/completions")
    );
}

#[tokio::test]
async fn ollama_not_detected_when_off_or_absent() {
    let srv = ScriptedServer::start_with(ollama_server()).await;
    let off = Gateway::new(&[], &config(), &env(&[("OLLAMA_HOST", &srv.ollama_base())]))
        .await
        .unwrap();
    assert!(off.providers().is_empty());

    let nowhere = refused_base();
    let (absent, took) = timed(Gateway::new(
        &[],
        &detecting(),
        &env(&[("OLLAMA_HOST", &nowhere)]),
    ))
    .await;
    assert!(absent.unwrap().providers().is_empty());
    assert!(took.as_millis() < 1000, "the probe is short: {took:?}");
}

#[tokio::test]
async fn ollama_named_in_providers_skips_detection() {
    let srv = ScriptedServer::start_with(ollama_server()).await;
    let mut entry = provider(
        "ollama",
        ProviderKind::Ollama,
        &srv.ollama_base(),
        &["llama3.2:3b"],
    );
    entry.models[0].context_window = Some(131_072);
    let gw = Gateway::new(&[entry], &detecting(), &env(&[]))
        .await
        .unwrap();
    assert_eq!(gw.providers().len(), 1);
    let llama = gw.resolve("llama3.2:3b").unwrap();
    assert_eq!(
        llama.context_window, 131_072,
        "declared limits beat defaults"
    );
    assert_eq!(
        gw.resolve("qwen2.5:7b").unwrap().context_window,
        baton_llm::UNKNOWN_CONTEXT_WINDOW
    );
}
