//! `/mcp`: baton's continuity as an MCP server, driven by the official
//! Rust SDK's client over streamable HTTP, as any MCP client would.

use baton_continuity::SessionLog;
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::app::{Options, TestApp};

type Client = RunningService<RoleClient, ()>;

async fn connect(app: &TestApp, token: Option<&str>) -> Client {
    // Whichever test gets here first installs it; the others find it there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp"));
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("the MCP handshake succeeds")
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The structured answer of a call that must succeed.
fn ok(result: CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result.structured_content.expect("a structured answer")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// A call that must be refused as the caller's mistake (`isError`), with a
/// message that says why.
async fn refused(client: &Client, tool: &str, arguments: Value, needle: &str) {
    let result = call(client, tool, arguments.clone()).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool} {arguments}: {result:?}"
    );
    let message = text(&result);
    assert!(
        message.contains(needle),
        "{tool} {arguments}: {message:?} should mention {needle:?}"
    );
}

pub async fn mcp_serves_continuity_tools_and_tiers(app: TestApp) {
    // Vectors from the scripted server, over HTTP.
    let app = app
        .reconfigure(Options {
            embedder: Some("scripted/embedder".into()),
            ..Default::default()
        })
        .await;
    let root = app.workspace.path().to_owned();
    baton_continuity::init(&root, None).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    let client = connect(&app, None).await;

    let info = client.peer_info().expect("the server introduced itself");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("baton")
    );
    assert!(
        info.instructions
            .as_deref()
            .is_some_and(|i| i.contains("get_context") && i.contains("append_session_log")),
        "{info:?}"
    );
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    tools.sort();
    assert_eq!(
        tools,
        [
            "append_session_log",
            "get_context",
            "read_tier",
            "remember",
            "search_memory",
            "update_briefing"
        ]
    );

    // remember → search_memory finds it, by words and by vector.
    let remembered = ok(call(
        &client,
        "remember",
        json!({"content": "The billing export runs nightly at 02:00 UTC"}),
    )
    .await);
    assert_eq!(remembered["new"], true, "{remembered}");
    assert_eq!(remembered["source"], "note");
    let recall = ok(call(&client, "search_memory", json!({"query": "billing export"})).await);
    assert_eq!(recall["hits"][0]["id"], remembered["id"], "{recall}");
    assert_eq!(recall["vector_model"], "scripted/embedder");

    // append_session_log: a well-formed entry, recorded, remembered.
    let appended = ok(call(
        &client,
        "append_session_log",
        json!({
            "title": "Claude Code: the parser",
            "work_done": ["rewrote the lexer"],
            "decisions": ["nom over regex: error positions"],
            "for_next_instance": ["wire the CLI"],
        }),
    )
    .await);
    assert_eq!(appended["position"], 1, "{appended}");
    assert!(appended["memories"].as_u64().unwrap() >= 1, "{appended}");
    let log = std::fs::read_to_string(root.join("SESSION_LOG.md")).unwrap();
    assert!(log.contains("## Session: "), "{log}");
    assert!(log.contains(" - Claude Code: the parser\n"), "{log}");
    assert!(
        log.contains("### Work Accomplished\n- rewrote the lexer\n"),
        "{log}"
    );
    assert!(log.contains("### Blockers\n- None\n"), "{log}");
    let verification = SessionLog::open(&root)
        .unwrap()
        .verify(app.hub.store())
        .await
        .unwrap();
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.recorded, 1);
    let recall = ok(call(&client, "search_memory", json!({"query": "lexer parser"})).await);
    assert_eq!(recall["hits"][0]["source"], "log", "{recall}");
    assert_eq!(recall["hits"][0]["source_ref"], "SESSION_LOG.md#1");

    // read_tier, by short name and by file name.
    let tier = call(&client, "read_tier", json!({"tier": "log"})).await;
    assert!(text(&tier).contains("rewrote the lexer"), "{tier:?}");
    let tier = call(&client, "read_tier", json!({"tier": "PROJECT_CONTEXT.md"})).await;
    assert!(text(&tier).starts_with("# Project Context"), "{tier:?}");

    // update_briefing replaces the file and keeps the version it replaced
    // (here one a person edited, which no session stored yet).
    let before = "# Session Briefing\n- edited by hand\n";
    std::fs::write(root.join("SESSION_BRIEFING.md"), before).unwrap();
    let report = ok(call(
        &client,
        "update_briefing",
        json!({"text": "# Session Briefing\n\n## What's Being Worked On\n- the CLI\n"}),
    )
    .await);
    assert!(report["previous_version"].is_number(), "{report}");
    assert_eq!(
        std::fs::read_to_string(root.join("SESSION_BRIEFING.md")).unwrap(),
        "# Session Briefing\n\n## What's Being Worked On\n- the CLI\n"
    );
    let key = baton_continuity::workspace_key(&root).unwrap();
    let versions = app
        .hub
        .store()
        .document_versions(&key, "SESSION_BRIEFING.md")
        .await
        .unwrap();
    assert!(
        versions.iter().any(|v| v.content == before),
        "the replaced briefing is stored"
    );

    // get_context: the tiers and, for a query, the memories.
    let context = call(
        &client,
        "get_context",
        json!({"query": "when does the billing export run"}),
    )
    .await;
    let markdown = text(&context);
    assert!(markdown.contains("- the CLI"), "{markdown}");
    assert!(markdown.contains("nightly at 02:00"), "{markdown}");
    let structured = ok(context);
    assert!(
        structured["parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["source"] == "memories"),
        "{structured}"
    );
    assert_eq!(structured["budget_tokens"], 8000);

    // The four tiers as resources.
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "baton://tiers/PORTFOLIO_CONTEXT.md",
            "baton://tiers/PROJECT_CONTEXT.md",
            "baton://tiers/SESSION_BRIEFING.md",
            "baton://tiers/SESSION_LOG.md"
        ]
    );
    assert!(
        resources
            .iter()
            .all(|r| r.mime_type.as_deref() == Some("text/markdown"))
    );
    let read = client
        .read_resource(ReadResourceRequestParams::new(
            "baton://tiers/SESSION_BRIEFING.md",
        ))
        .await
        .unwrap();
    let body = serde_json::to_value(&read.contents[0]).unwrap();
    assert_eq!(
        body["text"],
        "# Session Briefing\n\n## What's Being Worked On\n- the CLI\n"
    );
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new("baton://tiers/NOTES.md"))
            .await
            .is_err(),
        "an unknown resource is a protocol error"
    );

    // The caller's mistakes are tool errors the assistant can read.
    refused(
        &client,
        "remember",
        json!({"content": ""}),
        "needs some text",
    )
    .await;
    refused(
        &client,
        "remember",
        json!({"content": "x", "workspace": ".."}),
        "must be inside",
    )
    .await;
    refused(
        &client,
        "get_context",
        json!({"workspace": "/"}),
        "must be inside",
    )
    .await;
    refused(
        &client,
        "read_tier",
        json!({"tier": "notes"}),
        "unknown tier",
    )
    .await;
    refused(
        &client,
        "get_context",
        json!({"budget_tokens": 0}),
        "the budget must be between 1 and",
    )
    .await;
    refused(
        &client,
        "append_session_log",
        json!({"title": "  "}),
        "title",
    )
    .await;
    refused(&client, "update_briefing", json!({"text": ""}), "non-empty").await;
    refused(&client, "search_memory", json!({"query": ""}), "1 to 4096").await;
    // A directory inside is fine, and has memories of its own.
    let sub = ok(call(
        &client,
        "search_memory",
        json!({"query": "billing", "workspace": "sub"}),
    )
    .await);
    assert_eq!(sub["hits"].as_array().unwrap().len(), 0, "{sub}");
    client.cancel().await.unwrap();

    // With a token, /mcp needs it like every other route.
    let token = "mcp-token-0123456789";
    let app = app
        .reconfigure(Options {
            token: Some(token.into()),
            ..Default::default()
        })
        .await;
    let r = app
        .client
        .post(app.url("/mcp"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        ().serve(StreamableHttpClientTransport::from_uri(app.url("/mcp")))
            .await
            .is_err(),
        "no session without the token"
    );
    let client = connect(&app, Some(token)).await;
    assert_eq!(client.list_all_tools().await.unwrap().len(), 6);
    client.cancel().await.unwrap();
    app.stop().await;
}
