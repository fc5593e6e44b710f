//! `baton serve` as a process: start-up, persistence across restarts,
//! graceful shutdown, exposure rules, on both store backends.

use baton_testkit::{ScriptedServer, Step, TestDatabase};
use serde_json::{Value, json};
use std::time::Duration;

use crate::baton::{Setup, run};

async fn serve_chat_restart_history(database: Option<&str>) {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, database);
    let baton = setup.serve(&[]);
    let client = baton.client();
    let health: Value = reqwest::get(format!("{}/health", baton.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    let expected_backend = if database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(health["store"]["backend"], expected_backend);

    let r: Value = client
        .post(format!("{}/chat", baton.url))
        .json(&json!({"message": "persist me", "device_id": "desk"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["reply"], "echo: persist me");
    let status = baton.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    let baton = setup.serve(&[]);
    let page: Value = baton
        .client()
        .get(format!("{}/device/desk/history", baton.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["echo: persist me", "persist me"],
        "newest first, after a restart"
    );
    assert!(baton.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_serve_chat_restart_history() {
    serve_chat_restart_history(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_serve_chat_restart_history() {
    let Some(db) = TestDatabase::postgres("postgres_serve_chat_restart_history").await else {
        return;
    };
    serve_chat_restart_history(Some(db.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let baton = setup.serve(&[]);
    srv.push(Step::text("slow but complete").delay(Duration::from_millis(1500)));
    let client = baton.client();
    let url = format!("{}/chat", baton.url);
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"message": "take your time"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = tokio::task::spawn_blocking(move || baton.terminate())
        .await
        .unwrap();
    assert!(status.success());
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reply"], "slow but complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_listen_beyond_loopback_without_a_token() {
    let srv = ScriptedServer::start().await;
    let setup = Setup::new(&srv, None);
    let (status, _, err) = run(setup.command(&["serve", "--addr", "0.0.0.0:0"]));
    assert!(!status.success());
    assert!(err.contains("BATON_TOKEN"), "{err}");
}
