use baton_testkit::{Reply, ScriptedServer, ServerOptions, Step, Wire};
use serde_json::{Value, json};

use crate::support::{
    anthropic, anthropic_body, ollama, ollama_body, openai, openai_body, openai_chunks,
};

async fn openai_text(server: &ScriptedServer, model: &str) -> String {
    let body: Value = openai(server, &openai_body(model, "question", false))
        .await
        .json()
        .await
        .unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn steps_are_taken_in_order_then_the_default_reply() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("first"));
    server.push(Step::text("second"));
    assert_eq!(server.pending_steps(), 2);
    assert_eq!(openai_text(&server, "m").await, "first");
    assert_eq!(openai_text(&server, "m").await, "second");
    assert_eq!(openai_text(&server, "m").await, "echo: question");
    assert_eq!(server.pending_steps(), 0);
}

#[tokio::test]
async fn steps_for_a_model_wait_for_that_model() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("for large").for_model("scripted-large"));
    server.push(Step::text("for anyone"));
    assert_eq!(openai_text(&server, "scripted-small").await, "for anyone");
    assert_eq!(
        openai_text(&server, "scripted-small").await,
        "echo: question"
    );
    assert_eq!(openai_text(&server, "scripted-large").await, "for large");
    let models: Vec<String> = server.requests().into_iter().map(|r| r.model).collect();
    assert_eq!(
        models,
        ["scripted-small", "scripted-small", "scripted-large"]
    );
}

#[tokio::test]
async fn a_step_applies_to_whichever_wire_asks() {
    let server = ScriptedServer::start().await;
    for text in ["to openai", "to anthropic", "to ollama"] {
        server.push(Step::text(text));
    }
    let a: Value = openai(&server, &openai_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = anthropic(&server, &anthropic_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    let c: Value = ollama(&server, &ollama_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["choices"][0]["message"]["content"], "to openai");
    assert_eq!(b["content"][0]["text"], "to anthropic");
    assert_eq!(c["message"]["content"], "to ollama");
    let wires: Vec<Wire> = server.requests().into_iter().map(|r| r.wire).collect();
    assert_eq!(wires, [Wire::OpenAi, Wire::Anthropic, Wire::Ollama]);
}

#[tokio::test]
async fn chunks_split_text_evenly() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("abcdefghij").chunks(4));
    let chunks = openai_chunks(openai(&server, &openai_body("m", "x", true)).await).await;
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(pieces, ["ab", "cde", "fg", "hij"]);
}

#[tokio::test]
async fn server_defaults_shape_unscripted_answers() {
    let server = ScriptedServer::start_with(ServerOptions {
        default_reply: Reply::Text("fixed answer here".into()),
        default_chunks: Some(2),
        ..ServerOptions::default()
    })
    .await;
    let chunks = openai_chunks(openai(&server, &openai_body("m", "x", true)).await).await;
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(pieces.concat(), "fixed answer here");
    assert_eq!(pieces.len(), 2);
}

#[tokio::test]
async fn scripted_usage_reaches_every_wire() {
    let server = ScriptedServer::start().await;
    for _ in 0..3 {
        server.push(Step::text("x").usage(40, 2));
    }
    let a: Value = openai(&server, &openai_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        a["usage"],
        json!({"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42})
    );
    let b: Value = anthropic(&server, &anthropic_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["usage"], json!({"input_tokens": 40, "output_tokens": 2}));
    let c: Value = ollama(&server, &ollama_body("m", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (c["prompt_eval_count"].as_u64(), c["eval_count"].as_u64()),
        (Some(40), Some(2))
    );
}

#[tokio::test]
async fn requests_are_recorded_whole() {
    let server = ScriptedServer::start().await;
    let body = json!({
        "model": "scripted-small",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    });
    openai(&server, &body).await;
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].wire, Wire::OpenAi);
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(recorded[0].body, body);
    assert_eq!(recorded[0].model, "scripted-small");
    assert_eq!(recorded[0].header("content-type"), Some("application/json"));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn the_record_keeps_only_the_latest_requests() {
    let server = ScriptedServer::start_with(ServerOptions {
        record_limit: 2,
        ..ServerOptions::default()
    })
    .await;
    for model in ["a", "b", "c"] {
        openai(&server, &openai_body(model, "x", false)).await;
    }
    let models: Vec<String> = server.requests().into_iter().map(|r| r.model).collect();
    assert_eq!(models, ["b", "c"]);
    assert_eq!(server.request_count(), 3);

    let unrecorded = ScriptedServer::start_with(ServerOptions {
        record_limit: 0,
        ..ServerOptions::default()
    })
    .await;
    openai(&unrecorded, &openai_body("a", "x", false)).await;
    assert!(unrecorded.requests().is_empty());
    assert_eq!(unrecorded.request_count(), 1);
}

#[tokio::test]
async fn reset_forgets_steps_and_requests() {
    let server = ScriptedServer::start().await;
    server.push(Step::text("never used"));
    openai(&server, &openai_body("m", "x", false)).await;
    server.push(Step::text("dropped"));
    server.reset();
    assert_eq!(server.pending_steps(), 0);
    assert_eq!(server.request_count(), 0);
    assert!(server.requests().is_empty());
    assert_eq!(openai_text(&server, "m").await, "echo: question");
}

#[tokio::test]
async fn clones_share_one_server() {
    let server = ScriptedServer::start().await;
    let clone = server.clone();
    clone.push(Step::text("via clone"));
    drop(clone);
    assert_eq!(openai_text(&server, "m").await, "via clone");
    assert_eq!(server.url(), format!("http://{}", server.addr()));
    assert_eq!(server.openai_base(), format!("{}/v1", server.url()));
}
