//! What the sandbox adds to starting a command: spawn-and-wait of `/bin/true` and
//! `sh -c true`, plain (tokio, same pipes, empty environment) and through `Sandbox::run` with
//! everything on (Landlock, rlimits, pids cgroup where writable). The two are interleaved so
//! drift in the machine's load hits both alike. Prints one JSON object; `bench/sandbox.sh`
//! runs it and stores the result.
//!
//! Usage: cargo bench -p baton-sandbox --bench spawn_overhead -- [ITERATIONS]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use baton_sandbox::{ExecSpec, Sandbox};
use serde_json::{Value, json};
use tokio::process::Command;

const DEFAULT_ITERATIONS: usize = 1000;
const WARMUP: usize = 50;

struct Case {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "/bin/true",
        program: "/bin/true",
        args: &[],
    },
    Case {
        name: "sh -c true",
        program: "/bin/sh",
        args: &["-c", "true"],
    },
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iterations = match std::env::args().nth(1).filter(|a| a != "--bench") {
        Some(n) => n.parse().expect("ITERATIONS must be a positive integer"),
        None => DEFAULT_ITERATIONS,
    };
    let sandbox = Sandbox::probe();
    let workspace = tempfile::tempdir().expect("a temporary workspace");
    let mut cases = Vec::new();
    for case in CASES {
        let mut plain = Vec::with_capacity(iterations);
        let mut sandboxed = Vec::with_capacity(iterations);
        for i in 0..WARMUP + iterations {
            let direct = spawn_plain(case).await;
            let confined = spawn_sandboxed(&sandbox, case, workspace.path().to_owned()).await;
            if i >= WARMUP {
                plain.push(direct);
                sandboxed.push(confined);
            }
        }
        let plain = stats(&mut plain);
        let sandboxed = stats(&mut sandboxed);
        let overhead = json!({
            "mean_us": sandboxed["mean_us"].as_f64().unwrap() - plain["mean_us"].as_f64().unwrap(),
            "p50_us": sandboxed["p50_us"].as_f64().unwrap() - plain["p50_us"].as_f64().unwrap(),
            "p99_us": sandboxed["p99_us"].as_f64().unwrap() - plain["p99_us"].as_f64().unwrap(),
        });
        cases.push(json!({
            "command": case.name,
            "plain": plain,
            "sandboxed": sandboxed,
            "overhead": overhead,
        }));
    }
    let report = json!({
        "iterations": iterations,
        "warmup": WARMUP,
        "isolation": sandbox.isolation().to_string(),
        "process_cap": sandbox.process_cap().to_string(),
        "cases": cases,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

async fn spawn_plain(case: &Case) -> Duration {
    let started = Instant::now();
    let output = Command::new(case.program)
        .args(case.args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("plain spawn");
    let elapsed = started.elapsed();
    assert!(output.status.success());
    elapsed
}

async fn spawn_sandboxed(sandbox: &Sandbox, case: &Case, workspace: PathBuf) -> Duration {
    let mut spec = ExecSpec::new(case.program, &workspace);
    spec.args = case.args.iter().map(OsString::from).collect();
    spec.writable = vec![workspace];
    let started = Instant::now();
    let outcome = sandbox.run(spec).await.expect("sandboxed spawn");
    let elapsed = started.elapsed();
    assert!(outcome.status.success() && outcome.isolation.is_isolated());
    elapsed
}

fn stats(samples: &mut [Duration]) -> Value {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| us(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    json!({
        "mean_us": mean,
        "p50_us": at(0.50),
        "p99_us": at(0.99),
        "min_us": us(samples[0]),
        "max_us": us(samples[samples.len() - 1]),
    })
}
