//! The official `openai` Python SDK against the real binary
//! (tests/python/test_openai_sdk.py).

use baton_testkit::ScriptedServer;
use std::process::Command;

use crate::baton::{Setup, TOKEN, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_sdk_works_against_baton() {
    let Some(python) = baton_testkit::test_python() else {
        return;
    };
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let baton = setup.serve(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/test_openai_sdk.py"
    );
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("BATON_URL", &baton.url)
        .env("BATON_TOKEN", TOKEN)
        .env("SCRIPTED_URL", srv.url())
        .env("BATON_MODEL", "scripted/scripted-small");
    let (status, out, err) = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert!(
        status.success(),
        "openai SDK tests failed:\n{out}\n{err}\n--- baton log ---\n{}",
        baton.log_text()
    );
    assert!(
        err.contains("OK") || out.contains("0 failed"),
        "{out}\n{err}"
    );
}
