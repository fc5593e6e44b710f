//! Test cases, each run on both store backends (see `main.rs`).

use baton_testkit::{Fault, Step};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::app::TestApp;

pub use crate::agent::*;
pub use crate::continuity::*;
pub use crate::mcp::*;
pub use crate::workflow::*;

/// Reads a whole SSE response into `(event name, data)` pairs.
pub async fn sse(response: reqwest::Response) -> Vec<(String, String)> {
    use eventsource_stream::Eventsource;
    let mut events = response.bytes_stream().eventsource();
    let mut out = Vec::new();
    while let Some(e) = events.next().await {
        let e = e.unwrap();
        out.push((e.event, e.data));
    }
    out
}

pub async fn health_reports_store_and_providers(app: TestApp) {
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert!(["sqlite", "postgres"].contains(&body["store"]["backend"].as_str().unwrap()));
    assert_eq!(body["store"]["ok"], true);
    assert_eq!(body["providers"][0]["name"], "scripted");
    assert_eq!(body["models"], 2);
    app.stop().await;
}

pub async fn chat_replies_and_continues_the_session(app: TestApp) {
    app.model_server
        .push(Step::text("Continuity is memory across sessions.").usage(10, 6));
    let (status, first) = app
        .post_json(
            "/chat",
            json!({"message": "What is continuity?", "device_id": "desktop-1"}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["reply"], "Continuity is memory across sessions.");
    assert_eq!(first["model"], "scripted/scripted-small");
    assert_eq!(first["usage"]["prompt_tokens"], 10);
    // 10 * $1/M + 6 * $2/M
    assert!((first["cost_usd"].as_f64().unwrap() - 0.000022).abs() < 1e-12);
    let session = first["session_id"].as_str().unwrap().to_owned();

    let (status, second) = app
        .post_json(
            "/chat",
            json!({"message": "And why?", "session_id": session, "device_id": "desktop-1"}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["session_id"], session.as_str());
    assert_eq!(second["reply"], "echo: And why?");
    // The second call carried the first exchange as history.
    let sent = &app.model_server.requests()[1].body["messages"];
    let texts: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "What is continuity?",
            "Continuity is memory across sessions.",
            "And why?"
        ]
    );

    // Both exchanges are durable in the store, in order.
    let id = session.parse().unwrap();
    let stored = app.hub.store().session_messages(id, 10).await.unwrap();
    let roles: Vec<&str> = stored.iter().map(|r| r.message.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(stored[1].usage.unwrap().completion_tokens, 6);
    assert!(stored[1].latency_ms.is_some());
    app.stop().await;
}

pub async fn chat_stream_sends_tokens_then_done(app: TestApp) {
    app.model_server
        .push(Step::text("alpha beta gamma").chunks(3));
    let r = app
        .client
        .post(app.url("/chat/stream"))
        .json(&json!({"message": "stream please"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse(r).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"));
    assert_eq!(names.last(), Some(&"done"));
    let tokens: String = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tokens, "alpha beta gamma");
    assert!(names.iter().filter(|n| **n == "token").count() >= 3);
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(done["reply"], "alpha beta gamma");
    let id = done["session_id"].as_str().unwrap().parse().unwrap();
    let stored = app.hub.store().session_messages(id, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].message.text(), "alpha beta gamma");
    app.stop().await;
}

pub async fn chat_refuses_bad_input_with_clear_errors(app: TestApp) {
    let cases = [
        (json!({}), 400, "message"),
        (json!({"message": ""}), 400, "message"),
        (json!({"message": 5}), 400, "message"),
        (
            json!({"message": "hi", "session_id": "not-a-uuid"}),
            400,
            "session_id",
        ),
        (
            json!({"message": "hi", "session_id": "0190f5d2-0000-7000-8000-000000000000"}),
            404,
            "does not exist",
        ),
        (
            json!({"message": "hi", "model": "nobody/nothing"}),
            404,
            "nobody/nothing",
        ),
        (
            json!({"message": "hi", "device_id": "has spaces"}),
            400,
            "device",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, err) = app.post_json("/chat", body.clone()).await;
        assert_eq!(got, status, "{body} -> {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{body}: {message:?} should mention {needle:?}"
        );
        assert!(err["error"]["code"].is_string());
    }
    // Malformed JSON, wrong content type, oversized body.
    let r = app
        .client
        .post(app.url("/chat"))
        .header("content-type", "application/json")
        .body("{\"message\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let r = app
        .client
        .post(app.url("/chat"))
        .body("message=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let huge = "x".repeat(200 * 1024);
    let (status, err) = app.post_json("/chat", json!({"message": huge})).await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(err["error"]["code"], "body_too_large");
    // None of it reached the model or the store.
    assert_eq!(app.model_server.request_count(), 0);
    let history = app.hub.device_history("local", None, None).await.unwrap();
    assert!(history.messages.is_empty());
    app.stop().await;
}

pub async fn chat_falls_back_when_the_first_model_fails(app: TestApp) {
    let app = app
        .reconfigure(crate::app::Options {
            fallbacks: vec!["scripted/scripted-large".into()],
            ..Default::default()
        })
        .await;
    app.model_server.push(
        Step::failure(Fault::Status {
            status: 503,
            message: "overloaded".into(),
        })
        .for_model("scripted-small"),
    );
    app.model_server
        .push(Step::text("large answered").for_model("scripted-large"));
    let (status, body) = app.post_json("/chat", json!({"message": "hi"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reply"], "large answered");
    assert_eq!(body["model"], "scripted/scripted-large");
    assert_eq!(body["fallbacks"][0], "scripted/scripted-small");
    app.stop().await;
}

pub async fn upstream_client_error_is_not_retried(app: TestApp) {
    app.model_server.push(Step::failure(Fault::Status {
        status: 400,
        message: "bad temperature".into(),
    }));
    let (status, body) = app.post_json("/chat", json!({"message": "hi"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad temperature"),
        "{body}"
    );
    assert_eq!(app.model_server.request_count(), 1);
    app.stop().await;
}

pub async fn devices_report_state_and_page_history(app: TestApp) {
    let (status, state) = app
        .post_json("/device/state", json!({"device_id": "phone", "status": "online", "context_version": 3, "metadata": {"battery": 80}}))
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["context_version"], 3);
    let (status, state) = app
        .post_json(
            "/device/state",
            json!({"device_id": "phone", "status": "idle"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(state["status"], "idle");
    assert_eq!(state["context_version"], 3, "unspecified fields are kept");
    let (status, got) = app.get_json("/device/phone/state").await;
    assert_eq!(status, 200);
    assert_eq!(got["metadata"]["battery"], 80);
    let (status, _) = app.get_json("/device/nobody/state").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_json(
            "/device/state",
            json!({"device_id": "phone", "context_version": -1}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post_json("/device/state", json!({"device_id": "phone", "bogus": 1}))
        .await;
    assert_eq!(status, 400);

    for i in 0..7 {
        let (status, _) = app
            .post_json(
                "/chat",
                json!({"message": format!("m{i}"), "device_id": "phone"}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/device/phone/history?limit=4&before={c}"),
            None => "/device/phone/history?limit=4".to_owned(),
        };
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        for m in page["messages"].as_array().unwrap() {
            seen.push(m["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 14);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 14, "no duplicates across pages");
    let (status, _) = app.get_json("/device/phone/history?limit=0").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/device/phone/history?limit=abc").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/device/phone/history?before=garbage").await;
    assert_eq!(status, 400);
    app.stop().await;
}

pub async fn openai_completion_non_stream(app: TestApp) {
    app.model_server.push(Step::text("Hi there").usage(4, 2));
    let (status, body) = app
        .post_json(
            "/v1/chat/completions",
            json!({"model": "scripted-small", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}], "temperature": 0.2, "seed": 7}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "scripted/scripted-small");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hi there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["total_tokens"], 6);
    // Unknown fields pass through to the upstream; the model name is the upstream's.
    let sent = &app.model_server.requests()[0].body;
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["model"], "scripted-small");
    app.stop().await;
}

pub async fn openai_completion_stream_with_usage(app: TestApp) {
    app.model_server
        .push(Step::text("one two three").usage(3, 3));
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .json(&json!({"model": "scripted/scripted-small", "messages": [{"role": "user", "content": "count"}], "stream": true, "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = sse(r).await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "one two three");
    let finish: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["stop"]);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage["usage"]["total_tokens"], 6);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    app.stop().await;
}

pub async fn openai_tool_calls_pass_through(app: TestApp) {
    app.model_server
        .push(Step::tool_call("get_weather", json!({"city": "Paris"})));
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let (status, body) = app
        .post_json("/v1/chat/completions", json!({"model": "scripted-small", "messages": [{"role": "user", "content": "weather?"}], "tools": tools}))
        .await;
    assert_eq!(status, 200, "{body}");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    let sent = &app.model_server.requests()[0].body;
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");

    // The tool result goes back with the call.
    let (status, body) = app
        .post_json(
            "/v1/chat/completions",
            json!({"model": "scripted-small", "tools": tools, "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": call["id"], "type": "function", "function": call["function"]}]},
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = &app.model_server.requests()[1].body["messages"];
    assert_eq!(sent[1]["tool_calls"][0]["id"], call["id"]);
    assert_eq!(sent[2]["tool_call_id"], call["id"]);
    app.stop().await;
}

pub async fn openai_session_header_groups_calls(app: TestApp) {
    let (_, first) = app
        .post_json("/chat", json!({"message": "start", "device_id": "ide"}))
        .await;
    let session = first["session_id"].as_str().unwrap().to_owned();
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .header("X-Baton-Session", &session)
        .header("X-Baton-Device", "ide")
        .json(&json!({"model": "scripted-small", "messages": [
            {"role": "user", "content": "start"}, {"role": "assistant", "content": "echo: start"},
            {"role": "user", "content": "next"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.hub.shutdown().await;
    let stored = app
        .hub
        .store()
        .session_messages(session.parse().unwrap(), 20)
        .await
        .unwrap();
    let texts: Vec<String> = stored.iter().map(|r| r.message.text()).collect();
    assert_eq!(
        texts,
        ["start", "echo: start", "next", "echo: next"],
        "only the new turn is added"
    );
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .header("X-Baton-Session", "0190f5d2-0000-7000-8000-000000000000")
        .json(&json!({"model": "scripted-small", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

pub async fn openai_refuses_bad_input(app: TestApp) {
    let cases = [
        (json!({"messages": [{"role": "user", "content": "x"}]}), 400),
        (json!({"model": "scripted-small"}), 400),
        (json!({"model": "scripted-small", "messages": []}), 400),
        (
            json!({"model": "scripted-small", "messages": [{"role": "wizard", "content": "x"}]}),
            400,
        ),
        (
            json!({"model": "scripted-small", "messages": [{"role": "tool", "content": "x"}]}),
            400,
        ),
        (
            json!({"model": "scripted-small", "messages": [{"role": "user", "content": "x"}], "n": 2}),
            400,
        ),
        (
            json!({"model": "scripted-small", "messages": [{"role": "user", "content": "x"}], "temperature": 9}),
            400,
        ),
        (
            json!({"model": "scripted-small", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "retrieval", "function": {"name": "f"}}]}),
            400,
        ),
        (
            json!({"model": "nobody/nothing", "messages": [{"role": "user", "content": "x"}]}),
            404,
        ),
    ];
    for (body, status) in cases {
        let (got, err) = app.post_json("/v1/chat/completions", body.clone()).await;
        assert_eq!(got, status, "{body} -> {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{err}"
        );
        assert!(err["error"]["type"].is_string());
    }
    assert_eq!(app.model_server.request_count(), 0);
    app.stop().await;
}

pub async fn models_are_listed(app: TestApp) {
    let (status, body) = app.get_json("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["scripted/scripted-large", "scripted/scripted-small"]);
    assert_eq!(body["data"][0]["context_window"], 32000);
    let (status, one) = app.get_json("/v1/models/scripted-small").await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], "scripted/scripted-small");
    let (status, _) = app.get_json("/v1/models/scripted/scripted-large").await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json("/v1/models/nope").await;
    assert_eq!(status, 404);
    app.stop().await;
}

pub async fn memory_log_gets_every_message(app: TestApp) {
    app.post_json(
        "/chat",
        json!({"message": "remember me", "device_id": "laptop"}),
    )
    .await;
    app.post_json(
        "/v1/chat/completions",
        json!({"model": "scripted-small", "messages": [{"role": "user", "content": "via api"}]}),
    )
    .await;
    // Shutting the hub down finishes the background recording and syncs the log.
    app.hub.shutdown().await;
    let text = std::fs::read_to_string(app.data_dir.path().join("memory_log.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let contents: Vec<&str> = lines
        .iter()
        .map(|l| l["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        [
            "remember me",
            "echo: remember me",
            "via api",
            "echo: via api"
        ]
    );
    assert_eq!(lines[0]["device_id"], "laptop");
    assert_eq!(lines[1]["model"], "scripted/scripted-small");
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].as_str().unwrap().ends_with('Z'))
    );
    app.stop().await;
}

pub async fn unknown_routes_and_methods_are_json_errors(app: TestApp) {
    let (status, body) = app.get_json("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.get_json("/chat").await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    app.stop().await;
}
