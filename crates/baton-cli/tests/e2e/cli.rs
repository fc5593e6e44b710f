//! The command-line verbs.

use baton_testkit::{ScriptedServer, Step};
use serde_json::Value;

use crate::baton::{Setup, run, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_completions() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, out, _) = run(setup.command(&["--version"]));
    assert!(status.success());
    assert!(out.starts_with("baton "), "{out}");
    let (status, out, _) = run(setup.command(&["completions", "bash"]));
    assert!(status.success());
    assert!(out.contains("_baton()"), "bash completion function");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_one_shot_streams_the_reply_and_records_it() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    srv.push(Step::text("The handoff has four tiers.").usage(9, 6));
    let (status, out, err) =
        run(setup.command(&["chat", "Explain the handoff", "--device", "laptop"]));
    assert!(status.success(), "{err}");
    assert_eq!(out.trim_end(), "The handoff has four tiers.");
    assert!(
        err.contains("scripted/scripted-small"),
        "summary line on stderr: {err}"
    );
    assert!(!err.contains('\u{1b}'), "NO_COLOR is respected: {err:?}");
    let session = err.split("session ").nth(1).unwrap().trim().to_owned();

    // --session continues the conversation; --json prints events.
    let (status, out, err) =
        run(setup.command(&["--json", "chat", "And then?", "--session", &session]));
    assert!(status.success(), "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "started");
    assert_eq!(events.last().unwrap()["type"], "done");
    assert_eq!(events.last().unwrap()["session_id"], session.as_str());
    let sent = &srv.requests()[1].body["messages"];
    assert_eq!(
        sent.as_array().unwrap().len(),
        3,
        "history was sent: {sent}"
    );

    let log = std::fs::read_to_string(setup.data_dir().join("memory_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4);
    assert!(!log.contains("sk-scripted-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reports_errors_with_a_failing_exit() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, _, err) = run(setup.command(&["chat", "hi", "--model", "nobody/nothing"]));
    assert!(!status.success());
    assert!(err.contains("nobody/nothing"), "{err}");
    let (status, _, err) = run(setup.command(&["chat", "hi", "--session", "not-a-uuid"]));
    assert!(!status.success());
    assert!(err.contains("session_id"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_configured_models() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, out, err) = run(setup.command(&["models", "--json"]));
    assert!(status.success(), "{err}");
    let models: Vec<Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["scripted/scripted-large", "scripted/scripted-small"]);
    let (status, out, _) = run(setup.command(&["models"]));
    assert!(status.success());
    assert!(
        out.contains("scripted/scripted-small") && out.contains("16000"),
        "{out}"
    );

    // A provider that cannot be listed is reported once, not once per
    // listing and again by the command.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        "\n[[providers]]\nname = \"dead\"\nkind = \"openai\"\nbase_url = \"{dead}\"\n"
    ));
    write(&setup.config, &config);
    let (status, out, err) = run(setup.command(&["models", "--refresh"]));
    assert!(status.success(), "{err}");
    assert!(out.contains("scripted/scripted-small"), "{out}");
    assert_eq!(
        err.lines().filter(|l| l.contains("dead")).count(),
        1,
        "{err}"
    );
    assert!(err.contains("cannot list models of dead"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_redacts_and_names_bad_keys() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, out, err) = run(setup.command(&["config", "check"]));
    assert!(status.success(), "{err}");
    assert!(out.contains("configuration is valid"));
    assert!(
        out.contains("***") && !out.contains("sk-scripted-secret"),
        "{out}"
    );
    let (status, out, _) = run(setup.command(&["--json", "config", "check"]));
    assert!(status.success());
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["valid"], true);

    let bad = setup.dir.path().join("bad.toml");
    write(
        &bad,
        "[server]\naddr = \"127.0.0.1:1\"\nmax_body_bytes = \"lots\"\n",
    );
    let (status, _, err) =
        run(setup.command(&["--config", bad.to_str().unwrap(), "config", "check"]));
    assert!(!status.success());
    assert!(
        err.contains("server.max_body_bytes") && err.contains("bad.toml"),
        "{err}"
    );

    let mut cmd = setup.command(&["config", "check"]);
    cmd.env("BATON_ADDR", "nonsense");
    let (status, _, err) = run(cmd);
    assert!(!status.success());
    assert!(err.contains("server.addr"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_chat_keeps_one_session_until_new() {
    use std::io::Write;
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let mut child = setup
        .command(&["chat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"first\nsecond\n/new\nthird\n/exit\n")
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for reply in ["echo: first", "echo: second", "echo: third"] {
        assert!(stdout.contains(reply), "{stdout}");
    }
    let requests = srv.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.body["messages"].as_array().unwrap().len())
        .collect();
    assert_eq!(
        sizes,
        [1, 3, 1],
        "second continues the session, /new starts over"
    );
    assert!(setup.data_dir().join("chat_history").exists());
}
