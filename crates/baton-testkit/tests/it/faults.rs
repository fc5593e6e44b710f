use std::time::{Duration, Instant};

use baton_testkit::{Fault, ScriptedServer, Step};
use futures::StreamExt;
use serde_json::Value;

use crate::support::{
    anthropic, anthropic_body, body_until_error, client, ndjson, ollama, ollama_body, openai,
    openai_body, sse_payloads,
};

fn status(status: u16, message: &str) -> Step {
    Step::failure(Fault::Status {
        status,
        message: message.into(),
    })
}

#[tokio::test]
async fn status_faults_use_each_wires_error_format() {
    let server = ScriptedServer::start().await;
    for _ in 0..3 {
        server.push(status(500, "upstream exploded"));
    }
    server.push(status(529, "overloaded"));

    let response = openai(&server, &openai_body("m", "hi", true)).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "upstream exploded");
    assert_eq!(body["error"]["type"], "server_error");
    assert!(body["error"].get("code").is_some());

    let response = anthropic(&server, &anthropic_body("m", "hi", true)).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(body["error"]["message"], "upstream exploded");

    let response = ollama(&server, &ollama_body("m", "hi", true)).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "upstream exploded");

    let response = anthropic(&server, &anthropic_body("m", "hi", false)).await;
    assert_eq!(response.status(), 529);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let server = ScriptedServer::start().await;
    for _ in 0..2 {
        server.push(Step::failure(Fault::RateLimited {
            retry_after_secs: 7,
        }));
    }
    let response = openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let response = anthropic(&server, &anthropic_body("m", "hi", true)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");

    let after = openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(after.status(), 200, "a fault is used up like any step");
}

fn cut(after_chunks: usize) -> Step {
    Step::text("one two three four five").fault(Fault::CutMidStream { after_chunks })
}

#[tokio::test]
async fn openai_stream_cut_mid_way() {
    let server = ScriptedServer::start().await;
    server.push(cut(2));
    let (text, broken) =
        body_until_error(openai(&server, &openai_body("m", "hi", true)).await).await;
    assert!(broken, "the connection was dropped: {text}");
    let payloads = sse_payloads(&text);
    assert!(!payloads.contains(&"[DONE]"));
    let content: String = payloads
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "one two");
}

#[tokio::test]
async fn anthropic_and_ollama_streams_cut_mid_way() {
    let server = ScriptedServer::start().await;
    server.push(cut(1));
    server.push(cut(0));
    let (text, broken) =
        body_until_error(anthropic(&server, &anthropic_body("m", "hi", true)).await).await;
    assert!(broken);
    assert!(text.contains("event: message_start"));
    assert_eq!(text.matches("event: content_block_delta").count(), 1);
    assert!(!text.contains("message_stop"));

    let (text, broken) =
        body_until_error(ollama(&server, &ollama_body("m", "hi", true)).await).await;
    assert!(broken);
    assert!(text.is_empty(), "{text}");
}

#[tokio::test]
async fn whole_answers_cut_mid_body() {
    let server = ScriptedServer::start().await;
    server.push(cut(1));
    let response = openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    let (text, broken) = body_until_error(response).await;
    assert!(broken);
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn malformed_streams_carry_invalid_json() {
    let server = ScriptedServer::start().await;
    for _ in 0..3 {
        server.push(Step::failure(Fault::MalformedSse));
    }
    let (text, broken) =
        body_until_error(openai(&server, &openai_body("m", "hi", true)).await).await;
    assert!(!broken);
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.last(), Some(&"[DONE]"));
    assert!(serde_json::from_str::<Value>(payloads[0]).is_ok());
    assert!(
        payloads[..payloads.len() - 1]
            .iter()
            .any(|p| serde_json::from_str::<Value>(p).is_err())
    );

    let (text, _) =
        body_until_error(anthropic(&server, &anthropic_body("m", "hi", true)).await).await;
    assert!(
        sse_payloads(&text)
            .iter()
            .any(|p| serde_json::from_str::<Value>(p).is_err())
    );

    let response = openai(&server, &openai_body("m", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn slow_first_token_sends_headers_at_once() {
    let server = ScriptedServer::start().await;
    let wait = Duration::from_millis(600);
    server.push(Step::text("late").fault(Fault::SlowFirstToken(wait)));
    let started = Instant::now();
    let response = openai(&server, &openai_body("m", "hi", true)).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < wait,
        "headers came after {:?}",
        started.elapsed()
    );
    let first = response.bytes_stream().next().await.unwrap().unwrap();
    assert!(started.elapsed() >= wait);
    assert!(first.starts_with(b"data: "));
}

#[tokio::test]
async fn a_hanging_request_times_out() {
    let server = ScriptedServer::start().await;
    server.push(Step::failure(Fault::Hang));
    let result = client()
        .post(format!("{}/chat/completions", server.openai_base()))
        .timeout(Duration::from_millis(300))
        .json(&openai_body("m", "hi", false))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn dropping_the_server_closes_hanging_connections() {
    let server = ScriptedServer::start().await;
    server.push(Step::failure(Fault::Hang));
    let url = format!("{}/chat/completions", server.openai_base());
    let pending = tokio::spawn(async move {
        client()
            .post(url)
            .json(&openai_body("m", "hi", false))
            .send()
            .await
    });
    while server.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(server);
    let result = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the connection is closed, not left hanging")
        .unwrap();
    assert!(result.is_err());
}

#[tokio::test]
async fn delays_hold_back_headers_and_chunks() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("a b").delay(Duration::from_millis(200)));
    server.push(Step::text("a b c").token_delay(Duration::from_millis(60)));
    server.push(Step::text("a b c").token_delay(Duration::from_millis(60)));

    let started = Instant::now();
    let response = openai(&server, &openai_body("m", "hi", false)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status(), 200);

    let started = Instant::now();
    let lines = ndjson(ollama(&server, &ollama_body("m", "hi", true)).await).await;
    assert_eq!(lines.len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(180));

    let started = Instant::now();
    openai(&server, &openai_body("m", "hi", false)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "a whole answer waits for all its chunks"
    );
}
