//! The workflow API end to end: runs submitted over HTTP, carried out by
//! the app's engine worker (against the scripted model server), followed
//! over SSE and WebSocket, cancelled, resumed and approved.

use std::time::Duration;

use baton_testkit::Step;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

use crate::app::{Options, TestApp};

/// The most any wait here may take: every run below ends in well under a
/// second, so reaching this means a stream that never ended.
const LIMIT: Duration = Duration::from_secs(20);

/// One SSE event: its id, its name and its data.
type SseEvent = (i64, String, Value);

/// `a`, then `b` sleeping `ms`, then `c`: a run that is live long enough
/// to be watched, cancelled or dropped mid-way.
fn nap_between(ms: u64) -> Value {
    json!({"tasks": [
        {"id": "a", "type": "noop"},
        {"id": "b", "type": "sleep", "sleep_ms": ms, "depends_on": ["a"]},
        {"id": "c", "type": "noop", "depends_on": ["b"]},
    ]})
}

fn diamond() -> Value {
    json!({"name": "diamond", "tasks": [
        {"id": "a", "type": "noop"},
        {"id": "b", "type": "sleep", "sleep_ms": 30, "depends_on": ["a"]},
        {"id": "c", "type": "noop", "depends_on": ["a"]},
        {"id": "d", "type": "noop", "depends_on": ["b", "c"]},
    ]})
}

/// Submits a request that must be accepted; returns the answer and the run id.
async fn execute(app: &TestApp, request: Value) -> (Value, String) {
    let response = app
        .client
        .post(app.url("/api/v1/workflow/execute"))
        .json(&request)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    let id = body["workflow_id"].as_str().unwrap().to_owned();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/workflow/{id}").as_str())
    );
    (body, id)
}

/// Opens the run's event stream, after `last_event_id` when given.
async fn open_events(app: &TestApp, id: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}/events")));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    response
}

/// Reads SSE events until `stop` says so, or to the stream's end.
async fn read_events(
    response: reqwest::Response,
    stop: impl Fn(&SseEvent) -> bool,
) -> Vec<SseEvent> {
    use eventsource_stream::Eventsource;
    let mut stream = response.bytes_stream().eventsource();
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            let parsed = (
                event.id.parse().unwrap(),
                event.event,
                serde_json::from_str(&event.data).unwrap(),
            );
            let done = stop(&parsed);
            out.push(parsed);
            if done {
                break;
            }
        }
    })
    .await
    .expect("the event stream should end with the run");
    out
}

/// Every event after `last_event_id` to the run's end.
async fn follow(app: &TestApp, id: &str, last_event_id: Option<i64>) -> Vec<SseEvent> {
    read_events(open_events(app, id, last_event_id).await, |_| false).await
}

fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|(_, kind, _)| kind.as_str()).collect()
}

async fn view(app: &TestApp, id: &str) -> Value {
    let (status, view) = app.get_json(&format!("/api/v1/workflow/{id}")).await;
    assert_eq!(status, 200, "{view}");
    view
}

fn task<'a>(view: &'a Value, key: &str) -> &'a Value {
    view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no task {key} in {view}"))
}

pub async fn workflow_runs_a_given_plan_to_completion(app: TestApp) {
    let (submitted, id) = execute(&app, json!({"type": "test", "plan": diamond()})).await;
    assert_eq!(submitted["status"], "started");
    assert_eq!(submitted["total_steps"], 4);
    assert_eq!(submitted["assigned_models"], json!([]));
    assert_eq!(submitted["planned_by"], "request");
    assert!(
        submitted["estimated_completion"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let events = follow(&app, &id, None).await;
    let ids: Vec<i64> = events.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        ids,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "gapless"
    );
    let names = kinds(&events);
    assert_eq!(names.first(), Some(&"workflow_started"));
    assert_eq!(names.last(), Some(&"workflow_completed"));
    assert_eq!(names.iter().filter(|k| **k == "task_completed").count(), 4);
    for (seq, kind, data) in &events {
        assert_eq!(data["seq"], *seq);
        assert_eq!(data["kind"], kind.as_str());
        assert_eq!(data["run_id"], id.as_str());
    }

    let run = view(&app, &id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["done_tasks"], 4);
    assert_eq!(run["total_tasks"], 4);
    assert_eq!(run["last_event"], events.len());
    assert_eq!(run["name"], "diamond");
    assert_eq!(run["result"], json!({"d": null}));
    for key in ["a", "b", "c", "d"] {
        assert_eq!(task(&run, key)["state"], "completed", "{run}");
    }
    // d started only after both of its dependencies completed.
    let at = |kind: &str, key: &str| {
        events
            .iter()
            .find(|(_, k, data)| k == kind && data["task"] == key)
            .unwrap_or_else(|| panic!("no {kind} of {key}"))
            .0
    };
    assert!(at("task_started", "d") > at("task_completed", "b"));
    assert!(at("task_started", "d") > at("task_completed", "c"));

    let (status, list) = app.get_json("/api/v1/workflows?limit=10").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["workflows"][0]["id"], id.as_str());
    assert_eq!(list["workflows"].as_array().unwrap().len(), 1);
    assert!(list["next_before"].is_null());
    let (status, list) = app.get_json("/api/v1/workflows?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(list["next_before"], id.as_str());
    let (status, rest) = app
        .get_json(&format!("/api/v1/workflows?limit=1&before={id}"))
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["workflows"].as_array().unwrap().len(), 0);
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "bogus=1",
        "before=yesterday",
    ] {
        let (status, err) = app.get_json(&format!("/api/v1/workflows?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {err}");
    }
    app.stop().await;
}

pub async fn workflow_events_resume_without_loss_or_repeat(app: TestApp) {
    let plan = nap_between(300);
    let (_, id) = execute(&app, json!({"plan": plan})).await;
    // Drop the stream while the run is live (b is sleeping), then pick up
    // from the last id seen: together they are the whole log.
    let first = read_events(open_events(&app, &id, None).await, |(_, kind, data)| {
        kind == "task_started" && data["task"] == "b"
    })
    .await;
    let last_seen = first.last().unwrap().0;
    let rest = follow(&app, &id, Some(last_seen)).await;
    let joined: Vec<SseEvent> = first.iter().chain(&rest).cloned().collect();
    let ids: Vec<i64> = joined.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        ids,
        (1..=joined.len() as i64).collect::<Vec<_>>(),
        "nothing lost, nothing repeated: {:?}",
        kinds(&joined)
    );
    assert_eq!(kinds(&joined).last(), Some(&"workflow_completed"));

    // The same from the stored log, from any point.
    let whole = follow(&app, &id, None).await;
    assert_eq!(whole, joined);
    let middle = whole[whole.len() / 2].0;
    assert_eq!(
        follow(&app, &id, Some(middle)).await,
        whole[middle as usize..]
    );
    let r = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}/events?after={middle}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read_events(r, |_| false).await, whole[middle as usize..]);
    // A reconnecting EventSource repeats its URL: the header is newer.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}/events?after=1")))
        .header("Last-Event-ID", middle.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(read_events(r, |_| false).await, whole[middle as usize..]);
    // After the final event of an ended run: 204, so a browser stops retrying.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}/events")))
        .header("Last-Event-ID", whole.len().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // One page as JSON.
    let (status, page) = app
        .get_json(&format!("/api/v1/workflow/{id}/events?format=json&after=2"))
        .await;
    assert_eq!(status, 200, "{page}");
    let page: Vec<Value> = serde_json::from_value(page).unwrap();
    let expected: Vec<Value> = whole[2..].iter().map(|(_, _, d)| d.clone()).collect();
    assert_eq!(page, expected);
    let r = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}/events")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), whole.len());

    for bad in ["?after=-1", "?after=x", "?format=xml", "?bogus=1"] {
        let (status, err) = app
            .get_json(&format!("/api/v1/workflow/{id}/events{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["error"]["code"], "invalid_request", "{err}");
    }
    let r = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}/events")))
        .header("Last-Event-ID", "seven")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

pub async fn workflow_plans_a_description_with_the_model(app: TestApp) {
    let plan = json!({"name": "summary", "tasks": [
        {"id": "summarize", "type": "model", "description": "Summarize the notes in one line."},
    ]});
    app.model_server.push(Step::text(plan.to_string()));
    app.model_server
        .push(Step::text("baton orchestrates models.").usage(20, 4));
    let (submitted, id) = execute(
        &app,
        json!({
            "type": "research",
            "description": "Tell me what baton is",
            "context_packs": [],
            "model_preferences": {},
            "optimization_target": "quality",
        }),
    )
    .await;
    assert_eq!(submitted["planned_by"], "scripted/scripted-small");
    assert_eq!(
        submitted["assigned_models"],
        json!(["scripted/scripted-small"])
    );
    assert_eq!(submitted["total_steps"], 1);

    let events = follow(&app, &id, None).await;
    let (_, kind, end) = events.last().unwrap();
    assert_eq!(kind, "workflow_completed", "{events:#?}");
    assert_eq!(
        end["data"]["result"],
        json!({"summarize": "baton orchestrates models."})
    );
    let run = view(&app, &id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["name"], "summary");
    assert_eq!(run["request"]["request"]["type"], "research");
    assert_eq!(run["request"]["request"]["optimization_target"], "quality");
    assert_eq!(run["result"]["summarize"], "baton orchestrates models.");
    assert_eq!(run["prompt_tokens"], 20);
    let summarize = task(&run, "summarize");
    assert_eq!(summarize["model"], "scripted/scripted-small");
    assert_eq!(summarize["output"], "baton orchestrates models.");

    // One call planned, one carried out the step with the request around it.
    let requests = app.model_server.requests();
    assert_eq!(requests.len(), 2);
    let step_prompt = requests[1].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        step_prompt.contains("Summarize the notes in one line."),
        "{step_prompt}"
    );
    assert!(
        step_prompt.contains("Tell me what baton is"),
        "{step_prompt}"
    );
    app.stop().await;
}

/// Everything a WebSocket client gets until the server closes: the JSON
/// messages and the close code.
async fn ws_messages(app: &TestApp, path: &str) -> (Vec<Value>, Option<u16>) {
    let url = format!("ws://{}{path}", app.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut messages = Vec::new();
    let mut code = None;
    tokio::time::timeout(LIMIT, async {
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                tungstenite::Message::Text(text) => {
                    messages.push(serde_json::from_str(text.as_str()).unwrap())
                }
                tungstenite::Message::Close(frame) => {
                    code = frame.map(|f| u16::from(f.code));
                    break;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the server should close the socket at the run's end");
    (messages, code)
}

/// The HTTP status a refused WebSocket handshake got.
async fn ws_refusal(app: &TestApp, path: &str) -> u16 {
    let url = format!("ws://{}{path}", app.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{path}: {other}"),
        Ok(_) => panic!("{path}: the handshake should have been refused"),
    }
}

pub async fn workflow_websocket_sends_status_updates_then_completion(app: TestApp) {
    app.model_server
        .push(Step::text("hi").delay(Duration::from_millis(200)));
    let plan = json!({"tasks": [
        {"id": "a", "type": "noop"},
        {"id": "b", "type": "model", "description": "Say hi", "depends_on": ["a"]},
    ]});
    let (_, id) = execute(&app, json!({"plan": plan})).await;
    let (messages, code) = ws_messages(&app, &format!("/ws/workflow/{id}")).await;
    assert_eq!(code, Some(1000));
    let (last, updates) = messages.split_last().unwrap();
    assert_eq!(last["type"], "workflow_complete", "{messages:#?}");
    assert_eq!(last["workflow_id"], id.as_str());
    assert_eq!(last["status"], "completed");
    assert_eq!(last["result"], json!({"b": "hi"}));
    let seqs: Vec<i64> = updates
        .iter()
        .map(|u| u["event"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=updates.len() as i64).collect::<Vec<_>>());
    for update in updates {
        assert_eq!(update["type"], "status_update", "{update}");
        assert_eq!(update["workflow_id"], id.as_str());
        assert_eq!(update["total_steps"], 2);
        assert!(
            !update["messages"][0].as_str().unwrap().is_empty(),
            "{update}"
        );
    }
    let started_b = updates
        .iter()
        .find(|u| u["event"]["kind"] == "task_started" && u["event"]["task"] == "b")
        .unwrap();
    assert_eq!(
        started_b["active_models"],
        json!(["scripted/scripted-small"])
    );
    assert_eq!(started_b["current_step"], 1);
    assert_eq!(started_b["progress"], 50.0);
    let end = updates.last().unwrap();
    assert_eq!(end["event"]["kind"], "workflow_completed");
    assert_eq!(end["current_step"], 2);
    assert_eq!(end["progress"], 100.0);
    assert_eq!(end["active_models"], json!([]));
    assert_eq!(end["messages"][0], "workflow completed");

    // A reconnect from an event gets exactly the later ones, counted the same.
    let (again, _) = ws_messages(&app, &format!("/ws/workflow/{id}?after=2")).await;
    assert_eq!(&again[..again.len() - 1], &updates[2..]);
    assert_eq!(again.last(), Some(last));
    let (at_end, _) =
        ws_messages(&app, &format!("/ws/workflow/{id}?after={}", updates.len())).await;
    assert_eq!(at_end, std::slice::from_ref(last));

    assert_eq!(
        ws_refusal(&app, "/ws/workflow/0190f5d2-0000-7000-8000-000000000000").await,
        404
    );
    assert_eq!(ws_refusal(&app, "/ws/workflow/not-a-uuid").await, 400);
    assert_eq!(
        ws_refusal(&app, &format!("/ws/workflow/{id}?after=-1")).await,
        400
    );
    let (status, err) = app.get_json(&format!("/ws/workflow/{id}")).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "websocket_required");
    app.stop().await;
}

pub async fn workflow_refuses_bad_input(app: TestApp) {
    let cycle = json!({"tasks": [
        {"id": "a", "type": "noop", "depends_on": ["b"]},
        {"id": "b", "type": "noop", "depends_on": ["a"]},
    ]});
    let cases = [
        (
            json!({"description": "x", "bogus": 1}),
            400,
            "invalid_request",
            "bogus",
        ),
        (
            json!({"description": "   "}),
            400,
            "invalid_request",
            "description",
        ),
        (json!({}), 400, "invalid_request", "description"),
        (
            json!({"description": 5}),
            400,
            "invalid_request",
            "description",
        ),
        (json!({"plan": cycle}), 400, "invalid_plan", "a → b → a"),
        (
            json!({"plan": {"tasks": [{"id": "a", "type": "dance"}]}}),
            400,
            "invalid_request",
            "unknown task type \"dance\"",
        ),
        (
            json!({"plan": {"tasks": [{"id": "a", "type": "noop", "depends_on": ["ghost"]}]}}),
            400,
            "invalid_plan",
            "ghost",
        ),
        (
            json!({"plan": {"tasks": [{"id": "m", "type": "model", "description": "x", "model": "nobody/nothing"}]}}),
            404,
            "model_not_found",
            "nobody/nothing",
        ),
        (
            json!({"description": "x", "optimization_target": "cheapest"}),
            400,
            "invalid_request",
            "cheapest",
        ),
        (
            json!({"description": "x", "model_preferences": {"default": 3}}),
            400,
            "invalid_request",
            "model_preferences.default",
        ),
    ];
    for (body, status, code, needle) in cases {
        let (got, err) = app
            .post_json("/api/v1/workflow/execute", body.clone())
            .await;
        assert_eq!(got, status, "{body} -> {err}");
        assert_eq!(err["error"]["code"], code, "{body} -> {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{body}: {message:?} should name {needle:?}"
        );
    }
    let r = app
        .client
        .post(app.url("/api/v1/workflow/execute"))
        .header("content-type", "application/json")
        .body("{\"description\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );

    let unknown = "0190f5d2-0000-7000-8000-000000000000";
    for (method, path, status) in [
        ("get", format!("/api/v1/workflow/{unknown}"), 404),
        ("get", format!("/api/v1/workflow/{unknown}/events"), 404),
        (
            "get",
            format!("/api/v1/workflow/{unknown}/events?format=json"),
            404,
        ),
        ("post", format!("/api/v1/workflow/{unknown}/cancel"), 404),
        ("post", format!("/api/v1/workflow/{unknown}/resume"), 404),
        ("get", "/api/v1/workflow/not-a-uuid".to_owned(), 400),
        ("get", "/api/v1/workflow/not-a-uuid/events".to_owned(), 400),
        ("post", "/api/v1/workflow/not-a-uuid/cancel".to_owned(), 400),
        ("post", "/api/v1/workflow/not-a-uuid/resume".to_owned(), 400),
    ] {
        let request = match method {
            "get" => app.client.get(app.url(&path)),
            _ => app.client.post(app.url(&path)),
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let err: Value = r.json().await.unwrap();
        let message = err["error"]["message"].as_str().unwrap();
        let needle = if status == 404 { unknown } else { "not a UUID" };
        assert!(message.contains(needle), "{method} {path}: {message}");
    }
    let (status, err) = app
        .post_json(
            &format!("/api/v1/workflow/{unknown}/tasks/a/decision"),
            json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 404, "{err}");

    // Nothing of that was stored, and no model was asked.
    let (_, list) = app.get_json("/api/v1/workflows").await;
    assert_eq!(list["workflows"], json!([]), "{list}");
    assert_eq!(app.model_server.request_count(), 0);

    // Cancelling a finished run: 409, and the run stays as it was.
    let (_, id) = execute(&app, json!({"plan": diamond()})).await;
    follow(&app, &id, None).await;
    let before = view(&app, &id).await;
    let (status, err) = app
        .post_json(
            &format!("/api/v1/workflow/{id}/cancel"),
            json!({"reason": "too late"}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "conflict");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("already ended (completed)"), "{message}");
    let (status, err) = app
        .post_json(&format!("/api/v1/workflow/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(view(&app, &id).await, before);

    // A plan over the task limit, in a body the server accepts.
    let app = app
        .reconfigure(Options {
            max_body_bytes: Some(2 * 1024 * 1024),
            ..Default::default()
        })
        .await;
    let tasks: Vec<Value> = (0..10_001)
        .map(|i| json!({"id": format!("t{i}"), "type": "noop"}))
        .collect();
    let (status, err) = app
        .post_json(
            "/api/v1/workflow/execute",
            json!({"plan": {"tasks": tasks}}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_plan");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("10001 tasks is more than the limit of 10000"),
        "{message}"
    );
    let (_, list) = app.get_json("/api/v1/workflows").await;
    assert_eq!(list["workflows"].as_array().unwrap().len(), 1, "{list}");
    app.stop().await;
}

pub async fn workflow_cancel_stops_a_run_and_resume_finishes_it(app: TestApp) {
    let plan = nap_between(1000);
    let (_, id) = execute(&app, json!({"plan": plan})).await;
    let stream = open_events(&app, &id, None).await;
    let seen = read_events(stream, |(_, kind, data)| {
        kind == "task_started" && data["task"] == "b"
    })
    .await;

    // Bad cancel bodies change nothing.
    let cancel = app.url(&format!("/api/v1/workflow/{id}/cancel"));
    for (body, code) in [
        ("{\"reason\":", "malformed_json"),
        ("{\"why\": \"x\"}", "invalid_request"),
    ] {
        let r = app.client.post(&cancel).body(body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], code);
    }
    assert_eq!(view(&app, &id).await["status"], "running");

    let (status, run) = app
        .post_json(
            &format!("/api/v1/workflow/{id}/cancel"),
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["reason"], "changed my mind");
    let after_cancel = follow(&app, &id, Some(seen.last().unwrap().0)).await;
    let (_, kind, end) = after_cancel.last().unwrap();
    assert_eq!(kind, "workflow_cancelled");
    assert_eq!(end["data"]["reason"], "changed my mind");
    let stopped = view(&app, &id).await;
    assert_eq!(task(&stopped, "a")["state"], "completed");
    assert_eq!(task(&stopped, "b")["state"], "cancelled");
    assert_eq!(task(&stopped, "c")["state"], "cancelled");
    let r = app.client.post(&cancel).send().await.unwrap();
    assert_eq!(r.status(), 409, "a second cancel");

    let (status, run) = app
        .post_json(&format!("/api/v1/workflow/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "running");
    let resumed = follow(&app, &id, Some(end["seq"].as_i64().unwrap())).await;
    let names = kinds(&resumed);
    assert_eq!(names.first(), Some(&"workflow_resumed"), "{names:?}");
    assert_eq!(names.last(), Some(&"workflow_completed"), "{names:?}");
    assert!(
        !resumed.iter().any(|(_, _, e)| e["task"] == "a"),
        "a kept its result"
    );
    let done = view(&app, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["done_tasks"], 3);
    app.stop().await;
}

pub async fn workflow_approval_waits_for_a_decision(app: TestApp) {
    let plan = json!({"tasks": [
        {"id": "ask", "type": "approval", "description": "Ship it?"},
        {"id": "ship", "type": "noop", "depends_on": ["ask"]},
    ]});
    let (_, id) = execute(&app, json!({"plan": plan})).await;
    let waiting = read_events(open_events(&app, &id, None).await, |(_, kind, _)| {
        kind == "task_waiting"
    })
    .await;
    let (last_seen, _, asked) = waiting.last().unwrap();
    assert_eq!(asked["task"], "ask");
    assert_eq!(asked["data"]["question"], "Ship it?");
    let run = view(&app, &id).await;
    assert_eq!(run["status"], "running");
    assert_eq!(task(&run, "ask")["state"], "waiting");
    assert_eq!(task(&run, "ship")["state"], "blocked");

    let decide = |key: &str| format!("/api/v1/workflow/{id}/tasks/{key}/decision");
    let (status, err) = app
        .post_json(&decide("ship"), json!({"approved": true}))
        .await;
    assert_eq!(status, 409, "not waiting: {err}");
    let (status, err) = app
        .post_json(&decide("nope"), json!({"approved": true}))
        .await;
    assert_eq!(status, 404, "{err}");
    let (status, err) = app
        .post_json(&decide("ask"), json!({"approved": "yes"}))
        .await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = app
        .post_json(
            &decide("ask"),
            json!({"approved": true, "by": "x".repeat(200)}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(task(&view(&app, &id).await, "ask")["state"], "waiting");

    let (status, run) = app
        .post_json(
            &decide("ask"),
            json!({"approved": true, "by": "alice", "comment": "looks good"}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    let rest = follow(&app, &id, Some(*last_seen)).await;
    assert_eq!(
        kinds(&rest).last(),
        Some(&"workflow_completed"),
        "{rest:#?}"
    );
    let run = view(&app, &id).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(
        task(&run, "ask")["output"],
        json!({"approved": true, "by": "alice", "comment": "looks good"})
    );
    let (status, _) = app
        .post_json(&decide("ask"), json!({"approved": false}))
        .await;
    assert_eq!(status, 409, "only the first decision counts");
    app.stop().await;
}
