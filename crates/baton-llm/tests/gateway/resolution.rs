//! Model names as callers type them, and the registry behind them.

use baton_llm::GatewayError;
use baton_testkit::{ScriptedServer, ServerOptions};

use crate::common::*;

#[tokio::test]
async fn bare_full_ambiguous_and_unknown_names() {
    let a = ScriptedServer::start().await;
    let b = ScriptedServer::start().await;
    let gw = gateway(
        &[
            openai("a", &a.openai_base(), &["shared", "only-a"]),
            openai("b", &b.openai_base(), &["shared"]),
        ],
        &config(),
    )
    .await;

    assert_eq!(gw.resolve("only-a").unwrap().id.to_string(), "a/only-a");
    assert_eq!(gw.resolve("b/shared").unwrap().id.to_string(), "b/shared");

    let err = gw.resolve("shared").unwrap_err();
    assert_eq!((err.status(), err.code()), (400, "model_ambiguous"));
    assert!(
        err.to_string().contains("a/shared") && err.to_string().contains("b/shared"),
        "{err}"
    );

    let err = gw.chat(&ask("only-b", "hi")).await.err().unwrap();
    assert_eq!((err.status(), err.code()), (404, "model_not_found"));
    match &err {
        GatewayError::ModelNotFound { suggestions, .. } => {
            assert_eq!(suggestions.first().map(String::as_str), Some("a/only-a"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.request_count() + b.request_count(), 0, "nothing was sent");
}

#[tokio::test]
async fn auto_and_empty_use_the_default_model() {
    let a = ScriptedServer::start().await;
    let providers = [openai("a", &a.openai_base(), &["first", "second"])];
    let gw = gateway(&providers, &config()).await;
    assert_eq!(gw.resolve("").unwrap().id.to_string(), "a/first");
    assert_eq!(gw.resolve("auto").unwrap().id.to_string(), "a/first");

    let cfg = baton_config::GatewayConfig {
        default_model: Some("second".into()),
        ..config()
    };
    let gw = gateway(&providers, &cfg).await;
    let routed = gw.chat(&ask("auto", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "a/second");
    assert_eq!(a.requests().last().unwrap().model, "second");
}

#[tokio::test]
async fn refresh_adds_listed_models() {
    let srv = ScriptedServer::start_with(ServerOptions {
        models: vec!["declared".into(), "extra-1".into(), "extra-2".into()],
        ..ServerOptions::default()
    })
    .await;
    let gw = gateway(&[openai("p", &srv.openai_base(), &["declared"])], &config()).await;
    assert_eq!(
        gw.models().len(),
        1,
        "declared providers are not listed at start"
    );

    let refreshed = gw.refresh_models().await;
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0].0, "p");
    assert_eq!(refreshed[0].1, Ok(2));
    assert_eq!(gw.models().len(), 3);
    assert_eq!(gw.providers()[0].models, 3);
    assert_eq!(gw.refresh_models().await[0].1, Ok(0));
}

#[tokio::test]
async fn refresh_reports_listing_failures() {
    let srv = ScriptedServer::start_with(ServerOptions {
        require_api_key: Some("right".into()),
        ..ServerOptions::default()
    })
    .await;
    let gw = gateway(
        &[with_key(openai("p", &srv.openai_base(), &["m"]), "wrong")],
        &config(),
    )
    .await;
    let refreshed = gw.refresh_models().await;
    assert_eq!(refreshed[0].1.as_ref().unwrap_err().code(), "upstream_auth");
}

#[tokio::test]
async fn providers_report_status_without_secrets() {
    let srv = ScriptedServer::start().await;
    let base = format!("http://user:pass@{}/v1?key=abc", srv.addr());
    let gw = gateway(
        &[with_key(openai("p", &base, &["m"]), "sk-hidden")],
        &config(),
    )
    .await;
    let status = &gw.providers()[0];
    assert_eq!(status.name, "p");
    assert_eq!(status.base_url, format!("http://{}/v1", srv.addr()));
    assert_eq!(status.models, 1);
    assert_eq!(status.breaker, baton_llm::BreakerState::Closed);
    let json = serde_json::to_string(&gw.providers()).unwrap();
    assert!(json.contains("\"breaker\":\"closed\""), "{json}");
    assert!(json.contains("\"kind\":\"openai\""), "{json}");
    assert!(
        !json.contains("pass") && !json.contains("sk-hidden") && !json.contains("abc"),
        "{json}"
    );
}
