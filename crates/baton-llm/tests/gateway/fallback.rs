//! The fallback chain: which failures move on to the next model, which end
//! the request at once, and how streams commit to a model.

use std::time::Duration;

use baton_core::StreamEvent;
use baton_llm::GatewayError;
use baton_testkit::{Fault, ScriptedServer, Step};

use crate::common::*;

/// Two providers on two servers: `a/m1` first, `b/m2` as its fallback.
async fn pair() -> (ScriptedServer, ScriptedServer, baton_llm::Gateway) {
    let a = ScriptedServer::start().await;
    let b = ScriptedServer::start().await;
    let gw = gateway(
        &[
            openai("a", &a.openai_base(), &["m1"]),
            openai("b", &b.openai_base(), &["m2"]),
        ],
        &config_with_fallbacks(&["b/m2"]),
    )
    .await;
    (a, b, gw)
}

fn status(status: u16, message: &str) -> Step {
    Step::failure(Fault::Status {
        status,
        message: message.into(),
    })
}

#[tokio::test]
async fn falls_back_on_server_error() {
    let (a, b, gw) = pair().await;
    a.push(status(500, "boom"));
    b.push(Step::text("from b"));
    let routed = gw.chat(&ask("a/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert_eq!(routed.value.message.text(), "from b");
    assert_eq!(routed.attempts.len(), 1);
    assert_eq!(routed.attempts[0].model.to_string(), "a/m1");
    assert!(
        routed.attempts[0].error.contains("500"),
        "{}",
        routed.attempts[0].error
    );
    assert!(routed.attempts[0].error.contains("boom"));
    assert_eq!(
        b.requests()[0].model,
        "m2",
        "the request is rewritten per attempt"
    );
}

#[tokio::test]
async fn falls_back_on_connection_refused() {
    let b = ScriptedServer::start().await;
    let gw = gateway(
        &[
            openai("dead", &refused_base(), &["m1"]),
            openai("b", &b.openai_base(), &["m2"]),
        ],
        &config_with_fallbacks(&["m2"]),
    )
    .await;
    let routed = gw.chat(&ask("dead/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert!(
        routed.attempts[0].error.contains("connect"),
        "{}",
        routed.attempts[0].error
    );
    let routed = gw.chat_stream(&ask("dead/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
}

#[tokio::test]
async fn falls_back_when_headers_are_late() {
    let (a, b, gw) = pair().await;
    a.push(Step::text("too late").delay(Duration::from_secs(3)));
    let (routed, took) = timed(gw.chat(&ask("a/m1", "hi"))).await;
    let routed = routed.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert!(
        routed.attempts[0].error.contains("timed out"),
        "{}",
        routed.attempts[0].error
    );
    assert!(
        took < Duration::from_millis(2500),
        "first-token limit is 1 s: {took:?}"
    );
    assert_eq!(b.request_count(), 1);
}

#[tokio::test]
async fn falls_back_when_the_whole_answer_is_too_slow() {
    let (a, _b, gw) = pair().await;
    a.push(Step::failure(Fault::SlowFirstToken(Duration::from_secs(5))));
    let (routed, took) = timed(gw.chat(&ask("a/m1", "hi"))).await;
    let routed = routed.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert!(
        routed.attempts[0].error.contains("whole response"),
        "{}",
        routed.attempts[0].error
    );
    assert!(
        took < Duration::from_millis(3500),
        "request limit is 2 s: {took:?}"
    );
}

#[tokio::test]
async fn stream_falls_back_on_slow_first_token_and_hang() {
    for fault in [Fault::SlowFirstToken(Duration::from_secs(5)), Fault::Hang] {
        let (a, _b, gw) = pair().await;
        a.push(Step::failure(fault.clone()));
        let (routed, took) = timed(gw.chat_stream(&ask("a/m1", "hi"))).await;
        let routed = routed.unwrap();
        assert_eq!(routed.model.id.to_string(), "b/m2", "{fault:?}");
        assert!(
            routed.attempts[0].error.contains("first token"),
            "{}",
            routed.attempts[0].error
        );
        assert!(took < Duration::from_millis(2500), "{fault:?}: {took:?}");
        let (_, r) = complete(routed.value).await;
        assert_eq!(r.message.text(), "echo: hi");
    }
}

#[tokio::test]
async fn stream_falls_back_when_broken_before_content() {
    for fault in [Fault::CutMidStream { after_chunks: 0 }, Fault::MalformedSse] {
        let (a, b, gw) = pair().await;
        a.push(Step::text("never seen").fault(fault.clone()));
        b.push(Step::text("from b"));
        let routed = gw.chat_stream(&ask("a/m1", "hi")).await.unwrap();
        assert_eq!(routed.model.id.to_string(), "b/m2", "{fault:?}");
        assert_eq!(routed.attempts.len(), 1);
        let (_, r) = complete(routed.value).await;
        assert_eq!(r.message.text(), "from b");
    }
}

#[tokio::test]
async fn stream_broken_after_content_is_reported_not_retried() {
    let (a, b, gw) = pair().await;
    a.push(
        Step::text("one two three four five")
            .chunks(5)
            .fault(Fault::CutMidStream { after_chunks: 2 }),
    );
    let routed = gw.chat_stream(&ask("a/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "a/m1");
    let events = collect(routed.value).await;
    let texts: Vec<&StreamEvent> = events.iter().filter_map(|e| e.as_ref().ok()).collect();
    assert_eq!(texts.len(), 2, "{events:?}");
    match events.last().unwrap() {
        Err(e @ GatewayError::StreamInterrupted { model, .. }) => {
            assert_eq!(model.to_string(), "a/m1");
            assert_eq!((e.status(), e.code()), (502, "upstream_stream_broken"));
        }
        other => panic!("expected an interruption, got {other:?}"),
    }
    assert_eq!(b.request_count(), 0, "never replayed on another model");
}

#[tokio::test]
async fn rate_limit_within_cap_waits_and_retries_the_same_model() {
    let (a, b, gw) = pair().await;
    a.push(Step::failure(Fault::RateLimited {
        retry_after_secs: 1,
    }));
    a.push(Step::text("after the wait"));
    let (routed, took) = timed(gw.chat(&ask("a/m1", "hi"))).await;
    let routed = routed.unwrap();
    assert_eq!(routed.model.id.to_string(), "a/m1");
    assert_eq!(routed.value.message.text(), "after the wait");
    assert!(routed.attempts.is_empty());
    assert!(
        took >= Duration::from_secs(1),
        "honoured Retry-After: {took:?}"
    );
    assert_eq!(a.request_count(), 2);
    assert_eq!(b.request_count(), 0);
}

#[tokio::test]
async fn rate_limit_beyond_cap_moves_on_at_once() {
    let (a, b, gw) = pair().await;
    a.push(Step::failure(Fault::RateLimited {
        retry_after_secs: 30,
    }));
    let (routed, took) = timed(gw.chat_stream(&ask("a/m1", "hi"))).await;
    let routed = routed.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert!(routed.attempts[0].error.contains("429"));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
}

#[tokio::test]
async fn rate_limit_retried_only_once() {
    let (a, b, gw) = pair().await;
    a.push(Step::failure(Fault::RateLimited {
        retry_after_secs: 0,
    }));
    a.push(Step::failure(Fault::RateLimited {
        retry_after_secs: 0,
    }));
    a.push(Step::text("third time"));
    let routed = gw.chat(&ask("a/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "b/m2");
    assert_eq!((a.request_count(), b.request_count()), (2, 1));
}

#[tokio::test]
async fn caller_errors_are_never_retried() {
    for (code, expected_status, expected_code) in [
        (400, 400, "upstream_bad_request"),
        (401, 502, "upstream_auth"),
        (403, 502, "upstream_auth"),
        (404, 502, "upstream_not_found"),
    ] {
        let (a, b, gw) = pair().await;
        a.push(status(code, "the upstream's own words"));
        let err = gw.chat(&ask("a/m1", "hi")).await.err().unwrap();
        assert_eq!(
            (err.status(), err.code()),
            (expected_status, expected_code),
            "{code}"
        );
        assert!(
            err.to_string().contains("the upstream's own words"),
            "{err}"
        );
        assert_eq!(b.request_count(), 0, "{code}: no fallback");

        a.push(status(code, "streamed"));
        let err = gw.chat_stream(&ask("a/m1", "hi")).await.err().unwrap();
        assert_eq!(err.code(), expected_code);
        assert_eq!(b.request_count(), 0);
    }
}

#[tokio::test]
async fn auth_failure_names_the_provider() {
    let srv = ScriptedServer::start_with(baton_testkit::ServerOptions {
        require_api_key: Some("right".into()),
        ..Default::default()
    })
    .await;
    let gw = gateway(
        &[with_key(
            openai("corp", &srv.openai_base(), &["m"]),
            "wrong",
        )],
        &config(),
    )
    .await;
    let err = gw.chat(&ask("m", "hi")).await.err().unwrap();
    assert_eq!(err.code(), "upstream_auth");
    assert!(
        err.to_string()
            .contains("provider corp rejected baton's credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn exhausted_chain_lists_every_attempt() {
    let (a, b, gw) = pair().await;
    a.push(status(503, "a is down"));
    b.push(status(502, "b is down"));
    let err = gw.chat(&ask("a/m1", "hi")).await.err().unwrap();
    assert_eq!((err.status(), err.code()), (502, "upstream_unavailable"));
    let text = err.to_string();
    assert!(text.contains("a/m1: HTTP 503: a is down"), "{text}");
    assert!(text.contains("b/m2: HTTP 502: b is down"), "{text}");
    match err {
        GatewayError::UpstreamUnavailable { attempts } => assert_eq!(attempts.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fallback_list_skips_duplicates_and_unknown_names() {
    let a = ScriptedServer::start().await;
    let gw = gateway(
        &[openai("a", &a.openai_base(), &["m1"])],
        &config_with_fallbacks(&["a/m1", "m1", "nowhere/zzz"]),
    )
    .await;
    a.push(status(500, "once"));
    let err = gw.chat(&ask("a/m1", "hi")).await.err().unwrap();
    assert_eq!(a.request_count(), 1, "the same model is not tried twice");
    assert_eq!(err.code(), "upstream_unavailable");
}
