//! The group-commit record writer.

use std::time::Duration;

use baton_store::{StoreError, WriterOptions};

use crate::fixtures::{answer, message, session};
use crate::harness::TestDb;

/// Many tasks submit at once; some wait for durability, some do not. After
/// close, every message is stored once, each session's seq is contiguous,
/// and each submitter's messages keep their order.
pub async fn writer_group_commits_concurrent_submitters(db: TestDb) {
    const SUBMITTERS: usize = 12;
    const BATCHES: usize = 20;
    let store = db.open().await;
    let sessions = [session("desktop-1"), session("phone")];
    for s in &sessions {
        store.create_session(s).await.unwrap();
    }
    let writer = store.writer(WriterOptions {
        capacity: 4,
        max_batch: 16,
        linger: Duration::from_millis(2),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for submitter in 0..SUBMITTERS {
        let writer = writer.clone();
        let s = sessions[submitter % 2].clone();
        tasks.spawn(async move {
            for batch in 0..BATCHES {
                let text = format!("{submitter}/{batch}");
                let records = vec![message(&s, &text, 2_000), answer(&s, &text, 2_001)];
                let committed = writer.submit(records).await.unwrap();
                if batch % 2 == 0 {
                    committed.await.unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    writer.shutdown().await;

    let per_session = SUBMITTERS / 2 * BATCHES * 2;
    for s in &sessions {
        assert_eq!(
            db.seqs(s.id).await,
            (1..=per_session as i64).collect::<Vec<_>>()
        );
        let stored = store
            .session_messages(s.id, per_session as u32)
            .await
            .unwrap();
        let mut last_batch = std::collections::HashMap::new();
        for pair in stored.chunks(2) {
            assert_eq!(pair[0].message.text(), pair[1].message.text());
            let text = pair[0].message.text();
            let (submitter, batch) = text.split_once('/').unwrap();
            let batch: i64 = batch.parse().unwrap();
            let previous = last_batch.insert(submitter.to_owned(), batch).unwrap_or(-1);
            assert_eq!(batch, previous + 1);
        }
    }
    store.close().await;
}

/// A bad submission grouped with good ones fails alone; the writer lives on.
pub async fn writer_isolates_a_failing_submission(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let ghost = session("desktop-1");
    let writer = store.writer(WriterOptions::default());

    let mut pending = Vec::new();
    for i in 0..6 {
        let records = if i == 3 {
            vec![message(&ghost, "orphan", 2_000)]
        } else {
            vec![message(&s, &format!("m{i}"), 2_000 + i)]
        };
        pending.push(writer.submit(records).await.unwrap());
    }
    for (i, committed) in pending.into_iter().enumerate() {
        let outcome = committed.await;
        if i == 3 {
            assert!(
                matches!(outcome, Err(StoreError::NotFound { .. })),
                "{outcome:?}"
            );
        } else {
            outcome.unwrap();
        }
    }
    writer
        .submit(vec![message(&s, "after", 3_000)])
        .await
        .unwrap()
        .await
        .unwrap();
    writer.close().await;

    let texts: Vec<_> = store
        .session_messages(s.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.message.text())
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m4", "m5", "after"]);
    store.close().await;
}

/// Closing commits everything queued, even what nobody waits for, and then
/// refuses new work from every clone.
pub async fn writer_close_drains_and_refuses_more(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let writer = store.writer(WriterOptions {
        capacity: 1_000,
        max_batch: 7,
        linger: Duration::ZERO,
    });
    let clone = writer.clone();
    let mut waited = Vec::new();
    for i in 0..200 {
        let committed = writer
            .submit(vec![message(&s, "queued", 2_000 + i)])
            .await
            .unwrap();
        if i % 50 == 0 {
            waited.push(committed);
        }
    }
    writer.submit(Vec::new()).await.unwrap().await.unwrap();
    writer.close().await;
    for committed in waited {
        committed.await.unwrap();
    }
    assert_eq!(
        store.session_messages(s.id, 1_000).await.unwrap().len(),
        200
    );

    assert!(matches!(
        clone.submit(vec![message(&s, "late", 9_000)]).await,
        Err(StoreError::Unavailable(_))
    ));
    clone.close().await;
    assert_eq!(
        store.session_messages(s.id, 1_000).await.unwrap().len(),
        200
    );
    store.close().await;
}

/// Submitted, never awaited, writer closed, store closed: the messages are
/// there when the database is opened again.
pub async fn writer_commits_survive_reopen(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let writer = store.writer(WriterOptions::default());
    let batch = vec![
        message(&s, "durable?", 2_000),
        answer(&s, "durable.", 2_001),
    ];
    drop(writer.submit(batch.clone()).await.unwrap());
    writer.shutdown().await;
    store.close().await;

    let store = db.open().await;
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), batch);
    store.close().await;
}

/// Deferred submissions may wait for company, but never past someone who
/// waits: an urgent submission ends the linger at once (here the linger is
/// an hour, so only that can commit the group), and closing commits a
/// lingering group too.
pub async fn writer_linger_ends_for_urgent_and_close(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let writer = store.writer(WriterOptions {
        linger: Duration::from_secs(3_600),
        ..WriterOptions::default()
    });
    let deferred = writer
        .defer_batch(vec![message(&s, "deferred", 2_000)].into())
        .await
        .unwrap();
    let urgent = writer
        .submit(vec![answer(&s, "urgent", 2_001)])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        urgent.await.unwrap();
        deferred.await.unwrap();
    })
    .await
    .expect("an urgent submission ends the linger");
    let texts: Vec<String> = store
        .session_messages(s.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.message.text())
        .collect();
    assert_eq!(texts, ["deferred", "urgent"]);

    let lingering = writer
        .defer_batch(vec![message(&s, "last", 2_002)].into())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), writer.close())
        .await
        .expect("closing ends the linger");
    lingering.await.unwrap();
    assert_eq!(store.session_messages(s.id, 10).await.unwrap().len(), 3);
    store.close().await;
}
