//! Memories: deduplication per workspace, full-text ranking with stemming,
//! vectors read back in `seq` order, backfilled vectors moving forward,
//! forgetting, and bad input refused.

use baton_core::{DeviceId, Hlc, HlcStamp};
use baton_store::{MemoryVector, NewMemory, StoreError};

use crate::fixtures::device;
use crate::harness::TestDb;

fn memory<'a>(
    id: &'a str,
    workspace: &'a str,
    content: &'a str,
    vector: Option<MemoryVector<'a>>,
    desk: &'a DeviceId,
    hlc: HlcStamp,
) -> NewMemory<'a> {
    NewMemory {
        id,
        workspace,
        source: "note",
        source_ref: None,
        content,
        hash: content,
        embedding: vector,
        device_id: desk,
        hlc,
        created_ms: 7,
    }
}

pub async fn memories_dedupe_search_and_forget(db: TestDb) {
    let store = db.open().await;
    let desk = device("desktop-1");
    let clock = Hlc::new();
    let v = |model: &'static str, values: &'static [f32]| Some(MemoryVector { model, values });

    let stored = store
        .insert_memories(&[
            memory(
                "m1",
                "/w/a",
                "We chose SQLite for the embedded store",
                v("e", &[1.0, 0.0]),
                &desk,
                clock.now(),
            ),
            memory(
                "m2",
                "/w/a",
                "Deploys run on Fridays",
                v("e", &[0.0, 1.0]),
                &desk,
                clock.now(),
            ),
            memory(
                "m3",
                "/w/a",
                "Choosing a database: PostgreSQL for nodes",
                None,
                &desk,
                clock.now(),
            ),
            memory(
                "m4",
                "/w/b",
                "We chose SQLite for the embedded store",
                v("e", &[1.0, 0.0]),
                &desk,
                clock.now(),
            ),
        ])
        .await
        .unwrap();
    assert!(stored.iter().all(|(_, inserted)| *inserted));
    assert_eq!(stored[0].0.embedding_model.as_deref(), Some("e"));
    assert_eq!(stored[2].0.embedding_model, None);

    let again = store
        .insert_memories(&[memory(
            "m9",
            "/w/a",
            "Deploys run on Fridays",
            None,
            &desk,
            clock.now(),
        )])
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(!again[0].1, "the same content is not stored twice");
    assert_eq!(again[0].0.id, "m2");
    assert_eq!(store.count_memories("/w/a").await.unwrap(), 3);

    // Stemming on both backends: "deploy" finds "Deploys", "databases"
    // finds "database".
    let hits = store
        .search_memory_text("/w/a", "deploy", 10)
        .await
        .unwrap();
    assert_eq!(hits, vec!["m2"]);
    let hits = store
        .search_memory_text("/w/a", "databases?", 10)
        .await
        .unwrap();
    assert_eq!(hits, vec!["m3"]);
    let hits = store
        .search_memory_text("/w/a", "sqlite embedded store", 10)
        .await
        .unwrap();
    assert_eq!(hits, vec!["m1"], "the other workspace's copy is not found");
    let hits = store
        .search_memory_text("/w/a", "\"sqlite\" OR NEAR(store) -- *", 10)
        .await
        .unwrap();
    assert_eq!(hits, vec!["m1"], "query syntax is taken as words");
    assert!(
        store
            .search_memory_text("/w/a", "()", 10)
            .await
            .unwrap()
            .is_empty()
    );

    let vectors = store
        .memory_vectors_since("/w/a", "e", 0, 100)
        .await
        .unwrap();
    assert_eq!(
        vectors.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        ["m1", "m2"]
    );
    assert_eq!(vectors[0].values, vec![1.0, 0.0]);
    let last = vectors[1].seq;
    assert!(
        store
            .memory_vectors_since("/w/a", "e", last, 100)
            .await
            .unwrap()
            .is_empty()
    );

    let pending = store
        .memories_without_vector("/w/a", "e", 10)
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m3"]
    );
    assert!(
        store
            .set_memory_vector(
                "m3",
                MemoryVector {
                    model: "e",
                    values: &[0.6, 0.8]
                }
            )
            .await
            .unwrap()
    );
    let newer = store
        .memory_vectors_since("/w/a", "e", last, 100)
        .await
        .unwrap();
    assert_eq!(
        newer.len(),
        1,
        "a backfilled vector moves past what was seen"
    );
    assert_eq!(newer[0].id, "m3");
    assert!(
        store
            .memories_without_vector("/w/a", "e", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .memories_without_vector("/w/a", "other-model", 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        !store
            .set_memory_vector(
                "nope",
                MemoryVector {
                    model: "e",
                    values: &[1.0]
                }
            )
            .await
            .unwrap()
    );

    let fetched = store
        .memories(&["m3".to_owned(), "zz".to_owned(), "m1".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        fetched.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m3", "m1"]
    );
    assert_eq!(fetched[1].content, "We chose SQLite for the embedded store");
    assert_eq!(fetched[1].device_id, desk);

    assert!(
        !store.forget_memory("/w/b", "m1").await.unwrap(),
        "not that workspace's"
    );
    assert!(store.forget_memory("/w/a", "m1").await.unwrap());
    assert!(!store.forget_memory("/w/a", "m1").await.unwrap());
    assert!(
        store
            .search_memory_text("/w/a", "sqlite", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.recent_memories("/w/a", 10).await.unwrap().len(), 2);

    // After the newest row is forgotten, a new memory still gets a higher seq.
    let top = store
        .memory_vectors_since("/w/a", "e", 0, 100)
        .await
        .unwrap();
    let top_seq = top.last().unwrap().seq;
    store
        .forget_memory("/w/a", &top.last().unwrap().id)
        .await
        .unwrap();
    store
        .insert_memories(&[memory(
            "m5",
            "/w/a",
            "fresh",
            v("e", &[1.0, 1.0]),
            &desk,
            clock.now(),
        )])
        .await
        .unwrap();
    let after = store
        .memory_vectors_since("/w/a", "e", top_seq, 100)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, "m5");

    let nul = store
        .insert_memories(&[memory("m6", "/w/a", "bad\0text", None, &desk, clock.now())])
        .await
        .unwrap_err();
    assert!(matches!(nul, StoreError::InvalidInput(_)), "{nul}");
    let nan = store
        .insert_memories(&[memory(
            "m7",
            "/w/a",
            "nan",
            v("e", &[f32::NAN]),
            &desk,
            clock.now(),
        )])
        .await
        .unwrap_err();
    assert!(matches!(nan, StoreError::InvalidInput(_)), "{nan}");
}
