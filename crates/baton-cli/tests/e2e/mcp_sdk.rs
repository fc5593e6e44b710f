//! The official MCP Python SDK (tests/python/test_mcp_server.py) against
//! the real binary: `baton mcp` over stdio and `baton serve`'s `/mcp` over
//! streamable HTTP, with memory vectors from the scripted model server, on
//! both store backends.

use baton_testkit::{ScriptedServer, TestDatabase};
use std::io::Write;
use std::process::{Command, Stdio};

use crate::baton::{Running, Setup, TOKEN, run};

async fn official_mcp_sdk_works_against_baton(database: Option<&str>) {
    let Some(python) = baton_testkit::test_python() else {
        return;
    };
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, database);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&setup.config)
        .unwrap()
        .write_all(b"\n[memory]\nembedder = \"scripted/embedder\"\n")
        .unwrap();
    let (stdio_ws, http_ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (stdio_ws, http_ws) = (stdio_ws.path(), http_ws.path());
    let http = http_ws.to_str().unwrap();
    let mut serve = setup.command(&["--workspace", http, "serve", "--addr", "127.0.0.1:0"]);
    serve
        .env("BATON_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let baton = Running::start(serve);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/test_mcp_server.py"
    );
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
        .env("BATON_CONFIG", &setup.config)
        .env("BATON_DATA_DIR", setup.data_dir())
        .env("BATON_WORKSPACE", stdio_ws)
        .env("BATON_URL", &baton.url)
        .env("BATON_TOKEN", TOKEN)
        .env("BATON_HTTP_WORKSPACE", http_ws)
        .env_remove("BATON_DATABASE_URL");
    if let Some(url) = database {
        cmd.env("BATON_DATABASE_URL", url);
    }
    let (status, out, err) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert!(
        status.success(),
        "MCP SDK tests failed:\n{out}\n{err}\n--- baton serve log ---\n{}",
        baton.log_text()
    );
    assert!(out.contains("5 passed, 0 failed"), "{out}\n{err}");
    let embeddings = srv
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/embeddings")
        .count();
    assert!(embeddings >= 8, "vectors came over HTTP: {embeddings}");

    // Both faces left session logs that verify against the store.
    for workspace in [stdio_ws, http_ws] {
        let ws = workspace.to_str().unwrap();
        let (status, out, err) = run(setup.command(&["--workspace", ws, "log", "verify"]));
        assert!(status.success() && out.contains("intact"), "{out}\n{err}");
        assert!(out.contains("2 entries recorded, 2 in the file"), "{out}");
    }
    assert!(baton.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_official_mcp_sdk_works_against_baton() {
    official_mcp_sdk_works_against_baton(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_official_mcp_sdk_works_against_baton() {
    let Some(db) = TestDatabase::postgres("postgres_official_mcp_sdk_works_against_baton").await
    else {
        return;
    };
    official_mcp_sdk_works_against_baton(Some(db.url())).await;
}
