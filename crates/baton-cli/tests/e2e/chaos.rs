//! Chaos: 100 workflow runs of mixed shapes (chain, fan-out/fan-in,
//! diamond) carried out by three `baton worker` processes while a seeded
//! loop SIGKILLs one of them every 200–800 ms and starts a replacement, on
//! SQLite (one file shared by every process) and on PostgreSQL.
//!
//! Every run must complete; every task must be committed exactly once (one
//! `task_completed` event, never started before its dependencies ended);
//! no result may be lost (each `model` task answers with an echo of its
//! prompt, which holds its inputs, so a lost or wrong input shows in the
//! text, and each run's result must hold its sink's exact answer); and a
//! watcher that is killed and reconnects with `--after` must see every
//! event of its run once, in order.
//!
//! The seed is printed; `BATON_CHAOS_SEED=N` replays its choices (the
//! timing is the machine's own), `BATON_CHAOS_RUNS=N` changes the number
//! of runs, and `BATON_CHAOS_FREEZE=1` also stops workers for longer than
//! their lease and lets them go on (late results, which must be fenced).
//! On a failure the worker logs (and the SQLite database) are kept in
//! `$TMPDIR/baton-chaos-BACKEND-SEED`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_testkit::{ScriptedServer, TestDatabase};
use serde_json::{Value, json};

use crate::baton::{Setup, write};

/// Runs submitted, unless `BATON_CHAOS_RUNS` says otherwise.
const RUNS: usize = 100;
/// Worker processes alive at any moment.
const WORKERS: usize = 3;
/// Runs followed by a watcher that is killed and reconnects.
const WATCHED: usize = 5;
/// Processes submitting runs at once.
const SUBMITTERS: usize = 2;
/// Threads checking finished runs at once.
const CHECKERS: usize = 3;
/// A kill every this many milliseconds (uniformly drawn).
const KILL_EVERY_MS: (u64, u64) = (200, 800);
/// A watcher is killed after this many milliseconds (uniformly drawn).
const WATCH_FOR_MS: (u64, u64) = (30, 400);
/// The whole chaos phase, submission to the last run's end, fails past
/// this (it takes 5 to 20 s).
const ALL_FINAL_WITHIN: Duration = Duration::from_secs(120);
/// Any one CLI command (a submission, a listing) fails past this.
const COMMAND_WITHIN: Duration = Duration::from_secs(30);

/// The engine as the workers run it: a short lease, so a killed worker's
/// tasks come back within two seconds (the default 15 s would make the test
/// slow), a short poll so workers on SQLite see other processes' work soon,
/// and a short retry backoff.
const ENGINE_CONFIG: &str = r#"
[engine]
lease_ms = 1500
poll_ms = 100
backoff_ms = 100
"#;

/// The two chaos cases load the machine; they never run at once.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_chaos_workers_killed_at_random_lose_nothing() {
    let srv = ScriptedServer::start().await;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    chaos(&srv, None, "sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_chaos_workers_killed_at_random_lose_nothing() {
    let Some(db) =
        TestDatabase::postgres("postgres_chaos_workers_killed_at_random_lose_nothing").await
    else {
        return;
    };
    let srv = ScriptedServer::start().await;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    chaos(&srv, Some(db.url()), "postgres");
}

// ---------------------------------------------------------------- seeds

/// splitmix64: small, seedable, good enough to pick kills and delays.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// Another generator for another thread, fixed by this one's seed.
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

fn seed() -> u64 {
    match std::env::var("BATON_CHAOS_SEED") {
        Ok(seed) if !seed.is_empty() => seed.parse().expect("BATON_CHAOS_SEED is a number"),
        _ => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

fn runs() -> usize {
    match std::env::var("BATON_CHAOS_RUNS") {
        Ok(n) if !n.is_empty() => n.parse().expect("BATON_CHAOS_RUNS is a number"),
        _ => RUNS,
    }
}

// ---------------------------------------------------------------- plans

/// One run's plan and what its tasks must end with.
struct Submitted {
    index: usize,
    id: String,
    shape: &'static str,
    /// The plan's tasks in plan order (dependencies first).
    tasks: Vec<Value>,
    /// Every task's expected output: `null` for noop and sleep tasks, the
    /// echo of its prompt for a model task.
    expected: BTreeMap<String, Value>,
    /// Tasks nothing depends on: the run's result has exactly these.
    sinks: Vec<String>,
}

fn sleep_task(id: &str, deps: &[&str], rng: &mut Rng) -> Value {
    json!({"id": id, "type": "sleep", "sleep_ms": rng.range((20, 50)), "depends_on": deps})
}

fn noop_task(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "type": "noop", "depends_on": deps})
}

fn model_task(run: usize, id: &str, deps: &[&str]) -> Value {
    json!({
        "id": id,
        "type": "model",
        "description": format!("chaos run {run}, step {id}: answer with this line."),
        "depends_on": deps,
    })
}

/// The plan of run `index`: a chain, a fan-out/fan-in or a diamond in
/// turn, each with sleep tasks (so kills land mid-task), noop tasks and
/// model tasks (whose answers carry their inputs).
fn plan_for(index: usize, rng: &mut Rng) -> (&'static str, Vec<Value>) {
    match index % 3 {
        0 => {
            // Five sleeps in a chain, then a model task.
            let mut tasks = vec![sleep_task("c1", &[], rng)];
            for i in 2..=5 {
                let prev = format!("c{}", i - 1);
                tasks.push(sleep_task(&format!("c{i}"), &[&prev], rng));
            }
            tasks.push(model_task(index, "report", &["c5"]));
            ("chain", tasks)
        }
        1 => {
            // A root, eight leaves (sleeps, noops and a model task), a join
            // that reads them all.
            let mut tasks = vec![noop_task("root", &[])];
            let mut leaves = Vec::new();
            for i in 1..=8 {
                let id = format!("leaf{i}");
                tasks.push(match i {
                    4 => model_task(index, &id, &["root"]),
                    3 | 6 => noop_task(&id, &["root"]),
                    _ => sleep_task(&id, &["root"], rng),
                });
                leaves.push(id);
            }
            let leaves: Vec<&str> = leaves.iter().map(String::as_str).collect();
            tasks.push(model_task(index, "join", &leaves));
            ("fan-out", tasks)
        }
        _ => (
            "diamond",
            vec![
                noop_task("start", &[]),
                sleep_task("left", &["start"], rng),
                model_task(index, "right", &["start"]),
                model_task(index, "join", &["left", "right"]),
            ],
        ),
    }
}

fn deps_of(task: &Value) -> Vec<String> {
    task["depends_on"]
        .as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What every task must output, computed as the engine builds a model
/// task's prompt (`baton-engine/src/execute.rs`: the description, then each
/// input in key order, `(nothing)` for null) and the scripted model answers
/// it (`echo: ` and the prompt).
fn expected_outputs(tasks: &[Value]) -> BTreeMap<String, Value> {
    let mut outputs = BTreeMap::new();
    for task in tasks {
        let id = task["id"].as_str().unwrap().to_owned();
        let output = if task["type"] == "model" {
            let mut prompt = task["description"].as_str().unwrap().to_owned();
            let mut deps = deps_of(task);
            deps.sort();
            if !deps.is_empty() {
                prompt.push_str("\n\nResults of the steps before this one:");
                for dep in deps {
                    let input = match &outputs[&dep] {
                        Value::String(s) => s.clone(),
                        Value::Null => "(nothing)".to_owned(),
                        other => other.to_string(),
                    };
                    write!(prompt, "\n\n### {dep}\n{input}").unwrap();
                }
            }
            Value::String(format!("echo: {prompt}"))
        } else {
            Value::Null
        };
        outputs.insert(id, output);
    }
    outputs
}

fn sinks_of(tasks: &[Value]) -> Vec<String> {
    let used: BTreeSet<String> = tasks.iter().flat_map(deps_of).collect();
    tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .filter(|id| !used.contains(id))
        .collect()
}

// ---------------------------------------------------------------- processes

/// The setup every process shares: config, data dir (the SQLite file) or
/// PostgreSQL database, workspace, and a directory of worker logs.
struct Chaos {
    setup: Setup,
    binary: PathBuf,
    workspace: PathBuf,
    logs: PathBuf,
}

impl Chaos {
    fn new(srv: &ScriptedServer, database: Option<&str>) -> Chaos {
        let setup = Setup::new(srv, database);
        let mut config = std::fs::read_to_string(&setup.config).unwrap();
        config.push_str(ENGINE_CONFIG);
        write(&setup.config, &config);
        let workspace = setup.dir.path().join("ws");
        let logs = setup.dir.path().join("logs");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&logs).unwrap();
        let binary = setup.dir.path().join("baton");
        std::fs::copy(env!("CARGO_BIN_EXE_baton"), &binary).unwrap();
        let chaos = Chaos {
            setup,
            binary,
            workspace,
            logs,
        };
        // The database is made (and migrated) once, before processes race
        // to open it.
        let (status, _, err) = chaos.run(&["workflow", "ls"]);
        assert!(status.success(), "{err}");
        chaos
    }

    /// `baton ARGS` as [`Setup::command`] makes it, but from this test's
    /// copy of the binary: a build that replaces `target/debug/baton`
    /// while the test runs must not mix two versions of baton.
    fn command(&self, args: &[&str]) -> Command {
        let ws = self.workspace.to_str().unwrap();
        let mut all = vec!["--workspace", ws];
        all.extend_from_slice(args);
        let like = self.setup.command(&all);
        let mut cmd = Command::new(&self.binary);
        cmd.args(like.get_args()).env_clear();
        for (key, value) in like.get_envs() {
            if let Some(value) = value {
                cmd.env(key, value);
            }
        }
        cmd.current_dir(&self.workspace);
        cmd
    }

    /// Runs a command to its end (failing the test past
    /// [`COMMAND_WITHIN`]); returns (status, stdout, stderr).
    fn run(&self, args: &[&str]) -> (ExitStatus, String, String) {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = drain(child.stdout.take().unwrap());
        let err = drain(child.stderr.take().unwrap());
        let deadline = Instant::now() + COMMAND_WITHIN;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`baton {}` did not end within {COMMAND_WITHIN:?}: {}",
                    args.join(" "),
                    err.join().unwrap()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        (status, out.join().unwrap(), err.join().unwrap())
    }

    /// Runs a command that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (status, out, err) = self.run(&all);
        assert!(status.success(), "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// A run's whole event log (`events --json`: one JSON object a line).
    fn events(&self, id: &str) -> Vec<Value> {
        let (status, out, err) = self.run(&["--json", "workflow", "events", id]);
        assert!(status.success(), "events {id}: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Starts worker number `n`, its log (engine at debug) in `logs/`.
    fn worker(&self, n: usize) -> Child {
        let log = File::create(self.worker_log(n)).unwrap();
        self.command(&["worker"])
            .env("RUST_LOG", "info,baton_engine=debug,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("baton worker starts")
    }

    fn worker_log(&self, n: usize) -> PathBuf {
        self.logs.join(format!("worker-{n:04}.log"))
    }

    /// Every worker log line that says something went wrong, or that a
    /// late result was dropped; and how many of the latter.
    fn worker_log_summary(&self) -> (usize, usize, Vec<String>) {
        let mut fenced = 0;
        let mut logs = 0;
        let mut notable = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(&self.logs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            logs += 1;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                if line.contains("late result was dropped") || line.contains("late failure") {
                    fenced += 1;
                }
                if line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked")
                {
                    let name = path.file_name().unwrap().to_string_lossy();
                    notable.push(format!("{name}: {line}"));
                }
            }
        }
        (logs, fenced, notable)
    }
}

impl Chaos {
    /// Copies the worker logs, the SQLite database (when that is the
    /// store) and `why` to a directory that outlives the test, for a
    /// failure to be looked into; returns its path.
    fn keep(&self, backend: &str, seed: u64, why: &str) -> String {
        let kept = std::env::temp_dir().join(format!("baton-chaos-{backend}-{seed}"));
        let _ = std::fs::remove_dir_all(&kept);
        std::fs::create_dir_all(&kept).unwrap();
        for from in [self.logs.clone(), self.setup.data_dir()] {
            let Ok(entries) = std::fs::read_dir(&from) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
                }
            }
        }
        let _ = std::fs::copy(&self.setup.config, kept.join("config.toml"));
        write(&kept.join("problems.txt"), why);
        kept.display().to_string()
    }
}

fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------- the killer

struct Killed {
    kills: usize,
    freezes: usize,
    started: usize,
    /// Workers that had exited before they were killed: a crash.
    crashed: Vec<String>,
}

/// With `BATON_CHAOS_FREEZE=1`, one victim in four is not killed but
/// stopped (SIGSTOP) for longer than its lease, as a long GC pause or a
/// stalled VM would; others take its tasks over, then it is let go on
/// (SIGCONT) to commit its late results, which must be fenced out, and
/// killed a little later.
fn freezing() -> bool {
    std::env::var("BATON_CHAOS_FREEZE").as_deref() == Ok("1")
}

/// How long a frozen worker stays stopped, then runs before it is killed.
const FROZEN_FOR: Duration = Duration::from_millis(3_000);
const THAWED_FOR: Duration = Duration::from_millis(1_500);

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status();
}

/// Keeps [`WORKERS`] workers alive, SIGKILLing one at random every
/// [`KILL_EVERY_MS`] and starting a replacement, until `stop`.
fn killer(chaos: Arc<Chaos>, mut rng: Rng, stop: Arc<AtomicBool>) -> JoinHandle<Killed> {
    thread::spawn(move || {
        let freeze = freezing();
        let mut started = 0;
        let mut workers: Vec<(usize, Child)> = Vec::new();
        for _ in 0..WORKERS {
            workers.push((started, chaos.worker(started)));
            started += 1;
        }
        // Stopped workers (until when), then running again (until when).
        let mut frozen: Vec<(usize, Child, Instant)> = Vec::new();
        let mut thawed: Vec<(usize, Child, Instant)> = Vec::new();
        let mut kills = 0;
        let mut freezes = 0;
        let mut crashed = Vec::new();
        let check = |n: usize, child: &mut Child, crashed: &mut Vec<String>| {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(chaos.worker_log(n)).unwrap_or_default();
                crashed.push(format!(
                    "worker {n} exited by itself ({status}):\n{}",
                    tail(&log, 20)
                ));
            }
        };
        while !stop.load(Ordering::SeqCst) {
            let pause = Duration::from_millis(rng.range(KILL_EVERY_MS));
            let until = Instant::now() + pause;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let now = Instant::now();
            for (n, child, until) in std::mem::take(&mut frozen) {
                if until <= now {
                    signal(&child, "-CONT");
                    thawed.push((n, child, now + THAWED_FOR));
                } else {
                    frozen.push((n, child, until));
                }
            }
            for (n, mut child, until) in std::mem::take(&mut thawed) {
                if until <= now {
                    check(n, &mut child, &mut crashed);
                    let _ = child.kill();
                    let _ = child.wait();
                } else {
                    thawed.push((n, child, until));
                }
            }
            let victim = rng.range((0, WORKERS as u64 - 1)) as usize;
            let replacement = (started, chaos.worker(started));
            started += 1;
            let (n, mut child) = std::mem::replace(&mut workers[victim], replacement);
            check(n, &mut child, &mut crashed);
            if freeze && rng.range((0, 3)) == 0 {
                signal(&child, "-STOP");
                frozen.push((n, child, now + FROZEN_FOR));
                freezes += 1;
            } else {
                // `Child::kill` is SIGKILL on Unix: no grace, no release.
                let _ = child.kill();
                let _ = child.wait();
                kills += 1;
            }
        }
        let rest = workers
            .into_iter()
            .chain(frozen.into_iter().chain(thawed).map(|(n, c, _)| (n, c)));
        for (n, mut child) in rest {
            check(n, &mut child, &mut crashed);
            let _ = child.kill();
            let _ = child.wait();
        }
        Killed {
            kills,
            freezes,
            started,
            crashed,
        }
    })
}

// ---------------------------------------------------------------- the watcher

struct Watched {
    id: String,
    events: Vec<Value>,
    connections: usize,
    problems: Vec<String>,
}

/// Follows run `id` with `events --follow`, killing the follower after a
/// random delay and reconnecting with `--after` the last sequence number
/// it printed whole, until a follower ends by itself (the run ended).
fn watcher(chaos: Arc<Chaos>, id: String, mut rng: Rng, deadline: Instant) -> JoinHandle<Watched> {
    thread::spawn(move || {
        let mut events = Vec::new();
        let mut problems = Vec::new();
        let mut last = 0i64;
        let mut connections = 0;
        loop {
            connections += 1;
            let after = last.to_string();
            let mut child = chaos
                .command(&[
                    "--json", "workflow", "events", &id, "--follow", "--after", &after,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            // Whole lines only: a follower killed mid-line printed half an
            // event, which its successor prints again in full.
            let lines = thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut lines = Vec::new();
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line.ends_with('\n') => lines.push(line),
                        Ok(_) => break,
                    }
                }
                lines
            });
            let err = drain(child.stderr.take().unwrap());
            let until = Instant::now() + Duration::from_millis(rng.range(WATCH_FOR_MS));
            let ended = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() > until {
                    break None;
                }
                thread::sleep(Duration::from_millis(5));
            };
            if ended.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            for line in lines.join().unwrap() {
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) => {
                        last = event["seq"].as_i64().unwrap_or(last);
                        events.push(event);
                    }
                    Err(e) => problems.push(format!("watcher of {id}: {e}: {line:?}")),
                }
            }
            let err = err.join().unwrap();
            if let Some(status) = ended {
                if !status.success() {
                    problems.push(format!(
                        "watcher of {id}: `events --follow --after {after}` failed ({status}): {err}"
                    ));
                }
                break;
            }
            if Instant::now() > deadline {
                problems.push(format!("watcher of {id}: the run never ended"));
                break;
            }
        }
        Watched {
            id,
            events,
            connections,
            problems,
        }
    })
}

// ---------------------------------------------------------------- checks

/// What a finished run's event log shows beyond its checks.
#[derive(Default)]
struct Tally {
    attempts_beyond_first: usize,
    retries: usize,
    released: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.attempts_beyond_first += other.attempts_beyond_first;
        self.retries += other.retries;
        self.released += other.released;
    }
}

/// Checks one run against everything the chaos test promises; adds what is
/// wrong to `problems`.
fn check_run(chaos: &Chaos, run: &Submitted, problems: &mut Vec<String>) -> Tally {
    let mut tally = Tally::default();
    let before = problems.len();
    let label = format!("run {} ({}, {})", run.index, run.shape, run.id);
    let view = chaos.json(&["workflow", "show", &run.id]);
    if view["status"] != "completed" {
        problems.push(format!(
            "{label}: status {} (reason {})",
            view["status"], view["reason"]
        ));
    }
    let total = run.tasks.len() as i64;
    if view["total_tasks"] != total || view["done_tasks"] != total {
        problems.push(format!(
            "{label}: done_tasks {} of total_tasks {}, plan has {total}",
            view["done_tasks"], view["total_tasks"]
        ));
    }
    let tasks = view["tasks"].as_array().cloned().unwrap_or_default();
    for (key, expected) in &run.expected {
        let Some(task) = tasks.iter().find(|t| t["key"] == key.as_str()) else {
            problems.push(format!("{label}: task {key} is missing"));
            continue;
        };
        if task["state"] != "completed" {
            problems.push(format!(
                "{label}: task {key} is {} (attempts {}, error {})",
                task["state"], task["attempts"], task["error"]
            ));
        }
        if &task["output"] != expected {
            problems.push(format!(
                "{label}: task {key} output {} but expected {expected}",
                task["output"]
            ));
        }
    }
    let mut result = serde_json::Map::new();
    for sink in &run.sinks {
        result.insert(sink.clone(), run.expected[sink].clone());
    }
    let result = Value::Object(result);
    if view["result"] != result {
        problems.push(format!(
            "{label}: result {} but expected {result}",
            view["result"]
        ));
    }

    let events = chaos.events(&run.id);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let gapless: Vec<i64> = (1..=events.len() as i64).collect();
    if seqs != gapless {
        problems.push(format!("{label}: event seqs are not 1..=N: {seqs:?}"));
    }
    if view["last_event"] != events.len() as i64 {
        problems.push(format!(
            "{label}: last_event {} but {} events",
            view["last_event"],
            events.len()
        ));
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    if kinds.first() != Some(&"workflow_started") {
        problems.push(format!("{label}: the first event is {:?}", kinds.first()));
    }
    if kinds.last() != Some(&"workflow_completed") {
        problems.push(format!("{label}: the last event is {:?}", kinds.last()));
    }
    for end in [
        "workflow_completed",
        "workflow_failed",
        "workflow_cancelled",
    ] {
        let n = kinds.iter().filter(|k| **k == end).count();
        let want = usize::from(end == "workflow_completed");
        if n != want {
            problems.push(format!("{label}: {n} {end} events"));
        }
    }
    if let Some(end) = events.last()
        && end["kind"] == "workflow_completed"
        && end["data"]["result"] != result
    {
        problems.push(format!(
            "{label}: workflow_completed says {} but expected {result}",
            end["data"]["result"]
        ));
    }
    // Per task: committed exactly once, and never started before every
    // task it depends on was committed.
    let at = |kind: &str, key: &str| -> Vec<usize> {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["kind"] == kind && e["task"] == key)
            .map(|(i, _)| i)
            .collect()
    };
    for task in &run.tasks {
        let key = task["id"].as_str().unwrap();
        let completed = at("task_completed", key);
        if completed.len() != 1 {
            problems.push(format!(
                "{label}: task {key} has {} task_completed events (at {completed:?})",
                completed.len()
            ));
        }
        let started = at("task_started", key);
        if started.is_empty() {
            problems.push(format!("{label}: task {key} never started"));
        }
        tally.attempts_beyond_first += started.len().saturating_sub(1);
        // Each claim bumps the epoch and uses an attempt, and says so with
        // a task_started; a release gives the attempt back.
        let released = at("task_released", key).len() as i64;
        if let Some(task) = tasks.iter().find(|t| t["key"] == key)
            && (task["epoch"] != started.len() as i64
                || task["attempts"] != started.len() as i64 - released)
        {
            problems.push(format!(
                "{label}: task {key} has epoch {} and attempts {} after {} task_started and \
                 {released} task_released events",
                task["epoch"],
                task["attempts"],
                started.len()
            ));
        }
        if let (Some(&first_start), Some(&done)) = (started.first(), completed.first())
            && done < first_start
        {
            problems.push(format!("{label}: task {key} completed before it started"));
        }
        for dep in deps_of(task) {
            let dep_done = at("task_completed", &dep);
            if let (Some(&dep_done), Some(&first_start)) = (dep_done.first(), started.first())
                && first_start < dep_done
            {
                problems.push(format!(
                    "{label}: task {key} started (event {}) before {dep} completed (event {})",
                    first_start + 1,
                    dep_done + 1
                ));
            }
        }
    }
    let known: BTreeSet<&str> = run
        .tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    for event in &events {
        if let Some(key) = event["task"].as_str()
            && !known.contains(key)
        {
            problems.push(format!("{label}: an event for unknown task {key}: {event}"));
        }
    }
    tally.retries = kinds.iter().filter(|k| **k == "task_retrying").count();
    tally.released = kinds.iter().filter(|k| **k == "task_released").count();
    if problems.len() > before {
        let log: Vec<String> = events
            .iter()
            .map(|e| {
                format!(
                    "  {:>3} {} {} {}",
                    e["seq"],
                    e["kind"].as_str().unwrap_or("?"),
                    e["task"].as_str().unwrap_or("-"),
                    e["data"]
                )
            })
            .collect();
        problems.push(format!("{label}: its event log:\n{}", log.join("\n")));
    }
    tally
}

/// The state of every run that has not ended, for a timeout's message.
fn dump_unfinished(
    chaos: &Chaos,
    runs: &[Submitted],
    statuses: &BTreeMap<String, String>,
) -> String {
    let mut dump = String::new();
    let unfinished: Vec<&Submitted> = runs
        .iter()
        .filter(|r| !is_final(statuses.get(&r.id).map(String::as_str)))
        .collect();
    writeln!(dump, "{} runs not final:", unfinished.len()).unwrap();
    for run in unfinished.iter().take(10) {
        let view = chaos.json(&["workflow", "show", &run.id]);
        writeln!(
            dump,
            "run {} ({}, {}): {} {}/{}",
            run.index, run.shape, run.id, view["status"], view["done_tasks"], view["total_tasks"]
        )
        .unwrap();
        for task in view["tasks"].as_array().into_iter().flatten() {
            if task["state"] != "completed" {
                writeln!(
                    dump,
                    "  {} {} attempts {}/{} epoch {} worker {} lease_until {} ready_at {} error {}",
                    task["key"],
                    task["state"],
                    task["attempts"],
                    task["max_attempts"],
                    task["epoch"],
                    task["worker_id"],
                    task["lease_until_ms"],
                    task["ready_at_ms"],
                    task["error"]
                )
                .unwrap();
            }
        }
        let events = chaos.events(&run.id);
        for event in &events[events.len().saturating_sub(8)..] {
            writeln!(
                dump,
                "  event {} {} {} {}",
                event["seq"], event["kind"], event["task"], event["data"]
            )
            .unwrap();
        }
    }
    dump
}

fn is_final(status: Option<&str>) -> bool {
    matches!(status, Some("completed" | "failed" | "cancelled"))
}

// ---------------------------------------------------------------- the case

/// The case, on one backend. The scripted model server runs on the test's
/// runtime; everything here blocks (processes and threads).
fn chaos(srv: &ScriptedServer, database: Option<&str>, backend: &str) {
    let seed = seed();
    let runs_wanted = runs();
    println!(
        "chaos on {backend}: seed {seed} (BATON_CHAOS_SEED={seed} replays its choices), \
         {runs_wanted} runs, {WORKERS} workers{}",
        if freezing() { ", freezes too" } else { "" }
    );
    let mut rng = Rng(seed);
    let chaos = Arc::new(Chaos::new(srv, database));
    let keep = |why: &str| chaos.keep(backend, seed, why);

    // Every plan first, so a seed always makes the same ones.
    let mut runs: Vec<Submitted> = (0..runs_wanted)
        .map(|index| {
            let (shape, tasks) = plan_for(index, &mut rng);
            let expected = expected_outputs(&tasks);
            let sinks = sinks_of(&tasks);
            Submitted {
                index,
                id: String::new(),
                shape,
                tasks,
                expected,
                sinks,
            }
        })
        .collect();
    let mut watch: BTreeSet<usize> = BTreeSet::new();
    while watch.len() < WATCHED.min(runs_wanted) {
        watch.insert(rng.range((0, runs_wanted as u64 - 1)) as usize);
    }
    let watch_rngs: BTreeMap<usize, Rng> = watch.iter().map(|&i| (i, rng.fork())).collect();

    let began = Instant::now();
    let deadline = began + ALL_FINAL_WITHIN;
    let stop = Arc::new(AtomicBool::new(false));
    let killing = killer(chaos.clone(), rng.fork(), stop.clone());

    // Submit every run while the workers are being killed (two submitters
    // at a time); follow a few with a watcher that is itself killed and
    // reconnects.
    let watchers = Mutex::new(Vec::new());
    let ids: Vec<Mutex<String>> = (0..runs_wanted)
        .map(|_| Mutex::new(String::new()))
        .collect();
    thread::scope(|scope| {
        for lane in 0..SUBMITTERS {
            let (chaos, runs, ids, watchers, watch_rngs) =
                (&chaos, &runs, &ids, &watchers, &watch_rngs);
            scope.spawn(move || {
                for run in runs.iter().skip(lane).step_by(SUBMITTERS) {
                    let index = run.index;
                    let path = chaos.workspace.join(format!("run-{index:03}.json"));
                    let name = format!("chaos-{index:03}-{}", run.shape);
                    write(
                        &path,
                        &json!({"name": name, "tasks": run.tasks}).to_string(),
                    );
                    let (status, out, err) =
                        chaos.run(&["workflow", "run", path.to_str().unwrap(), "--detach"]);
                    assert!(status.success(), "submitting run {index}: {err}");
                    let id = out.trim().to_owned();
                    assert_eq!(id.len(), 36, "the id alone on stdout: {out:?}");
                    if let Some(rng) = watch_rngs.get(&index) {
                        let follower = watcher(chaos.clone(), id.clone(), rng.clone(), deadline);
                        watchers.lock().unwrap().push(follower);
                    }
                    *ids[index].lock().unwrap() = id;
                }
            });
        }
    });
    for (run, id) in runs.iter_mut().zip(ids) {
        run.id = id.into_inner().unwrap();
    }
    let submitted_in = began.elapsed();
    println!("{backend}: {runs_wanted} runs submitted in {submitted_in:.1?}");

    // Wait for every run to end, the killing going on all the while.
    let mut reported = Instant::now();
    let statuses = loop {
        let listed = chaos.json(&["workflow", "ls", "--limit", "1000"]);
        let statuses: BTreeMap<String, String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let done = runs
            .iter()
            .filter(|r| is_final(statuses.get(&r.id).map(String::as_str)))
            .count();
        if done == runs.len() {
            break statuses;
        }
        if reported.elapsed() > Duration::from_secs(5) {
            println!(
                "{backend}: {done}/{} runs ended after {:.1?}",
                runs.len(),
                began.elapsed()
            );
            reported = Instant::now();
        }
        if Instant::now() > deadline {
            stop.store(true, Ordering::SeqCst);
            let killed = killing.join().unwrap();
            let dump = dump_unfinished(&chaos, &runs, &statuses);
            let (logs, fenced, notable) = chaos.worker_log_summary();
            let kept = keep(&dump);
            panic!(
                "chaos on {backend} (seed {seed}): only {done}/{} runs ended within \
                 {ALL_FINAL_WITHIN:?} ({} kills, {logs} worker logs, {fenced} late results \
                 dropped; logs kept in {kept})\n{dump}\nworker crashes: {:#?}\nworker warnings \
                 (first 40): {:#?}",
                runs.len(),
                killed.kills,
                killed.crashed,
                &notable[..notable.len().min(40)]
            );
        }
        thread::sleep(Duration::from_millis(250));
    };
    let ended_in = began.elapsed();
    stop.store(true, Ordering::SeqCst);
    let killed = killing.join().unwrap();
    println!(
        "{backend}: every run ended after {ended_in:.1?}; {} workers SIGKILLed, {} frozen, \
         {} started",
        killed.kills, killed.freezes, killed.started
    );

    // Every run, checked from its view and its event log (a few checkers
    // at once: each check is two process starts).
    let checking = Instant::now();
    let checked: Vec<(Vec<String>, Tally)> = thread::scope(|scope| {
        let lanes: Vec<_> = (0..CHECKERS)
            .map(|lane| {
                let (chaos, runs) = (&chaos, &runs);
                scope.spawn(move || {
                    let mut problems = Vec::new();
                    let mut tally = Tally::default();
                    for run in runs.iter().skip(lane).step_by(CHECKERS) {
                        tally.add(check_run(chaos, run, &mut problems));
                    }
                    (problems, tally)
                })
            })
            .collect();
        lanes.into_iter().map(|l| l.join().unwrap()).collect()
    });
    let mut problems = Vec::new();
    let mut tally = Tally::default();
    for (found, one) in checked {
        problems.extend(found);
        tally.add(one);
    }
    let statuses_seen: BTreeMap<&str, usize> =
        statuses.values().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.as_str()).or_default() += 1;
            m
        });

    // The reconnecting watchers saw each event exactly once, in order.
    let mut connections = 0;
    for handle in watchers.into_inner().unwrap() {
        let watched: Watched = handle.join().unwrap();
        connections += watched.connections;
        problems.extend(watched.problems);
        let full = chaos.events(&watched.id);
        let seen: Vec<(i64, String, Value)> = watched
            .events
            .iter()
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    e["kind"].to_string(),
                    e["task"].clone(),
                )
            })
            .collect();
        let all: Vec<(i64, String, Value)> = full
            .iter()
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    e["kind"].to_string(),
                    e["task"].clone(),
                )
            })
            .collect();
        if seen != all {
            let seqs: Vec<i64> = seen.iter().map(|s| s.0).collect();
            problems.push(format!(
                "the watcher of {} over {} connections saw seqs {seqs:?}, the log has 1..={}",
                watched.id,
                watched.connections,
                all.len()
            ));
        }
    }
    let (logs, fenced, notable) = chaos.worker_log_summary();
    let model_calls = srv.requests().len();
    let model_tasks: usize = runs
        .iter()
        .map(|r| r.tasks.iter().filter(|t| t["type"] == "model").count())
        .sum();
    println!(
        "{backend}: checked in {:.1?}; total {:.1?}. statuses {statuses_seen:?}; {} task \
         attempts beyond the first, {} task_retrying, {} task_released, {fenced} late results \
         dropped (worker logs: {logs}); {model_calls} model calls for {model_tasks} model \
         tasks; {} watchers over {connections} connections; {} warning lines in worker logs",
        checking.elapsed(),
        began.elapsed(),
        tally.attempts_beyond_first,
        tally.retries,
        tally.released,
        WATCHED.min(runs_wanted),
        notable.len()
    );
    for line in notable.iter().take(20) {
        println!("  {line}");
    }
    if !killed.crashed.is_empty() {
        problems.push(format!(
            "workers crashed by themselves: {:#?}",
            killed.crashed
        ));
    }
    if !problems.is_empty() {
        let kept = keep(&problems.join("\n"));
        panic!(
            "chaos on {backend} (seed {seed}): {} problems (logs kept in {kept}):\n{}",
            problems.len(),
            problems
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
