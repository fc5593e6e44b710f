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
        std::thread::Builder::new()
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

    /// Lets the thread end once what was queued is done; later
    /// transactions fail.
    pub fn close(&self) {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
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
