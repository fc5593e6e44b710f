//! Opening, reopening and closing.

use crate::fixtures::{answer, message, session};
use crate::harness::TestDb;

/// Migrations run at every connect; on an up-to-date database they must do
/// nothing and keep what is stored.
pub async fn migrations_are_idempotent_on_reopen(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    store.close().await;

    for _ in 0..2 {
        let store = db.open().await;
        assert_eq!(store.session(s.id).await.unwrap(), Some(s.clone()));
        store.close().await;
    }
}

pub async fn ping_reports_backend(db: TestDb) {
    let store = db.open().await;
    store.ping().await.unwrap();
    let expected = if db_is_sqlite(&store) {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(store.backend().as_str(), expected);
    assert_eq!(
        format!("{:?}", store),
        format!("Store {{ backend: {:?}, .. }}", store.backend())
    );
    store.close().await;
}

fn db_is_sqlite(store: &baton_store::Store) -> bool {
    store.backend() == baton_store::Backend::Sqlite
}

/// What `append_messages` acknowledged is there after the store is closed
/// and opened again.
pub async fn records_survive_reopen(db: TestDb) {
    let store = db.open().await;
    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    let batch = vec![
        message(&s, "remember me", 2_000),
        answer(&s, "I will", 2_001),
    ];
    store.append_messages(&batch).await.unwrap();
    store.close().await;

    let store = db.open().await;
    assert_eq!(store.session_messages(s.id, 10).await.unwrap(), batch);
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().updated_ms,
        2_001
    );
    store.close().await;
}
