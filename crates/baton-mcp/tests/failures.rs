//! Servers that cannot be reached or do not behave: each gives a clear error
//! naming the server, quickly, and never a hang.

use std::time::{Duration, Instant};

use baton_mcp::{McpClient, McpError, McpServerConfig};
use url::Url;

/// Upper bound for "quickly": generous for a loaded CI machine, far below any timeout.
const QUICK: Duration = Duration::from_secs(5);

fn shell(name: &str, script: &str) -> McpServerConfig {
    let mut config = McpServerConfig::stdio(name, "sh");
    config.args = vec!["-c".into(), script.into()];
    config
}

#[tokio::test]
async fn a_server_that_exits_at_once_is_reported_with_its_stderr() {
    let config = shell("quitter", "echo 'cannot start: missing token' >&2; exit 3");
    let started = Instant::now();
    let error = McpClient::connect(&config).await.unwrap_err();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    let McpError::Connect { server, reason } = &error else {
        panic!("expected Connect, got {error:?}");
    };
    assert_eq!(server, "quitter");
    assert!(reason.contains("cannot start: missing token"), "{reason}");
    assert!(
        error
            .to_string()
            .starts_with("MCP server `quitter`: initialize failed")
    );
}

#[tokio::test]
async fn secrets_in_server_output_are_redacted() {
    let mut config = shell("leaky", "echo \"token is $TOKEN\" >&2; exit 1");
    config.env.insert("TOKEN".into(), "s3cr3t-xyz".into());
    let error = McpClient::connect(&config).await.unwrap_err().to_string();
    assert!(error.contains("token is ***"), "{error}");
    assert!(!error.contains("s3cr3t-xyz"), "{error}");
}

#[tokio::test]
async fn a_missing_command_is_named() {
    let config = McpServerConfig::stdio("ghost", "baton-no-such-mcp-server");
    let error = McpClient::connect(&config).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "MCP server `ghost`: cannot start `baton-no-such-mcp-server`: no such program (is it installed and in PATH?)"
    );
}

#[tokio::test]
async fn a_missing_working_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = McpServerConfig::stdio("lost", "sh");
    config.cwd = Some(dir.path().join("absent"));
    let error = McpClient::connect(&config).await.unwrap_err().to_string();
    assert!(error.contains("is not a directory"), "{error}");
}

#[tokio::test]
async fn a_url_nobody_listens_on_fails_fast() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}/mcp")).unwrap();
    let started = Instant::now();
    let error = McpClient::connect(&McpServerConfig::http("nobody", url))
        .await
        .unwrap_err();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert!(
        matches!(&error, McpError::Connect { server, .. } if server == "nobody"),
        "{error:?}"
    );
    assert!(error.to_string().contains("Connection refused"), "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let config = McpServerConfig::stdio("mute", "sleep");
    let config = McpServerConfig {
        args: vec!["60".into()],
        ..config
    };
    let started = Instant::now();
    let error = McpClient::connect_within(&config, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert_eq!(
        error.to_string(),
        "MCP server `mute`: initialize timed out after 1 s"
    );
}

#[tokio::test]
async fn invalid_configuration_is_refused_before_spawning() {
    let config = McpServerConfig::stdio("bad.name", "sh");
    let error = McpClient::connect(&config).await.unwrap_err();
    assert!(matches!(error, McpError::InvalidConfig { .. }), "{error:?}");
}
