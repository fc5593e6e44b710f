//! `GET /context`: the handoff documents over HTTP.

use serde_json::Value;

use crate::app::TestApp;

pub async fn context_is_assembled_within_budget_inside_the_workspace(app: TestApp) {
    let root = app.workspace.path();
    std::fs::write(
        root.join("SESSION_BRIEFING.md"),
        "# Session Briefing\n- now: the parser\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(
        root.join("sub/PROJECT_CONTEXT.md"),
        "# Project Context\n- sub\n",
    )
    .unwrap();

    let (status, context) = app.get_json("/context").await;
    assert_eq!(status, 200, "{context}");
    let parts = context["parts"].as_array().unwrap();
    let part = |source: &str| -> &Value { parts.iter().find(|p| p["source"] == source).unwrap() };
    assert!(
        part("briefing")["text"]
            .as_str()
            .unwrap()
            .contains("now: the parser")
    );
    assert!(
        part("project")["note"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    assert_eq!(context["budget_tokens"], 8000);
    assert_eq!(context["counted_by"], "estimate: 3.0 bytes a token");
    let (status, exact) = app.get_json("/context?model=openai/gpt-4o").await;
    assert_eq!(status, 200, "{exact}");
    assert_eq!(exact["counted_by"], "o200k_base");

    let (status, sub) = app.get_json("/context?workspace=sub&budget=100").await;
    assert_eq!(status, 200, "{sub}");
    assert!(sub.to_string().contains("- sub"), "{sub}");
    assert!(sub["used_tokens"].as_u64().unwrap() <= 100);

    for (query, needle) in [
        ("/context?budget=0", "budget"),
        ("/context?budget=2000000", "budget"),
        ("/context?workspace=..", "must be inside"),
    ] {
        let (status, error) = app.get_json(query).await;
        assert_eq!(status, 400, "{query} → {error}");
        assert!(error.to_string().contains(needle), "{query} → {error}");
    }
    app.stop().await;
}

/// `POST /memory`, `GET /memory/search`, `DELETE /memory/{id}` and memories
/// recalled into `GET /context`, with vectors from the scripted server.
pub async fn memories_are_remembered_recalled_and_forgotten(app: TestApp) {
    let app = app
        .reconfigure(crate::app::Options {
            embedder: Some("scripted/embedder".into()),
            ..Default::default()
        })
        .await;
    std::fs::create_dir(app.workspace.path().join("sub")).unwrap();
    let (status, first) = app
        .post_json(
            "/memory",
            serde_json::json!({"content": "The billing export runs nightly at 02:00 UTC"}),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["new"], true);
    assert_eq!(first["source"], "note");
    assert_eq!(first["embedding_model"], "scripted/embedder");
    let (status, again) = app
        .post_json(
            "/memory",
            serde_json::json!({"content": "The billing export runs nightly at 02:00 UTC"}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    let (status, _) = app
        .post_json(
            "/memory",
            serde_json::json!({"content": "Sub-project note about billing", "workspace": "sub", "source": "document", "source_ref": "PROJECT_CONTEXT.md"}),
        )
        .await;
    assert_eq!(status, 201);

    let (status, recall) = app
        .get_json("/memory/search?q=billing%20export&limit=5")
        .await;
    assert_eq!(status, 200, "{recall}");
    let hits = recall["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "only this workspace's memories: {recall}");
    assert_eq!(hits[0]["id"], first["id"]);
    assert_eq!(hits[0]["text_rank"], 1);
    assert_eq!(hits[0]["vector_rank"], 1);
    assert_eq!(recall["vector_model"], "scripted/embedder");
    let embeddings = app
        .model_server
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/embeddings")
        .count();
    assert!(embeddings >= 3, "vectors came over HTTP");

    let (status, context) = app
        .get_json("/context?query=when%20does%20billing%20export%20run")
        .await;
    assert_eq!(status, 200, "{context}");
    let memories = context["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"] == "memories")
        .unwrap_or_else(|| panic!("no memories part: {context}"));
    assert!(
        memories["text"]
            .as_str()
            .unwrap()
            .contains("nightly at 02:00")
    );
    assert_eq!(context["memories"][0]["id"], first["id"]);

    for (path, needle) in [
        ("/memory/search?q=", "1 to 4096 bytes"),
        ("/memory/search?q=x&limit=0", "1 to 100"),
        ("/memory/search?q=x&workspace=..", "must be inside"),
        ("/memory/search", "q"),
        ("/context?query=x&memories=500", "memories"),
    ] {
        let (status, error) = app.get_json(path).await;
        assert_eq!(status, 400, "{path} → {error}");
        assert!(error.to_string().contains(needle), "{path} → {error}");
    }
    let (status, error) = app
        .post_json("/memory", serde_json::json!({"content": "  "}))
        .await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = app
        .post_json(
            "/memory",
            serde_json::json!({"content": "x", "source": "dream"}),
        )
        .await;
    assert_eq!(status, 400);

    let id = first["id"].as_str().unwrap();
    let forget = |path: String| {
        let request = app.client.delete(app.url(&path));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(forget(format!("/memory/{id}?workspace=sub")).await, 404);
    assert_eq!(forget(format!("/memory/{id}")).await, 204);
    assert_eq!(forget(format!("/memory/{id}")).await, 404);
    let (_, recall) = app.get_json("/memory/search?q=billing%20export").await;
    assert!(recall["hits"].as_array().unwrap().is_empty(), "{recall}");
    app.stop().await;
}

/// `POST /chat` and `/chat/stream` with a workspace that has handoff
/// documents: the reply starts from its context and the exchange is
/// remembered there; a workspace outside is refused.
pub async fn chat_in_a_workspace_starts_from_its_context(app: TestApp) {
    let sub = app.workspace.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("SESSION_BRIEFING.md"),
        "# Session Briefing\n\n## What's Being Worked On\n- the refund flow\n",
    )
    .unwrap();
    let (status, reply) = app
        .post_json(
            "/chat",
            serde_json::json!({"message": "which refunds are pending?", "workspace": "sub"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let sent = app.model_server.requests()[0].body["messages"].to_string();
    assert!(sent.contains("the refund flow"), "{sent}");
    let (status, recall) = app
        .get_json("/memory/search?q=pending%20refunds&workspace=sub")
        .await;
    assert_eq!(status, 200, "{recall}");
    assert_eq!(recall["hits"][0]["source"], "conversation", "{recall}");
    assert_eq!(recall["hits"][0]["source_ref"], reply["session_id"]);

    let r = app
        .client
        .post(app.url("/chat/stream"))
        .json(&serde_json::json!({"message": "and then?", "workspace": "sub"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = crate::cases::sse(r).await;
    assert_eq!(events.last().unwrap().0, "done");
    let sent = app.model_server.requests()[1].body["messages"].to_string();
    assert!(sent.contains("the refund flow"), "{sent}");

    let (status, _) = app
        .post_json("/chat", serde_json::json!({"message": "hi"}))
        .await;
    assert_eq!(status, 200);
    let sent = app.model_server.requests()[2].body["messages"].to_string();
    assert!(
        !sent.contains("the refund flow"),
        "no workspace, no context: {sent}"
    );
    let (status, error) = app
        .post_json(
            "/chat",
            serde_json::json!({"message": "hi", "workspace": ".."}),
        )
        .await;
    assert_eq!(status, 400, "{error}");

    // Ending the conversation logs it in the workspace, like `baton chat`.
    let session = reply["session_id"].as_str().unwrap();
    let (status, ended) = app
        .post_json(
            &format!("/chat/sessions/{session}/end"),
            serde_json::json!({"workspace": "sub"}),
        )
        .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["position"], 1);
    assert_eq!(ended["exchanges"], 1);
    let log = std::fs::read_to_string(sub.join("SESSION_LOG.md")).unwrap();
    assert!(log.contains("- asked: which refunds are pending?"), "{log}");
    for (path, body, wanted) in [
        (
            format!("/chat/sessions/{session}/end"),
            serde_json::json!({}),
            400,
        ),
        (
            "/chat/sessions/nope/end".to_owned(),
            serde_json::json!({"workspace": "sub"}),
            400,
        ),
        (
            "/chat/sessions/0190f5d2-0000-7000-8000-000000000000/end".to_owned(),
            serde_json::json!({"workspace": "sub"}),
            404,
        ),
    ] {
        let (status, error) = app.post_json(&path, body).await;
        assert_eq!(status, wanted, "{path}: {error}");
    }
    app.stop().await;
}
