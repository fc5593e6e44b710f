//! baton's side of the side-by-side workflow benchmark (the LangGraph side
//! is `bench/workflow/langgraph_bench.py`; `bench/workflow.sh` runs both).
//!
//! Shapes, as LangGraph's: `chain40` (40 tasks in sequence) and `fanN` (a
//! root, N parallel leaves and a join), with no-op tasks or tasks that
//! sleep. Each case runs the real engine in this process on a durable store
//! (an SQLite file with `synchronous = FULL`, or PostgreSQL): submit the
//! plan, let the worker run it, and stop the clock at the run's final
//! event. Reported like the LangGraph side: median and p90 wall time, the
//! overhead over the critical path's sleep, per task, and tasks per second.
//!
//! `--mode claim` measures claim throughput instead: `--workers` engines,
//! each with its own connection pool and worker, drain `--runs` fan-outs of
//! `--leaves` no-op tasks submitted beforehand; tasks completed per second.

use std::time::{Duration, Instant};

use anyhow::Context;
use baton_config::{ChatConfig, GatewayConfig};
use baton_core::WorkflowId;
use baton_engine::plan::{Plan, PlanTask, TaskKind};
use baton_engine::{Engine, EngineConfig, EngineParts, WorkflowRequest};
use baton_hub::{Hub, HubParts, MemoryLog};
use baton_llm::Gateway;
use baton_store::{Store, WorkflowStatus, WriterOptions};
use clap::Parser;
use futures::StreamExt;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// `sqlite:PATH` or `postgres://…`; a fresh SQLite file when omitted.
    #[arg(long)]
    database: Option<String>,
    /// `run` (shapes) or `claim` (throughput of several workers).
    #[arg(long, default_value = "run")]
    mode: String,
    #[arg(long, default_value = "chain40,fan10,fan100,fan1000")]
    shapes: String,
    #[arg(long, default_value = "0,50")]
    sleep_ms: String,
    #[arg(long, default_value_t = 7)]
    repeats: usize,
    /// Tasks one worker runs at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 4)]
    workers: usize,
    #[arg(long, default_value_t = 10)]
    runs: usize,
    #[arg(long, default_value_t = 1000)]
    leaves: usize,
    /// Where to write the JSON records.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let backend = if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let records = match args.mode.as_str() {
        "run" => shapes(&args, &url, backend, dir.path()).await?,
        "claim" => vec![claim(&args, &url, backend, dir.path()).await?],
        other => anyhow::bail!("--mode is run or claim, not {other}"),
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&records)?)?;
    }
    Ok(())
}

async fn engine(
    url: &str,
    workspace: &std::path::Path,
    concurrency: usize,
) -> anyhow::Result<Engine> {
    let store = Store::connect(url).await.context("opening the store")?;
    let gateway = Gateway::new(
        &[],
        &GatewayConfig {
            detect_ollama: false,
            ..Default::default()
        },
        &|_| None,
    )
    .await?;
    let writer = store.writer(WriterOptions::default());
    let hub = Hub::new(HubParts {
        store,
        gateway,
        writer,
        memory_log: MemoryLog::disabled(),
        chat: ChatConfig::default(),
    });
    let engine = Engine::new(EngineParts {
        hub,
        agent: None,
        workspace: workspace.to_path_buf(),
        device: "bench".into(),
        config: EngineConfig {
            concurrency,
            claim_batch: concurrency as u32,
            ..Default::default()
        },
    });
    engine.listen().await?;
    Ok(engine)
}

fn task(id: String, kind: TaskKind, sleep_ms: u64, depends_on: Vec<String>) -> PlanTask {
    serde_json::from_value(json!({
        "id": id,
        "type": kind.as_str(),
        "depends_on": depends_on,
        "sleep_ms": (kind == TaskKind::Sleep).then_some(sleep_ms),
    }))
    .expect("a valid task")
}

/// The plan of a shape, its task count and the sleep on its critical path.
fn plan(shape: &str, sleep_ms: u64) -> anyhow::Result<(Plan, usize, u64)> {
    let kind = if sleep_ms == 0 {
        TaskKind::Noop
    } else {
        TaskKind::Sleep
    };
    let mut tasks = Vec::new();
    let levels;
    if let Some(n) = shape.strip_prefix("chain") {
        let n: usize = n.parse().context("chainN")?;
        for at in 0..n {
            let deps = if at == 0 {
                vec![]
            } else {
                vec![format!("s{}", at - 1)]
            };
            tasks.push(task(format!("s{at}"), kind, sleep_ms, deps));
        }
        levels = n as u64;
    } else if let Some(n) = shape.strip_prefix("fan") {
        let n: usize = n.parse().context("fanN")?;
        tasks.push(task("root".into(), kind, sleep_ms, vec![]));
        let leaves: Vec<String> = (0..n).map(|at| format!("leaf{at}")).collect();
        for leaf in &leaves {
            tasks.push(task(leaf.clone(), kind, sleep_ms, vec!["root".into()]));
        }
        tasks.push(task("join".into(), kind, sleep_ms, leaves));
        levels = 3;
    } else {
        anyhow::bail!("unknown shape {shape}");
    }
    let count = tasks.len();
    let plan = Plan {
        name: Some(shape.to_owned()),
        tasks,
    };
    plan.validate()?;
    Ok((plan, count, levels * sleep_ms))
}

async fn run_once(engine: &Engine, plan: &Plan) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let submitted = engine
        .submit(WorkflowRequest {
            plan: Some(plan.clone()),
            ..Default::default()
        })
        .await?;
    let id: WorkflowId = submitted.workflow_id;
    let mut events = Box::pin(engine.watch(id, 0).await?);
    while let Some(event) = events.next().await {
        event?;
    }
    let elapsed = started.elapsed();
    let run = engine.get(id).await?.run;
    anyhow::ensure!(
        run.status == WorkflowStatus::Completed,
        "run {id} ended {:?}",
        run.status
    );
    Ok(elapsed)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn shapes(
    args: &Args,
    url: &str,
    backend: &str,
    workspace: &std::path::Path,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let engine = engine(url, workspace, args.concurrency).await?;
    let worker = engine.spawn_worker();
    let mut records = Vec::new();
    println!(
        "{:<10} {:<9} {:>6} {:>10} {:>10} {:>12} {:>14} {:>10}",
        "backend", "shape", "sleep", "median_ms", "p90_ms", "overhead_ms", "per_task_ms", "tasks/s"
    );
    for shape in args.shapes.split(',') {
        for sleep in args.sleep_ms.split(',') {
            let sleep_ms: u64 = sleep.trim().parse().context("--sleep-ms")?;
            let (plan, tasks, critical) = plan(shape.trim(), sleep_ms)?;
            run_once(&engine, &plan).await?;
            let mut samples = Vec::with_capacity(args.repeats);
            for _ in 0..args.repeats {
                samples.push(run_once(&engine, &plan).await?.as_secs_f64() * 1000.0);
            }
            let mut sorted = samples.clone();
            sorted.sort_by(f64::total_cmp);
            let median = percentile(&sorted, 0.5);
            let p90 = percentile(&sorted, 0.9);
            let overhead = median - critical as f64;
            let per_task = overhead / tasks as f64;
            let per_second = tasks as f64 / (median / 1000.0);
            println!(
                "{backend:<10} {shape:<9} {sleep_ms:>6} {median:>10.2} {p90:>10.2} {overhead:>12.2} {per_task:>14.4} {per_second:>10.0}"
            );
            records.push(json!({
                "engine": "baton",
                "checkpointer": backend,
                "shape": shape,
                "tasks": tasks,
                "sleep_ms": sleep_ms,
                "repeats": args.repeats,
                "median_ms": median,
                "p90_ms": p90,
                "critical_sleep_ms": critical,
                "overhead_ms": overhead,
                "per_task_overhead_ms": per_task,
                "tasks_per_s": per_second,
                "samples_ms": samples,
            }));
        }
    }
    worker.stop().await;
    Ok(records)
}

async fn claim(
    args: &Args,
    url: &str,
    backend: &str,
    workspace: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let submitter = engine(url, workspace, 1).await?;
    let (plan, tasks, _) = plan(&format!("fan{}", args.leaves), 0)?;
    let mut ids = Vec::new();
    for _ in 0..args.runs {
        let submitted = submitter
            .submit(WorkflowRequest {
                plan: Some(plan.clone()),
                ..Default::default()
            })
            .await?;
        ids.push(submitted.workflow_id);
    }
    let mut engines = Vec::new();
    for _ in 0..args.workers {
        engines.push(engine(url, workspace, args.concurrency).await?);
    }
    let started = Instant::now();
    let workers: Vec<_> = engines.iter().map(Engine::spawn_worker).collect();
    for id in &ids {
        let mut events = Box::pin(submitter.watch(*id, 0).await?);
        while let Some(event) = events.next().await {
            event?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    for worker in workers {
        worker.stop().await;
    }
    for id in &ids {
        let run = submitter.get(*id).await?.run;
        anyhow::ensure!(
            run.status == WorkflowStatus::Completed,
            "run {id} did not complete"
        );
        anyhow::ensure!(run.done_tasks == tasks as i64, "run {id} lost tasks");
    }
    let total = tasks * args.runs;
    let per_second = total as f64 / elapsed;
    println!(
        "claim throughput on {backend}: {} workers × concurrency {} drained {total} tasks in {:.2} s = {per_second:.0} tasks/s",
        args.workers, args.concurrency, elapsed
    );
    Ok(json!({
        "engine": "baton",
        "checkpointer": backend,
        "mode": "claim",
        "workers": args.workers,
        "concurrency": args.concurrency,
        "tasks": total,
        "seconds": elapsed,
        "tasks_per_s": per_second,
    }))
}
