use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use baton_testkit::{
    DEFAULT_DIMENSIONS, Reply, ScriptedServer, ScriptedToolCall, ServerOptions, Step, embed,
};
use serde_json::{Value, json};

use crate::support::{client, openai, openai_body, openai_chunks};

#[tokio::test]
async fn whole_text_completion() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("Hello big world"));
    let response = openai(
        &server,
        &openai_body("scripted-small", "say hi to me", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "scripted-small");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Hello big world");
    assert!(choice["message"].get("tool_calls").is_none());
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7})
    );
}

#[tokio::test]
async fn streamed_text_completion() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("Hello big world"));
    let chunks = openai_chunks(openai(&server, &openai_body("m", "hi", true)).await).await;
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello big world");
    let content_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(content_chunks, 3, "one chunk a word");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn include_usage_adds_a_usage_chunk_before_done() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("one two").usage(11, 22));
    let mut body = openai_body("m", "hi", true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = openai_chunks(openai(&server, &body).await).await;
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33})
    );
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn whole_tool_calls() {
    let server = ScriptedServer::start().await;
    server.push(Step::reply(Reply::ToolCalls(vec![
        ScriptedToolCall::new("search", json!({"query": "rust sse"})),
        ScriptedToolCall::new("read", json!({"path": "/tmp/x"})),
    ])));
    let body: Value = openai(&server, &openai_body("m", "find it", false))
        .await
        .json()
        .await
        .unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "search");
    let arguments = calls[0]["function"]["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"query": "rust sse"})
    );
    assert_ne!(calls[0]["id"], calls[1]["id"]);
}

#[tokio::test]
async fn streamed_tool_call_arguments_arrive_in_fragments() {
    let server = ScriptedServer::start().await;
    server.push(Step::tool_call(
        "search",
        json!({"query": "rust sse", "limit": 5}),
    ));
    let chunks = openai_chunks(openai(&server, &openai_body("m", "find", true)).await).await;
    let fragments: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert!(
        fragments.len() >= 3,
        "an opening and several pieces: {fragments:?}"
    );
    let opening = fragments[0];
    assert_eq!(opening["index"], 0);
    assert!(opening["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(opening["type"], "function");
    assert_eq!(opening["function"]["name"], "search");
    assert!(
        fragments[1..]
            .iter()
            .all(|f| f.get("id").is_none() && f["index"] == 0)
    );
    let arguments: String = fragments
        .iter()
        .map(|f| f["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"query": "rust sse", "limit": 5})
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn lists_models() {
    let server = ScriptedServer::start_with(ServerOptions {
        models: vec!["alpha".into(), "beta".into()],
        ..ServerOptions::default()
    })
    .await;
    let body: Value = client()
        .get(format!("{}/models", server.openai_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(body["data"][0]["object"], "model");
    assert!(body["data"][0]["created"].is_u64());
    assert!(body["data"][0]["owned_by"].is_string());
}

#[tokio::test]
async fn default_models_are_listed() {
    let server = ScriptedServer::start().await;
    let body: Value = client()
        .get(format!("{}/models", server.openai_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][0]["id"], "scripted-small");
    assert_eq!(body["data"][1]["id"], "scripted-large");
}

async fn embeddings(server: &ScriptedServer, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/embeddings", server.openai_base()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors() {
    let server = ScriptedServer::start().await;
    let body: Value = embeddings(
        &server,
        json!({"model": "embed", "input": ["alpha", "beta", "alpha"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "embed");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let vectors: Vec<Vec<f32>> = data
        .iter()
        .map(|d| serde_json::from_value(d["embedding"].clone()).unwrap())
        .collect();
    assert_eq!(data[2]["index"], 2);
    assert_eq!(data[0]["object"], "embedding");
    assert_eq!(vectors[0].len(), DEFAULT_DIMENSIONS);
    assert_eq!(vectors[0], vectors[2]);
    assert_ne!(vectors[0], vectors[1]);
    assert_eq!(vectors[0], embed("alpha", DEFAULT_DIMENSIONS));
    let norm: f32 = vectors[1].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    assert!(body["usage"]["prompt_tokens"].is_u64());
    assert_eq!(server.requests()[0].path, "/v1/embeddings");
}

#[tokio::test]
async fn embeddings_in_base64_and_other_dimensions() {
    let server = ScriptedServer::start().await;
    let body: Value = embeddings(
        &server,
        json!({"model": "embed", "input": "alpha", "encoding_format": "base64", "dimensions": 8}),
    )
    .await
    .json()
    .await
    .unwrap();
    let bytes = STANDARD
        .decode(body["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let vector: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(vector, embed("alpha", 8));
}

#[tokio::test]
async fn bad_embedding_requests_get_openai_errors() {
    let server = ScriptedServer::start().await;
    let response = embeddings(&server, json!({"model": "embed", "input": []})).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn malformed_requests_get_400_in_openai_format() {
    let server = ScriptedServer::start().await;
    let no_model = openai(&server, &json!({"messages": []})).await;
    assert_eq!(no_model.status(), 400);
    let body: Value = no_model.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("model"));

    let not_json = client()
        .post(format!("{}/chat/completions", server.openai_base()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(server.requests()[1].body, json!("{not json"));
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let server = ScriptedServer::start().await;
    let response = client()
        .get(format!("{}/v1/nothing-here", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing-here")
    );
}
