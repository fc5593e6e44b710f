//! Catalogue presets switched on by the services' own environment
//! variables, and overridden from `[[providers]]`.

use baton_config::{ModelConfig, ProviderConfig};
use baton_llm::Gateway;
use baton_testkit::{ScriptedServer, Step, Wire};

use crate::common::*;

#[tokio::test]
async fn openai_and_anthropic_presets_from_their_sdk_variables() {
    let srv = ScriptedServer::start().await;
    srv.push(Step::text("from gpt").for_model("gpt-4o"));
    srv.push(Step::text("from claude").for_model("claude-sonnet-4-5"));
    let environment = env(&[
        ("OPENAI_API_KEY", "sk-openai"),
        ("OPENAI_BASE_URL", &srv.openai_base()),
        ("ANTHROPIC_API_KEY", "sk-anthropic"),
        ("ANTHROPIC_BASE_URL", &srv.anthropic_base()),
    ]);
    let gw = Gateway::new(&[], &config(), &environment).await.unwrap();
    let names: Vec<String> = gw.providers().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["openai", "anthropic"]);

    let gpt = gw.resolve("gpt-4o").unwrap();
    assert_eq!(
        gpt.context_window, 128_000,
        "limits come from the catalogue"
    );
    assert!(gpt.pricing.input_per_mtok > 0.0);

    let mut req = ask("gpt-4o", "hi");
    req.max_tokens = Some(50);
    assert_eq!(
        gw.chat(&req).await.unwrap().value.message.text(),
        "from gpt"
    );
    let r = gw
        .chat(&ask("anthropic/claude-sonnet-4-5", "hi"))
        .await
        .unwrap();
    assert_eq!(r.value.message.text(), "from claude");

    let sent = srv.requests();
    assert_eq!(sent[0].wire, Wire::OpenAi);
    assert_eq!(sent[0].header("authorization"), Some("Bearer sk-openai"));
    assert_eq!(sent[0].body["max_completion_tokens"], 50);
    assert_eq!(sent[1].wire, Wire::Anthropic);
    assert_eq!(sent[1].header("x-api-key"), Some("sk-anthropic"));
    assert_eq!(
        sent[1].body["max_tokens"], 64_000,
        "the catalogue's max output"
    );
}

#[tokio::test]
async fn entry_overrides_a_preset_field_by_field() {
    let srv = ScriptedServer::start().await;
    let entry = ProviderConfig {
        name: "groq".into(),
        base_url: Some(srv.openai_base()),
        api_key_env: Some("MY_GROQ".into()),
        models: vec![ModelConfig {
            name: "llama-3.3-70b-versatile".into(),
            context_window: Some(4096),
            ..ModelConfig::default()
        }],
        enabled: true,
        ..ProviderConfig::default()
    };
    let gw = Gateway::new(&[entry], &config(), &env(&[("MY_GROQ", "gsk-1")]))
        .await
        .unwrap();
    let llama = gw.resolve("groq/llama-3.3-70b-versatile").unwrap();
    assert_eq!(llama.context_window, 4096, "declared beats catalogue");
    assert_eq!(
        llama.max_output_tokens,
        Some(32_768),
        "the rest stays from the catalogue"
    );
    assert!(
        gw.resolve("groq/llama-3.1-8b-instant").is_ok(),
        "preset models remain"
    );
    gw.chat(&ask("llama-3.3-70b-versatile", "hi"))
        .await
        .unwrap();
    assert_eq!(
        srv.requests()[0].header("authorization"),
        Some("Bearer gsk-1")
    );
    assert_eq!(srv.requests()[0].body["model"], "llama-3.3-70b-versatile");
}

#[tokio::test]
async fn local_presets_need_naming() {
    let gw = Gateway::new(&[], &config(), &env(&[])).await.unwrap();
    assert!(gw.providers().is_empty());
    let err = gw.chat(&ask("auto", "hi")).await.err().unwrap();
    assert_eq!((err.status(), err.code()), (503, "no_model"));
}

#[tokio::test]
async fn invalid_configuration_is_an_error_at_start() {
    let entry = ProviderConfig {
        name: "mystery".into(),
        enabled: true,
        ..ProviderConfig::default()
    };
    let err = Gateway::new(&[entry], &config(), &env(&[]))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "config");
    assert!(err.to_string().contains("mystery"), "{err}");
}
