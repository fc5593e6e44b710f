//! The hash-chained session log (order, chaining, concurrency, bad input)
//! and the versions of the handoff documents.

use std::collections::HashSet;

use baton_core::log_chain::{GENESIS, entry_hash};
use baton_core::{Hlc, wall_millis};
use baton_store::{NewDocumentVersion, NewLogEntry, StoreError};

use crate::fixtures::device;
use crate::harness::TestDb;

pub async fn session_log_chains_entries_per_workspace(db: TestDb) {
    let store = db.open().await;
    let desk = device("desktop-1");
    let clock = Hlc::new();
    let append = |workspace: &'static str, text: &'static str| {
        let store = store.clone();
        let desk = desk.clone();
        let hlc = clock.now();
        async move {
            store
                .append_log_entry(NewLogEntry {
                    workspace,
                    text,
                    device_id: &desk,
                    hlc,
                    created_ms: wall_millis() as i64,
                })
                .await
                .unwrap()
        }
    };
    let first = append("/w/a", "## Session: one\n").await;
    let other = append("/w/b", "## Session: elsewhere\n").await;
    let second = append("/w/a", "## Session: two\n").await;
    assert_eq!((first.seq, other.seq, second.seq), (1, 1, 2));
    assert_eq!(first.prev_hash, GENESIS);
    assert_eq!(first.hash, entry_hash(GENESIS, "## Session: one\n"));
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(second.hash, entry_hash(&first.hash, "## Session: two\n"));

    drop(store);
    let reopened = db.open().await;
    let entries = reopened.log_entries("/w/a").await.unwrap();
    assert_eq!(entries, vec![first, second]);
    assert_eq!(reopened.log_entries("/w/b").await.unwrap(), vec![other]);
    assert!(reopened.log_entries("/w/none").await.unwrap().is_empty());

    let err = reopened
        .append_log_entry(NewLogEntry {
            workspace: "/w/a",
            text: "nul \0 inside",
            device_id: &desk,
            hlc: clock.now(),
            created_ms: 0,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert_eq!(reopened.log_entries("/w/a").await.unwrap().len(), 2);
}

pub async fn concurrent_log_appenders_keep_one_chain(db: TestDb) {
    let store = db.open().await;
    let clock = std::sync::Arc::new(Hlc::new());
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let store = store.clone();
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            let desk = device(&format!("desktop-{writer}"));
            for n in 0..10 {
                let text = format!("## Session: writer {writer} entry {n}\n");
                store
                    .append_log_entry(NewLogEntry {
                        workspace: "/w/shared",
                        text: &text,
                        device_id: &desk,
                        hlc: clock.now(),
                        created_ms: 0,
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let entries = store.log_entries("/w/shared").await.unwrap();
    assert_eq!(entries.len(), 40);
    let mut prev = GENESIS.to_owned();
    for (at, entry) in entries.iter().enumerate() {
        assert_eq!(entry.seq, at as i64 + 1);
        assert_eq!(entry.prev_hash, prev, "entry {}", entry.seq);
        assert_eq!(entry.hash, entry_hash(&prev, &entry.text));
        prev = entry.hash.clone();
    }
    let texts: HashSet<&str> = entries.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts.len(), 40, "no entry lost or doubled");
}

pub async fn document_versions_number_changes_only(db: TestDb) {
    let store = db.open().await;
    let desk = device("desktop-1");
    let clock = Hlc::new();
    let record = |content: &'static str, hash: &'static str| {
        let store = store.clone();
        let desk = desk.clone();
        let hlc = clock.now();
        async move {
            store
                .record_document_version(NewDocumentVersion {
                    workspace: "/w/a",
                    name: "SESSION_BRIEFING.md",
                    content,
                    hash,
                    device_id: &desk,
                    hlc,
                    created_ms: 5,
                })
                .await
                .unwrap()
        }
    };
    let first = record("# Briefing\nv1\n", "h1").await.unwrap();
    assert_eq!(first.version, 1);
    assert!(
        record("# Briefing\nv1\n", "h1").await.is_none(),
        "unchanged"
    );
    let second = record("# Briefing\nv2\n", "h2").await.unwrap();
    assert_eq!(second.version, 2);
    let third = record("# Briefing\nv1\n", "h1").await.unwrap();
    assert_eq!(third.version, 3, "going back is a change too");

    drop(store);
    let reopened = db.open().await;
    let versions = reopened
        .document_versions("/w/a", "SESSION_BRIEFING.md")
        .await
        .unwrap();
    assert_eq!(versions, vec![first, second, third]);
    assert!(
        reopened
            .document_versions("/w/a", "PROJECT_CONTEXT.md")
            .await
            .unwrap()
            .is_empty()
    );
}
