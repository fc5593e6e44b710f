use baton_testkit::{Reply, ScriptedServer, ScriptedToolCall, Step, Wire};
use serde_json::{Value, json};

use crate::support::{ANTHROPIC_VERSION, anthropic, anthropic_body, client, sse};

#[tokio::test]
async fn whole_message() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("Hi there"));
    let response = anthropic(&server, &anthropic_body("claude-scripted", "hello", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["model"], "claude-scripted");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hi there"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert!(body["stop_sequence"].is_null());
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 1, "output_tokens": 2})
    );

    let recorded = &server.requests()[0];
    assert_eq!(recorded.wire, Wire::Anthropic);
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.model, "claude-scripted");
    assert_eq!(recorded.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(
        recorded.header("anthropic-version"),
        Some(ANTHROPIC_VERSION)
    );
}

#[tokio::test]
async fn streamed_text_follows_the_event_sequence() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("Hello big world"));
    let events = sse(anthropic(&server, &anthropic_body("m", "hi there", true)).await).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    for (event, data) in events.iter().zip(&data) {
        assert_eq!(data["type"], event.event.as_str());
    }
    let start = &data[0]["message"];
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["input_tokens"], 2);
    assert_eq!(
        data[1]["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "Hello big world");
    assert_eq!(data[7]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[7]["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn streamed_tool_use_sends_partial_json() {
    let server = ScriptedServer::start().await;
    server.push(Step::reply(Reply::ToolCalls(vec![
        ScriptedToolCall::new("weather", json!({"city": "Paris", "unit": "C"})),
        ScriptedToolCall::new("time", json!({"zone": "CET"})),
    ])));
    let events = sse(anthropic(&server, &anthropic_body("m", "weather?", true)).await).await;
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    for index in 0..2 {
        let start = data
            .iter()
            .find(|d| d["type"] == "content_block_start" && d["index"] == index)
            .unwrap();
        assert_eq!(start["content_block"]["type"], "tool_use");
        assert_eq!(start["content_block"]["input"], json!({}));
        assert!(
            start["content_block"]["id"]
                .as_str()
                .unwrap()
                .starts_with("toolu_")
        );
        let pieces: Vec<&str> = data
            .iter()
            .filter(|d| d["type"] == "content_block_delta" && d["index"] == index)
            .map(|d| {
                assert_eq!(d["delta"]["type"], "input_json_delta");
                d["delta"]["partial_json"].as_str().unwrap()
            })
            .collect();
        assert!(pieces.len() > 1, "split into pieces: {pieces:?}");
        let input: Value = serde_json::from_str(&pieces.concat()).unwrap();
        let expected = [
            json!({"city": "Paris", "unit": "C"}),
            json!({"zone": "CET"}),
        ];
        assert_eq!(input, expected[index]);
        assert_eq!(start["content_block"]["name"], ["weather", "time"][index]);
    }
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(events.last().unwrap().event, "message_stop");
}

#[tokio::test]
async fn whole_tool_use() {
    let server = ScriptedServer::start().await;
    server.push(Step::tool_call("weather", json!({"city": "Paris"})));
    let body: Value = anthropic(&server, &anthropic_body("m", "weather?", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["stop_reason"], "tool_use");
    let block = &body["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "weather");
    assert_eq!(block["input"], json!({"city": "Paris"}));
}

#[tokio::test]
async fn echo_reads_system_and_tool_results() {
    let server = ScriptedServer::start().await;
    let body = json!({
        "model": "m",
        "max_tokens": 10,
        "system": "you are terse",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny and warm"}]}
        ]
    });
    let body: Value = anthropic(&server, &body).await.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "echo: sunny and warm");
    assert_eq!(body["usage"]["input_tokens"], 3 + 1 + 3);
}

#[tokio::test]
async fn requests_without_version_or_max_tokens_are_rejected() {
    let server = ScriptedServer::start().await;
    let response = client()
        .post(format!("{}/v1/messages", server.anthropic_base()))
        .json(&anthropic_body("m", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    let mut no_max = anthropic_body("m", "hi", false);
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let response = anthropic(&server, &no_max).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
    );
}

#[tokio::test]
async fn lists_models_in_anthropic_format() {
    let server = ScriptedServer::start().await;
    let body: Value = client()
        .get(format!("{}/v1/models", server.anthropic_base()))
        .header("anthropic-version", ANTHROPIC_VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["has_more"], false);
    assert_eq!(body["first_id"], "scripted-small");
    assert_eq!(body["data"][1]["id"], "scripted-large");
    assert_eq!(body["data"][0]["type"], "model");
    assert!(body["data"][0]["created_at"].is_string());
}
