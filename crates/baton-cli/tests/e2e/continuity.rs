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
