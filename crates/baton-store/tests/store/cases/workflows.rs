//! Workflow runs: claims under fenced leases, completion with the fan-in
//! countdown and successor claim in one commit, retries, reaping, approvals,
//! cancellation, resumption and the gapless event log.

use std::collections::{HashMap, HashSet};

use baton_core::WorkflowId;
use baton_store::{
    Backend, ClaimNext, ClaimRequest, ClaimedTask, CompleteItem, Completion, FailureOutcome,
    NewTask, NewWorkflow, Store, StoreError, TaskFailure, TaskOutcome, TaskState, WorkflowRun,
    WorkflowStatus,
};
use serde_json::{Value, json};

use crate::harness::TestDb;

const LEASE: i64 = 10_000;

fn task(key: &str, deps: &[&str]) -> NewTask {
    NewTask {
        key: key.to_owned(),
        kind: "noop".to_owned(),
        spec: json!({ "id": key }),
        queue: "default".to_owned(),
        priority: 0,
        max_attempts: 3,
        timeout_ms: 60_000,
        depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
    }
}

async fn create(store: &Store, tasks: &[NewTask], now: i64) -> WorkflowRun {
    let request = json!({ "description": "test" });
    let plan = json!({ "tasks": [] });
    store
        .create_workflow(&NewWorkflow {
            id: WorkflowId::new(),
            name: "test",
            request: &request,
            plan: &plan,
            workspace: "/w",
            device_id: "desktop-1",
            tasks,
            now_ms: now,
        })
        .await
        .unwrap()
}

fn claim<'a>(worker: &'a str, limit: u32, now: i64) -> ClaimRequest<'a> {
    ClaimRequest {
        worker,
        queues: None,
        run: None,
        limit,
        lease_ms: LEASE,
        now_ms: now,
    }
}

/// What a worker asks of its completions: the next task in each slot, from
/// any queue and run.
fn next_for(worker: &str) -> ClaimNext<'_> {
    ClaimNext {
        worker,
        queues: None,
        run: None,
        lease_ms: LEASE,
    }
}

fn diamond() -> Vec<NewTask> {
    vec![
        task("root", &[]),
        task("left", &["root"]),
        task("right", &["root"]),
        task("join", &["left", "right"]),
    ]
}

async fn states(store: &Store, id: WorkflowId) -> HashMap<String, TaskState> {
    store
        .workflow_tasks(id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.key, t.state))
        .collect()
}

async fn event_kinds(store: &Store, id: WorkflowId) -> Vec<String> {
    let events = store.workflow_events(id, 0, 1000).await.unwrap();
    for (at, event) in events.iter().enumerate() {
        assert_eq!(event.seq, at as i64 + 1, "events are numbered without gaps");
    }
    events
        .into_iter()
        .map(|e| match e.task {
            Some(task) => format!("{}:{task}", e.kind),
            None => e.kind,
        })
        .collect()
}

pub async fn workflow_diamond_runs_to_completion_in_order(db: TestDb) {
    let store = db.open().await;
    let run = create(&store, &diamond(), 1).await;
    assert_eq!(run.status, WorkflowStatus::Running);
    assert_eq!(run.total_tasks, 4);
    let got = store.claim_tasks(&claim("w1", 10, 2)).await.unwrap();
    assert_eq!(got.len(), 1, "only the root is ready");
    let root = &got[0];
    assert_eq!(
        (root.key.as_str(), root.attempt, root.epoch),
        ("root", 1, 1)
    );
    let output = json!("root done");
    let next = next_for("w1");
    let done = store
        .complete_task(
            run.id,
            "root",
            root.epoch,
            &TaskOutcome::plain(&output),
            Some(&next),
            3,
        )
        .await
        .unwrap();
    let left = done
        .next
        .expect("the worker takes a successor in the same commit");
    assert_eq!(done.released, 1, "the other successor is ready for anyone");
    assert!(done.finished.is_none());
    let right = store.claim_tasks(&claim("w2", 10, 4)).await.unwrap();
    assert_eq!(right.len(), 1);
    for task in [&left, &right[0]] {
        let out = json!(format!("{} done", task.key));
        let done = store
            .complete_task(
                run.id,
                &task.key,
                task.epoch,
                &TaskOutcome::plain(&out),
                None,
                5,
            )
            .await
            .unwrap();
        assert!(done.finished.is_none());
    }
    assert_eq!(states(&store, run.id).await["join"], TaskState::Ready);
    let join = store.claim_tasks(&claim("w1", 10, 6)).await.unwrap();
    let inputs = store
        .task_outputs(run.id, &["left".to_owned(), "right".to_owned()])
        .await
        .unwrap();
    assert_eq!(inputs["left"], json!("left done"));
    assert_eq!(inputs["right"], json!("right done"));
    let out = json!({"answer": 42});
    let done = store
        .complete_task(
            run.id,
            "join",
            join[0].epoch,
            &TaskOutcome {
                output: &out,
                model: Some("scripted/m"),
                prompt_tokens: 10,
                completion_tokens: 5,
                cost_usd: 0.5,
            },
            None,
            7,
        )
        .await
        .unwrap();
    assert_eq!(done.finished, Some(WorkflowStatus::Completed));
    let run = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(run.status, WorkflowStatus::Completed);
    assert_eq!(run.done_tasks, 4);
    assert_eq!(run.result, Some(json!({ "join": { "answer": 42 } })));
    assert_eq!((run.prompt_tokens, run.completion_tokens), (10, 5));
    assert_eq!(run.finished_ms, Some(7));
    let kinds = event_kinds(&store, run.id).await;
    assert_eq!(kinds.first().unwrap(), "workflow_started");
    assert_eq!(kinds.last().unwrap(), "workflow_completed");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("task_started"))
            .count(),
        4
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("task_completed"))
            .count(),
        4
    );
    assert_eq!(run.last_event, kinds.len() as i64);
    let tasks = store.workflow_tasks(run.id).await.unwrap();
    assert_eq!(tasks[3].depends_on, vec!["left", "right"]);
}

pub async fn workflow_stale_epoch_changes_nothing(db: TestDb) {
    let store = db.open().await;
    let run = create(&store, &[task("only", &[])], 1).await;
    let first = store.claim_tasks(&claim("slow", 1, 2)).await.unwrap();
    assert_eq!(first.len(), 1);
    // The slow worker's lease runs out; the reaper gives the task back.
    assert_eq!(store.reap_expired(0, 2 + LEASE + 1).await.unwrap(), 1);
    let second = store
        .claim_tasks(&claim("fast", 1, 3 + LEASE))
        .await
        .unwrap();
    assert_eq!(second[0].epoch, first[0].epoch + 1);
    assert_eq!(second[0].attempt, 2);
    let late = json!("late");
    let err = store
        .complete_task(
            run.id,
            "only",
            first[0].epoch,
            &TaskOutcome::plain(&late),
            None,
            4 + LEASE,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    let err = store
        .checkpoint_task(run.id, "only", first[0].epoch, &late)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    let err = store
        .fail_task(
            run.id,
            "only",
            first[0].epoch,
            &TaskFailure {
                error: "boom",
                retry: true,
                backoff_ms: 0,
            },
            5 + LEASE,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    let good = json!("good");
    let done = store
        .complete_task(
            run.id,
            "only",
            second[0].epoch,
            &TaskOutcome::plain(&good),
            None,
            6 + LEASE,
        )
        .await
        .unwrap();
    assert_eq!(done.finished, Some(WorkflowStatus::Completed));
    let run = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(run.result, Some(json!({ "only": "good" })));
    let kinds = event_kinds(&store, run.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "task_completed:only").count(),
        1
    );
    assert!(kinds.contains(&"task_retrying:only".to_owned()));
}

pub async fn workflow_failures_retry_with_backoff_then_fail_the_run(db: TestDb) {
    let store = db.open().await;
    let mut tasks = vec![task("a", &[]), task("b", &["a"])];
    tasks[0].max_attempts = 2;
    let run = create(&store, &tasks, 1).await;
    let first = store.claim_tasks(&claim("w", 1, 10)).await.unwrap();
    let outcome = store
        .fail_task(
            run.id,
            "a",
            first[0].epoch,
            &TaskFailure {
                error: "flaky",
                retry: true,
                backoff_ms: 1_000,
            },
            11,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        FailureOutcome::Retrying {
            attempt: 1,
            ready_at_ms: 1_011
        }
    );
    assert!(
        store
            .claim_tasks(&claim("w", 1, 500))
            .await
            .unwrap()
            .is_empty(),
        "backing off"
    );
    let second = store.claim_tasks(&claim("w", 1, 1_011)).await.unwrap();
    assert_eq!(second[0].attempt, 2);
    let outcome = store
        .fail_task(
            run.id,
            "a",
            second[0].epoch,
            &TaskFailure {
                error: "flaky again",
                retry: true,
                backoff_ms: 1_000,
            },
            1_012,
        )
        .await
        .unwrap();
    assert_eq!(outcome, FailureOutcome::Failed);
    let stored = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, WorkflowStatus::Failed);
    assert!(
        stored.reason.as_deref().unwrap().contains("flaky again"),
        "{stored:?}"
    );
    let states = states(&store, run.id).await;
    assert_eq!(states["a"], TaskState::Failed);
    assert_eq!(states["b"], TaskState::Cancelled);
    let kinds = event_kinds(&store, run.id).await;
    assert_eq!(kinds.last().unwrap(), "workflow_failed");
}

pub async fn workflow_fail_without_retry_fails_at_once(db: TestDb) {
    let store = db.open().await;
    let run = create(&store, &[task("a", &[])], 1).await;
    let got = store.claim_tasks(&claim("w", 1, 2)).await.unwrap();
    let outcome = store
        .fail_task(
            run.id,
            "a",
            got[0].epoch,
            &TaskFailure {
                error: "bad plan",
                retry: false,
                backoff_ms: 0,
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(outcome, FailureOutcome::Failed);
    let stored = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, WorkflowStatus::Failed);
}

pub async fn workflow_reaper_fails_a_task_out_of_attempts(db: TestDb) {
    let store = db.open().await;
    let mut tasks = vec![task("a", &[])];
    tasks[0].max_attempts = 1;
    let run = create(&store, &tasks, 1).await;
    store.claim_tasks(&claim("dead", 1, 2)).await.unwrap();
    assert_eq!(
        store.reap_expired(0, 3).await.unwrap(),
        0,
        "lease still good"
    );
    assert_eq!(store.reap_expired(0, 2 + LEASE + 1).await.unwrap(), 1);
    let stored = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, WorkflowStatus::Failed);
    assert!(
        stored
            .reason
            .unwrap()
            .contains("lease of worker dead ran out")
    );
}

pub async fn workflow_heartbeat_renews_every_lease_of_a_worker(db: TestDb) {
    let store = db.open().await;
    create(&store, &[task("a", &[]), task("b", &[]), task("c", &[])], 1).await;
    let got = store.claim_tasks(&claim("w1", 2, 2)).await.unwrap();
    assert_eq!(got.len(), 2);
    store.claim_tasks(&claim("w2", 1, 2)).await.unwrap();
    assert_eq!(store.heartbeat("w1", LEASE, 5_000).await.unwrap(), 2);
    // w2 did not beat: only its task comes back.
    assert_eq!(store.reap_expired(0, 2 + LEASE + 1).await.unwrap(), 1);
    assert_eq!(store.heartbeat("w2", LEASE, 5_000).await.unwrap(), 0);
}

pub async fn workflow_claims_follow_priority_and_queues(db: TestDb) {
    let store = db.open().await;
    let mut tasks = vec![task("low", &[]), task("high", &[]), task("gpu", &[])];
    tasks[1].priority = 10;
    tasks[2].queue = "gpu".to_owned();
    create(&store, &tasks, 1).await;
    let cpu = vec!["default".to_owned()];
    let got = store
        .claim_tasks(&ClaimRequest {
            queues: Some(&cpu),
            ..claim("w", 1, 2)
        })
        .await
        .unwrap();
    assert_eq!(got[0].key, "high");
    let gpu = vec!["gpu".to_owned()];
    let got = store
        .claim_tasks(&ClaimRequest {
            queues: Some(&gpu),
            ..claim("w", 5, 2)
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key, "gpu");
    assert_eq!(got[0].queue, "gpu");
}

pub async fn workflow_queue_limit_caps_concurrent_claims(db: TestDb) {
    let store = db.open().await;
    store.set_queue_limit("gpu", Some(2)).await.unwrap();
    let tasks: Vec<NewTask> = (0..5)
        .map(|n| NewTask {
            queue: "gpu".to_owned(),
            ..task(&format!("t{n}"), &[])
        })
        .chain([task("cpu", &[])])
        .collect();
    let run = create(&store, &tasks, 1).await;
    let got = store.claim_tasks(&claim("w1", 10, 2)).await.unwrap();
    let gpu = got.iter().filter(|t| t.queue == "gpu").count();
    assert_eq!(gpu, 2, "{got:?}");
    assert_eq!(got.len(), 3);
    assert!(
        store
            .claim_tasks(&claim("w2", 10, 2))
            .await
            .unwrap()
            .is_empty()
    );
    let first = got.iter().find(|t| t.queue == "gpu").unwrap();
    let out = json!(null);
    store
        .complete_task(
            run.id,
            &first.key,
            first.epoch,
            &TaskOutcome::plain(&out),
            None,
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim_tasks(&claim("w2", 10, 4)).await.unwrap().len(),
        1
    );
    store.set_queue_limit("gpu", None).await.unwrap();
    assert_eq!(
        store.claim_tasks(&claim("w2", 10, 4)).await.unwrap().len(),
        2
    );
}

pub async fn workflow_approval_waits_for_a_person(db: TestDb) {
    let store = db.open().await;
    let mut tasks = vec![task("ask", &[]), task("after", &["ask"])];
    tasks[0].kind = "approval".to_owned();
    let run = create(&store, &tasks, 1).await;
    let got = store.claim_tasks(&claim("w", 1, 2)).await.unwrap();
    store
        .park_task(run.id, "ask", got[0].epoch, "ship it?", 3)
        .await
        .unwrap();
    assert_eq!(
        store.heartbeat("w", LEASE, 4).await.unwrap(),
        0,
        "holds no lease"
    );
    assert_eq!(store.reap_expired(0, 4 + 10 * LEASE).await.unwrap(), 0);
    let decision = json!({ "approved": true, "by": "ana" });
    let done = store
        .decide_task(run.id, "ask", true, &decision, 5)
        .await
        .unwrap();
    assert_eq!(done.released, 1);
    let err = store
        .decide_task(run.id, "ask", true, &decision, 6)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "decided once: {err}");
    let err = store
        .decide_task(run.id, "nope", true, &decision, 6)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");

    let run = create(&store, &tasks, 10).await;
    let got = store.claim_tasks(&claim("w", 5, 11)).await.unwrap();
    let ask = got.iter().find(|t| t.run_id == run.id).unwrap();
    store
        .park_task(run.id, "ask", ask.epoch, "ship it?", 12)
        .await
        .unwrap();
    let refusal = json!({ "approved": false, "by": "ana", "comment": "not yet" });
    let done = store
        .decide_task(run.id, "ask", false, &refusal, 13)
        .await
        .unwrap();
    assert_eq!(done.finished, Some(WorkflowStatus::Failed));
    let stored = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, WorkflowStatus::Failed);
    assert!(stored.reason.unwrap().contains("not yet"));
}

pub async fn workflow_cancel_fences_holders_and_refuses_ended_runs(db: TestDb) {
    let store = db.open().await;
    let run = create(&store, &diamond(), 1).await;
    let got = store.claim_tasks(&claim("w", 1, 2)).await.unwrap();
    let cancelled = store
        .cancel_workflow(run.id, "changed my mind", 3)
        .await
        .unwrap();
    assert_eq!(cancelled.status, WorkflowStatus::Cancelled);
    assert!(
        states(&store, run.id)
            .await
            .values()
            .all(|s| *s == TaskState::Cancelled)
    );
    let out = json!(1);
    let err = store
        .complete_task(
            run.id,
            "root",
            got[0].epoch,
            &TaskOutcome::plain(&out),
            None,
            4,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err}");
    let before = store.workflow(run.id).await.unwrap().unwrap();
    let err = store.cancel_workflow(run.id, "again", 5).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(
        err.to_string().contains("already ended (cancelled)"),
        "{err}"
    );
    assert_eq!(store.workflow(run.id).await.unwrap().unwrap(), before);
    let err = store
        .cancel_workflow(WorkflowId::new(), "x", 5)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

pub async fn workflow_resume_keeps_finished_work(db: TestDb) {
    let store = db.open().await;
    let run = create(&store, &diamond(), 1).await;
    let root = store.claim_tasks(&claim("w", 1, 2)).await.unwrap();
    let out = json!("root");
    store
        .complete_task(
            run.id,
            "root",
            root[0].epoch,
            &TaskOutcome::plain(&out),
            None,
            3,
        )
        .await
        .unwrap();
    let both = store.claim_tasks(&claim("w", 2, 4)).await.unwrap();
    let answer = json!({ "text": "the model's answer" });
    let left = both.iter().find(|t| t.key == "left").unwrap();
    store
        .checkpoint_task(run.id, "left", left.epoch, &answer)
        .await
        .unwrap();
    store.cancel_workflow(run.id, "stop", 5).await.unwrap();
    let resumed = store.resume_workflow(run.id, 6).await.unwrap();
    assert_eq!(resumed.status, WorkflowStatus::Running);
    let states = states(&store, run.id).await;
    assert_eq!(states["root"], TaskState::Completed);
    assert_eq!(states["left"], TaskState::Ready);
    assert_eq!(states["right"], TaskState::Ready);
    assert_eq!(states["join"], TaskState::Blocked);
    let again = store.claim_tasks(&claim("w", 2, 7)).await.unwrap();
    let left = again.iter().find(|t| t.key == "left").unwrap();
    assert_eq!(
        left.checkpoint,
        Some(answer),
        "the model is not asked again"
    );
    assert_eq!(left.attempt, 1, "attempts start over");
    for task in &again {
        store
            .complete_task(
                run.id,
                &task.key,
                task.epoch,
                &TaskOutcome::plain(&out),
                None,
                8,
            )
            .await
            .unwrap();
    }
    let join = store.claim_tasks(&claim("w", 1, 9)).await.unwrap();
    let done = store
        .complete_task(
            run.id,
            "join",
            join[0].epoch,
            &TaskOutcome::plain(&out),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(done.finished, Some(WorkflowStatus::Completed));
    let err = store.resume_workflow(run.id, 11).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let kinds = event_kinds(&store, run.id).await;
    assert!(kinds.contains(&"workflow_resumed".to_owned()));
}

/// Four workers drain 20 fan-out runs at once: every task completes exactly
/// once, every run completes, and each run's events are gapless.
pub async fn workflow_concurrent_workers_complete_each_task_once(db: TestDb) {
    let store = db.open().await;
    let mut runs = Vec::new();
    for _ in 0..20 {
        let mut tasks = vec![task("root", &[])];
        let leaves: Vec<String> = (0..10).map(|n| format!("leaf{n}")).collect();
        for leaf in &leaves {
            tasks.push(task(leaf, &["root"]));
        }
        let refs: Vec<&str> = leaves.iter().map(String::as_str).collect();
        tasks.push(task("join", &refs));
        runs.push(create(&store, &tasks, 1).await.id);
    }
    let mut workers = Vec::new();
    for n in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("w{n}");
            let mut completed = Vec::new();
            let mut idle = 0;
            while idle < 20 {
                let got = store.claim_tasks(&claim(&name, 4, 3)).await.unwrap();
                if got.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for task in got {
                    let mut held = Some(task);
                    while let Some(task) = held.take() {
                        let out = json!(task.key);
                        let next = next_for(&name);
                        let done = store
                            .complete_task(
                                task.run_id,
                                &task.key,
                                task.epoch,
                                &TaskOutcome::plain(&out),
                                Some(&next),
                                3,
                            )
                            .await
                            .unwrap();
                        completed.push((task.run_id, task.key));
                        held = done.next;
                    }
                }
            }
            completed
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for done in worker.await.unwrap() {
            assert!(seen.insert(done.clone()), "completed twice: {done:?}");
        }
    }
    assert_eq!(seen.len(), 20 * 12);
    for id in runs {
        let run = store.workflow(id).await.unwrap().unwrap();
        assert_eq!(run.status, WorkflowStatus::Completed);
        let kinds = event_kinds(&store, id).await;
        assert_eq!(kinds.len() as i64, run.last_event);
        let result: &Value = run.result.as_ref().unwrap();
        assert_eq!(result["join"], json!("join"));
    }
}

pub async fn workflow_release_and_run_filter(db: TestDb) {
    let store = db.open().await;
    let first = create(&store, &[task("a", &[]), task("b", &[])], 1).await;
    let second = create(&store, &[task("c", &[])], 1).await;
    let only_second = store
        .claim_tasks(&ClaimRequest {
            run: Some(second.id),
            ..claim("w", 10, 2)
        })
        .await
        .unwrap();
    assert_eq!(only_second.len(), 1);
    assert_eq!(only_second[0].run_id, second.id);
    let held = store.claim_tasks(&claim("w", 10, 2)).await.unwrap();
    assert_eq!(held.len(), 2, "the first run's two tasks");
    assert_eq!(store.release_tasks("w", 3).await.unwrap(), 3);
    let again = store.claim_tasks(&claim("other", 10, 4)).await.unwrap();
    assert_eq!(again.len(), 3);
    assert!(
        again.iter().all(|t| t.attempt == 1),
        "a released task uses no attempt: {again:?}"
    );
    let kinds = event_kinds(&store, first.id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("task_released"))
            .count(),
        2
    );
}

pub async fn workflow_list_pages_runs_of_one_millisecond(db: TestDb) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create(&store, &[task("a", &[])], 7).await.id);
    }
    let first = store.workflows(2, None).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let rest = store.workflows(2, Some(ids[1])).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[0]]);
}

/// A new run is stored as its creation reports it, whatever its size (a
/// fan-out wider than any statement chunk): every task with its columns,
/// dependencies and state, one `workflow_started` event; and a plan the
/// store refuses (a task id twice) leaves nothing behind.
pub async fn workflow_created_run_is_stored_as_reported(db: TestDb) {
    let store = db.open().await;
    let leaves: Vec<String> = (0..1200).map(|at| format!("leaf{at}")).collect();
    let mut tasks = vec![task("root", &[])];
    for (at, leaf) in leaves.iter().enumerate() {
        let mut leaf = task(leaf, &["root"]);
        leaf.priority = at as i64 % 3;
        leaf.queue = if at % 2 == 0 { "default" } else { "slow" }.to_owned();
        leaf.max_attempts = 1 + at as i64 % 4;
        leaf.timeout_ms = 1000 + at as i64;
        tasks.push(leaf);
    }
    let refs: Vec<&str> = leaves.iter().map(String::as_str).collect();
    tasks.push(task("join", &refs));
    let run = create(&store, &tasks, 5).await;
    assert_eq!(
        store.workflow(run.id).await.unwrap().as_ref(),
        Some(&run),
        "the run as stored"
    );
    assert_eq!((run.total_tasks, run.last_event), (1202, 1));
    let stored = store.workflow_tasks(run.id).await.unwrap();
    assert_eq!(stored.len(), tasks.len());
    for (at, (stored, given)) in stored.iter().zip(&tasks).enumerate() {
        assert_eq!(stored.key, given.key);
        assert_eq!(stored.position, at as i64);
        assert_eq!(stored.kind, given.kind);
        assert_eq!(stored.spec, given.spec);
        assert_eq!(stored.queue, given.queue);
        assert_eq!(stored.priority, given.priority);
        assert_eq!(stored.max_attempts, given.max_attempts);
        assert_eq!(stored.timeout_ms, given.timeout_ms);
        assert_eq!(stored.ready_at_ms, 5);
        let mut deps = stored.depends_on.clone();
        let mut wanted = given.depends_on.clone();
        deps.sort();
        wanted.sort();
        assert_eq!(deps, wanted, "dependencies of {}", given.key);
        assert_eq!(stored.pending, given.depends_on.len() as i64);
        let state = if given.depends_on.is_empty() {
            TaskState::Ready
        } else {
            TaskState::Blocked
        };
        assert_eq!(stored.state, state, "state of {}", given.key);
    }
    let events = store.workflow_events(run.id, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].seq, events[0].kind.as_str(), events[0].created_ms),
        (1, "workflow_started", 5)
    );
    assert_eq!(
        events[0].data,
        json!({ "name": "test", "total_tasks": 1202 })
    );

    let twice = [task("a", &[]), task("a", &[])];
    let request = json!({ "description": "test" });
    let plan = json!({ "tasks": [] });
    let refused = WorkflowId::new();
    store
        .create_workflow(&NewWorkflow {
            id: refused,
            name: "twice",
            request: &request,
            plan: &plan,
            workspace: "/w",
            device_id: "desktop-1",
            tasks: &twice,
            now_ms: 6,
        })
        .await
        .expect_err("a task id twice is refused");
    assert_eq!(store.workflow(refused).await.unwrap(), None);
    assert!(store.workflow_tasks(refused).await.unwrap().is_empty());
    assert!(
        store
            .workflow_events(refused, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Completions of held tasks, in the order given, each with `out`.
fn completing<'a>(
    held: impl Iterator<Item = &'a ClaimedTask>,
    out: &'a Value,
) -> Vec<CompleteItem<'a>> {
    held.map(|t| CompleteItem {
        run_id: t.run_id,
        key: &t.key,
        epoch: t.epoch,
        outcome: TaskOutcome::plain(out),
    })
    .collect()
}

/// Tasks of two runs completed in one batch: each handed-over successor
/// starts after the completion that made it ready, in its own run's log.
pub async fn workflow_batch_completion_keeps_each_runs_order(db: TestDb) {
    let store = db.open().await;
    let chain = [task("a", &[]), task("b", &["a"])];
    let first = create(&store, &chain, 1).await;
    let second = create(&store, &chain, 1).await;
    let held = store.claim_tasks(&claim("w", 10, 2)).await.unwrap();
    assert_eq!(held.len(), 2);
    let out = json!(null);
    let items = completing(held.iter().rev(), &out);
    let next = next_for("w");
    let batch = store.complete_tasks(&items, Some(&next), 3).await.unwrap();
    let mut stored = Vec::new();
    for run in [first.id, second.id] {
        let log = store.workflow_events(run, 0, 100).await.unwrap();
        // Before the batch: workflow_started and a's task_started.
        stored.extend(log.into_iter().filter(|e| e.seq > 2));
    }
    // The events a batch reports are the ones it appended, as stored: all
    // of them on SQLite (the write thread builds them), none on PostgreSQL
    // (appended server-side; watchers read them).
    let reports = store.backend() == Backend::Sqlite;
    let mut reported = batch.events.clone();
    reported.sort_by_key(|e| (e.run_id, e.seq));
    stored.sort_by_key(|e| (e.run_id, e.seq));
    assert_eq!(reported, if reports { stored } else { vec![] });
    let handed: Vec<_> = batch
        .results
        .into_iter()
        .filter_map(|r| r.unwrap().next)
        .collect();
    assert_eq!(handed.len(), 2, "both b tasks go to the worker");
    for run in [first.id, second.id] {
        let kinds = event_kinds(&store, run).await;
        assert_eq!(
            kinds,
            vec![
                "workflow_started",
                "task_started:a",
                "task_completed:a",
                "task_started:b"
            ]
        );
    }
    // The batch that ends both runs reports their ends too.
    let items = completing(handed.iter(), &out);
    let batch = store.complete_tasks(&items, None, 4).await.unwrap();
    let mut reported: Vec<(WorkflowId, i64, String)> = batch
        .events
        .iter()
        .map(|e| (e.run_id, e.seq, e.kind.clone()))
        .collect();
    reported.sort();
    let mut expected = Vec::new();
    for run in [first.id, second.id].into_iter().filter(|_| reports) {
        expected.push((run, 5, "task_completed".to_owned()));
        expected.push((run, 6, "workflow_completed".to_owned()));
    }
    expected.sort();
    assert_eq!(reported, expected);
}

/// A reap that finds two tasks of one run out of attempts fails the run
/// once; its task that still had attempts is cancelled, not retried.
pub async fn workflow_reap_fails_a_run_once(db: TestDb) {
    let store = db.open().await;
    let mut tasks = vec![task("a", &[]), task("b", &[]), task("c", &[])];
    tasks[0].max_attempts = 1;
    tasks[1].max_attempts = 1;
    let run = create(&store, &tasks, 1).await;
    assert_eq!(
        store
            .claim_tasks(&claim("dead", 10, 2))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.reap_expired(0, 3 + LEASE).await.unwrap(), 3);
    let kinds = event_kinds(&store, run.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "workflow_failed").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.last().unwrap(), "workflow_failed");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("task_failed"))
            .count(),
        2
    );
    assert!(
        !kinds.iter().any(|k| k.starts_with("task_retrying")),
        "{kinds:?}"
    );
    let states = states(&store, run.id).await;
    assert_eq!(states["c"], TaskState::Cancelled);
    let stored = store.workflow(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, WorkflowStatus::Failed);
}

pub async fn workflow_prune_deletes_only_runs_ended_before_the_cutoff(db: TestDb) {
    let store = db.open().await;
    let old = create(&store, &[task("a", &[])], 1).await;
    store.cancel_workflow(old.id, "old", 10).await.unwrap();
    let recent = create(&store, &[task("a", &[])], 1).await;
    store
        .cancel_workflow(recent.id, "recent", 100)
        .await
        .unwrap();
    let going = create(&store, &diamond(), 1).await;
    let held = store.claim_tasks(&claim("w", 10, 2)).await.unwrap();
    assert!(!held.is_empty());

    assert_eq!(store.prune_workflows(50, 100).await.unwrap(), 1);
    assert!(store.workflow(old.id).await.unwrap().is_none());
    assert!(store.workflow_tasks(old.id).await.unwrap().is_empty());
    assert!(
        store
            .workflow_events(old.id, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.workflow(recent.id).await.unwrap().is_some());
    assert_eq!(store.workflow_tasks(going.id).await.unwrap().len(), 4);

    // Everything ended is gone in batches; the running run stays.
    assert_eq!(store.prune_workflows(i64::MAX, 1).await.unwrap(), 1);
    assert_eq!(store.prune_workflows(i64::MAX, 1).await.unwrap(), 0);
    let left: Vec<WorkflowId> = store
        .workflows(10, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![going.id]);
    // A resumed run is going again and is not pruned.
    let cancelled = store.cancel_workflow(going.id, "stop", 200).await.unwrap();
    store.resume_workflow(cancelled.id, 300).await.unwrap();
    assert_eq!(store.prune_workflows(i64::MAX, 10).await.unwrap(), 0);
}

/// Completes a task with output `1`, handing its slot on as `next` says.
async fn complete_with(
    store: &Store,
    run: WorkflowId,
    key: &str,
    epoch: i64,
    next: &ClaimNext<'_>,
    now: i64,
) -> Completion {
    store
        .complete_task(
            run,
            key,
            epoch,
            &TaskOutcome::plain(&json!(1)),
            Some(next),
            now,
        )
        .await
        .unwrap()
}

/// A successor that becomes ready goes to the completing worker only when
/// it serves the successor's queue and that queue has no concurrency limit
/// (a limited queue's count is kept by claims); otherwise it is left ready
/// for others and counted as released.
pub async fn workflow_successors_of_limited_or_unserved_queues_are_released(db: TestDb) {
    let store = db.open().await;
    store.set_queue_limit("gpu", Some(1)).await.unwrap();
    let mut gpu = task("g", &["a"]);
    gpu.queue = "gpu".into();
    let mut other = task("o", &["a"]);
    other.queue = "other".into();
    other.priority = 1;
    let run = create(&store, &[task("a", &[]), gpu, other], 1).await;
    let a = store
        .claim_tasks(&claim("w", 1, 2))
        .await
        .unwrap()
        .remove(0);
    let served = ["default".to_owned()];
    let only_default = ClaimNext {
        queues: Some(&served),
        ..next_for("w")
    };
    let done = complete_with(&store, run.id, "a", a.epoch, &only_default, 3).await;
    assert!(done.next.is_none(), "{:?}", done.next);
    assert_eq!(done.released, 2, "both are left for others");
    let mut ready: Vec<String> = store
        .claim_tasks(&claim("x", 10, 4))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.key)
        .collect();
    ready.sort();
    assert_eq!(
        ready,
        ["g", "o"],
        "both are ready, and gpu's one slot is free"
    );

    // A worker serving every queue takes the unlimited successor and leaves
    // the limited one, even though the limited one is free to run.
    let mut gpu = task("g", &["a"]);
    gpu.queue = "gpu".into();
    gpu.priority = 9;
    let mut other = task("o", &["a"]);
    other.queue = "other".into();
    let run = create(&store, &[task("a", &[]), gpu, other], 5).await;
    let a = store
        .claim_tasks(&ClaimRequest {
            run: Some(run.id),
            ..claim("w", 1, 6)
        })
        .await
        .unwrap()
        .remove(0);
    let any = ClaimNext {
        queues: None,
        ..only_default
    };
    let done = complete_with(&store, run.id, "a", a.epoch, &any, 7).await;
    let next = done.next.expect("the unlimited successor");
    assert_eq!(next.key, "o");
    assert_eq!(done.released, 1, "the limited one is left ready");
}

/// A completion after the database cut the store's connections (a
/// restart, an administrator) commits once it is tried again: a connection
/// that failed is not used again. On PostgreSQL the completions run on a
/// connection of the store's own, outside the pool.
pub async fn workflow_completion_recovers_from_a_cut_connection(db: TestDb) {
    let store = db.open().await;
    let chain = [task("a", &[]), task("b", &["a"]), task("c", &["b"])];
    let run = create(&store, &chain, 1).await;
    let a = store
        .claim_tasks(&claim("w", 1, 2))
        .await
        .unwrap()
        .remove(0);
    let next = next_for("w");
    let b = complete_with(&store, run.id, "a", a.epoch, &next, 3)
        .await
        .next
        .expect("b is handed over");
    if store.backend() == Backend::Postgres {
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
    }
    let out = json!(1);
    let outcome = TaskOutcome::plain(&out);
    let mut tries = 0;
    let done = loop {
        tries += 1;
        match store
            .complete_task(run.id, "b", b.epoch, &outcome, Some(&next), 4)
            .await
        {
            Ok(done) => break done,
            Err(error) if tries < 2 => eprintln!("first try after the cut: {error}"),
            Err(error) => panic!("the second try failed too: {error}"),
        }
    };
    assert_eq!(done.next.expect("c is handed over").key, "c");
}

/// A completed task's slot with no successor to take is refilled with the
/// most urgent ready task the worker serves, in the same commit, with its
/// `task_started` event; a run filter, the queues served and queue limits
/// bound what it takes.
pub async fn workflow_completion_refills_the_slot_with_a_ready_task(db: TestDb) {
    let store = db.open().await;
    let mut leaves = vec![task("a", &[]), task("b", &[]), task("c", &[])];
    leaves[2].priority = 5;
    let run = create(&store, &leaves, 1).await;
    let other = create(&store, &[task("x", &[])], 1).await;
    let got = store
        .claim_tasks(&ClaimRequest {
            run: Some(run.id),
            ..claim("w", 1, 2)
        })
        .await
        .unwrap();
    assert_eq!(got[0].key, "c", "the most urgent first");
    let next = ClaimNext {
        run: Some(run.id),
        ..next_for("w")
    };
    let done = complete_with(&store, run.id, "c", got[0].epoch, &next, 3).await;
    let refill = done.next.expect("a ready task refills the slot");
    assert_eq!(refill.run_id, run.id, "the run filter holds");
    assert_eq!(refill.attempt, 1);
    assert_eq!(done.released, 0, "nothing became ready");
    let kinds = event_kinds(&store, run.id).await;
    assert_eq!(
        &kinds[kinds.len() - 2..],
        [
            "task_completed:c".to_owned(),
            format!("task_started:{}", refill.key)
        ],
        "{kinds:?}"
    );
    // Without a run filter the other run's task is taken once this run's
    // last ready task is held.
    let any = ClaimNext { run: None, ..next };
    let done = complete_with(&store, run.id, &refill.key, refill.epoch, &any, 4).await;
    let third = done.next.expect("the last ready task of the run");
    assert_eq!(third.run_id, run.id);
    let done = complete_with(&store, run.id, &third.key, third.epoch, &any, 5).await;
    assert_eq!(done.finished, Some(WorkflowStatus::Completed));
    let taken = done.next.expect("the other run's ready task");
    assert_eq!((taken.run_id, taken.key.as_str()), (other.id, "x"));
    assert_eq!(
        event_kinds(&store, other.id).await.last().unwrap(),
        "task_started:x"
    );
    // A limited queue's tasks are never taken this way.
    store.set_queue_limit("gpu", Some(1)).await.unwrap();
    let mut gpu = task("g", &[]);
    gpu.queue = "gpu".into();
    create(&store, &[gpu], 6).await;
    let done = complete_with(&store, other.id, "x", taken.epoch, &any, 7).await;
    assert!(done.next.is_none(), "{:?}", done.next);
}

/// A ready task whose stored row cannot be read (its spec turned into
/// something that is not JSON behind the store's back) fails, with its
/// run, when a claim or a slot refill meets it. Left ready it would be the
/// most urgent task of every later claim, fail each of them and stop every
/// worker.
pub async fn workflow_unreadable_task_fails_its_run_not_every_claim(db: TestDb) {
    let store = db.open().await;
    let corrupt = |run: WorkflowId, key: &str| {
        format!("UPDATE workflow_tasks SET spec = '{{' WHERE run_id = '{run}' AND key = '{key}'")
    };
    let mut bad = task("bad", &[]);
    bad.priority = 9;
    let broken = create(&store, &[bad.clone(), task("sibling", &[])], 1).await;
    let fine = create(&store, &[task("ok", &[])], 1).await;
    db.execute(&corrupt(broken.id, "bad")).await;

    let got = store.claim_tasks(&claim("w", 10, 2)).await.unwrap();
    let keys: Vec<(WorkflowId, &str)> = got.iter().map(|t| (t.run_id, t.key.as_str())).collect();
    assert_eq!(keys, [(fine.id, "ok")], "the broken run hands out nothing");
    let run = store.workflow(broken.id).await.unwrap().unwrap();
    assert_eq!(run.status, WorkflowStatus::Failed);
    let reason = run.reason.unwrap_or_default();
    assert!(
        reason.contains("task bad failed: the stored task cannot be read"),
        "{reason}"
    );
    // (Its task list stays unreadable, and says so: the store reports a
    // corrupt row rather than altering it.)
    assert!(store.workflow_tasks(broken.id).await.is_err());
    // On PostgreSQL the claim commits (with its `task_started` events)
    // before its rows are read, and the run fails in the next transaction.
    let kinds = event_kinds(&store, broken.id).await;
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["task_failed:bad", "workflow_failed"]
    );

    // A refill that meets one leaves the slot empty and fails that run.
    let refilled = create(&store, &[bad], 3).await;
    db.execute(&corrupt(refilled.id, "bad")).await;
    let next = next_for("w");
    let done = complete_with(&store, fine.id, "ok", got[0].epoch, &next, 4).await;
    assert!(done.next.is_none(), "{:?}", done.next);
    assert_eq!(done.finished, Some(WorkflowStatus::Completed));
    let run = store.workflow(refilled.id).await.unwrap().unwrap();
    assert_eq!(run.status, WorkflowStatus::Failed);
    assert_eq!(
        event_kinds(&store, refilled.id).await.last().unwrap(),
        "workflow_failed"
    );
    assert!(
        store
            .claim_tasks(&claim("w", 10, 5))
            .await
            .unwrap()
            .is_empty(),
        "nothing is left to claim, and claiming works"
    );

    // A run whose id is not a UUID, met by a slot refill: its row is failed
    // and the completion that met it still commits.
    db.execute(
        "INSERT INTO workflow_runs (id, name, request, plan, workspace, device_id, status, \
         total_tasks, created_at, updated_at) \
         VALUES ('not-a-uuid', 'x', '{}', '{}', '/', 'd', 'running', 1, 6, 6)",
    )
    .await;
    db.execute(
        "INSERT INTO workflow_tasks (run_id, key, position, kind, spec, queue, priority, \
         state, pending, max_attempts, timeout_ms, ready_at) \
         VALUES ('not-a-uuid', 'odd', 0, 'noop', '{}', 'default', 9, 'ready', 0, 3, 1000, 6)",
    )
    .await;
    let last = create(&store, &[task("z", &[])], 7).await;
    let z = store
        .claim_tasks(&ClaimRequest {
            run: Some(last.id),
            ..claim("w", 1, 8)
        })
        .await
        .unwrap()
        .remove(0);
    let done = complete_with(&store, last.id, "z", z.epoch, &next, 9).await;
    assert!(done.next.is_none(), "{:?}", done.next);
    assert_eq!(done.finished, Some(WorkflowStatus::Completed));
    assert!(
        store
            .claim_tasks(&claim("w", 10, 10))
            .await
            .unwrap()
            .is_empty(),
        "the odd row was failed, not left ready"
    );
}
