//! What only the SQLite backend has: opening by path, the file's settings,
//! and in-memory databases.

use baton_store::{Backend, SQLITE_FILE_NAME, Store, StoreError, default_sqlite_path};

use crate::fixtures::{message, session};

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
