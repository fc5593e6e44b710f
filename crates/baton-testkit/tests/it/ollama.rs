use baton_testkit::{ScriptedServer, Step, Wire};
use serde_json::{Value, json};

use crate::support::{client, ndjson, ollama, ollama_body, openai, openai_body};

#[tokio::test]
async fn discovery_routes() {
    let server = ScriptedServer::start().await;
    let http = client();
    let banner = http.get(server.ollama_base()).send().await.unwrap();
    assert_eq!(banner.text().await.unwrap(), "Ollama is running");

    let version: Value = http
        .get(format!("{}/api/version", server.ollama_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(version["version"].as_str().unwrap().contains('.'));

    let tags: Value = http
        .get(format!("{}/api/tags", server.ollama_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models = tags["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let model = &models[0];
    assert_eq!(model["name"], "scripted-small");
    assert_eq!(model["model"], "scripted-small");
    assert!(model["modified_at"].is_string());
    assert!(model["size"].is_u64());
    assert_eq!(model["digest"].as_str().unwrap().len(), 64);
    assert_eq!(model["details"]["format"], "gguf");

    let show: Value = http
        .post(format!("{}/api/show", server.ollama_base()))
        .json(&json!({"model": "scripted-small"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        show["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("tools"))
    );
}

#[tokio::test]
async fn chat_streams_ndjson_by_default() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("Hello big world"));
    let mut body = ollama_body("llama3.2", "hi there friend", true);
    body.as_object_mut().unwrap().remove("stream");
    let lines = ndjson(ollama(&server, &body).await).await;
    assert_eq!(lines.len(), 4);
    let (done, parts) = lines.split_last().unwrap();
    assert!(
        parts
            .iter()
            .all(|l| l["done"] == false && l["model"] == "llama3.2")
    );
    assert!(parts.iter().all(|l| l["created_at"].is_string()));
    let text: String = parts
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello big world");
    assert_eq!(done["done"], true);
    assert_eq!(done["done_reason"], "stop");
    assert_eq!(done["message"]["content"], "");
    assert_eq!(done["prompt_eval_count"], 3);
    assert_eq!(done["eval_count"], 3);
    assert_eq!(server.requests()[0].wire, Wire::Ollama);
}

#[tokio::test]
async fn whole_chat() {
    let server = ScriptedServer::start().await;
    let response = ollama(&server, &ollama_body("llama3.2", "ping", false)).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["message"],
        json!({"role": "assistant", "content": "echo: ping"})
    );
    assert_eq!(body["done"], true);
    assert_eq!(body["prompt_eval_count"], 1);
    assert_eq!(body["eval_count"], 2);
}

#[tokio::test]
async fn tool_calls_carry_argument_objects() {
    let server = ScriptedServer::start().await;
    server.push(Step::tool_call("weather", json!({"city": "Oslo"})));
    server.push(Step::tool_call("weather", json!({"city": "Rome"})));
    let body: Value = ollama(&server, &ollama_body("m", "weather", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["message"]["tool_calls"][0]["function"],
        json!({"index": 0, "name": "weather", "arguments": {"city": "Oslo"}})
    );

    let lines = ndjson(ollama(&server, &ollama_body("m", "weather", true)).await).await;
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["message"]["tool_calls"][0]["function"]["arguments"],
        json!({"city": "Rome"})
    );
    assert_eq!(lines[1]["done"], true);
}

#[tokio::test]
async fn the_same_server_answers_openai_routes() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("compat"));
    let response = client()
        .post(format!("{}/v1/chat/completions", server.ollama_base()))
        .json(&openai_body("llama3.2", "hi", false))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "compat");
    assert_eq!(server.requests()[0].wire, Wire::OpenAi);
    let again: Value = openai(&server, &openai_body("llama3.2", "again", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["choices"][0]["message"]["content"], "echo: again");
}
