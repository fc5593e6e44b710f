//! Embeddings through a provider's OpenAI-compatible endpoint: order,
//! Ollama's `/v1`, and the errors a caller can act on.

use baton_config::ProviderKind;
use baton_llm::GatewayError;
use baton_testkit::{DEFAULT_DIMENSIONS, ScriptedServer, embed};

use crate::common::*;

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn embeddings_come_back_per_input_in_order() {
    let srv = ScriptedServer::start().await;
    let gw = gateway(&[openai("local", &srv.openai_base(), &["m1"])], &config()).await;

    let inputs = texts(&["alpha beta", "gamma"]);
    let got = gw.embed("local/embedder", &inputs).await.unwrap();
    assert_eq!(got.vectors.len(), 2);
    assert_eq!(got.vectors[0], embed("alpha beta", DEFAULT_DIMENSIONS));
    assert_eq!(got.vectors[1], embed("gamma", DEFAULT_DIMENSIONS));
    assert_eq!(got.model, "embedder");
    assert_eq!(got.prompt_tokens, Some(3));
    let request = &srv.requests()[0];
    assert_eq!(request.path, "/v1/embeddings");
    assert_eq!(request.model, "embedder");
}

#[tokio::test]
async fn ollama_embeds_through_its_openai_endpoint() {
    let srv = ScriptedServer::start().await;
    let gw = gateway(
        &[provider(
            "ollama",
            ProviderKind::Ollama,
            &srv.ollama_base(),
            &["llama3"],
        )],
        &config(),
    )
    .await;
    let got = gw
        .embed("ollama/nomic-embed-text", &texts(&["x"]))
        .await
        .unwrap();
    assert_eq!(got.vectors[0], embed("x", DEFAULT_DIMENSIONS));
}

#[tokio::test]
async fn embedding_mistakes_are_named() {
    let srv = ScriptedServer::start().await;
    let gw = gateway(
        &[
            openai("local", &srv.openai_base(), &["m1"]),
            provider(
                "claude",
                ProviderKind::Anthropic,
                &srv.anthropic_base(),
                &["c"],
            ),
        ],
        &config(),
    )
    .await;

    let bare = gw.embed("embedder", &texts(&["x"])).await.unwrap_err();
    assert!(bare.to_string().contains("provider/model"), "{bare}");
    let unknown = gw.embed("nowhere/e", &texts(&["x"])).await.unwrap_err();
    assert!(
        matches!(unknown, GatewayError::ModelNotFound { .. }),
        "{unknown}"
    );
    let anthropic = gw.embed("claude/e", &texts(&["x"])).await.unwrap_err();
    assert_eq!(anthropic.code(), "unsupported");
    let empty = gw.embed("local/e", &[]).await.unwrap_err();
    assert!(empty.to_string().contains("1 to 256 inputs"), "{empty}");
    assert!(srv.requests().is_empty(), "nothing reached the server");

    let down = gateway(
        &[openai("gone", "http://127.0.0.1:9/v1", &["m"])],
        &config(),
    )
    .await;
    let error = down.embed("gone/e", &texts(&["x"])).await.unwrap_err();
    assert_eq!(error.code(), "upstream_error");
    assert!(error.to_string().contains("connect"), "{error}");
}
