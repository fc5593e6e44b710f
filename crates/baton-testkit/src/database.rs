//! A fresh database for one test, on either store backend, so that every
//! suite that touches storage runs on SQLite and on PostgreSQL alike.

use sqlx::{Connection, Executor, PgConnection};

/// A database made for one test. A PostgreSQL one is dropped when this
/// value is, even when the test panicked.
pub struct TestDatabase {
    url: String,
    postgres: Option<PostgresDb>,
    _dir: Option<tempfile::TempDir>,
}

struct PostgresDb {
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A SQLite file in a fresh temporary directory (in a subdirectory that
    /// does not exist yet, so opening must create it).
    pub async fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("data").join("baton.db");
        TestDatabase {
            url: format!("sqlite://{}", path.display()),
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database on the server named by
    /// `BATON_TEST_DATABASE_URL`, or `None` (after printing a skip line for
    /// `test`) when that is unset. With `BATON_REQUIRE_POSTGRES=1` an unset
    /// URL fails the test instead of skipping it.
    pub async fn postgres(test: &str) -> Option<TestDatabase> {
        let admin_url = match std::env::var("BATON_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var("BATON_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "BATON_REQUIRE_POSTGRES=1 but BATON_TEST_DATABASE_URL is not set \
                     (run `eval \"$(scripts/test-postgres.sh start)\"`)"
                );
                println!("skipped {test} on postgres: BATON_TEST_DATABASE_URL is not set");
                return None;
            }
        };
        let name = format!("baton_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to BATON_TEST_DATABASE_URL: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating the test database: {e}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("BATON_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(TestDatabase {
            url: url.to_string(),
            postgres: Some(PostgresDb { admin_url, name }),
            _dir: None,
        })
    }

    /// A handle on a database another handle owns (it is not dropped by
    /// this one).
    pub fn existing(url: &str) -> TestDatabase {
        TestDatabase {
            url: url.to_owned(),
            postgres: None,
            _dir: None,
        }
    }

    /// The URL to give `Store::connect` or `--database`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        !self.url.starts_with("sqlite:")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(db) = self.postgres.take() else {
            return;
        };
        // Drop may run inside a runtime (or during a panic): a thread with a
        // runtime of its own can always block on the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for database cleanup");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&db.admin_url).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name).as_str(),
                        )
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
