//! A thread that owns a second write connection to the SQLite file and runs
//! a whole transaction per hand-off.
//!
//! sqlx runs each statement of a transaction as a round trip to its
//! connection's thread, and pings the connection whenever it goes back to
//! the pool: a workflow step's handful of statements cost some forty thread
//! switches, which was most of the step's time (`perf` showed 58 % of it in
//! the kernel, switching). Here the caller hands the thread one closure;
//! the thread runs `BEGIN IMMEDIATE`, the closure's statements (prepared
//! once and cached) and `COMMIT`, and answers once: two switches a
//! transaction.
//!
//! Writes stay one at a time: the thread and the sqlx write pool both take
//! the store's [`WriteGate`] first, so the two connections never wait on
//! each other's SQLite lock (and never sleep in SQLite's busy handler). The
//! gate is let go only after `COMMIT`, on the thread, even when the caller
//! stopped waiting.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::StoreError;

/// Prepared statements the thread keeps: the engine's hot path uses about
/// a dozen shapes.
const STATEMENT_CACHE: usize = 64;

/// Serialises the store's writers in this process: whoever writes holds it
/// from `BEGIN` to `COMMIT`.
#[derive(Clone, Default)]
pub(crate) struct WriteGate(Arc<tokio::sync::Mutex<()>>);

/// Held while one writer writes.
pub(crate) type GateGuard = tokio::sync::OwnedMutexGuard<()>;

impl WriteGate {
    pub async fn enter(&self) -> GateGuard {
        self.0.clone().lock_owned().await
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The handle to the thread; clones share it.
#[derive(Clone)]
pub(crate) struct SqliteThread {
    /// Taken on close: the thread ends once what was queued is done.
    jobs: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
    /// Taken on close, to wait for the connection to be closed.
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    gate: WriteGate,
}

impl SqliteThread {
    /// Opens `path` (which the sqlx pools already created and migrated) with
    /// the write pool's settings and starts the thread.
    pub fn start(
        path: &Path,
        busy_timeout: Duration,
        gate: WriteGate,
    ) -> Result<SqliteThread, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)?;
        // Same durability as the write pool: a commit survives power loss.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", true)?;
        connection.busy_timeout(busy_timeout)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("baton-sqlite".into())
            .spawn(move || {
                let mut connection = connection;
                for job in queue {
                    job(&mut connection);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("starting the SQLite thread: {e}")))?;
        Ok(SqliteThread {
            jobs: Arc::new(Mutex::new(Some(jobs))),
            thread: Arc::new(Mutex::new(Some(thread))),
            gate,
        })
    }

    /// Runs `work` in one `IMMEDIATE` transaction on the thread and commits
    /// it, or rolls back when `work` fails (or panics: the thread lives on).
    pub async fn transaction<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let gate = self.gate.enter().await;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| commit(connection, work)))
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(
                        "a transaction on the SQLite thread panicked; nothing was committed".into(),
                    ))
                });
            drop(gate);
            let _ = answer.send(result);
        });
        let sent = match &*self.jobs.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(closed());
        }
        answered.await.map_err(|_| closed())?
    }

    /// Lets the thread finish what was queued and waits until it has closed
    /// its connection; later transactions fail.
    pub async fn close(&self) {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn commit<T>(
    connection: &mut Connection,
    work: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = work(&tx)?;
    tx.commit()?;
    Ok(value)
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread on a fresh file with one table, and a way to read it back.
    fn thread(dir: &tempfile::TempDir) -> (SqliteThread, WriteGate, impl Fn() -> Vec<i64>) {
        let path = dir.path().join("t.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL);")
            .unwrap();
        let gate = WriteGate::default();
        let thread = SqliteThread::start(&path, Duration::from_secs(1), gate.clone()).unwrap();
        let read = move || {
            let mut stmt = setup.prepare("SELECT v FROM t ORDER BY v").unwrap();
            stmt.query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<Vec<i64>, _>>()
                .unwrap()
        };
        (thread, gate, read)
    }

    fn insert(tx: &Transaction<'_>, v: i64) -> Result<(), StoreError> {
        tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        Ok(())
    }

    #[tokio::test]
    async fn a_transaction_commits_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (thread, _, read) = thread(&dir);
        let answer = thread
            .transaction(|tx| {
                insert(tx, 1)?;
                insert(tx, 2)?;
                Ok("done")
            })
            .await
            .unwrap();
        assert_eq!(answer, "done");
        assert_eq!(read(), vec![1, 2]);

        let failed = thread
            .transaction(|tx| {
                insert(tx, 3)?;
                Err::<(), _>(StoreError::Conflict("changed my mind".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
        let bad_sql = thread
            .transaction(|tx| {
                insert(tx, 4)?;
                tx.execute("INSERT INTO nowhere VALUES (1)", [])?;
                Ok(())
            })
            .await;
        assert!(matches!(bad_sql, Err(StoreError::Sqlite(_))), "{bad_sql:?}");
        assert_eq!(read(), vec![1, 2], "a failed transaction leaves nothing");
    }

    #[tokio::test]
    async fn a_panic_rolls_back_and_the_thread_lives_on() {
        let dir = tempfile::tempdir().unwrap();
        let (thread, _, read) = thread(&dir);
        let panicked = thread
            .transaction(|tx| -> Result<(), StoreError> {
                insert(tx, 1)?;
                panic!("a bug in a transaction");
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unavailable(_))),
            "{panicked:?}"
        );
        thread.transaction(|tx| insert(tx, 2)).await.unwrap();
        assert_eq!(read(), vec![2]);
    }

    #[tokio::test]
    async fn a_transaction_waits_for_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        let (thread, gate, read) = thread(&dir);
        let held = gate.enter().await;
        let waiting = tokio::spawn({
            let thread = thread.clone();
            async move { thread.transaction(|tx| insert(tx, 1)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "it wrote while another writer held the gate"
        );
        assert!(read().is_empty());
        drop(held);
        waiting.await.unwrap().unwrap();
        assert_eq!(read(), vec![1]);
        // The thread let the gate go after its commit.
        drop(gate.enter().await);
    }

    #[tokio::test]
    async fn a_closed_thread_refuses_work() {
        let dir = tempfile::tempdir().unwrap();
        let (thread, _, read) = thread(&dir);
        thread.close().await;
        let refused = thread.transaction(|tx| insert(tx, 1)).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(read().is_empty());
    }
}
