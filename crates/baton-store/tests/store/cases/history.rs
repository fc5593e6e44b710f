//! A device's history, newest first, page by page.

use std::collections::HashSet;

use baton_core::MessageId;
use baton_store::{HistoryPage, MessageRecord, Session, Store, StoreError};

use crate::fixtures::{answer, device, message, session};
use crate::harness::TestDb;

/// Reads every page from the newest, `limit` at a time. With `arrivals`,
/// a new message lands in that session after each page, as a chat going on
/// while a client scrolls back.
async fn read_all_pages(
    store: &Store,
    limit: u32,
    arrivals: Option<&Session>,
) -> Vec<MessageRecord> {
    let mut all = Vec::new();
    let mut page = HistoryPage {
        before: None,
        limit,
    };
    for arrival in 1.. {
        let slice = store
            .device_history(&device("desktop-1"), &page)
            .await
            .unwrap();
        assert!(slice.messages.len() <= limit as usize);
        all.extend(slice.messages);
        let Some(cursor) = slice.next_cursor else {
            break;
        };
        page.before = Some(cursor);
        if let Some(s) = arrivals {
            let fresh = message(s, "fresh", 20_000 + arrival);
            store.append_messages(&[fresh]).await.unwrap();
        }
    }
    all
}

pub async fn device_history_pages_have_no_gaps_or_duplicates(db: TestDb) {
    let store = db.open().await;
    let sessions = [
        session("desktop-1"),
        session("desktop-1"),
        session("desktop-1"),
    ];
    let elsewhere = session("laptop");
    for s in sessions.iter().chain([&elsewhere]) {
        store.create_session(s).await.unwrap();
    }
    // 30 messages over three sessions, with many sharing a millisecond, so
    // that the cursor must break ties by id.
    let mut expected = Vec::new();
    for i in 0..30 {
        let s = &sessions[i % 3];
        let created = 10_000 + (i as i64 / 4);
        let record = if i % 2 == 0 {
            message(s, &format!("q{i}"), created)
        } else {
            answer(s, &format!("a{i}"), created)
        };
        store
            .append_messages(std::slice::from_ref(&record))
            .await
            .unwrap();
        expected.push(record);
    }
    store
        .append_messages(&[message(&elsewhere, "not mine", 10_005)])
        .await
        .unwrap();
    expected.sort_by_key(|m| std::cmp::Reverse((m.created_ms, m.id)));

    for limit in [1, 4, 7, 30, 31] {
        let pages = read_all_pages(&store, limit, None).await;
        assert_eq!(pages, expected, "limit {limit}");
    }

    // Messages arriving while a client pages (newer than its first page)
    // neither shift nor repeat what it reads next.
    let pages = read_all_pages(&store, 4, Some(&sessions[0])).await;
    assert_eq!(pages, expected);
    let ids: HashSet<MessageId> = pages.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), pages.len());

    let newest = store
        .device_history(&device("desktop-1"), &HistoryPage::default())
        .await
        .unwrap();
    assert_eq!(newest.messages[0].message.text(), "fresh");
    assert!(newest.messages[0].created_ms > 20_000);

    let nobody = store
        .device_history(&device("nobody"), &HistoryPage::default())
        .await
        .unwrap();
    assert_eq!((nobody.messages.len(), nobody.next_cursor), (0, None));
    store.close().await;
}

pub async fn device_history_clamps_limit(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let batch: Vec<_> = (0..HistoryPage::MAX_LIMIT as i64 + 2)
        .map(|i| message(&s, "m", 1_000 + i))
        .collect();
    store.append_messages(&batch).await.unwrap();

    let page = |limit| HistoryPage {
        before: None,
        limit,
    };
    let one = store.device_history(&s.device_id, &page(0)).await.unwrap();
    assert_eq!(one.messages.len(), 1);
    assert!(one.next_cursor.is_some());
    let max = store
        .device_history(&s.device_id, &page(u32::MAX))
        .await
        .unwrap();
    assert_eq!(max.messages.len(), HistoryPage::MAX_LIMIT as usize);
    let rest = store
        .device_history(
            &s.device_id,
            &HistoryPage {
                before: max.next_cursor,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.messages.len(), 2);
    assert_eq!(rest.next_cursor, None);
    store.close().await;
}

pub async fn bad_cursor_is_invalid_input(db: TestDb) {
    let store = db.open().await;
    for cursor in [
        "",
        "garbage",
        "12.not-a-uuid",
        "🦀",
        "1.2.3",
        "x.0190a0a0a0a07000800000000000000",
    ] {
        let page = HistoryPage {
            before: Some(cursor.into()),
            limit: 10,
        };
        match store.device_history(&device("desktop-1"), &page).await {
            Err(StoreError::InvalidInput(_)) => {}
            other => panic!("cursor {cursor:?}: expected InvalidInput, got {other:?}"),
        }
    }
    store.close().await;
}
