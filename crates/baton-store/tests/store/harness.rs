//! Where a case runs: a fresh database on one backend, which the case may
//! open (and reopen) as often as it likes.

use std::future::Future;

use baton_core::SessionId;
use baton_store::Store;
use baton_testkit::TestDatabase;

/// The database a case runs against.
pub struct TestDb {
    url: String,
}

impl TestDb {
    /// Opens the database through the public API, running migrations.
    pub async fn open(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening the test store: {e}"))
    }

    /// The seq column of a session, in order, read behind the store's back:
    /// the API does not expose seq, but its invariant is what concurrent
    /// appenders must keep.
    pub async fn seqs(&self, session: SessionId) -> Vec<i64> {
        let sql = "SELECT seq FROM messages WHERE session_id = $1 ORDER BY seq";
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let seqs = sqlx::query_scalar(sql)
                .bind(session.to_string())
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            seqs
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let seqs = sqlx::query_scalar(sql)
                .bind(session.0)
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            seqs
        }
    }
}

impl TestDb {
    /// Runs `sql` behind the store's back: what a person editing the
    /// database by hand (or a bug) could leave there.
    pub async fn execute(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Runs a case on a SQLite file in a fresh temporary directory (in a
/// subdirectory that does not exist yet, so opening must create it).
pub async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDatabase::sqlite().await;
    case(TestDb {
        url: db.url().to_owned(),
    })
    .await;
}

/// Runs a case on a PostgreSQL database made for it alone; the database is
/// dropped afterwards, also when the case fails.
pub async fn on_postgres<F, Fut>(case_name: &str, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDatabase::postgres(case_name).await else {
        return;
    };
    case(TestDb {
        url: db.url().to_owned(),
    })
    .await;
}
