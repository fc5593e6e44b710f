use baton_testkit::{ScriptedServer, ServerOptions};
use serde_json::{Value, json};

use crate::support::{anthropic, anthropic_body, client, openai, openai_body};

async fn control(
    server: &ScriptedServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let url = format!("{}/__testkit/{path}", server.url());
    let request = match method {
        "GET" => client().get(url),
        _ => client().post(url),
    };
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

#[tokio::test]
async fn steps_and_requests_over_http() {
    let server = ScriptedServer::start().await;
    let queued: Value = control(&server, "POST", "steps", Some(json!({"text": "one"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queued, json!({"pending": 1}));
    let queued: Value = control(
        &server,
        "POST",
        "steps",
        Some(json!([
            {"tool_calls": [{"name": "f", "arguments": {"x": 1}}], "for_model": "big"},
            {"fault": {"status": 503, "message": "busy"}, "delay_ms": 1}
        ])),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(queued, json!({"pending": 3}));

    let first: Value = openai(&server, &openai_body("small", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["choices"][0]["message"]["content"], "one");
    let busy = anthropic(&server, &anthropic_body("small", "x", false)).await;
    assert_eq!(busy.status(), 503);
    let call: Value = openai(&server, &openai_body("big", "x", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        call["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "f"
    );

    let pending: Value = control(&server, "GET", "steps", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending, json!({"pending": 0}));

    let requests: Value = control(&server, "GET", "requests", None)
        .await
        .json()
        .await
        .unwrap();
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["wire"], "openai");
    assert_eq!(requests[1]["wire"], "anthropic");
    assert_eq!(requests[1]["path"], "/v1/messages");
    assert_eq!(requests[2]["model"], "big");
    assert_eq!(requests[2]["body"]["messages"][0]["content"], "x");
    assert!(
        requests[0]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "content-type")
    );

    let reset = control(&server, "POST", "reset", None).await;
    assert_eq!(reset.status(), 204);
    let requests: Value = control(&server, "GET", "requests", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(requests, json!([]));
}

#[tokio::test]
async fn invalid_steps_are_refused_with_a_reason() {
    let server = ScriptedServer::start().await;
    for bad in [
        json!({"text": "a", "tool_calls": [{"name": "f"}]}),
        json!({"txet": "typo"}),
        json!({"fault": "explode"}),
        json!([{"text": "ok"}, {"chunks": 0}]),
    ] {
        let response = control(&server, "POST", "steps", Some(bad.clone())).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_step");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(server.pending_steps(), 0, "a bad list queues nothing");
}

#[tokio::test]
async fn the_control_plane_needs_no_key() {
    let server = ScriptedServer::start_with(ServerOptions {
        require_api_key: Some("secret".into()),
        ..ServerOptions::default()
    })
    .await;
    let response = control(&server, "POST", "steps", Some(json!({"text": "hi"}))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.pending_steps(), 1);
}
