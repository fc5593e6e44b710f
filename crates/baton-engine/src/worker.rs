//! A worker: claims ready tasks, runs them, and keeps its leases alive.
//!
//! Each claimed task runs in its own Tokio task; when it completes, the
//! store hands the same worker one newly ready successor in the completion's
//! commit, so a chain runs without a claim round-trip per step. A heartbeat
//! renews every lease the worker holds in one statement, and every beat
//! also reaps leases that ran out elsewhere, so a killed worker's tasks are
//! retried by whoever is alive.

use std::time::Duration;

use baton_core::wall_millis;
use baton_store::{
    ClaimNext, ClaimRequest, ClaimedTask, FailureOutcome, StoreError, TaskFailure, TaskOutcome,
};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::engine::Engine;
use crate::execute::{Executed, TaskError, execute};
use crate::record;

/// A running worker; dropping it does not stop it, [`WorkerHandle::stop`]
/// does.
pub struct WorkerHandle {
    pub id: String,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming, abandons the tasks in flight (their leases run out
    /// and another worker retries them) and waits for the loop to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

impl Engine {
    /// Starts a worker in this process.
    pub fn spawn_worker(&self) -> WorkerHandle {
        let id = worker_id();
        let (stop, stopped) = watch::channel(false);
        let engine = self.clone();
        let worker = id.clone();
        let done = tokio::spawn(async move { work(engine, worker, stopped).await });
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

async fn work(engine: Engine, worker: String, mut stopped: watch::Receiver<bool>) {
    let config = engine.config().clone();
    let store = engine.hub().store().clone();
    let lease_ms = config.lease.as_millis() as i64;
    let mut running: JoinSet<()> = JoinSet::new();
    let mut beat = tokio::time::interval((config.lease / 3).max(Duration::from_millis(50)));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *stopped.borrow() {
            break;
        }
        let ready = engine.inner.ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        let free = config.concurrency.saturating_sub(running.len());
        let mut claimed = 0;
        if free > 0 {
            let request = ClaimRequest {
                worker: &worker,
                queues: config.queues.as_deref(),
                limit: (free as u32).min(config.claim_batch),
                lease_ms,
                now_ms: wall_millis() as i64,
            };
            match store.claim_tasks(&request).await {
                Ok(tasks) => {
                    claimed = tasks.len();
                    for task in tasks {
                        engine.signal(task.run_id, false);
                        running.spawn(run_task(engine.clone(), worker.clone(), task));
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
            _ = beat.tick() => {
                let now = wall_millis() as i64;
                if let Err(error) = store.heartbeat(&worker, lease_ms, now).await {
                    warn!(%error, "heartbeat failed");
                }
                match store.reap_expired(config.backoff.as_millis() as i64, now).await {
                    Ok(0) => {}
                    Ok(reaped) => {
                        debug!(reaped, "leases ran out; tasks returned");
                        engine.inner.ready.notify_waiters();
                    }
                    Err(error) => warn!(%error, "reaping expired leases failed"),
                }
            }
            _ = tokio::time::sleep(config.poll) => {}
            _ = stopped.changed() => break,
        }
    }
    running.abort_all();
    while running.join_next().await.is_some() {}
}

/// Runs a task and, while the store hands over successors, those too.
async fn run_task(engine: Engine, worker: String, mut task: ClaimedTask) {
    let store = engine.hub().store().clone();
    let config = engine.config().clone();
    loop {
        let limit = Duration::from_millis(task.timeout_ms.max(1) as u64);
        let result = match tokio::time::timeout(limit, execute(&engine, &task)).await {
            Ok(result) => result,
            Err(_) => Err(TaskError::retry(format!(
                "timed out after {} s",
                limit.as_secs_f64()
            ))),
        };
        let now = wall_millis() as i64;
        match result {
            Ok(Executed::Parked) => {
                engine.signal(task.run_id, false);
                return;
            }
            Ok(Executed::Done(done)) => {
                let next = ClaimNext {
                    worker: &worker,
                    queues: config.queues.as_deref(),
                    lease_ms: config.lease.as_millis() as i64,
                };
                let outcome = TaskOutcome {
                    output: &done.output,
                    model: done.model.as_deref(),
                    prompt_tokens: done.prompt_tokens,
                    completion_tokens: done.completion_tokens,
                    cost_usd: done.cost_usd,
                };
                match store
                    .complete_task(
                        task.run_id,
                        &task.key,
                        task.epoch,
                        &outcome,
                        Some(&next),
                        now,
                    )
                    .await
                {
                    Ok(completion) => {
                        engine.signal(task.run_id, completion.released > 0);
                        if completion.finished.is_some() {
                            record::finished(&engine, task.run_id).await;
                        }
                        match completion.next {
                            Some(next) => {
                                task = next;
                                continue;
                            }
                            None => return,
                        }
                    }
                    Err(StoreError::Fenced(why)) => debug!(%why, "a late result was dropped"),
                    Err(error) => warn!(%error, task = %task.key, "completing a task failed"),
                }
                return;
            }
            Err(error) => {
                let failure = TaskFailure {
                    error: &error.message,
                    retry: error.retry,
                    backoff_ms: config.backoff.as_millis() as i64,
                };
                match store
                    .fail_task(task.run_id, &task.key, task.epoch, &failure, now)
                    .await
                {
                    Ok(FailureOutcome::Failed) => {
                        engine.signal(task.run_id, false);
                        record::finished(&engine, task.run_id).await;
                    }
                    Ok(FailureOutcome::Retrying { .. }) => engine.signal(task.run_id, false),
                    Err(StoreError::Fenced(why)) => debug!(%why, "a late failure was dropped"),
                    Err(error) => warn!(%error, task = %task.key, "recording a failure failed"),
                }
                return;
            }
        }
    }
}
