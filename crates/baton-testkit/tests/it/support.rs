//! Small clients for the three wires, and readers for their streams.

use std::time::Duration;

use baton_testkit::ScriptedServer;
use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;
use reqwest::Response;
use serde_json::{Value, json};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn openai_body(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})
}

pub fn anthropic_body(model: &str, text: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        "stream": stream
    })
}

pub fn ollama_body(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})
}

pub async fn openai(server: &ScriptedServer, body: &Value) -> Response {
    client()
        .post(format!("{}/chat/completions", server.openai_base()))
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn anthropic(server: &ScriptedServer, body: &Value) -> Response {
    client()
        .post(format!("{}/v1/messages", server.anthropic_base()))
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("x-api-key", "sk-ant-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn ollama(server: &ScriptedServer, body: &Value) -> Response {
    client()
        .post(format!("{}/api/chat", server.ollama_base()))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Every event of a well-formed server-sent event stream.
pub async fn sse(response: Response) -> Vec<Event> {
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    response
        .bytes_stream()
        .eventsource()
        .map(|event| event.expect("a well-formed event"))
        .collect()
        .await
}

/// The `data` of each event parsed as JSON, up to OpenAI's `[DONE]`, which
/// must be the last event.
pub async fn openai_chunks(response: Response) -> Vec<Value> {
    let events = sse(response).await;
    let (last, chunks) = events.split_last().expect("events");
    assert_eq!(last.data, "[DONE]");
    chunks
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

/// Each line of a newline-delimited JSON stream.
pub async fn ndjson(response: Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The body as far as it arrived, and whether it ended in a transport error
/// (a dropped connection) rather than cleanly.
pub async fn body_until_error(response: Response) -> (String, bool) {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(_) => return (String::from_utf8(body).unwrap(), true),
        }
    }
    (String::from_utf8(body).unwrap(), false)
}

/// The `data:` payloads of raw SSE text.
pub fn sse_payloads(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect()
}
