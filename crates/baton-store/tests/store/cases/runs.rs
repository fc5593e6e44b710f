//! Agent runs, tool-call intents and results, approvals and grants.

use baton_core::{ApprovalId, RunId, SessionId, ToolCallId};
use baton_store::{
    AgentRun, Approval, ApprovalAnswer, ApprovalScope, ApprovalStatus, CallResult, CallState,
    Intent, RunProgress, RunStatus, StoreError, ToolCallRecord,
};

use crate::fixtures::device;
use crate::harness::TestDb;

fn run(goal: &str) -> AgentRun {
    AgentRun {
        id: RunId::new(),
        parent_id: None,
        session_id: SessionId::new(),
        device_id: device("desktop-1"),
        goal: goal.into(),
        workspace: "/work/project".into(),
        model: "scripted/agent".into(),
        spec: serde_json::json!({"max_steps": 10, "mode": "auto"}),
        status: RunStatus::Running,
        reason: None,
        steps: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0.0,
        created_ms: 1_000,
        updated_ms: 1_000,
        finished_ms: None,
    }
}

fn call(run: &AgentRun, call_id: &str, step: i64, side_effect: bool) -> ToolCallRecord {
    ToolCallRecord {
        id: ToolCallId::new(),
        run_id: run.id,
        call_id: call_id.into(),
        step,
        tool: if side_effect { "shell" } else { "read" }.into(),
        arguments: r#"{"command":"cargo test"}"#.into(),
        subject: "cargo test".into(),
        side_effect,
        state: CallState::Intent,
        output: None,
        summary: None,
        truncated: false,
        started_ms: 2_000 + step,
        finished_ms: None,
    }
}

fn approval(run: &AgentRun, call_id: &str, created_ms: i64) -> Approval {
    Approval {
        id: ApprovalId::new(),
        run_id: run.id,
        call_id: call_id.into(),
        tool: "shell".into(),
        subject: "git push".into(),
        arguments: r#"{"command":"git push"}"#.into(),
        reason: "asked by default rule `shell(git push *)`".into(),
        status: ApprovalStatus::Pending,
        scope: None,
        decided_by: None,
        created_ms,
        decided_ms: None,
    }
}

/// A run round-trips, moves forward while running, and stays as it ended.
pub async fn runs_round_trip_and_end_once(db: TestDb) {
    let store = db.open().await;
    let parent = run("fix the tests");
    store.create_run(&parent).await.unwrap();
    assert_eq!(store.run(parent.id).await.unwrap().unwrap(), parent);
    assert!(matches!(
        store.create_run(&parent).await,
        Err(StoreError::Conflict(_))
    ));

    let mut child = run("look at one test");
    child.parent_id = Some(parent.id);
    store.create_run(&child).await.unwrap();
    let mut orphan = run("no parent");
    orphan.parent_id = Some(RunId::new());
    assert!(matches!(
        store.create_run(&orphan).await,
        Err(StoreError::NotFound { .. })
    ));

    let progress = RunProgress {
        status: RunStatus::Running,
        reason: None,
        steps: 3,
        prompt_tokens: 1_200,
        completion_tokens: 300,
        cost_usd: 0.0125,
        updated_ms: 5_000,
    };
    store.update_run(parent.id, &progress).await.unwrap();
    let done = RunProgress {
        status: RunStatus::Stuck,
        reason: Some("the same error 3 times".into()),
        steps: 4,
        updated_ms: 6_000,
        ..progress.clone()
    };
    store.update_run(parent.id, &done).await.unwrap();
    let stored = store.run(parent.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Stuck);
    assert_eq!(stored.steps, 4);
    assert_eq!(stored.cost_usd, 0.0125);
    assert_eq!(stored.finished_ms, Some(6_000));
    assert!(matches!(
        store.update_run(parent.id, &progress).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.update_run(RunId::new(), &progress).await,
        Err(StoreError::NotFound { .. })
    ));

    let running = store.runs(Some(RunStatus::Running), 10).await.unwrap();
    assert_eq!(running.iter().map(|r| r.id).collect::<Vec<_>>(), [child.id]);
    assert_eq!(store.runs(None, 10).await.unwrap().len(), 2);
    store.close().await;
}

/// An intent is stored once per call id; finishing happens once; a crash
/// leaves intents that resume marks interrupted.
pub async fn tool_call_intents_never_run_twice(db: TestDb) {
    let store = db.open().await;
    let r = run("build it");
    store.create_run(&r).await.unwrap();

    let first = call(&r, "call_1", 1, true);
    assert_eq!(store.record_intent(&first).await.unwrap(), Intent::New);
    let repeated = call(&r, "call_1", 2, true);
    let Intent::Existing(existing) = store.record_intent(&repeated).await.unwrap() else {
        panic!("a repeated call id must find the stored call");
    };
    assert_eq!(existing.id, first.id);
    assert_eq!(existing.state, CallState::Intent);

    let result = CallResult {
        state: CallState::Done,
        output: "test result: ok".into(),
        summary: "exit 0".into(),
        truncated: true,
        finished_ms: 3_000,
    };
    store.finish_tool_call(first.id, &result).await.unwrap();
    assert!(matches!(
        store.finish_tool_call(first.id, &result).await,
        Err(StoreError::Conflict(_))
    ));
    let Intent::Existing(finished) = store.record_intent(&repeated).await.unwrap() else {
        panic!("still the stored call");
    };
    assert_eq!(finished.state, CallState::Done);
    assert_eq!(finished.output.as_deref(), Some("test result: ok"));
    assert!(finished.truncated);

    let cut = call(&r, "call_2", 2, true);
    store.record_intent(&cut).await.unwrap();
    let read = call(&r, "call_3", 3, false);
    store.record_intent(&read).await.unwrap();
    let interrupted = store.interrupt_open_calls(r.id, 9_000).await.unwrap();
    assert_eq!(interrupted.len(), 2);
    assert!(
        interrupted
            .iter()
            .all(|c| c.state == CallState::Interrupted && c.finished_ms == Some(9_000))
    );
    assert!(
        store
            .interrupt_open_calls(r.id, 9_500)
            .await
            .unwrap()
            .is_empty()
    );

    let calls = store.tool_calls(r.id).await.unwrap();
    assert_eq!(
        calls.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(),
        ["call_1", "call_2", "call_3"]
    );
    assert!(!calls[2].side_effect && calls[1].side_effect);

    let mut stray = call(&r, "call_9", 1, false);
    stray.run_id = RunId::new();
    assert!(matches!(
        store.record_intent(&stray).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.record_intent(&call(&r, "nul\0id", 1, false)).await,
        Err(StoreError::InvalidInput(_))
    ));
    store.close().await;
}

/// The first answer to an approval wins; grants are exact and idempotent.
pub async fn approvals_are_answered_once(db: TestDb) {
    let store = db.open().await;
    let r = run("ship it");
    store.create_run(&r).await.unwrap();
    let a = approval(&r, "call_1", 2_000);
    let b = approval(&r, "call_2", 2_100);
    store.create_approval(&a).await.unwrap();
    store.create_approval(&b).await.unwrap();
    let pending = store
        .approvals(Some(ApprovalStatus::Pending), None, 50)
        .await
        .unwrap();
    assert_eq!(pending, [a.clone(), b.clone()]);

    let answer = ApprovalAnswer {
        allowed: true,
        scope: ApprovalScope::Always,
        decided_by: "http".into(),
        decided_ms: 3_000,
    };
    let decided = store.decide_approval(a.id, &answer).await.unwrap();
    assert_eq!(decided.status, ApprovalStatus::Allowed);
    assert_eq!(decided.scope, Some(ApprovalScope::Always));
    assert_eq!(decided.decided_ms, Some(3_000));
    let deny = ApprovalAnswer {
        allowed: false,
        scope: ApprovalScope::Once,
        ..answer.clone()
    };
    assert!(matches!(
        store.decide_approval(a.id, &deny).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.decide_approval(ApprovalId::new(), &deny).await,
        Err(StoreError::NotFound { .. })
    ));

    assert_eq!(
        store.cancel_pending_approvals(r.id, 4_000).await.unwrap(),
        1
    );
    let cancelled = store.approval(b.id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, ApprovalStatus::Cancelled);
    assert!(
        store
            .approvals(Some(ApprovalStatus::Pending), Some(r.id), 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.approvals(None, Some(r.id), 50).await.unwrap().len(),
        2
    );

    store
        .add_grant("/work/project", "shell(git push)", a.id, 3_000)
        .await
        .unwrap();
    store
        .add_grant("/work/project", "shell(git push)", a.id, 3_500)
        .await
        .unwrap();
    store
        .add_grant("/work/other", "write(notes.md)", a.id, 3_600)
        .await
        .unwrap();
    assert_eq!(
        store.grants("/work/project").await.unwrap(),
        ["shell(git push)"]
    );
    store.close().await;
}
