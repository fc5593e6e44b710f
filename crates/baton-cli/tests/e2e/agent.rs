//! `baton run` and `baton doctor`: the real binary, real tools in a real
//! workspace, the real sandbox, and a `kill -9` in the middle of a run.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use baton_testkit::{ScriptedServer, Step};
use serde_json::{Value, json};

use crate::baton::{Setup, run};

fn goal_met() -> Step {
    Step::text(r#"{"met": true, "reason": "done"}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_shows_a_live_trace_and_completes() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let workspace = tempfile::tempdir().unwrap();
    srv.push(Step::tool_call(
        "write",
        json!({"path": "hello.txt", "content": "hi\n"}),
    ));
    srv.push(Step::tool_call(
        "shell",
        json!({"command": "cat hello.txt"}),
    ));
    srv.push(Step::text("hello.txt says hi."));
    srv.push(goal_met());
    let (status, out, err) = run(setup.command(&[
        "--workspace",
        workspace.path().to_str().unwrap(),
        "run",
        "--goal",
        "greet in hello.txt",
        "--mode",
        "auto",
        "--model",
        "scripted/scripted-small",
    ]));
    assert!(status.success(), "{err}");
    assert_eq!(out.trim_end(), "hello.txt says hi.");
    assert!(
        err.contains("→ write") && err.contains("← shell done"),
        "{err}"
    );
    assert!(err.contains("completed: goal met"), "{err}");
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("hello.txt")).unwrap(),
        "hi\n"
    );
    assert!(workspace.path().join("SESSION_LOG.md").exists());
    // Every message of the run is in the memory log too.
    let log = std::fs::read_to_string(setup.data_dir().join("memory_log.jsonl")).unwrap();
    assert!(log.lines().count() >= 6, "{log}");

    // The session log entry was recorded hash-chained; an edit is found.
    let ws = workspace.path().to_str().unwrap();
    let (status, out, err) = run(setup.command(&["--workspace", ws, "log", "verify"]));
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("1 entries recorded, 1 in the file") && out.contains("intact"),
        "{out}"
    );
    let path = workspace.path().join("SESSION_LOG.md");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("greet in hello.txt", "something else")).unwrap();
    let (status, out, _) = run(setup.command(&["--workspace", ws, "--json", "log", "verify"]));
    assert_eq!(status.code(), Some(1), "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["problems"],
        json!([{"kind": "edited", "position": 1}]),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_bad_flags_and_a_missing_goal() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, _, err) = run(setup.command(&["run", "--mode", "auto"]));
    assert!(!status.success());
    assert!(err.contains("--goal"), "{err}");
    let (status, _, err) = run(setup.command(&[
        "run",
        "--goal",
        "x",
        "--model",
        "scripted/scripted-small",
        "--allow",
        "shell(git status",
    ]));
    assert!(!status.success());
    assert!(err.contains("shell(git status"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_the_sandbox() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, out, err) = run(setup.command(&["--json", "doctor"]));
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let sandbox = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sandbox")
        .unwrap();
    assert_eq!(sandbox["ok"], true, "{report}");
    assert!(sandbox["detail"].as_str().unwrap().contains("Landlock"));
    assert!(status.success(), "{report}");
}

/// A run killed with SIGKILL while a shell call runs, then resumed: the
/// cut-off call is reported as interrupted, never run again, and the run
/// goes on to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_resume_repeats_nothing() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().to_str().unwrap().to_owned();
    srv.push(Step::tool_call(
        "shell",
        json!({"command": "echo started >> runs.txt; sleep 30"}),
    ));
    let mut child = setup
        .command(&[
            "--json",
            "--workspace",
            &ws,
            "run",
            "--goal",
            "take a while",
            "--mode",
            "auto",
            // The redirection is a write the policy asks about unless a
            // rule allows it.
            "--allow",
            "write(runs.txt)",
            "--model",
            "scripted/scripted-small",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(event) = serde_json::from_str(&line) {
                let _ = lines_tx.send(event);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut run_id = None;
    loop {
        let event = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the run reports its tool call");
        if event["type"] == "started" {
            run_id = event["run_id"].as_str().map(str::to_owned);
        }
        if event["type"] == "tool_call" {
            break;
        }
    }
    // The command is running once its first line is in the file.
    while !workspace.path().join("runs.txt").exists() {
        assert!(Instant::now() < deadline, "the shell call never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = run_id.expect("a started event");

    srv.push(Step::text("The long call was cut off; stopping here."));
    srv.push(goal_met());
    let (status, out, err) =
        run(setup.command(&["--json", "--workspace", &ws, "run", "--resume", &run_id]));
    assert!(status.success(), "{err}\n{out}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "started");
    assert_eq!(events[0]["resumed"], true);
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .expect("the interrupted call is answered");
    assert_eq!(result["state"], "interrupted", "{events:#?}");
    assert_eq!(events.last().unwrap()["status"], "completed");
    // Not run again: one line in the file, and the model was told.
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("runs.txt")).unwrap(),
        "started\n"
    );
    let told = srv.requests().last().unwrap().body.to_string();
    let asked = srv.requests()[srv.requests().len() - 2].body["messages"].to_string();
    assert!(asked.contains("interrupted"), "{asked}");
    assert!(
        told.contains("take a while"),
        "the goal check saw the goal: {told}"
    );

    // Resuming an ended run is refused.
    let (status, _, err) = run(setup.command(&["--workspace", &ws, "run", "--resume", &run_id]));
    assert!(!status.success());
    assert!(err.contains("already ended"), "{err}");
}

/// The tools of an MCP server named in the config (the official Python SDK
/// over stdio) are called by an agent run, under the policy: a read-only
/// tool runs in `ask` mode, an allowed one runs, an unanswered ask is
/// refused when the wait runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_calls_mcp_tools_under_the_policy() {
    let Some(python) = std::env::var_os("BATON_TEST_PYTHON") else {
        assert!(
            std::env::var_os("BATON_REQUIRE_PYTHON").is_none(),
            "BATON_REQUIRE_PYTHON is set but BATON_TEST_PYTHON is not"
        );
        eprintln!("skipped: BATON_TEST_PYTHON is not set");
        return;
    };
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let server_script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python/mcp_echo_server.py");
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        "\n[agent]\napproval_wait_secs = 1\n\n[[mcp.servers]]\nname = \"echo\"\ncommand = {:?}\nargs = [{:?}]\n",
        python.to_str().unwrap(),
        server_script.to_str().unwrap()
    ));
    std::fs::write(&setup.config, config).unwrap();
    let workspace = tempfile::tempdir().unwrap();
    srv.push(Step::tool_call("echo__echo", json!({"text": "ping"})));
    srv.push(Step::tool_call("echo__add", json!({"a": 2, "b": 3})));
    srv.push(Step::tool_call("echo__fail", json!({})));
    srv.push(Step::text("echo said ping, add said 5."));
    srv.push(goal_met());
    let (status, out, err) = run(setup.command(&[
        "--json",
        "--workspace",
        workspace.path().to_str().unwrap(),
        "run",
        "--goal",
        "use the echo server",
        "--allow",
        "mcp(echo.add)",
        "--model",
        "scripted/scripted-small",
    ]));
    assert!(status.success(), "{err}\n{out}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 3, "{events:#?}");
    assert_eq!(results[0]["state"], "done");
    assert_eq!(results[1]["state"], "done");
    assert_eq!(results[2]["state"], "refused");
    let blocked = events.iter().find(|e| e["type"] == "blocked").unwrap();
    assert!(
        blocked["reason"]
            .as_str()
            .unwrap()
            .contains("nobody answered"),
        "{blocked}"
    );
    let requests = srv.requests();
    let tools = requests[0].body["tools"].to_string();
    assert!(
        tools.contains("echo__echo") && tools.contains("echo__add"),
        "{tools}"
    );
    assert!(requests[1].body["messages"].to_string().contains("ping"));
    assert!(requests[2].body["messages"].to_string().contains('5'));
}
