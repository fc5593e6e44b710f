//! `baton worker`: a process that only runs workflow tasks. Several can
//! share one PostgreSQL database (each claims under fenced leases), so a
//! workflow's tasks spread over machines; on SQLite they share the file.

use std::process::ExitCode;

use crate::args::{Global, WorkerArgs};
use crate::boot;
use crate::interrupt::interrupted;

pub async fn run(global: &Global, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, false);
    if let Some(queue) = args.queues.iter().find(|q| q.trim().is_empty()) {
        anyhow::bail!("--queue {queue:?} is empty; name a queue a plan's tasks use");
    }
    let hub = boot::hub(&loaded).await?;
    let agent = boot::agent(&loaded, &hub, global).await?;
    let mut config = boot::engine_config(&loaded);
    if !args.queues.is_empty() {
        config.queues = Some(args.queues.clone());
    }
    if let Some(concurrency) = args.concurrency {
        config.concurrency = concurrency as usize;
        // A claim never takes more than the worker may run at once, so
        // a small worker leaves the rest of a batch to its peers.
        config.claim_batch = config.claim_batch.min(concurrency);
    }
    let concurrency = config.concurrency;
    let engine = boot::engine_with(&loaded, &hub, Some(&agent), global, config)?;
    engine.listen().await?;
    boot::apply_queue_limits(&loaded, &hub).await?;
    let worker = engine.spawn_worker();
    let queues = if args.queues.is_empty() {
        "all".to_owned()
    } else {
        args.queues.join(",")
    };
    tracing::info!(
        worker = %worker.id,
        store = hub.store().backend().as_str(),
        queues = %queues,
        concurrency,
        "baton worker {} started",
        worker.id
    );
    let signal = interrupted().await;
    tracing::info!(
        signal = signal.name(),
        "stopping; tasks in flight go back to the queue when their leases run out"
    );
    worker.stop().await;
    hub.shutdown().await;
    // A requested stop is the normal end of a worker's life.
    Ok(ExitCode::SUCCESS)
}
