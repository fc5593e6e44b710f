//! `GET /context`: the handoff documents over HTTP.

use serde_json::Value;

use crate::app::TestApp;

pub async fn context_is_assembled_within_budget_inside_the_workspace(app: TestApp) {
    let root = app.workspace.path();
    std::fs::write(
        root.join("SESSION_BRIEFING.md"),
        "# Session Briefing\n- now: the parser\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(
        root.join("sub/PROJECT_CONTEXT.md"),
        "# Project Context\n- sub\n",
    )
    .unwrap();

    let (status, context) = app.get_json("/context").await;
    assert_eq!(status, 200, "{context}");
    let parts = context["parts"].as_array().unwrap();
    let part = |source: &str| -> &Value { parts.iter().find(|p| p["source"] == source).unwrap() };
    assert!(
        part("briefing")["text"]
            .as_str()
            .unwrap()
            .contains("now: the parser")
    );
    assert!(
        part("project")["note"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    assert_eq!(context["budget_tokens"], 8000);

    let (status, sub) = app.get_json("/context?workspace=sub&budget=100").await;
    assert_eq!(status, 200, "{sub}");
    assert!(sub.to_string().contains("- sub"), "{sub}");
    assert!(sub["used_tokens"].as_u64().unwrap() <= 100);

    for (query, needle) in [
        ("/context?budget=0", "budget"),
        ("/context?budget=2000000", "budget"),
        ("/context?workspace=..", "must be inside"),
    ] {
        let (status, error) = app.get_json(query).await;
        assert_eq!(status, 400, "{query} → {error}");
        assert!(error.to_string().contains(needle), "{query} → {error}");
    }
    app.stop().await;
}
