//! Token authentication and exposure rules.

use baton_config::Secret;
use baton_testkit::TestDatabase;
use serde_json::json;

use crate::app::{Options, TestApp};

const TOKEN: &str = "test-token-0123456789";

#[tokio::test]
async fn every_route_but_health_needs_the_token() {
    let db = TestDatabase::sqlite().await;
    let app = TestApp::start(
        &db,
        Options {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .await;
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200, "health stays open");
    for path in ["/v1/models", "/openapi.json", "/device/x/history", "/nope"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let r = app
        .client
        .post(app.url("/chat"))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/chat"))
        .bearer_auth(TOKEN)
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.model_server.request_count(),
        1,
        "unauthenticated calls never reached a model"
    );
    app.stop().await;
}

#[test]
fn refuses_to_listen_beyond_loopback_without_a_token() {
    let open: std::net::SocketAddr = "0.0.0.0:8000".parse().unwrap();
    let err = baton_server::check_exposure(open, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("BATON_TOKEN"), "{err}");
    assert!(baton_server::check_exposure(open, Some(&Secret::new(TOKEN))).is_ok());
    assert!(baton_server::check_exposure("127.0.0.1:8000".parse().unwrap(), None).is_ok());
    assert!(baton_server::check_exposure("[::1]:8000".parse().unwrap(), None).is_ok());
}

#[tokio::test]
async fn websocket_takes_the_token_from_the_query_and_nothing_else_does() {
    let db = TestDatabase::sqlite().await;
    let app = TestApp::start(
        &db,
        Options {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/v1/workflow/execute"))
        .bearer_auth(TOKEN)
        .json(&json!({"plan": {"tasks": [{"id": "a", "type": "noop"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["workflow_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = |query: &str| format!("ws://{}/ws/workflow/{id}{query}", app.addr);
    for query in ["", "?token=wrong-token-0123456789"] {
        match tokio_tungstenite::connect_async(ws(query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{query}")
            }
            other => panic!("{query}: {:?}", other.map(|_| ())),
        }
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(ws(&format!("?token={TOKEN}")))
        .await
        .unwrap();
    let first = futures::StreamExt::next(&mut socket)
        .await
        .unwrap()
        .unwrap();
    assert!(
        first.to_text().unwrap().contains("status_update"),
        "{first}"
    );
    // Anywhere but /ws/ the token belongs in the header only.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/workflow/{id}?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}
