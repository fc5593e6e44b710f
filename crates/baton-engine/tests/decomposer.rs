//! The decomposer against the scripted model server over real HTTP: a valid
//! plan at once, an invalid plan repaired after the problems were sent
//! back, a cyclic or oversized plan refused after the round limit with the
//! problem named, a fenced reply, a failing model, and a server that
//! refuses JSON mode.

use baton_config::{GatewayConfig, ModelConfig, ProviderConfig, ProviderKind};
use baton_engine::decomposer::{DEFAULT_ROUNDS, DecomposeError, Decomposer};
use baton_engine::plan::{MAX_TASKS, PlanError, TaskKind};
use baton_llm::Gateway;
use baton_testkit::{Fault, RecordedRequest, ScriptedServer, Step};
use serde_json::{Value, json};

const MODEL: &str = "local/planner";

async fn gateway(server: &ScriptedServer) -> Gateway {
    let provider = ProviderConfig {
        name: "local".into(),
        kind: Some(ProviderKind::Openai),
        base_url: Some(server.openai_base()),
        models: vec![ModelConfig {
            name: "planner".into(),
            ..ModelConfig::default()
        }],
        enabled: true,
        ..ProviderConfig::default()
    };
    let cfg = GatewayConfig {
        connect_timeout_secs: 1,
        first_token_timeout_secs: 2,
        request_timeout_secs: 5,
        detect_ollama: false,
        ..GatewayConfig::default()
    };
    Gateway::new(&[provider], &cfg, &|_: &str| None)
        .await
        .expect("gateway starts")
}

fn chat_requests(server: &ScriptedServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .collect()
}

/// The messages of a recorded request as `(role, text)`.
fn messages(request: &RecordedRequest) -> Vec<(String, String)> {
    request.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn two_step_plan() -> Value {
    json!({
        "name": "notes",
        "tasks": [
            {"id": "research", "type": "agent", "description": "Read the changelog",
             "tools": ["read", "search"]},
            {"id": "write", "type": "model", "description": "Write release notes",
             "depends_on": ["research"]}
        ]
    })
}

#[tokio::test]
async fn a_valid_plan_is_accepted_in_one_round() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    server.push(Step::text(two_step_plan().to_string()).usage(120, 40));

    let done = Decomposer::new(&gateway, MODEL)
        .decompose("Write release notes for 1.2", Some("The project is baton."))
        .await
        .unwrap();

    assert_eq!(done.rounds, 1);
    assert_eq!(done.model, MODEL);
    assert_eq!(done.plan.name.as_deref(), Some("notes"));
    assert_eq!(done.plan.tasks.len(), 2);
    assert_eq!(done.plan.tasks[0].kind, TaskKind::Agent);
    assert_eq!(done.plan.tasks[0].tools, ["read", "search"]);
    assert_eq!(done.plan.tasks[1].depends_on, ["research"]);
    assert_eq!((done.prompt_tokens, done.completion_tokens), (120, 40));
    assert_eq!(done.cost_usd, 0.0, "the declared model has no price");

    let sent = chat_requests(&server);
    assert_eq!(sent.len(), 1);
    let body = &sent[0].body;
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["temperature"], json!(0.0));
    let messages = messages(&sent[0]);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].0, "system");
    assert!(
        messages[0].1.contains("\"depends_on\""),
        "the schema is in the system message"
    );
    assert!(messages[0].1.contains("approval"), "{}", messages[0].1);
    assert_eq!(messages[1].0, "user");
    assert!(messages[1].1.starts_with("Write release notes for 1.2"));
    assert!(messages[1].1.contains("The project is baton."));
}

#[tokio::test]
async fn an_invalid_plan_is_repaired_with_the_issues_sent_back() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    let mut broken = two_step_plan();
    broken["tasks"][1]["depends_on"] = json!(["reserch"]);
    server.push(Step::text(broken.to_string()).usage(100, 30));
    server.push(Step::text(two_step_plan().to_string()).usage(150, 30));

    let done = Decomposer::new(&gateway, MODEL)
        .decompose("Write release notes for 1.2", None)
        .await
        .unwrap();

    assert_eq!(done.rounds, 2);
    assert_eq!(done.plan.tasks[1].depends_on, ["research"]);
    assert_eq!((done.prompt_tokens, done.completion_tokens), (250, 60));

    let sent = chat_requests(&server);
    assert_eq!(sent.len(), 2);
    let second = messages(&sent[1]);
    assert_eq!(second.len(), 4, "{second:?}");
    assert_eq!(second[2], ("assistant".to_owned(), broken.to_string()));
    let (role, text) = &second[3];
    assert_eq!(role, "user");
    assert!(text.starts_with("Your plan is invalid:"), "{text}");
    assert!(
        text.contains("tasks[1].depends_on[0]: no task has the id \"reserch\""),
        "{text}"
    );
    assert!(
        text.ends_with("Reply with the corrected JSON plan only."),
        "{text}"
    );
}

#[tokio::test]
async fn a_cyclic_plan_is_refused_after_the_limit_with_the_cycle_named() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    let cyclic = json!({"tasks": [
        {"id": "a", "type": "model", "description": "A", "depends_on": ["c"]},
        {"id": "b", "type": "model", "description": "B", "depends_on": ["a"]},
        {"id": "c", "type": "model", "description": "C", "depends_on": ["b"]}
    ]});
    for _ in 0..DEFAULT_ROUNDS {
        server.push(Step::text(cyclic.to_string()));
    }

    let err = Decomposer::new(&gateway, MODEL)
        .decompose("Do three things in a circle", None)
        .await
        .unwrap_err();

    let DecomposeError::Rejected { rounds, last } = &err else {
        panic!("expected a rejection, got {err:?}")
    };
    assert_eq!(*rounds, DEFAULT_ROUNDS);
    assert!(matches!(last, PlanError::Invalid(issues) if issues.len() == 1));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the model's plan was still invalid after 3 rounds: the plan has 1 problem:"
        ),
        "{text}"
    );
    assert!(text.contains("dependency cycle a → b → c → a"), "{text}");
    assert_eq!((err.status(), err.code()), (502, "plan_rejected"));
    assert_eq!(chat_requests(&server).len(), 3, "no call past the limit");
    let last_sent = messages(&chat_requests(&server)[2]);
    assert_eq!(
        last_sent.len(),
        6,
        "every rejected round stays in the conversation"
    );
}

#[tokio::test]
async fn an_oversized_plan_is_refused_with_the_limit_named() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    let tasks: Vec<Value> = (0..=MAX_TASKS)
        .map(|i| json!({"id": format!("t{i}"), "type": "noop"}))
        .collect();
    server.push(Step::text(json!({ "tasks": tasks }).to_string()));

    let err = Decomposer::new(&gateway, MODEL)
        .with_rounds(1)
        .decompose("Do ten thousand things", None)
        .await
        .unwrap_err();

    assert!(
        matches!(err, DecomposeError::Rejected { rounds: 1, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("after 1 round: "), "{text}");
    assert!(
        text.contains("tasks: 10001 tasks is more than the limit of 10000"),
        "{text}"
    );
}

#[tokio::test]
async fn a_plan_in_a_code_fence_among_prose_is_accepted() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    let reply = format!(
        "Sure! Here is the plan {{as asked}}:\n\n```json\n{}\n```\n\nLet me know.",
        serde_json::to_string_pretty(&two_step_plan()).unwrap()
    );
    server.push(Step::text(reply));

    let done = Decomposer::new(&gateway, MODEL)
        .decompose("Write release notes", None)
        .await
        .unwrap();
    assert_eq!(done.rounds, 1);
    assert_eq!(done.plan.tasks.len(), 2);
}

#[tokio::test]
async fn a_reply_without_json_is_sent_back_as_such() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    server.push(Step::text("I would first research, then write."));
    server.push(Step::text(
        json!({"tasks": [{"id": "task", "type": "model", "description": "Say hi"}]}).to_string(),
    ));

    let done = Decomposer::new(&gateway, MODEL)
        .decompose("Say hi", None)
        .await
        .unwrap();
    assert_eq!(done.rounds, 2);
    assert_eq!(
        done.plan.tasks.len(),
        1,
        "a one-step request is a one-task plan"
    );
    let second = messages(&chat_requests(&server)[1]);
    assert!(
        second[3].1.contains("the reply holds no JSON object"),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_failing_model_is_a_model_error() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    server.push(Step::failure(Fault::Status {
        status: 500,
        message: "the GPU caught fire".into(),
    }));

    let err = Decomposer::new(&gateway, MODEL)
        .decompose("Write release notes", None)
        .await
        .unwrap_err();
    let DecomposeError::Model(inner) = &err else {
        panic!("expected a model error, got {err:?}")
    };
    assert_eq!(inner.code(), "upstream_unavailable");
    assert!(err.to_string().contains("the GPU caught fire"), "{err}");
    assert_eq!(err.status(), 502);
    assert_eq!(
        chat_requests(&server).len(),
        1,
        "a model failure is not retried"
    );
}

#[tokio::test]
async fn a_server_that_refuses_json_mode_is_asked_plainly() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    server.push(Step::failure(Fault::Status {
        status: 400,
        message: "'response_format.type' must be 'json_schema'".into(),
    }));
    server.push(Step::text(two_step_plan().to_string()));

    let done = Decomposer::new(&gateway, MODEL)
        .decompose("Write release notes", None)
        .await
        .unwrap();
    assert_eq!(done.rounds, 1, "the refused call is not a round");

    let sent = chat_requests(&server);
    assert_eq!(sent.len(), 2);
    assert!(sent[0].body.get("response_format").is_some());
    assert!(sent[1].body.get("response_format").is_none());
    assert!(sent[1].body.get("temperature").is_none());
}

#[tokio::test]
async fn an_empty_request_asks_no_model() {
    let server = ScriptedServer::start().await;
    let gateway = gateway(&server).await;
    let err = Decomposer::new(&gateway, MODEL)
        .decompose("  \n", Some("context"))
        .await
        .unwrap_err();
    assert!(matches!(err, DecomposeError::EmptyRequest), "{err:?}");
    assert_eq!(err.status(), 400);
    assert_eq!(chat_requests(&server).len(), 0);
}
