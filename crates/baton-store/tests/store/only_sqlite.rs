//! What only the SQLite backend has: opening by path, the file's settings,
//! and in-memory databases.

use baton_core::Hlc;
use baton_store::{Backend, NewLogEntry, SQLITE_FILE_NAME, Store, StoreError, default_sqlite_path};

use crate::fixtures::{device, message, session};

#[tokio::test]
async fn open_sqlite_creates_the_file_and_its_directories_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = default_sqlite_path(&dir.path().join("a").join("b"));
    assert!(path.ends_with(SQLITE_FILE_NAME));
    let store = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(path.is_file());
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    store
        .append_messages(&[message(&s, "hi", 1)])
        .await
        .unwrap();

    let probe = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&probe)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    probe.close().await;
    store.close().await;

    let again = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(again.session_messages(s.id, 5).await.unwrap().len(), 1);
    again.close().await;
}

#[tokio::test]
async fn in_memory_stores_are_private_and_work() {
    let a = Store::connect("sqlite::memory:").await.unwrap();
    let b = Store::connect("sqlite::memory:").await.unwrap();
    let s = session("desktop-1");
    a.create_session(&s).await.unwrap();
    a.append_messages(&[message(&s, "only in a", 1)])
        .await
        .unwrap();
    assert_eq!(a.session_messages(s.id, 5).await.unwrap().len(), 1);
    assert_eq!(b.session(s.id).await.unwrap(), None);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_invalid_input_without_secrets() {
    for url in [
        "mysql://root:hunter2@db/baton",
        "hunter2",
        "user:hunter2@host/db",
    ] {
        match Store::connect(url).await {
            Err(error @ StoreError::InvalidInput(_)) => {
                assert!(!error.to_string().contains("hunter2"), "{error}");
            }
            other => panic!("{url}: expected InvalidInput, got {other:?}"),
        }
    }
}

/// Two processes on one file (`baton serve` and `baton mcp`): a write that
/// reads before it writes waits for the other process's transaction rather
/// than failing when that one commits. Begun `DEFERRED`, its read would have
/// gone stale and its write failed at once with SQLITE_BUSY; begun
/// `IMMEDIATE`, it takes the write lock first and waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_process_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = default_sqlite_path(dir.path());
    let store = Store::open_sqlite(&path).await.unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE other_process (x); INSERT INTO other_process VALUES (1);")
        .unwrap();
    let append = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .append_log_entry(NewLogEntry {
                    workspace: "/w",
                    text: "## Session: beside another process\n",
                    device_id: &device("desktop-1"),
                    hlc: Hlc::new().now(),
                    created_ms: 1,
                })
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    other.execute_batch("COMMIT").unwrap();
    let entry = append
        .await
        .unwrap()
        .expect("the write waited for the lock");
    assert_eq!(entry.seq, 1);
    store.close().await;
}
