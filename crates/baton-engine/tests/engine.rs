//! The engine end to end on both backends: plans run by a real worker
//! against a real store, model tasks against the scripted model server,
//! retries, timeouts, a dead worker's lease taken over, checkpoints reused
//! instead of asking the model again, the decomposer's plan run, and the
//! watch stream delivering every event in order.

use std::time::{Duration, Instant};

use baton_config::{ChatConfig, GatewayConfig, ModelConfig, ProviderConfig, ProviderKind};
use baton_core::{WorkflowId, wall_millis};
use baton_engine::plan::Plan;
use baton_engine::{Engine, EngineConfig, EngineParts, WorkflowRequest};
use baton_hub::{Hub, HubParts, MemoryLog};
use baton_llm::Gateway;
use baton_store::{ClaimRequest, Store, TaskState, WorkflowStatus, WriterOptions};
use baton_testkit::{Fault, ScriptedServer, Step, TestDatabase};
use futures::StreamExt;
use serde_json::json;

struct Fixture {
    engine: Engine,
    model: ScriptedServer,
    dir: tempfile::TempDir,
}

async fn fixture(db: &TestDatabase, config: EngineConfig) -> Fixture {
    let model = ScriptedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(db.url()).await.unwrap();
    let providers = vec![ProviderConfig {
        name: "scripted".into(),
        kind: Some(ProviderKind::Openai),
        base_url: Some(model.openai_base()),
        models: vec![ModelConfig {
            name: "scripted-small".into(),
            context_window: Some(32_000),
            input_price: Some(1.0),
            output_price: Some(2.0),
            ..Default::default()
        }],
        enabled: true,
        ..Default::default()
    }];
    let gateway_config = GatewayConfig {
        default_model: Some("scripted/scripted-small".into()),
        detect_ollama: false,
        retry_after_cap_secs: 1,
        request_timeout_secs: 10,
        ..Default::default()
    };
    let gateway = Gateway::new(&providers, &gateway_config, &|_| None)
        .await
        .unwrap();
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
        workspace: dir.path().to_path_buf(),
        device: "desktop-1".into(),
        config: EngineConfig {
            default_model: Some("scripted/scripted-small".into()),
            poll: Duration::from_millis(50),
            backoff: Duration::from_millis(10),
            ..config
        },
    });
    engine.listen().await.unwrap();
    Fixture { engine, model, dir }
}

fn plan(text: &str) -> WorkflowRequest {
    WorkflowRequest {
        plan: Some(Plan::from_toml(text).unwrap()),
        ..Default::default()
    }
}

/// Waits for the run to end by following its events; returns their kinds.
async fn follow(engine: &Engine, id: WorkflowId) -> Vec<String> {
    let stream = engine.watch(id, 0).await.unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(30), stream.collect::<Vec<_>>())
        .await
        .expect("the run ends");
    let mut kinds = Vec::new();
    for (at, event) in events.into_iter().enumerate() {
        let event = event.unwrap();
        assert_eq!(event.seq, at as i64 + 1, "in order, without gaps");
        kinds.push(match event.task {
            Some(task) => format!("{}:{task}", event.kind),
            None => event.kind,
        });
    }
    kinds
}

const DIAMOND: &str = r#"
name = "diamond"
[[tasks]]
id = "root"
type = "noop"
[[tasks]]
id = "left"
type = "sleep"
sleep_ms = 20
depends_on = ["root"]
[[tasks]]
id = "right"
type = "noop"
depends_on = ["root"]
[[tasks]]
id = "join"
type = "noop"
depends_on = ["left", "right"]
"#;

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(baton_testkit::TestDatabase::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(db) = baton_testkit::TestDatabase::postgres(stringify!($case)).await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    a_plan_runs_to_completion_with_every_event_in_order,
    model_tasks_get_their_inputs_and_record_cost,
    a_failing_model_call_is_retried,
    a_task_that_runs_too_long_times_out,
    a_dead_workers_task_is_taken_over_and_its_checkpoint_reused,
    a_description_is_planned_by_the_model_then_run,
    a_plain_request_is_one_agent_task,
    bad_requests_are_refused_and_store_nothing,
    a_finished_run_is_recorded_in_the_session_log,
    a_cancelled_run_is_recorded_in_the_background,
    a_watcher_ends_at_the_runs_last_event,
);

async fn a_plan_runs_to_completion_with_every_event_in_order(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    let worker = f.engine.spawn_worker();
    let submitted = f.engine.submit(plan(DIAMOND)).await.unwrap();
    assert_eq!(submitted.total_steps, 4);
    assert_eq!(submitted.status, "started");
    assert_eq!(submitted.planned_by, "request");
    let kinds = follow(&f.engine, submitted.workflow_id).await;
    assert_eq!(kinds.first().unwrap(), "workflow_started");
    assert_eq!(kinds.last().unwrap(), "workflow_completed");
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap();
    assert!(pos("task_completed:root") < pos("task_started:left"));
    assert!(pos("task_completed:left") < pos("task_started:join"));
    assert!(pos("task_completed:right") < pos("task_started:join"));
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    assert_eq!(view.run.status, WorkflowStatus::Completed);
    assert_eq!(view.run.result, Some(json!({ "join": null })));
    assert!(view.tasks.iter().all(|t| t.state == TaskState::Completed));
    // A watcher that starts after the end gets the whole log and stops.
    assert_eq!(follow(&f.engine, submitted.workflow_id).await, kinds);
    worker.stop().await;
}

async fn model_tasks_get_their_inputs_and_record_cost(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    f.model.push(Step::text("Paris"));
    f.model.push(Step::text("The capital is Paris."));
    let worker = f.engine.spawn_worker();
    let submitted = f
        .engine
        .submit(plan(
            r#"
[[tasks]]
id = "find"
type = "model"
description = "Name the capital of France."
[[tasks]]
id = "write"
type = "model"
description = "Write one sentence about it."
depends_on = ["find"]
"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        submitted.assigned_models,
        vec!["scripted/scripted-small", "scripted/scripted-small"]
    );
    follow(&f.engine, submitted.workflow_id).await;
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    assert_eq!(view.run.status, WorkflowStatus::Completed);
    assert_eq!(
        view.run.result,
        Some(json!({ "write": "The capital is Paris." }))
    );
    assert!(view.run.cost_usd > 0.0);
    let second = &f.model.requests()[1];
    let prompt = second.body.to_string();
    assert!(prompt.contains("Write one sentence"), "{prompt}");
    assert!(
        prompt.contains("### find") && prompt.contains("Paris"),
        "{prompt}"
    );
    worker.stop().await;
}

async fn a_failing_model_call_is_retried(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    f.model.push(Step::text("").fault(Fault::Status {
        status: 500,
        message: "upstream down".into(),
    }));
    f.model.push(Step::text("fine now"));
    let worker = f.engine.spawn_worker();
    let submitted = f
        .engine
        .submit(plan(
            "[[tasks]]\nid = \"ask\"\ntype = \"model\"\ndescription = \"Say something.\"\n",
        ))
        .await
        .unwrap();
    let kinds = follow(&f.engine, submitted.workflow_id).await;
    assert!(kinds.contains(&"task_retrying:ask".to_owned()), "{kinds:?}");
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    assert_eq!(view.run.status, WorkflowStatus::Completed);
    assert_eq!(view.tasks[0].attempts, 2);
    worker.stop().await;
}

async fn a_task_that_runs_too_long_times_out(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    let worker = f.engine.spawn_worker();
    let submitted = f
        .engine
        .submit(plan(
            "[[tasks]]\nid = \"slow\"\ntype = \"sleep\"\nsleep_ms = 5000\ntimeout_secs = 1\nmax_attempts = 1\n",
        ))
        .await
        .unwrap();
    let kinds = follow(&f.engine, submitted.workflow_id).await;
    assert_eq!(kinds.last().unwrap(), "workflow_failed");
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    assert!(
        view.run.reason.as_deref().unwrap().contains("timed out"),
        "{:?}",
        view.run.reason
    );
    worker.stop().await;
}

/// A worker that died holding a model task whose answer it had already
/// stored: the task goes to another worker when the lease runs out, and the
/// stored answer is used without asking the model again.
async fn a_dead_workers_task_is_taken_over_and_its_checkpoint_reused(db: TestDatabase) {
    let f = fixture(
        &db,
        EngineConfig {
            lease: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    let submitted = f
        .engine
        .submit(plan(
            "[[tasks]]\nid = \"ask\"\ntype = \"model\"\ndescription = \"Answer.\"\n",
        ))
        .await
        .unwrap();
    let store = f.engine.hub().store();
    let held = store
        .claim_tasks(&ClaimRequest {
            worker: "dead-worker",
            queues: None,
            run: None,
            limit: 1,
            lease_ms: 300,
            now_ms: wall_millis() as i64,
        })
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    store
        .checkpoint_task(
            submitted.workflow_id,
            "ask",
            held[0].epoch,
            &json!({ "answer": "stored before the crash", "model": "scripted/scripted-small" }),
        )
        .await
        .unwrap();
    let worker = f.engine.spawn_worker();
    let kinds = follow(&f.engine, submitted.workflow_id).await;
    assert!(kinds.contains(&"task_retrying:ask".to_owned()), "{kinds:?}");
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    assert_eq!(view.run.status, WorkflowStatus::Completed);
    assert_eq!(
        view.run.result,
        Some(json!({ "ask": "stored before the crash" }))
    );
    assert_eq!(f.model.request_count(), 0, "the model was not asked again");
    worker.stop().await;
}

async fn a_description_is_planned_by_the_model_then_run(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    let plan = json!({
        "name": "two steps",
        "tasks": [
            { "id": "draft", "type": "model", "description": "Draft it." },
            { "id": "check", "type": "noop", "depends_on": ["draft"] }
        ]
    });
    f.model.push(Step::text(plan.to_string()));
    f.model.push(Step::text("the draft"));
    let worker = f.engine.spawn_worker();
    let submitted = f
        .engine
        .submit(WorkflowRequest {
            description: "Write a short note.".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(submitted.planned_by, "scripted/scripted-small");
    assert_eq!(submitted.total_steps, 2);
    follow(&f.engine, submitted.workflow_id).await;
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    assert_eq!(view.run.status, WorkflowStatus::Completed);
    assert_eq!(view.run.name, "two steps");
    assert_eq!(view.tasks[0].output, Some(json!("the draft")));
    worker.stop().await;
}

async fn a_plain_request_is_one_agent_task(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    let worker = f.engine.spawn_worker();
    let submitted = f
        .engine
        .submit(WorkflowRequest {
            description: "Fix the bug.".into(),
            decompose: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(submitted.total_steps, 1);
    assert_eq!(submitted.planned_by, "single");
    follow(&f.engine, submitted.workflow_id).await;
    let view = f.engine.get(submitted.workflow_id).await.unwrap();
    // This engine runs without the agent service: the task says so.
    assert_eq!(view.run.status, WorkflowStatus::Failed);
    assert!(
        view.run
            .reason
            .as_deref()
            .unwrap()
            .contains("agent service"),
        "{:?}",
        view.run.reason
    );
    worker.stop().await;
}

async fn bad_requests_are_refused_and_store_nothing(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    let empty = f
        .engine
        .submit(WorkflowRequest::default())
        .await
        .unwrap_err();
    assert_eq!(empty.status(), 400, "{empty}");
    let unknown_model = f
        .engine
        .submit(plan(
            "[[tasks]]\nid = \"a\"\ntype = \"model\"\ndescription = \"x\"\nmodel = \"nope/none\"\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown_model.status() / 100, 4, "{unknown_model}");
    let cyclic: Plan = serde_json::from_value(json!({
        "tasks": [
            { "id": "a", "type": "noop", "depends_on": ["b"] },
            { "id": "b", "type": "noop", "depends_on": ["a"] }
        ]
    }))
    .unwrap();
    let err = f
        .engine
        .submit(WorkflowRequest {
            plan: Some(cyclic),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("a → b → a"), "{err}");
    let outside = f
        .engine
        .submit(WorkflowRequest {
            workspace: Some("/".into()),
            ..plan(DIAMOND)
        })
        .await
        .unwrap_err();
    assert_eq!(outside.status(), 400, "{outside}");
    let bad_rule = f
        .engine
        .submit(WorkflowRequest {
            allow: vec!["shell(".into()],
            ..plan(DIAMOND)
        })
        .await
        .unwrap_err();
    assert_eq!(bad_rule.status(), 400, "{bad_rule}");
    let bad_block = f
        .engine
        .submit(WorkflowRequest {
            block: vec!["rm -rf".into()],
            ..plan(DIAMOND)
        })
        .await
        .unwrap_err();
    assert_eq!(bad_block.status(), 400, "{bad_block}");
    assert!(bad_block.to_string().contains("--block"), "{bad_block}");
    assert!(f.engine.list(10, None).await.unwrap().is_empty());
    let missing = f.engine.get(WorkflowId::new()).await.unwrap_err();
    assert_eq!(missing.status(), 404);
}

/// A run that ends in a workspace with the continuity files leaves its
/// entry in SESSION_LOG.md and a refreshed briefing; the worker finishes
/// that before it stops.
async fn a_finished_run_is_recorded_in_the_session_log(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    baton_continuity::init(f.dir.path(), None).unwrap();
    let briefing = f.dir.path().join("SESSION_BRIEFING.md");
    let before = std::fs::read_to_string(&briefing).unwrap();
    f.model
        .push(Step::text("The briefing, rewritten by the model."));
    let worker = f.engine.spawn_worker();
    let submitted = f.engine.submit(plan(DIAMOND)).await.unwrap();
    follow(&f.engine, submitted.workflow_id).await;
    worker.stop().await;
    let log = std::fs::read_to_string(f.dir.path().join("SESSION_LOG.md")).unwrap();
    let title = format!("baton workflow {} (diamond)", submitted.workflow_id);
    assert!(log.contains(&title), "{log}");
    assert!(log.contains("join (noop): completed"), "{log}");
    let after = std::fs::read_to_string(&briefing).unwrap();
    assert_ne!(before, after, "the briefing was refreshed");
}

/// Cancelling answers at once; the run's record (here a briefing from a
/// slow model) is written in the background, and `settle` waits for it.
async fn a_cancelled_run_is_recorded_in_the_background(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    baton_continuity::init(f.dir.path(), None).unwrap();
    f.model
        .push(Step::text("The briefing, rewritten by the model.").delay(Duration::from_secs(2)));
    let submitted = f.engine.submit(plan(DIAMOND)).await.unwrap();
    let started = Instant::now();
    let run = f
        .engine
        .cancel(submitted.workflow_id, "changed my mind")
        .await
        .unwrap();
    assert_eq!(run.status, WorkflowStatus::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the cancel waited for the briefing: {:?}",
        started.elapsed()
    );
    f.engine.settle().await;
    let log = std::fs::read_to_string(f.dir.path().join("SESSION_LOG.md")).unwrap();
    let title = format!("baton workflow {} (diamond)", submitted.workflow_id);
    assert!(log.contains(&title), "{log}");
    assert_eq!(f.model.pending_steps(), 0, "the briefing was written");
}

/// A watch ends at a run's last event: not at a cancel the run was resumed
/// from, and at once for a watcher that comes after the end.
async fn a_watcher_ends_at_the_runs_last_event(db: TestDatabase) {
    let f = fixture(&db, EngineConfig::default()).await;
    let id = f.engine.submit(plan(DIAMOND)).await.unwrap().workflow_id;
    f.engine.cancel(id, "not yet").await.unwrap();
    let cancelled = follow(&f.engine, id).await;
    assert_eq!(cancelled.last().unwrap(), "workflow_cancelled");
    f.engine.resume(id).await.unwrap();
    let worker = f.engine.spawn_worker();
    let kinds = follow(&f.engine, id).await;
    assert_eq!(kinds[..cancelled.len()], cancelled[..]);
    assert!(kinds.contains(&"workflow_resumed".to_owned()), "{kinds:?}");
    assert_eq!(kinds.last().unwrap(), "workflow_completed");
    let after_the_end = f.engine.watch(id, kinds.len() as i64).await.unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(5), after_the_end.collect::<Vec<_>>())
        .await
        .expect("a watch from the last event of an ended run stops at once");
    assert!(rest.is_empty());
    worker.stop().await;
    f.engine.settle().await;
}
