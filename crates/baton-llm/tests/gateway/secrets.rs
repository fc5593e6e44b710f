//! Keys and header values never reach errors, logs' inputs or `Debug`.

use baton_config::Secret;
use baton_testkit::{Fault, ScriptedServer, ServerOptions, Step};

use crate::common::*;

const KEY: &str = "sk-live-0123456789abcdef";
const HEADER: &str = "hdr-secret-value-42";

#[tokio::test]
async fn upstream_echoes_of_secrets_are_redacted() {
    let srv = ScriptedServer::start().await;
    let mut p = with_key(openai("p", &srv.openai_base(), &["m"]), KEY);
    p.headers.insert("x-org-token".into(), Secret::new(HEADER));
    let gw = gateway(&[p], &config()).await;

    let cases = [
        (400, format!("Incorrect API key provided: {KEY}")),
        (401, format!("key {KEY} is revoked")),
        (500, format!("crashed while handling {HEADER}")),
    ];
    for (status, message) in cases {
        srv.push(Step::failure(Fault::Status { status, message }));
        let err = gw.chat(&ask("m", "hi")).await.err().unwrap();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(KEY) && !shown.contains(HEADER), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    let debug = format!("{gw:?}");
    assert!(!debug.contains(KEY) && !debug.contains(HEADER), "{debug}");
}

#[tokio::test]
async fn anthropic_key_absent_from_auth_errors() {
    let srv = ScriptedServer::start_with(ServerOptions {
        require_api_key: Some("the-right-one".into()),
        ..ServerOptions::default()
    })
    .await;
    let p = with_key(
        provider(
            "claude",
            baton_config::ProviderKind::Anthropic,
            &srv.anthropic_base(),
            &["c"],
        ),
        KEY,
    );
    let gw = gateway(&[p], &config()).await;
    let err = gw.chat_stream(&ask("c", "hi")).await.err().unwrap();
    assert_eq!(err.code(), "upstream_auth");
    assert!(!format!("{err:?}").contains(KEY));
}
