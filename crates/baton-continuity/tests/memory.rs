//! The memory manager on both store backends, with vectors from the
//! scripted model server's embeddings endpoint over real HTTP: hybrid
//! recall, isolation between workspaces, a failing embedder that loses
//! nothing, vectors made later, and forgetting seen by another process.

use std::path::{Path, PathBuf};

use baton_config::{GatewayConfig, ProviderConfig, ProviderKind};
use baton_continuity::{ContinuityError, Embedder, Memories, MemorySource, NewMemoryText};
use baton_core::DeviceId;
use baton_llm::Gateway;
use baton_store::Store;
use baton_testkit::{ScriptedServer, TestDatabase};

async fn gateway(base_url: &str) -> Gateway {
    let provider = ProviderConfig {
        name: "local".into(),
        kind: Some(ProviderKind::Openai),
        base_url: Some(base_url.into()),
        enabled: true,
        ..ProviderConfig::default()
    };
    let cfg = GatewayConfig {
        connect_timeout_secs: 1,
        request_timeout_secs: 2,
        detect_ollama: false,
        ..GatewayConfig::default()
    };
    Gateway::new(&[provider], &cfg, &|_: &str| None)
        .await
        .unwrap()
}

fn embedder(gateway: &Gateway) -> Option<Embedder> {
    Some(Embedder::Provider {
        gateway: gateway.clone(),
        model: "local/embedder".into(),
    })
}

fn note(text: &str) -> NewMemoryText {
    NewMemoryText {
        source: MemorySource::Note,
        source_ref: None,
        content: text.into(),
    }
}

fn workspace(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn databases(test: &str) -> Vec<TestDatabase> {
    let mut all = vec![TestDatabase::sqlite().await];
    all.extend(TestDatabase::postgres(test).await);
    all
}

#[tokio::test]
async fn hybrid_recall_finds_by_words_and_vectors_per_workspace() {
    for db in databases("hybrid_recall").await {
        let srv = ScriptedServer::start().await;
        let gw = gateway(&srv.openai_base()).await;
        let store = Store::connect(db.url()).await.unwrap();
        let root = tempfile::tempdir().unwrap();
        let (app, other) = (
            workspace(root.path(), "app"),
            workspace(root.path(), "other"),
        );
        let memories = Memories::new(
            store.clone(),
            embedder(&gw),
            DeviceId::parse("desk").unwrap(),
        );

        let stored = memories
            .remember_all(
                &app,
                vec![
                    note("We chose SQLite as the embedded store because it needs no server"),
                    note("Deploys run on Friday afternoons after the release review"),
                    note("The payment service retries webhooks three times"),
                ],
            )
            .await
            .unwrap();
        assert!(stored.iter().all(|r| r.new && r.vector_note.is_none()));
        assert_eq!(
            stored[0].memory.embedding_model.as_deref(),
            Some("local/embedder")
        );
        memories
            .remember(&other, note("SQLite store notes of another project"))
            .await
            .unwrap();

        let recall = memories.search(&app, "why sqlite store", 5).await.unwrap();
        assert_eq!(recall.vector_model.as_deref(), Some("local/embedder"));
        assert_eq!(recall.vector_note, None);
        let top = &recall.hits[0];
        assert!(
            top.memory.content.starts_with("We chose SQLite"),
            "{recall:?}"
        );
        assert_eq!(top.text_rank, Some(1));
        assert_eq!(top.vector_rank, Some(1));
        assert!(top.similarity.unwrap() > 0.3);
        assert!(
            recall
                .hits
                .iter()
                .all(|h| h.memory.workspace.ends_with("app")),
            "another workspace's memory never comes back"
        );

        let again = memories
            .remember(
                &app,
                note("Deploys run on Friday afternoons after the release review"),
            )
            .await
            .unwrap();
        assert!(!again.new);
        assert_eq!(again.memory.id, stored[1].memory.id);

        // Another process on the same store sees new memories and not
        // forgotten ones.
        let elsewhere = Memories::new(
            store.clone(),
            embedder(&gw),
            DeviceId::parse("laptop").unwrap(),
        );
        assert_eq!(
            elsewhere
                .search(&app, "friday deploys", 3)
                .await
                .unwrap()
                .hits[0]
                .memory
                .id,
            stored[1].memory.id
        );
        assert!(memories.forget(&app, &stored[1].memory.id).await.unwrap());
        assert!(!memories.forget(&app, &stored[1].memory.id).await.unwrap());
        for m in [&memories, &elsewhere] {
            let recall = m.search(&app, "friday deploys", 3).await.unwrap();
            assert!(
                recall
                    .hits
                    .iter()
                    .all(|h| h.memory.id != stored[1].memory.id)
            );
        }
        let added = elsewhere
            .remember(&app, note("Friday deploys moved to Thursday"))
            .await
            .unwrap();
        let recall = memories.search(&app, "friday deploys", 3).await.unwrap();
        assert_eq!(recall.hits[0].memory.id, added.memory.id);
        assert!(
            recall.hits[0].vector_rank.is_some(),
            "caught up with the other process"
        );
    }
}

#[tokio::test]
async fn a_failing_embedder_loses_nothing_and_vectors_come_later() {
    for db in databases("failing_embedder").await {
        let store = Store::connect(db.url()).await.unwrap();
        let root = tempfile::tempdir().unwrap();
        let app = workspace(root.path(), "app");
        let down = gateway("http://127.0.0.1:9/v1").await;
        let broken = Memories::new(
            store.clone(),
            embedder(&down),
            DeviceId::parse("desk").unwrap(),
        );

        let kept = broken
            .remember(&app, note("Rotate the signing keys every quarter"))
            .await
            .unwrap();
        assert!(kept.new);
        assert_eq!(kept.memory.embedding_model, None);
        let why = kept.vector_note.unwrap();
        assert!(why.contains("embedding failed"), "{why}");
        let recall = broken.search(&app, "signing keys", 3).await.unwrap();
        assert_eq!(recall.hits.len(), 1, "found by its words");
        assert_eq!(recall.vector_model, None);
        assert!(recall.vector_note.unwrap().contains("embedding failed"));
        assert!(matches!(
            broken.embed_missing(&app, 10).await,
            Err(ContinuityError::Embedding(_))
        ));

        let words_only = Memories::new(store.clone(), None, DeviceId::parse("desk").unwrap());
        let recall = words_only.search(&app, "keys", 3).await.unwrap();
        assert_eq!(recall.hits.len(), 1);
        assert!(recall.vector_note.unwrap().contains("no embedder"));

        let srv = ScriptedServer::start().await;
        let up = gateway(&srv.openai_base()).await;
        let fixed = Memories::new(
            store.clone(),
            embedder(&up),
            DeviceId::parse("desk").unwrap(),
        );
        assert_eq!(fixed.embed_missing(&app, 10).await.unwrap(), 1);
        assert_eq!(fixed.embed_missing(&app, 10).await.unwrap(), 0);
        let recall = fixed.search(&app, "rotate signing keys", 3).await.unwrap();
        assert_eq!(recall.hits[0].vector_rank, Some(1));
    }
}

#[tokio::test]
async fn bad_memories_and_queries_are_refused_with_nothing_stored() {
    let db = TestDatabase::sqlite().await;
    let store = Store::connect(db.url()).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let app = workspace(root.path(), "app");
    let memories = Memories::new(store.clone(), None, DeviceId::parse("desk").unwrap());

    let batch = vec![note("fine"), note("bad\0binary")];
    let error = memories.remember_all(&app, batch).await.unwrap_err();
    assert!(error.to_string().contains("binary"), "{error}");
    let huge = "word ".repeat(20_000);
    let error = memories.remember(&app, note(&huge)).await.unwrap_err();
    assert!(error.to_string().contains("at most 65536 bytes"), "{error}");
    assert_eq!(
        store
            .count_memories(&app.canonicalize().unwrap().display().to_string())
            .await
            .unwrap(),
        0
    );

    for (query, limit, wanted) in [
        ("", 5, "1 to 4096 bytes"),
        ("x", 0, "1 to 100 results"),
        ("x", 101, "1 to 100"),
    ] {
        let error = memories.search(&app, query, limit).await.unwrap_err();
        assert!(error.to_string().contains(wanted), "{error}");
    }
    let missing = memories
        .search(&root.path().join("nowhere"), "x", 5)
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("nowhere"), "{missing}");
}
