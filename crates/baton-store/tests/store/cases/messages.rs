//! Appending messages and reading a session back.

use std::collections::HashMap;

use baton_core::{
    Content, ContentPart, HlcStamp, ImageUrl, Message, MessageId, Role, SessionId, ToolCall, Usage,
};
use baton_store::{Batch, MessageRecord, StoreError};
use serde_json::json;

use crate::fixtures::{answer, device, message, session};
use crate::harness::TestDb;

pub async fn append_keeps_session_order_and_bumps_session_and_device(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();

    let call = MessageRecord {
        message: Message {
            role: Role::Assistant,
            content: None,
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "search".into(),
                arguments: r#"{"q":"rust sqlx"}"#.into(),
            }],
            tool_call_id: None,
            name: None,
        },
        ..answer(&s, "", 5_001)
    };
    let result = MessageRecord {
        message: Message {
            role: Role::Tool,
            content: Some(Content::Text("3 results".into())),
            tool_calls: Vec::new(),
            tool_call_id: Some("call_1".into()),
            name: Some("search".into()),
        },
        ..message(&s, "", 5_002)
    };
    // Session order is append order, even when a device's clock ran back.
    let from_laptop = MessageRecord {
        device_id: device("laptop"),
        ..message(&s, "continuing on the laptop", 4_000)
    };
    let first = vec![message(&s, "find sqlx docs", 5_000), call, result];
    let second = vec![from_laptop, answer(&s, "here they are", 5_003)];
    store.append_messages(&first).await.unwrap();
    store.append_messages(&second).await.unwrap();
    store.append_messages(&[]).await.unwrap();

    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    assert_eq!(store.session_messages(s.id, 100).await.unwrap(), all);
    assert_eq!(db.seqs(s.id).await, vec![1, 2, 3, 4, 5]);

    let stored = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(stored.updated_ms, 5_003);
    assert_eq!(stored.created_ms, s.created_ms);

    // Devices that never reported a state are known from their messages.
    let desktop = store
        .device_state(&device("desktop-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (desktop.status.as_str(), desktop.last_seen_ms),
        ("unknown", 5_003)
    );
    assert_eq!(desktop.hlc, HlcStamp::default());
    let laptop = store
        .device_state(&device("laptop"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(laptop.last_seen_ms, 4_000);
    store.close().await;
}

pub async fn session_messages_returns_the_last_n_oldest_first(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    let other = session("desktop-1");
    store.create_session(&s).await.unwrap();
    store.create_session(&other).await.unwrap();
    let batch: Vec<_> = (0..10)
        .map(|i| message(&s, &format!("m{i}"), 2_000 + i))
        .collect();
    store.append_messages(&batch).await.unwrap();
    store
        .append_messages(&[message(&other, "elsewhere", 3_000)])
        .await
        .unwrap();

    assert_eq!(store.session_messages(s.id, 3).await.unwrap(), batch[7..]);
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), batch);
    assert_eq!(store.session_messages(s.id, 0).await.unwrap(), []);
    assert_eq!(
        store.session_messages(SessionId::new(), 5).await.unwrap(),
        []
    );
    store.close().await;
}

/// A batch is one transaction: one bad message keeps all of it out.
pub async fn append_to_unknown_session_writes_nothing(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let ghost = session("desktop-1");
    let batch = vec![message(&s, "fine", 2_000), message(&ghost, "orphan", 2_001)];
    match store.append_messages(&batch).await {
        Err(StoreError::NotFound { what, id }) => {
            assert_eq!((what, id), ("session", ghost.id.to_string()));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), []);
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().updated_ms,
        s.updated_ms
    );
    assert_eq!(
        store.device_state(&device("desktop-1")).await.unwrap(),
        None
    );
    store.close().await;
}

pub async fn re_append_is_idempotent(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let batch = vec![message(&s, "once", 2_000), answer(&s, "only once", 2_001)];
    store.append_messages(&batch).await.unwrap();
    store.append_messages(&batch).await.unwrap();

    // A re-sent id is skipped even when it comes with new messages or
    // twice in one batch; the new ones go to the end without a gap.
    let late = message(&s, "new", 2_002);
    store
        .append_messages(&[
            batch[1].clone(),
            late.clone(),
            late.clone(),
            batch[0].clone(),
        ])
        .await
        .unwrap();
    let expected = vec![batch[0].clone(), batch[1].clone(), late];
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), expected);
    assert_eq!(db.seqs(s.id).await, vec![1, 2, 3]);
    store.close().await;
}

/// Numbers that do not fit a signed 64-bit column are refused up front,
/// the same on every backend.
pub async fn append_refuses_out_of_range_numbers(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let too_many_tokens = MessageRecord {
        usage: Some(Usage {
            prompt_tokens: u64::MAX,
            completion_tokens: 1,
        }),
        ..answer(&s, "x", 2_000)
    };
    let far_future = MessageRecord {
        hlc: HlcStamp {
            millis: u64::MAX >> 16,
            counter: 0,
        },
        ..message(&s, "y", 2_000)
    };
    let nul_model = MessageRecord {
        model: Some("bad\0model".into()),
        ..answer(&s, "z", 2_000)
    };
    for bad in [too_many_tokens, far_future, nul_model] {
        assert!(matches!(
            store
                .append_messages(&[message(&s, "ok", 1_999), bad])
                .await,
            Err(StoreError::InvalidInput(_))
        ));
    }
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), []);
    store.close().await;
}

/// Appenders racing on one session take turns: seq runs 1..=n with no
/// duplicate and no gap, and each appender's messages keep their order.
pub async fn concurrent_appenders_get_contiguous_seq(db: TestDb) {
    const APPENDERS: usize = 8;
    const BATCHES: usize = 15;
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for appender in 0..APPENDERS {
        let store = store.clone();
        let s = s.clone();
        tasks.spawn(async move {
            for batch in 0..BATCHES {
                let text = format!("{appender}/{batch}");
                let records = vec![message(&s, &text, 2_000), answer(&s, &text, 2_001)];
                store.append_messages(&records).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let total = APPENDERS * BATCHES * 2;
    assert_eq!(db.seqs(s.id).await, (1..=total as i64).collect::<Vec<_>>());
    let stored = store.session_messages(s.id, total as u32).await.unwrap();
    assert_eq!(stored.len(), total);
    let mut next_batch: HashMap<usize, usize> = HashMap::new();
    for pair in stored.chunks(2) {
        // A batch is one transaction, so its two messages stay adjacent.
        assert_eq!(pair[0].message.role, Role::User);
        assert_eq!(pair[0].message.text(), pair[1].message.text());
        let text = pair[0].message.text();
        let (appender, batch) = text.split_once('/').unwrap();
        let expected = next_batch.entry(appender.parse().unwrap()).or_insert(0);
        assert_eq!(batch.parse::<usize>().unwrap(), *expected);
        *expected += 1;
    }
    store.close().await;
}

pub async fn unicode_and_large_content_round_trip(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let tricky = "héllo wörld — 你好，世界 — مرحبا بالعالم — 👩‍👩‍👧‍👦🏳️‍🌈 — e\u{301} — \
                  tab\tnew\nline \"quoted\" \\back\\ — nul\u{0}byte — \u{7f}\u{1b}[0m — \u{10ffff}";
    let large: String = "0123456789abcdef→✓🦀".repeat(64 * 1024);
    let records = vec![
        message(&s, tricky, 2_000),
        MessageRecord {
            message: Message {
                role: Role::User,
                content: Some(Content::Parts(vec![
                    ContentPart::Text {
                        text: "what is in this picture? 🖼️".into(),
                    },
                    ContentPart::ImageUrl {
                        image_url: ImageUrl {
                            url: format!("data:image/png;base64,{}", "iVBORw0KGgo=".repeat(4096)),
                            detail: Some("high".into()),
                        },
                    },
                ])),
                tool_calls: Vec::new(),
                tool_call_id: None,
                name: Some("ünïcødé-user".into()),
            },
            ..message(&s, "", 2_001)
        },
        MessageRecord {
            message: Message {
                role: Role::Assistant,
                content: Some(Content::Text(tricky.into())),
                tool_calls: vec![ToolCall {
                    id: "call_ü".into(),
                    name: "write".into(),
                    arguments: json!({"path": "日本語.md", "text": tricky}).to_string(),
                }],
                tool_call_id: None,
                name: None,
            },
            ..answer(&s, "", 2_002)
        },
        answer(&s, &large, 2_003),
    ];
    assert!(records[3].message.text().len() > 1_500_000);
    store.append_messages(&records).await.unwrap();
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), records);
    let id: MessageId = records[0].id;
    let page = store
        .device_history(&device("desktop-1"), &Default::default())
        .await
        .unwrap();
    assert_eq!(page.messages.last().map(|m| m.id), Some(id));
    store.close().await;
}

pub async fn batch_creates_sessions_with_their_messages(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    let batch = Batch {
        sessions: vec![s.clone()],
        messages: vec![message(&s, "first", 2_000), answer(&s, "reply", 2_001)],
    };
    store.append(&batch).await.unwrap();
    assert_eq!(store.session(s.id).await.unwrap().unwrap().title, s.title);
    let texts: Vec<String> = store
        .session_messages(s.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.message.text())
        .collect();
    assert_eq!(texts, ["first", "reply"]);
    // Re-sending the whole batch changes nothing.
    store.append(&batch).await.unwrap();
    assert_eq!(store.session_messages(s.id, 10).await.unwrap().len(), 2);
    // Through the writer, too.
    let t = session("desktop-1");
    let writer = store.writer(Default::default());
    let committed = writer
        .submit_batch(Batch {
            sessions: vec![t.clone()],
            messages: vec![message(&t, "via writer", 3_000)],
        })
        .await
        .unwrap();
    committed.await.unwrap();
    writer.close().await;
    assert_eq!(store.session_messages(t.id, 10).await.unwrap().len(), 1);
    store.close().await;
}

/// One batch with a new and an existing session, more messages than one
/// statement binds, a re-sent id and an id twice: every message lands once,
/// seq runs without gaps per session, and both sessions move forward.
pub async fn large_batch_mixes_new_and_existing_sessions(db: TestDb) {
    let store = db.open().await;
    let old = session("desktop-1");
    store.create_session(&old).await.unwrap();
    let first = message(&old, "already there", 1_000);
    store
        .append_messages(std::slice::from_ref(&first))
        .await
        .unwrap();

    let new = session("desktop-2");
    let mut messages = vec![first.clone()];
    for i in 0..1_100 {
        messages.push(message(&old, &format!("old {i}"), 2_000 + i));
    }
    for i in 0..1_200 {
        messages.push(answer(&new, &format!("new {i}"), 5_000 + i));
    }
    messages.push(messages[1].clone());
    store
        .append(&Batch {
            sessions: vec![new.clone(), old.clone()],
            messages,
        })
        .await
        .unwrap();

    assert_eq!(db.seqs(old.id).await, (1..=1_101).collect::<Vec<i64>>());
    assert_eq!(db.seqs(new.id).await, (1..=1_200).collect::<Vec<i64>>());
    let newest = store.session_messages(new.id, 1).await.unwrap();
    assert_eq!(newest[0].message.text(), "new 1199");
    assert_eq!(
        store.session(old.id).await.unwrap().unwrap().updated_ms,
        3_099
    );
    assert_eq!(
        store.session(new.id).await.unwrap().unwrap().updated_ms,
        6_199
    );
    let seen = |name: &str| {
        let store = store.clone();
        let id = device(name);
        async move { store.device_state(&id).await.unwrap().unwrap().last_seen_ms }
    };
    assert_eq!(seen("desktop-1").await, 3_099);
    assert_eq!(seen("desktop-2").await, 6_199);

    // A new session whose message id is already stored in another session
    // would get a gap in its seq: the batch is refused and nothing is kept.
    let third = session("desktop-3");
    let mut stolen = first.clone();
    stolen.session_id = third.id;
    let error = store
        .append(&Batch {
            sessions: vec![third.clone()],
            messages: vec![stolen, message(&third, "fresh", 9_000)],
        })
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    assert!(store.session(third.id).await.unwrap().is_none());
    store.close().await;
}
