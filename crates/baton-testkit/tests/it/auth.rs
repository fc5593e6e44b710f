use baton_testkit::{ScriptedServer, ServerOptions, Step};
use serde_json::Value;

use crate::support::{ANTHROPIC_VERSION, anthropic_body, client, ollama_body, openai_body};

const KEY: &str = "sk-test-key";

async fn keyed_server() -> ScriptedServer {
    ScriptedServer::start_with(ServerOptions {
        require_api_key: Some(KEY.into()),
        ..ServerOptions::default()
    })
    .await
}

#[tokio::test]
async fn openai_needs_the_bearer_key() {
    let server = keyed_server().await;
    server.push(Step::text("allowed"));
    let url = format!("{}/chat/completions", server.openai_base());
    let body = openai_body("m", "hi", false);

    let missing = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_api_key");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    let wrong = client()
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(server.pending_steps(), 1, "refused requests take no step");

    let right = client()
        .post(&url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let answer: Value = right.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "allowed");
    assert_eq!(
        server.request_count(),
        3,
        "refused requests are still recorded"
    );

    let models = client()
        .get(format!("{}/models", server.openai_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
    let embeddings = client()
        .post(format!("{}/embeddings", server.openai_base()))
        .json(&serde_json::json!({"model": "e", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(embeddings.status(), 401);
}

#[tokio::test]
async fn anthropic_takes_x_api_key_or_bearer() {
    let server = keyed_server().await;
    let url = format!("{}/v1/messages", server.anthropic_base());
    let body = anthropic_body("m", "hi", false);
    let request = || {
        client()
            .post(&url)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&body)
    };

    let missing = request().send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");

    let wrong = request()
        .header("x-api-key", "nope")
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401, "x-api-key wins over Authorization");

    let keyed = request().header("x-api-key", KEY).send().await.unwrap();
    assert_eq!(keyed.status(), 200);
    let bearer = request().bearer_auth(KEY).send().await.unwrap();
    assert_eq!(bearer.status(), 200);
}

#[tokio::test]
async fn ollama_needs_the_bearer_key_except_for_its_banner() {
    let server = keyed_server().await;
    let chat = client()
        .post(format!("{}/api/chat", server.ollama_base()))
        .json(&ollama_body("m", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 401);
    let error: Value = chat.json().await.unwrap();
    assert!(error["error"].is_string());

    let tags = client()
        .get(format!("{}/api/tags", server.ollama_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), 401);
    let tags = client()
        .get(format!("{}/api/tags", server.ollama_base()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.status(), 200);

    let banner = client().get(server.ollama_base()).send().await.unwrap();
    assert_eq!(banner.status(), 200);
}
