//! The `baton-model-server` process, as benchmarks and Python tests run it.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{client, openai_body, openai_chunks};

/// Starts the binary and returns it with its base URL, read from stdout.
async fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton-model-server"))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("the server reports its address")
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

#[cfg(unix)]
async fn terminate(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("SIGTERM stops the server")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn serves_with_flags_until_sigterm() {
    let dir = std::env::temp_dir().join(format!("baton-model-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let (child, url) = spawn(&[
        "--port-file",
        port_file.to_str().unwrap(),
        "--require-key",
        "k",
        "--reply-text",
        "scripted answer text",
        "--chunks",
        "2",
        "--model",
        "bench-model",
    ])
    .await;
    let port = std::fs::read_to_string(&port_file).unwrap();
    assert!(url.ends_with(&format!(":{port}")), "{url} vs {port}");
    assert!(url.starts_with("http://127.0.0.1:"));

    let response = client()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth("k")
        .json(&openai_body("bench-model", "hi", true))
        .send()
        .await
        .unwrap();
    let chunks = openai_chunks(response).await;
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(pieces.concat(), "scripted answer text");
    assert_eq!(pieces.len(), 2);

    let models: Value = client()
        .get(format!("{url}/v1/models"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "bench-model");

    terminate(child).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn no_record_keeps_no_log() {
    let (child, url) = spawn(&["--no-record", "--token-delay-ms", "1"]).await;
    let response = client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&openai_body("m", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let requests: Value = client()
        .get(format!("{url}/__testkit/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(requests, serde_json::json!([]));
    terminate(child).await;
}

#[tokio::test]
async fn a_taken_address_is_an_error_not_a_panic() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_baton-model-server"))
        .args(["--addr", &addr])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("baton-model-server: "), "{stderr}");
}
