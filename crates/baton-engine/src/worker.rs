//! A worker: claims ready tasks, runs them, and keeps its leases alive.
//!
//! Each claimed task runs in its own Tokio task. Finished tasks go to the
//! worker's committer, which completes whatever finished together in one
//! commit; in that commit the store hands each completed task's slot its
//! next task (a newly ready successor, else any ready task the worker
//! serves), so a chain runs without a claim round-trip per step and a
//! fan-out pays one `fsync` per batch, not per task, and no claims after
//! the first. A heartbeat renews every lease the worker holds in one
//! statement, and every beat also reaps leases that ran out elsewhere, so a
//! killed worker's tasks are retried by whoever is alive.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use baton_core::{WorkflowId, wall_millis};
use baton_store::{
    ClaimNext, ClaimRequest, ClaimedTask, CompleteItem, CompletedBatch, FailureOutcome, StoreError,
    TaskFailure, TaskOutcome, WorkflowEvent,
};
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::engine::Engine;
use crate::execute::{Done, Executed, TaskError, execute};

/// Completions committed together at most: a worker's tasks that finish
/// at the same moment share one commit (and one `fsync`).
const COMMIT_BATCH: usize = 128;

/// Pauses before each new try of a batch whose commit failed.
const COMMIT_RETRIES_MS: [u64; 3] = [20, 100, 500];

/// How often a worker deletes the runs past their retention.
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);

/// How long a stopping worker waits for its tasks in flight before it gives
/// them back.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running worker; dropping it does not stop it, [`WorkerHandle::stop`]
/// does.
pub struct WorkerHandle {
    pub id: String,
    /// Set to the grace the tasks in flight get when the worker stops.
    stop: watch::Sender<Option<Duration>>,
    done: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming, lets the tasks in flight finish (and record what
    /// they ended) for up to [`STOP_GRACE`], then gives back whatever is
    /// still held, so another worker takes it at once with no attempt used.
    pub async fn stop(self) {
        self.stop_within(STOP_GRACE).await;
    }

    /// [`WorkerHandle::stop`] with another grace; zero gives every task in
    /// flight back at once (a person pressed Ctrl-C).
    pub async fn stop_within(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        let _ = self.done.await;
    }
}

impl Engine {
    /// Starts a worker in this process that serves every run.
    pub fn spawn_worker(&self) -> WorkerHandle {
        self.spawn_worker_for(None)
    }

    /// Starts a worker that serves only `run` when given: the CLI running
    /// one workflow leaves every other run to the workers that serve them.
    pub fn spawn_worker_for(&self, run: Option<WorkflowId>) -> WorkerHandle {
        let id = worker_id();
        let (stop, stopped) = watch::channel(None);
        let engine = self.clone();
        let worker = id.clone();
        let done = tokio::spawn(async move { work(engine, worker, run, stopped).await });
        WorkerHandle { id, stop, done }
    }
}

/// `host:pid:random`, unique among every worker sharing a database.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let nonce = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}:{}:{}",
        std::process::id(),
        &nonce[nonce.len() - 8..]
    )
}

async fn work(
    engine: Engine,
    worker: String,
    run: Option<WorkflowId>,
    mut stopped: watch::Receiver<Option<Duration>>,
) {
    let config = engine.config().clone();
    let store = engine.hub().store().clone();
    let lease_ms = config.lease.as_millis() as i64;
    let (commits, committing) = mpsc::channel(COMMIT_BATCH * 4);
    let committer = tokio::spawn(commit(
        engine.clone(),
        worker.clone(),
        run,
        stopped.clone(),
        committing,
    ));
    let beats = tokio::spawn(beat(engine.clone(), worker.clone()));
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if stopped.borrow().is_some() {
            break;
        }
        let ready = engine.inner.ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        // Tasks that ended free their slots; counting them as running
        // would make the worker claim one task at a time.
        while running.try_join_next().is_some() {}
        let free = config.concurrency.saturating_sub(running.len());
        let mut claimed = 0;
        if free > 0 {
            let request = ClaimRequest {
                worker: &worker,
                queues: config.queues.as_deref(),
                run,
                limit: (free as u32).min(config.claim_batch),
                lease_ms,
                now_ms: wall_millis() as i64,
            };
            match store.claim_tasks(&request).await {
                Ok(tasks) => {
                    claimed = tasks.len();
                    let runs: BTreeSet<WorkflowId> = tasks.iter().map(|t| t.run_id).collect();
                    for run in runs {
                        engine.signal(run, false);
                    }
                    for task in tasks {
                        running.spawn(run_task(engine.clone(), commits.clone(), task));
                    }
                }
                Err(error) => warn!(%error, "claiming tasks failed; trying again"),
            }
        }
        if claimed > 0 && running.len() < config.concurrency {
            continue;
        }
        tokio::select! {
            _ = &mut ready => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(config.poll) => {}
            // A dropped handle closes the channel: that is no stop order.
            Ok(()) = stopped.changed() => break,
        }
    }
    let grace = stopped.borrow().unwrap_or(STOP_GRACE);
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
    drop(commits);
    let _ = committer.await;
    beats.abort();
    match store.release_tasks(&worker, wall_millis() as i64).await {
        Ok(0) => {}
        Ok(released) => {
            debug!(released, "tasks given back on stop");
            engine.inner.ready.notify_waiters();
        }
        Err(error) => {
            warn!(%error, "could not give back the tasks held; their leases will run out")
        }
    }
    // The runs that ended here are in their session logs before it returns.
    engine.settle().await;
}

/// Renews the worker's leases every `lease / 3`, and reaps leases that ran
/// out (any worker's), on its own so a busy claim loop never starves it.
/// Every [`PRUNE_EVERY`] it also deletes the runs past `[engine]
/// retain_days`.
async fn beat(engine: Engine, worker: String) {
    let config = engine.config().clone();
    let store = engine.hub().store().clone();
    let lease_ms = config.lease.as_millis() as i64;
    let mut beat = tokio::time::interval((config.lease / 3).max(Duration::from_millis(50)));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pruned_at: Option<tokio::time::Instant> = None;
    loop {
        beat.tick().await;
        if let Some(retain) = config.retain
            && pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY)
        {
            pruned_at = Some(tokio::time::Instant::now());
            match engine.prune(retain).await {
                Ok(0) => {}
                Ok(pruned) => debug!(pruned, "ended runs past their retention deleted"),
                Err(error) => warn!(%error, "deleting old runs failed"),
            }
        }
        let now = wall_millis() as i64;
        if let Err(error) = store.heartbeat(&worker, lease_ms, now).await {
            warn!(%error, "heartbeat failed");
        }
        match store
            .reap_expired(config.backoff.as_millis() as i64, now)
            .await
        {
            Ok(0) => {}
            Ok(reaped) => {
                debug!(reaped, "leases ran out; tasks returned");
                engine.inner.ready.notify_waiters();
            }
            Err(error) => warn!(%error, "reaping expired leases failed"),
        }
    }
}

/// A finished task on its way to the committer, with where to send what the
/// commit gave it (its successor, when it has one for this worker).
struct Finished {
    task: ClaimedTask,
    done: Done,
    reply: oneshot::Sender<Option<ClaimedTask>>,
}

/// Commits the worker's completions in batches: whatever finished while the
/// previous commit ran goes into the next one. Each commit hands every
/// completed task's slot its next task (see [`ClaimNext`]), until the
/// worker is stopping: then tasks finish and nothing new is taken on.
async fn commit(
    engine: Engine,
    worker: String,
    run: Option<WorkflowId>,
    stopped: watch::Receiver<Option<Duration>>,
    mut finished: mpsc::Receiver<Finished>,
) {
    let config = engine.config().clone();
    let store = engine.hub().store().clone();
    let mut batch = Vec::with_capacity(COMMIT_BATCH);
    while finished.recv_many(&mut batch, COMMIT_BATCH).await > 0 {
        let claim = ClaimNext {
            worker: &worker,
            queues: config.queues.as_deref(),
            run,
            lease_ms: config.lease.as_millis() as i64,
        };
        let next = stopped.borrow().is_none().then_some(&claim);
        let items: Vec<CompleteItem<'_>> = batch
            .iter()
            .map(|f| CompleteItem {
                run_id: f.task.run_id,
                key: &f.task.key,
                epoch: f.task.epoch,
                outcome: TaskOutcome {
                    output: &f.done.output,
                    model: f.done.model.as_deref(),
                    prompt_tokens: f.done.prompt_tokens,
                    completion_tokens: f.done.completion_tokens,
                    cost_usd: f.done.cost_usd,
                },
            })
            .collect();
        let mut results = store
            .complete_tasks(&items, next, wall_millis() as i64)
            .await;
        // A failed commit changed nothing (a PostgreSQL deadlock victim, a
        // dropped connection): try again, since these tasks stay claimed,
        // and renewed by the heartbeat, until their result is stored. An
        // attempt that did commit before its answer was lost finds its
        // items completed and reports them fenced, which is harmless.
        for pause_ms in COMMIT_RETRIES_MS {
            if results.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            results = store
                .complete_tasks(&items, next, wall_millis() as i64)
                .await;
        }
        drop(items);
        match results {
            Ok(CompletedBatch { results, events }) => {
                let mut ended = Vec::new();
                let mut released = false;
                let mut changed = BTreeSet::new();
                let mut appended: BTreeMap<WorkflowId, Vec<WorkflowEvent>> = BTreeMap::new();
                for event in events {
                    changed.insert(event.run_id);
                    appended.entry(event.run_id).or_default().push(event);
                }
                for (f, result) in batch.drain(..).zip(results) {
                    match result {
                        Ok(completion) => {
                            released |= completion.released > 0;
                            changed.insert(f.task.run_id);
                            if completion.finished.is_some() {
                                ended.push(f.task.run_id);
                            }
                            if let Some(next) = &completion.next {
                                changed.insert(next.run_id);
                            }
                            let _ = f.reply.send(completion.next);
                        }
                        Err(StoreError::Fenced(why)) => {
                            debug!(%why, "a late result was dropped");
                            let _ = f.reply.send(None);
                        }
                        Err(error) => {
                            warn!(%error, task = %f.task.key, "completing a task failed");
                            let _ = f.reply.send(None);
                        }
                    }
                }
                for run in changed {
                    engine.publish(run, appended.remove(&run).unwrap_or_default());
                }
                if released {
                    engine.inner.ready.notify_waiters();
                }
                // Recorded beside the commits: a briefing may take a model call.
                for run in ended {
                    engine.record_later(run);
                }
            }
            Err(error) => {
                // Nothing of the batch could be stored: each task is given
                // another attempt rather than left held by this worker.
                warn!(%error, tasks = batch.len(), "committing completions failed");
                let message = format!("its result could not be stored: {error}");
                for f in batch.drain(..) {
                    let failure = TaskFailure {
                        error: &message,
                        retry: true,
                        backoff_ms: config.backoff.as_millis() as i64,
                    };
                    let now = wall_millis() as i64;
                    if let Err(error) = store
                        .fail_task(f.task.run_id, &f.task.key, f.task.epoch, &failure, now)
                        .await
                    {
                        warn!(%error, task = %f.task.key, "could not give the task another attempt");
                    }
                    let _ = f.reply.send(None);
                }
                engine.inner.ready.notify_waiters();
            }
        }
    }
}

/// Runs a task and, while the store hands over successors, those too.
async fn run_task(engine: Engine, commits: mpsc::Sender<Finished>, mut task: ClaimedTask) {
    let store = engine.hub().store().clone();
    loop {
        let limit = Duration::from_millis(task.timeout_ms.max(1) as u64);
        // A panic is the task's failure, not the worker's: caught here, the
        // task is given another attempt instead of staying claimed (and
        // renewed by the heartbeat) until the worker exits.
        let running = AssertUnwindSafe(execute(&engine, &task)).catch_unwind();
        let result = match tokio::time::timeout(limit, running).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(TaskError::retry(format!(
                "the task panicked: {}",
                panic_message(panic.as_ref())
            ))),
            Err(_) => Err(TaskError::retry(format!(
                "timed out after {} s",
                limit.as_secs_f64()
            ))),
        };
        match result {
            Ok(Executed::Parked) => {
                engine.signal(task.run_id, false);
                return;
            }
            Ok(Executed::Done(done)) => {
                let (reply, next) = oneshot::channel();
                let finished = Finished { task, done, reply };
                if commits.send(finished).await.is_err() {
                    return;
                }
                match next.await {
                    Ok(Some(next)) => {
                        task = next;
                        continue;
                    }
                    _ => return,
                }
            }
            Err(error) => {
                let failure = TaskFailure {
                    error: &error.message,
                    retry: error.retry,
                    backoff_ms: engine.config().backoff.as_millis() as i64,
                };
                match store
                    .fail_task(
                        task.run_id,
                        &task.key,
                        task.epoch,
                        &failure,
                        wall_millis() as i64,
                    )
                    .await
                {
                    Ok(FailureOutcome::Failed) => {
                        engine.signal(task.run_id, false);
                        engine.record_later(task.run_id);
                    }
                    Ok(FailureOutcome::Retrying { .. }) => {
                        engine.signal(task.run_id, false);
                        engine.inner.ready.notify_waiters();
                    }
                    Err(StoreError::Fenced(why)) => debug!(%why, "a late failure was dropped"),
                    Err(error) => warn!(%error, task = %task.key, "recording a failure failed"),
                }
                return;
            }
        }
    }
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
