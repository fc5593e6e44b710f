//! Circuit breakers: a provider that keeps failing is skipped, then given
//! one trial call after its cooldown.

use std::time::Duration;

use baton_config::GatewayConfig;
use baton_llm::BreakerState;
use baton_testkit::{Fault, ScriptedServer, Step};

use crate::common::*;

fn breaker_config(fallbacks: &[&str]) -> GatewayConfig {
    GatewayConfig {
        breaker_failures: 2,
        breaker_cooldown_secs: 1,
        ..config_with_fallbacks(fallbacks)
    }
}

fn boom() -> Step {
    Step::failure(Fault::Status {
        status: 500,
        message: "boom".into(),
    })
}

fn state(gw: &baton_llm::Gateway, provider: &str) -> BreakerState {
    gw.providers()
        .into_iter()
        .find(|p| p.name == provider)
        .unwrap()
        .breaker
}

#[tokio::test]
async fn breaker_opens_skips_and_half_opens() {
    let a = ScriptedServer::start().await;
    let b = ScriptedServer::start().await;
    let gw = gateway(
        &[
            openai("a", &a.openai_base(), &["m1"]),
            openai("b", &b.openai_base(), &["m2"]),
        ],
        &breaker_config(&["b/m2"]),
    )
    .await;

    a.push(boom());
    a.push(boom());
    for _ in 0..2 {
        assert_eq!(
            gw.chat(&ask("a/m1", "hi"))
                .await
                .unwrap()
                .model
                .id
                .to_string(),
            "b/m2"
        );
    }
    assert_eq!(state(&gw, "a"), BreakerState::Open);
    assert_eq!(state(&gw, "b"), BreakerState::Closed);

    // Open: a is skipped without a request.
    let routed = gw.chat(&ask("a/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert!(
        routed.attempts[0].error.contains("cooling down"),
        "{}",
        routed.attempts[0].error
    );
    assert_eq!(a.request_count(), 2);

    // After the cooldown one trial goes through; its success closes it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(state(&gw, "a"), BreakerState::HalfOpen);
    let routed = gw.chat(&ask("a/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "a/m1");
    assert_eq!(state(&gw, "a"), BreakerState::Closed);
}

#[tokio::test]
async fn failed_trial_reopens() {
    let a = ScriptedServer::start().await;
    let gw = gateway(
        &[openai("a", &a.openai_base(), &["m1"])],
        &breaker_config(&[]),
    )
    .await;
    for _ in 0..3 {
        a.push(boom());
    }
    for _ in 0..2 {
        gw.chat(&ask("m1", "hi")).await.err().unwrap();
    }
    assert_eq!(state(&gw, "a"), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = gw.chat(&ask("m1", "hi")).await.err().unwrap();
    assert_eq!(
        err.code(),
        "upstream_unavailable",
        "the trial was made and failed"
    );
    assert_eq!(state(&gw, "a"), BreakerState::Open);
    assert_eq!(a.request_count(), 3);
}

#[tokio::test]
async fn every_breaker_open_is_503() {
    let a = ScriptedServer::start().await;
    let gw = gateway(
        &[openai("a", &a.openai_base(), &["m1"])],
        &breaker_config(&[]),
    )
    .await;
    a.push(boom());
    a.push(boom());
    for _ in 0..2 {
        assert_eq!(
            gw.chat(&ask("m1", "hi")).await.err().unwrap().code(),
            "upstream_unavailable"
        );
    }
    let err = gw.chat_stream(&ask("m1", "hi")).await.err().unwrap();
    assert_eq!((err.status(), err.code()), (503, "circuit_open"));
    assert!(err.to_string().contains("a/m1"), "{err}");
    assert_eq!(a.request_count(), 2);
}

#[tokio::test]
async fn caller_errors_do_not_trip_the_breaker() {
    let a = ScriptedServer::start().await;
    let gw = gateway(
        &[openai("a", &a.openai_base(), &["m1"])],
        &breaker_config(&[]),
    )
    .await;
    for _ in 0..4 {
        a.push(Step::failure(Fault::Status {
            status: 400,
            message: "bad".into(),
        }));
        assert_eq!(
            gw.chat(&ask("m1", "hi")).await.err().unwrap().code(),
            "upstream_bad_request"
        );
    }
    assert_eq!(state(&gw, "a"), BreakerState::Closed);
}
