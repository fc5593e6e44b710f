//! `baton init` (the four tiers from templates, never overwriting) and
//! `baton handoff` (the briefing regenerated, the old one kept) and
//! `baton context` (what the next session reads).

use baton_testkit::ScriptedServer;
use serde_json::Value;

use crate::baton::{Setup, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_creates_the_missing_tiers_and_keeps_the_rest() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("app");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("SESSION_BRIEFING.md"), "my notes\n").unwrap();
    let (ws, portfolio) = (project.to_str().unwrap(), root.path().to_str().unwrap());

    let (status, out, err) =
        run(setup.command(&["--workspace", ws, "init", "--portfolio", portfolio]));
    assert!(status.success(), "{err}");
    assert_eq!(out.matches("created ").count(), 3, "{out}");
    assert!(out.contains("SESSION_BRIEFING.md (already there)"), "{out}");
    assert!(root.path().join("PORTFOLIO_CONTEXT.md").exists());
    assert!(project.join("PROJECT_CONTEXT.md").exists());
    assert_eq!(
        std::fs::read_to_string(project.join("SESSION_BRIEFING.md")).unwrap(),
        "my notes\n"
    );

    let (status, out, err) = run(setup.command(&["--workspace", ws, "--json", "init"]));
    assert!(status.success(), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    // Without --portfolio the portfolio tier goes in the workspace itself.
    assert_eq!(report["created"].as_array().unwrap().len(), 1, "{out}");
    assert!(project.join("PORTFOLIO_CONTEXT.md").exists());
    assert_eq!(report["kept"].as_array().unwrap().len(), 3, "{out}");

    // A fresh log verifies: a header, no entries, nothing recorded.
    let (status, out, _) = run(setup.command(&["--workspace", ws, "log", "verify"]));
    assert!(status.success() && out.contains("intact"), "{out}");

    // The handoff replaces the person's briefing and keeps it in the store.
    let (status, out, err) = run(setup.command(&["--workspace", ws, "handoff"]));
    assert!(status.success(), "{err}");
    assert!(
        out.contains("regenerated from 0 session-log entries") && out.contains("kept as version 1"),
        "{out}"
    );
    let briefing = std::fs::read_to_string(project.join("SESSION_BRIEFING.md")).unwrap();
    assert!(briefing.contains("## Immediate Blockers"), "{briefing}");
    assert!(!briefing.contains("my notes"));

    // What the next session reads: the tiers in reading order, within budget.
    let (status, out, err) = run(setup.command(&["--workspace", ws, "context"]));
    assert!(status.success(), "{err}");
    let (portfolio_at, briefing_at) = (
        out.find("# Portfolio Context").unwrap(),
        out.find("# Session Briefing").unwrap(),
    );
    assert!(portfolio_at < briefing_at, "{out}");
    assert!(err.contains("of 8000 tokens"), "{err}");
    let (status, out, _) =
        run(setup.command(&["--workspace", ws, "--json", "context", "--budget", "50"]));
    assert!(status.success());
    let context: Value = serde_json::from_str(&out).unwrap();
    assert!(context["used_tokens"].as_u64().unwrap() <= 50, "{out}");
    assert_eq!(context["parts"].as_array().unwrap().len(), 4);
}

/// `baton memory add|search|forget|embed` and `baton context --query`, with
/// vectors from the scripted model server's embeddings endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_are_added_found_recalled_and_forgotten() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().to_str().unwrap();
    let baton = |args: &[&str]| {
        let mut cmd = setup.command(&[&["--workspace", ws], args].concat());
        cmd.env("BATON_MEMORY__EMBEDDER", "scripted/embedder");
        cmd
    };

    let (status, out, err) = run(baton(&[
        "--json",
        "memory",
        "add",
        "Staging database lives in eu-west-1",
    ]));
    assert!(status.success(), "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["embedding_model"], "scripted/embedder");
    let mut cmd = baton(&[
        "memory",
        "add",
        "--source",
        "document",
        "--ref",
        "PROJECT_CONTEXT.md",
    ]);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Releases are cut from the main branch every Tuesday\n")
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).starts_with("remembered "));

    let (status, out, err) = run(baton(&["--json", "memory", "search", "staging database"]));
    assert!(status.success(), "{err}");
    let recall: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(recall["hits"][0]["id"], added["id"], "{out}");
    assert_eq!(recall["hits"][0]["vector_rank"], 1, "{out}");
    let (status, out, _) = run(baton(&["memory", "search", "release branch"]));
    assert!(status.success());
    assert!(
        out.contains("Releases are cut") && out.contains("document"),
        "{out}"
    );

    let (status, out, err) = run(baton(&["context", "--query", "staging database region"]));
    assert!(status.success(), "{err}");
    assert!(
        out.contains("# Relevant Memories") && out.contains("eu-west-1"),
        "{out}"
    );

    let id = added["id"].as_str().unwrap();
    let (status, out, _) = run(baton(&["memory", "forget", id]));
    assert!(status.success() && out.contains(id), "{out}");
    let (status, _, err) = run(baton(&["memory", "forget", id]));
    assert!(!status.success() && err.contains("no memory"), "{err}");

    let (status, _, err) = run(baton(&["memory", "add", "   "]));
    assert!(
        !status.success() && err.contains("needs some text"),
        "{err}"
    );
    let (status, _, err) = run(baton(&["memory", "search", "x", "--limit", "0"]));
    assert!(!status.success() && err.contains("1 to 100"), "{err}");

    // An embedder that cannot be reached loses nothing; `embed` catches up.
    let mut offline = baton(&["memory", "add", "Backups are verified weekly"]);
    offline.env("BATON_MEMORY__EMBEDDER", "nowhere/embedder");
    let (status, out, err) = run(offline);
    assert!(status.success(), "{err}");
    assert!(
        out.starts_with("remembered ") && err.contains("full-text recall only"),
        "{err}"
    );
    let (status, out, err) = run(baton(&["memory", "embed"]));
    assert!(status.success(), "{err}");
    assert!(
        out.starts_with("1 memories got vectors from scripted/embedder"),
        "{out}"
    );
}

/// With a model configured, `baton handoff` has it write the briefing from
/// the log; an answer that is not a briefing falls back to the summary;
/// `--summary` asks no model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_writes_the_briefing_when_it_can() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().to_str().unwrap();
    let (status, _, err) = run(setup.command(&["--workspace", ws, "init"]));
    assert!(status.success(), "{err}");

    srv.push(baton_testkit::Step::text(
        "# Session Briefing\n\n## What's Being Worked On\n- the model wrote this\n",
    ));
    let (status, out, err) = run(setup.command(&["--workspace", ws, "handoff"]));
    assert!(status.success(), "{err}");
    assert!(out.contains("by scripted/scripted-small"), "{out}");
    let briefing = std::fs::read_to_string(root.path().join("SESSION_BRIEFING.md")).unwrap();
    assert!(briefing.contains("the model wrote this"), "{briefing}");
    let asked = srv.requests()[0].body["messages"][1]["content"].to_string();
    assert!(asked.contains("The mechanical draft"), "{asked}");

    srv.push(baton_testkit::Step::text("Sure! Here is a summary."));
    let (status, out, err) = run(setup.command(&["--workspace", ws, "handoff"]));
    assert!(status.success(), "{err}");
    assert!(out.contains("by summary"), "{out}");
    assert!(err.contains("not a briefing"), "{err}");

    let before = srv.request_count();
    let (status, out, _) = run(setup.command(&["--workspace", ws, "handoff", "--summary"]));
    assert!(status.success() && out.contains("by summary"), "{out}");
    assert_eq!(srv.request_count(), before, "no model was asked");
}

/// `baton eval continuity`: each task in two fresh sessions, with and
/// without the handoff, scored per metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_continuity_compares_sessions_with_and_without_the_handoff() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, out, _) = run(setup.command(&["eval", "continuity", "--print-suite"]));
    assert!(
        status.success() && out.matches("[[task]]").count() >= 6,
        "{out}"
    );

    let suite = setup.dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        r##"
[[task]]
name = "db"
metric = "consistency"
prompt = "Which database?"
expect = ["postgres"]
reject = ["mongo"]
[task.tiers]
project = "# Project Context\n\n## Decisions\n- PostgreSQL everywhere.\n"

[[task]]
name = "freeze"
metric = "adaptation"
prompt = "Upgrade tokio now?"
expect = ["no"]
[task.tiers]
briefing = "# Session Briefing\n\n## Immediate Blockers\n- Dependencies frozen until the release.\n"
"##,
    )
    .unwrap();
    for answer in ["PostgreSQL.", "MongoDB.", "No: frozen.", "No idea, maybe."] {
        srv.push(baton_testkit::Step::text(answer));
    }
    let (status, out, err) = run(setup.command(&[
        "--json",
        "eval",
        "continuity",
        "--suite",
        suite.to_str().unwrap(),
    ]));
    assert!(status.success(), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["model"], "scripted/scripted-small");
    let metrics = report["metrics"].as_array().unwrap();
    assert_eq!(metrics[0]["metric"], "consistency");
    assert_eq!(
        (
            metrics[0]["with_handoff"].as_u64(),
            metrics[0]["without_handoff"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(metrics[1]["metric"], "adaptation");
    assert_eq!(
        (
            metrics[1]["with_handoff"].as_u64(),
            metrics[1]["without_handoff"].as_u64()
        ),
        (Some(1), Some(1)),
        "{out}"
    );
    assert_eq!(
        report["tasks"][0]["without_handoff"]["misses"][0],
        "missing \"postgres\""
    );
    let requests = srv.requests();
    let system = |at: usize| requests[at].body["messages"][0]["content"].to_string();
    assert!(system(0).contains("PostgreSQL everywhere"), "{}", system(0));
    assert!(
        !system(1).contains("PostgreSQL everywhere"),
        "the second session is fresh"
    );

    std::fs::write(&suite, "[[task]]\nname = 'x'\n").unwrap();
    let (status, _, err) =
        run(setup.command(&["eval", "continuity", "--suite", suite.to_str().unwrap()]));
    assert!(
        !status.success() && err.contains("evaluation suite"),
        "{err}"
    );
}

/// `baton chat` in a workspace with handoff documents starts from its
/// context and ends with its session-log entry; elsewhere it leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_in_a_workspace_starts_from_its_context_and_logs_its_end() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("SESSION_BRIEFING.md"),
        "# Session Briefing\n\n## What's Being Worked On\n- the invoice exporter\n",
    )
    .unwrap();
    let ws = root.path().to_str().unwrap();
    let (status, out, err) = run(setup.command(&["--workspace", ws, "chat", "what is next?"]));
    assert!(status.success(), "{err}");
    assert!(out.contains("echo: what is next?"), "{out}");
    assert!(err.contains("logged as entry 1 of SESSION_LOG.md"), "{err}");
    let sent = srv.requests()[0].body["messages"].to_string();
    assert!(sent.contains("the invoice exporter"), "{sent}");
    let log = std::fs::read_to_string(root.path().join("SESSION_LOG.md")).unwrap();
    assert!(
        log.contains("baton chat (scripted/scripted-small)")
            && log.contains("- asked: what is next?"),
        "{log}"
    );
    let (status, out, _) = run(setup.command(&["--workspace", ws, "log", "verify"]));
    assert!(status.success() && out.contains("intact"), "{out}");
    let (status, out, err) = run(setup.command(&[
        "--workspace",
        ws,
        "--json",
        "memory",
        "search",
        "what is next",
    ]));
    assert!(status.success(), "{err}");
    let recall: Value = serde_json::from_str(&out).unwrap();
    let sources: Vec<&str> = recall["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"conversation") && sources.contains(&"log"),
        "{out}"
    );

    let bare = tempfile::tempdir().unwrap();
    let (status, _, err) = run(setup.command(&[
        "--workspace",
        bare.path().to_str().unwrap(),
        "chat",
        "hello",
    ]));
    assert!(status.success() && !err.contains("logged as"), "{err}");
    assert!(!bare.path().join("SESSION_LOG.md").exists());
    let sent = srv.requests()[1].body["messages"].to_string();
    assert!(!sent.contains("handoff documents"), "{sent}");
}
