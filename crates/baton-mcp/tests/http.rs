//! The client against a real MCP server written with rmcp, served over
//! streamable HTTP on a loopback port inside the test process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_mcp::{
    IDEMPOTENCY_META_KEY, MAX_RESULT_BYTES, MAX_TOOL_PAGES, MAX_TOOLS, McpClient, McpError,
    McpServerConfig, naming,
};
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Map, Value, json};
use url::Url;

/// Tools served per `tools/list` page, small so listing needs several pages.
const PAGE_SIZE: usize = 2;

/// The test server: `echo`, `add`, `fail`, `slow`, `picture`, `whoami`,
/// `big`, `meta` plus `extra` filler tools, listed `page_size` at a time.
#[derive(Clone)]
struct TestServer {
    extra: usize,
    page_size: usize,
    authorization: Arc<Mutex<Option<String>>>,
}

impl TestServer {
    fn tools(&self) -> Vec<Tool> {
        let object = |properties: Value| -> Arc<Map<String, Value>> {
            let Value::Object(map) = json!({"type": "object", "properties": properties}) else {
                unreachable!("literal is an object")
            };
            Arc::new(map)
        };
        let mut tools = vec![
            Tool::new(
                "echo",
                "Returns its text",
                object(json!({"text": {"type": "string"}})),
            )
            .with_annotations(ToolAnnotations::new().read_only(true)),
            Tool::new(
                "add",
                "Adds two integers",
                object(json!({"a": {"type": "integer"}, "b": {"type": "integer"}})),
            ),
            Tool::new("fail", "Always fails", object(json!({}))),
            Tool::new(
                "slow",
                "Sleeps for `ms` milliseconds",
                object(json!({"ms": {"type": "integer"}})),
            ),
            Tool::new("picture", "Returns a tiny image", object(json!({}))),
            Tool::new(
                "whoami",
                "Returns the Authorization header it got",
                object(json!({})),
            ),
            Tool::new("big", "Returns 1 MiB of text", object(json!({}))),
            Tool::new(
                "meta",
                "Returns the request's `_meta` as the handler sees it",
                object(json!({})),
            ),
        ];
        tools.extend(
            (0..self.extra).map(|i| Tool::new(format!("filler{i}"), "Filler", object(json!({})))),
        );
        tools
    }
}

impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let start: usize = match request.and_then(|r| r.cursor) {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| ErrorData::invalid_params("bad cursor", None))?,
            None => 0,
        };
        let tools = self.tools();
        let end = (start + self.page_size).min(tools.len());
        let mut page = ListToolsResult::with_all_items(tools[start..end].to_vec());
        page.next_cursor = (end < tools.len()).then(|| end.to_string());
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let int = |key: &str| args.get(key).and_then(Value::as_i64).unwrap_or(0);
        let result = match request.name.as_ref() {
            "echo" => {
                let text = args.get("text").and_then(Value::as_str).unwrap_or_default();
                CallToolResult::success(vec![ContentBlock::text(text)])
            }
            "add" => CallToolResult::structured(json!({"sum": int("a") + int("b")})),
            "fail" => CallToolResult::error(vec![ContentBlock::text("failed on purpose")]),
            "slow" => {
                let ms = u64::try_from(int("ms")).unwrap_or(0);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    () = context.ct.cancelled() => {}
                }
                CallToolResult::success(vec![ContentBlock::text("done")])
            }
            "picture" => {
                CallToolResult::success(vec![ContentBlock::image("iVBORw0KGgo=", "image/png")])
            }
            "whoami" => {
                let seen = context
                    .extensions
                    .get::<http::request::Parts>()
                    .and_then(|parts| parts.headers.get("authorization"))
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                *self.authorization.lock().unwrap() = seen.clone();
                CallToolResult::success(vec![ContentBlock::text(seen.unwrap_or_default())])
            }
            "big" => CallToolResult::success(vec![ContentBlock::text("x".repeat(1 << 20))]),
            "meta" => CallToolResult::structured(Value::Object(context.meta.0.0.clone())),
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(result.into())
    }
}

/// Serves `server` on 127.0.0.1:0 and returns its `/mcp` URL.
async fn serve(server: TestServer) -> Url {
    let service: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(server.clone()),
            Default::default(),
            StreamableHttpServerConfig::default().with_sse_keep_alive(None),
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Url::parse(&format!("http://{addr}/mcp")).unwrap()
}

fn test_server(extra: usize) -> TestServer {
    TestServer {
        extra,
        page_size: PAGE_SIZE,
        authorization: Arc::default(),
    }
}

#[tokio::test]
async fn lists_every_page_and_calls_each_tool() {
    let url = serve(test_server(3)).await;
    let mut config = McpServerConfig::http("rusty", url);
    config
        .headers
        .insert("Authorization".into(), "Bearer tok-sekrit".into());
    let client = McpClient::connect(&config).await.expect("connects");
    assert_eq!(client.server_name(), "rusty");

    let tools = client.tools().await.expect("lists tools");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "echo", "add", "fail", "slow", "picture", "whoami", "big", "meta", "filler0",
            "filler1", "filler2"
        ],
        "all {} pages of {PAGE_SIZE} are followed",
        names.len().div_ceil(PAGE_SIZE)
    );
    let echo = &tools[0];
    assert_eq!(echo.qualified, "rusty.echo");
    assert_eq!(echo.function, "rusty__echo");
    assert!(echo.read_only && !tools[1].read_only);
    assert_eq!(echo.spec().name, "rusty__echo");
    assert_eq!(echo.input_schema["properties"]["text"]["type"], "string");
    assert_eq!(
        naming::split_function_name(&echo.function),
        Some(("rusty", "echo"))
    );
    assert_eq!(
        client.find_function("rusty__add").await.unwrap().name,
        "add"
    );

    let echoed = client.call("echo", json!({"text": "hello"})).await.unwrap();
    assert_eq!((echoed.text.as_str(), echoed.is_error), ("hello", false));

    let sum = client.call("add", json!({"a": 2, "b": 40})).await.unwrap();
    assert_eq!(sum.structured, Some(json!({"sum": 42})));
    assert!(!sum.is_error);

    let failed = client.call("fail", Value::Null).await.unwrap();
    assert!(failed.is_error);
    assert_eq!(failed.text, "failed on purpose");

    let picture = client.call("picture", json!({})).await.unwrap();
    assert_eq!(picture.text, "[image/png 8 B]");

    let whoami = client.call("whoami", json!({})).await.unwrap();
    assert_eq!(
        whoami.text, "Bearer tok-sekrit",
        "configured headers reach the server"
    );

    let big = client.call("big", json!({})).await.unwrap();
    assert!(
        big.text.len() < MAX_RESULT_BYTES + 100,
        "{} bytes kept",
        big.text.len()
    );
    assert!(
        big.text
            .ends_with("[truncated by baton: 768 KiB of 1.0 MiB omitted]"),
        "{}",
        &big.text[big.text.len() - 80..]
    );

    client.close().await;
}

#[tokio::test]
async fn the_idempotency_key_travels_in_the_request_meta() {
    let url = serve(test_server(0)).await;
    let client = McpClient::connect(&McpServerConfig::http("rusty", url))
        .await
        .expect("connects");
    let key = "baton-0191d2c4-run-call_1";
    let keyed = client
        .call_with_key("meta", json!({}), Some(key))
        .await
        .unwrap();
    let meta = keyed.structured.expect("the server's view of `_meta`");
    assert_eq!(meta[IDEMPOTENCY_META_KEY], key, "{meta}");
    assert_eq!(IDEMPOTENCY_META_KEY, "baton/idempotencyKey");
    assert!(
        meta.get("progressToken").is_some(),
        "rmcp's own keys are merged in, not replaced: {meta}"
    );

    let plain = client.call("meta", json!({})).await.unwrap();
    let meta = plain.structured.expect("the server's view of `_meta`");
    assert!(meta.get(IDEMPOTENCY_META_KEY).is_none(), "{meta}");
    client.close().await;
}

#[tokio::test]
async fn a_slow_call_times_out_and_the_session_survives() {
    let url = serve(test_server(0)).await;
    let mut config = McpServerConfig::http("slowpoke", url);
    config.timeout_secs = Some(1);
    let client = McpClient::connect(&config).await.unwrap();

    let started = Instant::now();
    let error = client
        .call("slow", json!({"ms": 30_000}))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&error, McpError::Timeout { server, secs: 1, .. } if server == "slowpoke"),
        "{error:?}"
    );
    assert!(waited < Duration::from_secs(3), "gave up after {waited:?}");
    assert_eq!(
        error.to_string(),
        "MCP server `slowpoke`: call of `slow` timed out after 1 s"
    );

    let quick = client.call("slow", json!({"ms": 10})).await.unwrap();
    assert_eq!(quick.text, "done");
    client.close().await;
}

#[tokio::test]
async fn bad_calls_get_clear_errors_without_a_round_trip() {
    let url = serve(test_server(0)).await;
    let client = McpClient::connect(&McpServerConfig::http("srv", url))
        .await
        .unwrap();

    let unknown = client.call("nope", json!({})).await.unwrap_err();
    assert_eq!(unknown.to_string(), "MCP server `srv` has no tool `nope`");

    let not_object = client.call("echo", json!(["text"])).await.unwrap_err();
    assert_eq!(
        not_object.to_string(),
        "MCP server `srv`: arguments of `echo` must be a JSON object, got an array"
    );
    assert!(matches!(
        client.find_function("srv__nope").await,
        Err(McpError::UnknownTool { .. })
    ));
}

#[tokio::test]
async fn a_server_with_too_many_tools_is_refused() {
    let url = serve(TestServer {
        page_size: 100,
        ..test_server(MAX_TOOLS)
    })
    .await;
    let client = McpClient::connect(&McpServerConfig::http("big", url))
        .await
        .unwrap();
    let error = client.tools().await.unwrap_err();
    assert!(
        matches!(
            error,
            McpError::TooManyTools {
                limit: MAX_TOOLS,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn endless_pagination_is_cut_off() {
    let url = serve(TestServer {
        page_size: 1,
        ..test_server(MAX_TOOL_PAGES)
    })
    .await;
    let client = McpClient::connect(&McpServerConfig::http("pager", url))
        .await
        .unwrap();
    let error = client.tools().await.unwrap_err();
    assert!(
        error.to_string().contains("still more pages after 64"),
        "{error}"
    );
}

/// Serves `server` on a runtime of its own, so that shutting that runtime
/// down kills every connection at once, as a crashing server process would.
fn serve_on_own_runtime(server: TestServer) -> (Url, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        let service: StreamableHttpService<TestServer, LocalSessionManager> =
            StreamableHttpService::new(
                move || Ok(server.clone()),
                Default::default(),
                StreamableHttpServerConfig::default().with_sse_keep_alive(None),
            );
        let router = axum::Router::new().nest_service("/mcp", service);
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, router).await
    });
    (Url::parse(&format!("http://{addr}/mcp")).unwrap(), runtime)
}

#[tokio::test]
async fn a_server_dying_mid_call_is_reported_not_awaited() {
    let (url, server_runtime) = serve_on_own_runtime(test_server(0));
    let mut config = McpServerConfig::http("vanishing", url);
    config.timeout_secs = Some(20);
    let client = McpClient::connect(&config).await.unwrap();
    client.tools().await.unwrap();

    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server_runtime.shutdown_background();
    });
    let started = Instant::now();
    let error = client
        .call("slow", json!({"ms": 60_000}))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    killer.await.unwrap();
    assert!(
        waited < Duration::from_secs(10),
        "waited {waited:?}: {error}"
    );
    assert!(
        matches!(&error, McpError::Disconnected { server, .. } if server == "vanishing"),
        "{error:?}"
    );
}
