//! `baton workflow …` and `baton worker`: plans run by the real binary's
//! in-process worker or a separate worker process, against the scripted
//! model server, on SQLite and on PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use baton_testkit::{ScriptedServer, Step, TestDatabase};
use serde_json::{Value, json};

use crate::baton::{Setup, run, write};

/// Declares a case once and runs it on both store backends.
macro_rules! both_backends {
    ($case:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $case(None).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let Some(db) = TestDatabase::postgres(stringify!($postgres)).await else {
                return;
            };
            $case(Some(db.url())).await;
        }
    };
}

const DIAMOND: &str = r#"
name = "diamond"

[[tasks]]
id = "start"
type = "noop"

[[tasks]]
id = "left"
type = "sleep"
sleep_ms = 150
depends_on = ["start"]

[[tasks]]
id = "right"
type = "sleep"
sleep_ms = 50
depends_on = ["start"]

[[tasks]]
id = "join"
type = "noop"
depends_on = ["left", "right"]
"#;

const APPROVAL: &str = r#"
name = "ship"

[[tasks]]
id = "prepare"
type = "noop"

[[tasks]]
id = "gate"
type = "approval"
description = "Ship it?"
depends_on = ["prepare"]

[[tasks]]
id = "ship"
type = "noop"
depends_on = ["gate"]
"#;

/// A setup with a workspace of its own, so that runs never touch the
/// directory the tests run in.
struct Bench {
    setup: Setup,
    workspace: PathBuf,
}

impl Bench {
    fn new(srv: &ScriptedServer, database: Option<&str>) -> Bench {
        let setup = Setup::new(srv, database);
        let workspace = setup.dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        let bench = Bench { setup, workspace };
        // Two processes opening a new SQLite database at once both try to
        // create its tables, and one fails; a background command and the
        // commands watching it must find the database made.
        let (status, _, err) = bench.run(&["workflow", "ls"]);
        assert!(status.success(), "{err}");
        bench
    }

    /// Writes a plan file into the workspace; returns its path.
    fn plan(&self, name: &str, text: &str) -> String {
        let path = self.workspace.join(name);
        write(&path, text);
        path.display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let ws = self.workspace.to_str().unwrap();
        let mut all = vec!["--workspace", ws];
        all.extend_from_slice(args);
        let mut cmd = self.setup.command(&all);
        cmd.current_dir(&self.workspace);
        cmd
    }

    fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        run(self.command(args))
    }

    /// Runs a command that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (status, out, err) = self.run(&all);
        assert!(status.success(), "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Starts a command in the background with nothing on its stdin.
    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Polls `workflow show` until `ready` holds for the view.
    fn wait_for(&self, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let view = self.json(&["workflow", "show", id]);
            if ready(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "never {what}: {view:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The id of the only workflow, once there is one.
    fn only_workflow(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let runs = self.json(&["workflow", "ls"]);
            if let Some(run) = runs.as_array().unwrap().first() {
                return run["id"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "no workflow was stored");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits for a background command; returns (status, stdout, stderr).
fn finish(mut child: Child) -> (ExitStatus, String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the command did not end: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn task<'a>(view: &'a Value, key: &str) -> &'a Value {
    view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no task {key}: {view:#}"))
}

async fn diamond_runs_and_is_seen_by_every_verb(database: Option<&str>) {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, database);
    let plan = bench.plan("diamond.toml", DIAMOND);
    let started = Instant::now();
    let (status, out, err) = bench.run(&["--json", "workflow", "run", &plan]);
    assert!(status.success(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let view: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["result"], json!({"join": null}), "the sink's output");
    assert_eq!(view["done_tasks"], 4);
    // Without a terminal, progress is one plain line per event on stderr.
    assert!(err.contains("left started"), "{err}");
    assert!(err.contains("workflow completed"), "{err}");
    assert!(err.contains("completed in"), "the summary line: {err}");
    let id = view["id"].as_str().unwrap();

    let runs = bench.json(&["workflow", "ls"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs:#}");
    assert_eq!(runs[0]["id"], id);
    assert_eq!(runs[0]["name"], "diamond");
    assert_eq!(runs[0]["status"], "completed");
    let (status, out, _) = bench.run(&["workflow", "ls"]);
    assert!(status.success());
    assert!(
        out.contains(id) && out.contains("4/4") && out.contains("diamond"),
        "{out}"
    );

    let shown = bench.json(&["workflow", "show", id]);
    assert_eq!(shown["tasks"].as_array().unwrap().len(), 4);
    for key in ["start", "left", "right", "join"] {
        assert_eq!(task(&shown, key)["state"], "completed", "{shown:#}");
    }
    let (status, out, _) = bench.run(&["workflow", "show", id]);
    assert!(status.success());
    assert!(out.contains("completed (4/4 tasks done)"), "{out}");
    assert!(out.contains("left") && out.contains("sleep"), "{out}");

    // The event log: numbered from 1 without gaps, ending with the end.
    let (status, out, err) = bench.run(&["--json", "workflow", "events", id]);
    assert!(status.success(), "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    assert_eq!(events.first().unwrap()["kind"], "workflow_started");
    assert_eq!(events.last().unwrap()["kind"], "workflow_completed");
    let at = |kind: &str, key: &str| {
        events
            .iter()
            .position(|e| e["kind"] == kind && e["task"] == key)
            .unwrap_or_else(|| panic!("no {kind} for {key}"))
    };
    assert!(at("task_started", "join") > at("task_completed", "left"));
    assert!(at("task_started", "join") > at("task_completed", "right"));

    // Readable lines; --after skips; following an ended run ends at once.
    let (status, out, _) = bench.run(&["workflow", "events", id, "--after", "2"]);
    assert!(status.success());
    assert_eq!(out.lines().count(), events.len() - 2, "{out}");
    assert!(out.lines().last().unwrap().contains("workflow completed"));
    let (status, out, _) = bench.run(&["workflow", "events", id, "--follow"]);
    assert!(status.success());
    assert_eq!(out.lines().count(), events.len());
    let last = events.len().to_string();
    let (status, out, _) = bench.run(&["workflow", "events", id, "--follow", "--after", &last]);
    assert!(status.success());
    assert_eq!(out, "");

    // Pruning keeps a run that ended less than a day ago; 0 days deletes it.
    let (status, out, err) = bench.run(&["workflow", "prune", "--older-than", "1"]);
    assert!(status.success(), "{err}");
    assert!(out.contains("deleted 0 workflows"), "{out}");
    assert_eq!(bench.json(&["workflow", "ls"]).as_array().unwrap().len(), 1);
    let pruned = bench.json(&["workflow", "prune", "--older-than", "0"]);
    assert_eq!(pruned, json!({ "deleted": 1 }));
    assert_eq!(bench.json(&["workflow", "ls"]), json!([]));
    let (status, _, err) = bench.run(&["workflow", "show", id]);
    assert!(!status.success());
    assert!(
        err.contains("not found") || err.contains("no workflow"),
        "{err}"
    );
}

both_backends!(
    diamond_runs_and_is_seen_by_every_verb,
    sqlite_workflow_diamond_runs_and_is_seen_by_every_verb,
    postgres_workflow_diamond_runs_and_is_seen_by_every_verb
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_model_tasks_answer_from_the_scripted_model() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = bench.plan(
        "write.json",
        &json!({
            "name": "write",
            "tasks": [
                {"id": "draft", "type": "model", "description": "Draft a haiku about rivers."},
                {"id": "polish", "type": "model", "description": "Polish the draft.",
                 "depends_on": ["draft"], "model": "scripted/scripted-large"},
            ]
        })
        .to_string(),
    );
    srv.push(Step::text("water runs downhill").usage(10, 4));
    srv.push(Step::text("Water finds its way.").usage(20, 5));
    let (status, out, err) = bench.run(&["workflow", "run", &plan]);
    assert!(status.success(), "{err}");
    assert_eq!(out, "Water finds its way.\n", "the sink's output: {err}");
    assert!(err.contains("completed in"), "{err}");
    let requests = srv.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body["model"], "scripted-small");
    assert_eq!(requests[1].body["model"], "scripted-large");
    let prompt = requests[1].body["messages"].to_string();
    assert!(
        prompt.contains("water runs downhill"),
        "the draft is the polish's input: {prompt}"
    );
    let id = bench.json(&["workflow", "ls"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let view = bench.json(&["workflow", "show", &id]);
    let draft = task(&view, "draft");
    assert_eq!(draft["model"], "scripted/scripted-small");
    assert_eq!(draft["prompt_tokens"], 10);
    assert!(draft["cost_usd"].as_f64().unwrap() > 0.0, "{draft}");
    assert_eq!(view["result"], json!({"polish": "Water finds its way."}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_description_is_planned_by_the_model_then_run() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = json!({
        "name": "greeting",
        "tasks": [
            {"id": "greet", "type": "model", "description": "Say hello to the team."},
            {"id": "sign", "type": "model", "description": "Sign the greeting.", "depends_on": ["greet"]},
        ]
    });
    srv.push(Step::text(plan.to_string()));
    srv.push(Step::text("Hello, team!"));
    srv.push(Step::text("Hello, team! -- baton"));
    let (status, out, err) = bench.run(&[
        "--json",
        "workflow",
        "run",
        "greet the team and sign it",
        "--type",
        "writing",
    ]);
    assert!(status.success(), "{err}");
    let view: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["name"], "greeting");
    assert_eq!(view["result"], json!({"sign": "Hello, team! -- baton"}));
    assert_eq!(view["request"]["request"]["type"], "writing");
    assert!(
        err.contains("planned by scripted/scripted-small"),
        "who planned: {err}"
    );
    let requests = srv.requests();
    assert_eq!(requests.len(), 3);
    let planning = requests[0].body["messages"].to_string();
    assert!(
        planning.contains("greet the team and sign it"),
        "{planning}"
    );
    // Each task is told the request it is a step of.
    let step = requests[1].body["messages"].to_string();
    assert!(step.contains("greet the team and sign it"), "{step}");
}

/// `--no-plan` runs the description as one agent task; the finished run
/// is recorded in the workspace's session log before the command ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_without_planning_is_one_agent_task_recorded_in_the_log() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let (status, _, err) = bench.run(&["init"]);
    assert!(status.success(), "{err}");
    srv.push(Step::text("Nothing needed changing."));
    srv.push(Step::text(r#"{"met": true, "reason": "done"}"#));
    let (status, out, err) = bench.run(&[
        "--json",
        "workflow",
        "run",
        "check that the workspace is tidy",
        "--no-plan",
    ]);
    assert!(status.success(), "{err}");
    let view: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(view["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(view["tasks"][0]["kind"], "agent");
    assert_eq!(view["result"], json!({"task": "Nothing needed changing."}));
    assert!(err.contains("planned by single"), "{err}");
    let id = view["id"].as_str().unwrap();
    let log = std::fs::read_to_string(bench.workspace.join("SESSION_LOG.md")).unwrap();
    assert!(
        log.contains(&format!("baton workflow {id}")),
        "the run's entry is in the log: {log}"
    );
}

/// Agent tasks inherit the workflow's policy: a word blocked for the
/// workflow refuses the shell command holding it, and the tools a person's
/// plan names for a task are that task's to use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tasks_run_under_the_workflows_policy() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = bench.plan(
        "greet.toml",
        r#"
[[tasks]]
id = "greet"
type = "agent"
description = "Write hello.txt, then show it"
tools = ["write"]
"#,
    );
    srv.push(Step::tool_call(
        "write",
        json!({"path": "hello.txt", "content": "hi\n"}),
    ));
    srv.push(Step::tool_call(
        "shell",
        json!({"command": "cat hello.txt"}),
    ));
    srv.push(Step::text("Wrote hello.txt; showing it was refused."));
    srv.push(Step::text(r#"{"met": true, "reason": "done"}"#));
    let (status, out, err) = bench.run(&["--json", "workflow", "run", &plan, "--block", "cat"]);
    assert!(status.success(), "{err}");
    let view: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(
        std::fs::read_to_string(bench.workspace.join("hello.txt")).unwrap(),
        "hi\n"
    );
    let after_shell = srv.requests()[2].body["messages"].to_string();
    assert!(
        after_shell.contains("refused") && after_shell.contains("--block cat"),
        "the model is told the shell call was refused: {after_shell}"
    );
    // A rule that does not parse is refused before anything is stored.
    let (status, _, err) = bench.run(&["workflow", "run", &plan, "--allow", "shell("]);
    assert!(!status.success());
    assert!(err.contains("shell("), "{err}");
    assert_eq!(bench.json(&["workflow", "ls"]).as_array().unwrap().len(), 1);
}

async fn detached_run_cancelled_then_resumed(database: Option<&str>) {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, database);
    let plan = bench.plan(
        "short.toml",
        r#"
[[tasks]]
id = "wait"
type = "sleep"
sleep_ms = 100

[[tasks]]
id = "after"
type = "noop"
depends_on = ["wait"]
"#,
    );
    let (status, out, err) = bench.run(&["workflow", "run", &plan, "--detach"]);
    assert!(status.success(), "{err}");
    let id = out.trim().to_owned();
    assert_eq!(id.len(), 36, "the id alone on stdout: {out:?}");
    assert!(err.contains("baton worker"), "how it will run: {err}");
    // Nobody runs it: it waits.
    let view = bench.json(&["workflow", "show", &id]);
    assert_eq!(view["status"], "running");
    assert_eq!(task(&view, "wait")["state"], "ready");

    let (status, out, err) = bench.run(&["workflow", "cancel", &id, "--reason", "not now"]);
    assert!(status.success(), "{err}");
    assert!(out.contains("cancelled"), "{out}");
    let (status, out, _) = bench.run(&["workflow", "show", &id]);
    assert!(status.success());
    assert!(out.contains("cancelled: not now"), "{out}");
    let (status, _, err) = bench.run(&["workflow", "cancel", &id]);
    assert!(!status.success());
    assert!(err.contains("already ended"), "{err}");

    // Resumed and followed here, it runs to its end.
    let (status, _, err) = bench.run(&["workflow", "resume", &id]);
    assert!(status.success(), "{err}");
    assert!(err.contains("resumed after it cancelled"), "{err}");
    assert!(err.contains("workflow resumed"), "{err}");
    assert!(err.contains("workflow completed"), "{err}");
    assert!(
        !err.contains("workflow cancelled"),
        "only what happened since the resume: {err}"
    );
    let view = bench.json(&["workflow", "show", &id]);
    assert_eq!(view["status"], "completed");
    let (status, _, err) = bench.run(&["workflow", "resume", &id]);
    assert!(!status.success());
    assert!(err.contains("already completed"), "{err}");
}

both_backends!(
    detached_run_cancelled_then_resumed,
    sqlite_workflow_detached_run_cancelled_then_resumed,
    postgres_workflow_detached_run_cancelled_then_resumed
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_cancelled_while_followed_exits_3() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = bench.plan(
        "long.toml",
        "[[tasks]]\nid = \"nap\"\ntype = \"sleep\"\nsleep_ms = 60000\n",
    );
    let child = bench.spawn(&["workflow", "run", &plan]);
    let id = bench.only_workflow();
    bench.wait_for(&id, "started", |v| task(v, "nap")["state"] == "claimed");
    let (status, _, err) = bench.run(&["workflow", "cancel", &id]);
    assert!(status.success(), "{err}");
    let (status, _, err) = finish(child);
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("workflow cancelled"), "{err}");
    assert!(
        err.contains(&format!("baton workflow resume {id}")),
        "{err}"
    );
}

/// Ctrl-C stops the worker and leaves the run as it was, to be resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_interrupted_exits_130_and_stays_resumable() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = bench.plan(
        "long.toml",
        "[[tasks]]\nid = \"nap\"\ntype = \"sleep\"\nsleep_ms = 60000\n",
    );
    let child = bench.spawn(&["workflow", "run", &plan]);
    let id = bench.only_workflow();
    bench.wait_for(&id, "started", |v| task(v, "nap")["state"] == "claimed");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let (status, _, err) = finish(child);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        err.contains(&format!("baton workflow resume {id}")),
        "{err}"
    );
    let view = bench.json(&["workflow", "show", &id]);
    assert_eq!(view["status"], "running", "left as it was: {view:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_bad_input_is_refused_clearly() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = bench.plan(
        "cycle.toml",
        r#"
[[tasks]]
id = "a"
type = "noop"
depends_on = ["b"]

[[tasks]]
id = "b"
type = "noop"
depends_on = ["a"]
"#,
    );
    let (status, _, err) = bench.run(&["workflow", "run", &plan]);
    assert!(!status.success());
    assert!(err.contains("dependency cycle"), "{err}");
    assert!(err.contains("a → b → a"), "the cycle is named: {err}");
    assert!(err.contains("cycle.toml"), "the file is named: {err}");

    let broken = bench.plan(
        "broken.json",
        "{\"tasks\": [{\"id\": \"x\", \"type\": \"nap\"}]}",
    );
    let (status, _, err) = bench.run(&["workflow", "run", &broken]);
    assert!(!status.success());
    assert!(err.contains("unknown task type \"nap\""), "{err}");

    let (status, _, err) = bench.run(&["workflow", "run", "missing.toml"]);
    assert!(!status.success());
    assert!(err.contains("no plan file missing.toml"), "{err}");

    let unknown = "01900000-0000-7000-8000-000000000000";
    for verb in ["show", "cancel", "resume", "events"] {
        let (status, _, err) = bench.run(&["workflow", verb, unknown]);
        assert!(!status.success(), "{verb}");
        assert!(
            err.contains(&format!("workflow {unknown} not found")),
            "{verb}: {err}"
        );
    }
    let (status, _, err) = bench.run(&["workflow", "show", "nope"]);
    assert!(!status.success());
    assert!(err.contains("not a workflow id"), "{err}");
    assert!(srv.requests().is_empty(), "nothing asked a model");
}

/// A followed run without a terminal says how to approve, and carries on
/// once another process approves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_approval_from_another_process() {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, None);
    let plan = bench.plan("ship.toml", APPROVAL);
    let child = bench.spawn(&["--json", "workflow", "run", &plan]);
    let id = bench.only_workflow();
    bench.wait_for(&id, "waiting", |v| task(v, "gate")["state"] == "waiting");
    let (status, out, err) = bench.run(&[
        "workflow",
        "approve",
        &id,
        "gate",
        "--comment",
        "looks good",
    ]);
    assert!(status.success(), "{err}");
    assert!(out.contains("approved gate"), "{out}");
    let (status, out, err) = finish(child);
    assert!(status.success(), "{err}");
    assert!(
        err.contains(&format!("baton workflow approve {id} gate")),
        "the hint: {err}"
    );
    let view: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(view["status"], "completed");
    let gate = task(&view, "gate");
    assert_eq!(gate["output"]["approved"], true, "{gate}");
    assert_eq!(gate["output"]["comment"], "looks good", "{gate}");
}

/// `baton worker` runs detached workflows; a rejected approval fails the
/// run; SIGTERM stops the worker cleanly.
async fn worker_runs_detached_workflows(database: Option<&str>) {
    let srv = ScriptedServer::start().await;
    let bench = Bench::new(&srv, database);
    let mut worker = bench
        .command(&["worker", "--concurrency", "4"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = worker.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the worker logs its start");
        if line.contains("baton worker") {
            break line;
        }
    };
    assert!(
        started.contains("baton worker") && started.contains("started"),
        "{started}"
    );
    let backend = if database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert!(started.contains(backend), "{started}");

    let diamond = bench.plan("diamond.toml", DIAMOND);
    let (status, out, err) = bench.run(&["workflow", "run", &diamond, "--detach"]);
    assert!(status.success(), "{err}");
    let id = out.trim().to_owned();
    bench.wait_for(&id, "completed", |v| v["status"] == "completed");

    let approval = bench.plan("ship.toml", APPROVAL);
    let (status, out, err) = bench.run(&["workflow", "run", &approval, "--detach"]);
    assert!(status.success(), "{err}");
    let id = out.trim().to_owned();
    bench.wait_for(&id, "waiting", |v| task(v, "gate")["state"] == "waiting");
    let (status, out, err) = bench.run(&["workflow", "approve", &id, "gate", "--reject"]);
    assert!(status.success(), "{err}");
    assert!(out.contains("rejected gate"), "{out}");
    let view = bench.json(&["workflow", "show", &id]);
    assert_eq!(view["status"], "failed", "{view:#}");
    assert_eq!(task(&view, "ship")["state"], "cancelled");
    let (status, _, err) = bench.run(&["workflow", "approve", &id, "gate"]);
    assert!(!status.success());
    assert!(err.contains("not waiting"), "{err}");

    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

both_backends!(
    worker_runs_detached_workflows,
    sqlite_worker_runs_detached_workflows,
    postgres_worker_runs_detached_workflows
);
