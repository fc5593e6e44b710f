//! The store handle: one type for both backends, chosen by the database URL.

use std::fmt;
use std::path::{Path, PathBuf};

use baton_core::{DeviceId, SessionId};
use sqlx::sqlite::SqliteConnectOptions;

use crate::cursor::HistoryCursor;
use crate::error::StoreError;
use crate::postgres::PgStore;
use crate::records::{Batch, DeviceState, HistoryPage, HistorySlice, MessageRecord, Session};
use crate::rows::{DeviceColumns, MessageColumns, SessionColumns};
use crate::sqlite::SqliteStore;
use crate::writer::{RecordWriter, WriterOptions};

/// The name of the SQLite database file inside baton's data directory.
pub const SQLITE_FILE_NAME: &str = "baton.db";

/// Where the default SQLite database lives for a data directory.
pub fn default_sqlite_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SQLITE_FILE_NAME)
}

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One embedded file: the single-machine default.
    Sqlite,
    /// A server shared by several nodes.
    Postgres,
}

impl Backend {
    /// The name `baton doctor` and `/health` report.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// baton's database. Cloning is cheap (the clones share pooled
/// connections), so every request handler and worker can hold one.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backends,
}

#[derive(Clone)]
pub(crate) enum Backends {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Runs the same operation on whichever backend the store has.
macro_rules! dispatch {
    ($store:expr, $method:ident ( $($arg:expr),* )) => {
        match &$store.backend {
            Backends::Sqlite(b) => b.$method($($arg),*).await,
            Backends::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens the database a URL names and brings its schema up to date:
    /// `sqlite:///abs/path/baton.db` (file and parent directories created
    /// if missing), `sqlite::memory:` (a private database for tests, in a
    /// scratch directory removed with the last clone of the store), or
    /// `postgres://…` / `postgresql://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Backends::Sqlite(SqliteStore::connect_url(url).await?),
            "postgres" | "postgresql" => Backends::Postgres(PgStore::connect_url(url).await?),
            _ => {
                // Only a plain scheme is echoed: anything else might be a
                // mistyped secret.
                let shown = if scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+')
                {
                    scheme
                } else {
                    "?"
                };
                return Err(StoreError::InvalidInput(format!(
                    "unsupported database URL scheme {shown:?}: use sqlite:, postgres: or postgresql:"
                )));
            }
        };
        Ok(Store { backend })
    }

    /// Opens (creating if missing) the SQLite database file at `path`,
    /// usually [`default_sqlite_path`] of the data directory.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Ok(Store {
            backend: Backends::Sqlite(SqliteStore::connect_file(options, None).await?),
        })
    }

    /// Which engine this store runs on, for health reports and logs.
    pub fn backend(&self) -> Backend {
        match self.backend {
            Backends::Sqlite(_) => Backend::Sqlite,
            Backends::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, ping())
    }

    /// Waits for operations in flight, then closes every connection; later
    /// operations on this store or its clones fail. Close record writers
    /// first so that what they hold is committed.
    pub async fn close(&self) {
        dispatch!(self, close())
    }

    /// Stores what a device reports about itself and returns what is stored
    /// now. The state fields are replaced only if `state.hlc` is not older
    /// than the stored stamp (newer timestamp wins; an equal stamp is a
    /// re-send and replaces); `last_seen` only ever moves forward.
    pub async fn put_device_state(&self, state: &DeviceState) -> Result<DeviceState, StoreError> {
        let row = DeviceColumns::new(state)?;
        dispatch!(self, put_device_state(&row))
    }

    /// What a device last reported, or `None` for a device never seen.
    pub async fn device_state(&self, id: &DeviceId) -> Result<Option<DeviceState>, StoreError> {
        dispatch!(self, device_state(id))
    }

    /// Stores a new session. Creating a session that exists for the same
    /// device is a no-op, so sync can re-send it; an id that another device
    /// already uses is a [`StoreError::Conflict`].
    pub async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let row = SessionColumns::new(session)?;
        if dispatch!(self, insert_session(&row))? {
            return Ok(());
        }
        match self.session(session.id).await? {
            Some(stored) if stored.device_id == session.device_id => Ok(()),
            Some(stored) => Err(StoreError::Conflict(format!(
                "session {} already belongs to device {}",
                session.id, stored.device_id
            ))),
            None => Err(StoreError::Conflict(format!(
                "session {} was removed while it was being created",
                session.id
            ))),
        }
    }

    /// A session by id, or `None` if there is none.
    pub async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        dispatch!(self, session(id))
    }

    /// Appends messages in one transaction: all are stored or none. Each
    /// goes to the end of its session in batch order (the store assigns the
    /// position, so concurrent appenders never collide); a message whose id
    /// is already stored is skipped, so re-sending is harmless. Sessions'
    /// `updated_ms` and devices' `last_seen_ms` move forward to the newest
    /// stored message. An unknown session is [`StoreError::NotFound`].
    pub async fn append_messages(&self, batch: &[MessageRecord]) -> Result<(), StoreError> {
        self.append_parts(&[], batch).await
    }

    /// Creates the batch's sessions (an id already stored is left as it is)
    /// and appends its messages, in one transaction.
    pub async fn append(&self, batch: &Batch) -> Result<(), StoreError> {
        self.append_parts(&batch.sessions, &batch.messages).await
    }

    pub(crate) async fn append_parts(
        &self,
        sessions: &[Session],
        messages: &[MessageRecord],
    ) -> Result<(), StoreError> {
        let sessions = sessions
            .iter()
            .map(SessionColumns::new)
            .collect::<Result<Vec<_>, _>>()?;
        let rows = messages
            .iter()
            .map(MessageColumns::new)
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() && sessions.is_empty() {
            return Ok(());
        }
        dispatch!(self, append(&sessions, &rows))
    }

    /// The last `limit` messages of a session, oldest first: the history a
    /// prompt is built from.
    pub async fn session_messages(
        &self,
        id: SessionId,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut messages = dispatch!(self, latest_session_messages(id, limit))?;
        messages.reverse();
        Ok(messages)
    }

    /// One page of everything a device wrote, newest first. Pages follow
    /// each other without gaps or repeats even while messages are appended.
    pub async fn device_history(
        &self,
        device: &DeviceId,
        page: &HistoryPage,
    ) -> Result<HistorySlice, StoreError> {
        let before = page
            .before
            .as_deref()
            .map(HistoryCursor::decode)
            .transpose()?;
        let limit = page.effective_limit();
        // One extra row tells whether an older page exists.
        let mut messages = dispatch!(self, device_history(device, before, limit + 1))?;
        let next_cursor = if messages.len() > limit as usize {
            messages.truncate(limit as usize);
            messages.last().map(|last| {
                HistoryCursor {
                    created_ms: last.created_ms,
                    id: last.id,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(HistorySlice {
            messages,
            next_cursor,
        })
    }

    /// Starts a background writer that commits submitted messages in
    /// grouped transactions. Must be called inside a Tokio runtime.
    pub fn writer(&self, options: WriterOptions) -> RecordWriter {
        RecordWriter::spawn(self.clone(), options)
    }
}

/// Shows the backend only: connection options hold the password.
impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$pool` bound to the store's pool for `$role` (`read`
/// or `write`; PostgreSQL has one pool for both): one SQL text for both
/// backends, type-checked once per backend.
macro_rules! on_pool {
    ($store:expr, $role:ident, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backends::Sqlite(sqlite) => {
                let held = on_pool!(@sqlite sqlite, $role);
                let $pool = &*held;
                $body
            }
            $crate::store::Backends::Postgres(pg) => {
                let $pool = pg.pool();
                $body
            }
        }
    };
    (@sqlite $s:ident, read) => { $s.reader() };
    (@sqlite $s:ident, write) => { $s.writer().await };
}
pub(crate) use on_pool;

/// Begins a write transaction. On SQLite it is `IMMEDIATE`: it holds the
/// write lock from its first statement, so it never has to turn a read into
/// a write, which fails at once with SQLITE_BUSY (whatever the busy timeout)
/// when another process committed in between: `baton mcp` and `baton serve`
/// on one database file did exactly that. A plain `BEGIN` on PostgreSQL.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;

    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Serialises the writers that take the next position of one sequence (a
/// log entry, a document version) for the rest of their transaction, so
/// none of them reads a position another is about to take. SQLite's single
/// writer connection already does; PostgreSQL takes a transaction-scoped
/// advisory lock on a hash of `key` (a collision only serialises two
/// sequences that could have run side by side).
pub(crate) trait SequenceLock {
    fn lock_sequence(
        &mut self,
        key: &str,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

impl SequenceLock for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn lock_sequence(&mut self, _key: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl SequenceLock for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn lock_sequence(&mut self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}
