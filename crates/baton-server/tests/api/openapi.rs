//! The OpenAPI document stays true to the router.

use baton_testkit::TestDatabase;

use crate::app::TestApp;

/// Every route the router serves, as `(method, OpenAPI path)`.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("post", "/chat"),
    ("post", "/chat/stream"),
    ("post", "/device/state"),
    ("get", "/device/{id}/state"),
    ("get", "/device/{id}/history"),
    ("post", "/v1/chat/completions"),
    ("get", "/v1/models"),
    ("get", "/v1/models/{id}"),
    ("post", "/agent/run"),
    ("get", "/agent/runs"),
    ("get", "/agent/runs/{id}"),
    ("post", "/agent/runs/{id}/resume"),
    ("get", "/approvals"),
    ("post", "/approvals/{id}"),
    ("get", "/context"),
    ("post", "/chat/sessions/{id}/end"),
    ("post", "/memory"),
    ("get", "/memory/search"),
    ("delete", "/memory/{id}"),
    ("post", "/api/v1/workflow/execute"),
    ("get", "/api/v1/workflows"),
    ("get", "/api/v1/workflow/{id}"),
    ("post", "/api/v1/workflow/{id}/cancel"),
    ("post", "/api/v1/workflow/{id}/resume"),
    ("post", "/api/v1/workflow/{id}/tasks/{task}/decision"),
    ("get", "/api/v1/workflow/{id}/events"),
    ("get", "/ws/workflow/{id}"),
];

#[tokio::test]
async fn document_lists_exactly_the_served_routes() {
    let db = TestDatabase::sqlite().await;
    let app = TestApp::start(&db, Default::default()).await;
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    // Each documented route is really served (anything but 404/405 from the router).
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "scripted-small")
            .replace("{task}", "t");
        let req = match *method {
            "get" => app.client.get(app.url(&concrete)),
            "delete" => app.client.delete(app.url(&concrete)),
            _ => app
                .client
                .post(app.url(&concrete))
                .json(&serde_json::json!({})),
        };
        let status = req.send().await.unwrap().status().as_u16();
        assert!(
            status != 404 && status != 405
                || concrete.starts_with("/device/")
                || concrete.starts_with("/memory/"),
            "{method} {concrete}: {status}"
        );
    }

    // Every schema reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(
            schemas.contains_key(name),
            "dangling schema reference {name}"
        );
    }
    app.stop().await;
}

#[test]
fn document_is_the_served_one() {
    let doc = baton_server::openapi();
    assert_eq!(doc.info.version, env!("CARGO_PKG_VERSION"));
    assert!(
        doc.components
            .unwrap()
            .security_schemes
            .contains_key("bearer")
    );
}
