//! The client against the official Python MCP SDK's server
//! (`tests/python/mcp_echo_server.py`) spawned as a child over stdio.
//!
//! The Python comes from `BATON_TEST_PYTHON` (the repository's `.venv`, made
//! by `scripts/python-env.sh`); without it the tests are skipped with a
//! printed reason, unless `BATON_REQUIRE_PYTHON=1` makes that a failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use baton_mcp::{McpClient, McpError, McpServerConfig};
use serde_json::json;

/// The echo server's entry, or `None` (test skipped) when no Python is set.
fn echo_server(name: &str) -> Option<McpServerConfig> {
    let python = baton_testkit::test_python()?;
    let script: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python/mcp_echo_server.py")
        .canonicalize()
        .expect("tests/python/mcp_echo_server.py exists");
    let mut config = McpServerConfig::stdio(name, python.to_string_lossy());
    config.args = vec![script.to_string_lossy().into_owned()];
    Some(config)
}

/// Whether `pid` is still a live (not zombie) process.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

async fn wait_until_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn python_server_tools_are_listed_and_called() {
    let Some(mut config) = echo_server("py") else {
        return;
    };
    config
        .env
        .insert("BATON_TEST_SECRET".into(), "from-baton-env".into());
    let client = McpClient::connect(&config)
        .await
        .expect("python server starts");

    let tools = client.tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["echo", "add", "fail", "crash", "secret"]);
    assert!(tools[0].read_only, "echo carries readOnlyHint");
    assert_eq!(tools[1].function, "py__add");

    let echoed = client.call("echo", json!({"text": "hé"})).await.unwrap();
    assert_eq!((echoed.text.as_str(), echoed.is_error), ("hé", false));

    let sum = client.call("add", json!({"a": 20, "b": 22})).await.unwrap();
    assert_eq!(sum.structured, Some(json!({"sum": 42})));

    let failed = client
        .call("fail", json!({"reason": "no luck"}))
        .await
        .unwrap();
    assert!(failed.is_error);
    assert!(failed.text.contains("no luck"), "{}", failed.text);

    let bad_args = client.call("add", json!({"a": "x"})).await.unwrap();
    assert!(
        bad_args.is_error,
        "the server reports invalid arguments as a tool error"
    );

    let secret = client.call("secret", json!({})).await.unwrap();
    assert_eq!(secret.text, "from-baton-env", "`env` reaches the server");

    let pid = client.process_id().expect("stdio server has a pid");
    assert!(alive(pid));
    client.close().await;
    assert!(
        wait_until_gone(pid).await,
        "server {pid} still runs after close"
    );
}

#[tokio::test]
async fn a_server_dying_mid_call_is_reported_not_awaited() {
    let Some(config) = echo_server("fragile") else {
        return;
    };
    let client = McpClient::connect(&config).await.unwrap();
    let started = Instant::now();
    let error = client.call("crash", json!({})).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let McpError::Disconnected { server, reason, .. } = &error else {
        panic!("expected Disconnected, got {error:?}");
    };
    assert_eq!(server, "fragile");
    assert!(
        reason.contains("crashing now"),
        "stderr tail is quoted: {reason}"
    );

    let again = client.call("echo", json!({"text": "x"})).await.unwrap_err();
    assert!(matches!(again, McpError::Disconnected { .. }), "{again:?}");
}

/// The echo server started through `sh`, which first leaves a `sleep` helper
/// running in the background (as `npx` leaves node); returns the entry and
/// the file the helper's pid is written to.
fn server_with_helper(name: &str, dir: &Path) -> Option<(McpServerConfig, PathBuf)> {
    let echo = echo_server(name)?;
    let pid_file = dir.join("helper.pid");
    let python = echo.command.clone().expect("stdio entry");
    let script = &echo.args[0];
    let mut config = McpServerConfig::stdio(name, "sh");
    config.args = vec![
        "-c".into(),
        format!(
            "sleep 300 & echo $! > '{}'; exec '{python}' '{script}'",
            pid_file.display()
        ),
    ];
    Some((config, pid_file))
}

fn read_pid(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn close_also_ends_what_the_server_started() {
    let dir = tempfile::tempdir().unwrap();
    let Some((config, pid_file)) = server_with_helper("parent", dir.path()) else {
        return;
    };
    let client = McpClient::connect(&config).await.unwrap();
    let (server, helper) = (client.process_id().unwrap(), read_pid(&pid_file));
    assert!(alive(server) && alive(helper));
    client.close().await;
    assert!(
        wait_until_gone(server).await,
        "server {server} survived close"
    );
    assert!(
        wait_until_gone(helper).await,
        "helper {helper} outlived its server"
    );
}

#[tokio::test]
async fn dropping_the_client_kills_the_server_and_its_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let Some((config, pid_file)) = server_with_helper("dropped", dir.path()) else {
        return;
    };
    let client = McpClient::connect(&config).await.unwrap();
    let (server, helper) = (client.process_id().unwrap(), read_pid(&pid_file));
    drop(client);
    assert!(
        wait_until_gone(server).await,
        "server {server} survived the drop"
    );
    assert!(
        wait_until_gone(helper).await,
        "helper {helper} survived the drop"
    );
}
