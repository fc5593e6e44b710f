//! The SQLite backend: one database file in WAL mode, the default for a
//! single machine.
//!
//! Writes go through a pool of exactly one connection, so in-process writers
//! queue in the pool instead of spinning on SQLite's lock, and every write
//! transaction begins `IMMEDIATE` (`BeginWrite`), so it never has to upgrade
//! a read lock (the cause of SQLITE_BUSY errors that `busy_timeout` cannot
//! wait out, when another process writes the same file). The workflow
//! engine's hot path writes through [`SqliteThread`] instead, a second
//! connection on a thread of its own; both take the store's [`WriteGate`]
//! first, so there is still one writer at a time. Reads use a separate pool of read-only
//! connections, which WAL lets run beside the writer. Commits are
//! `synchronous = FULL`: a committed transaction survives power loss, which
//! "durable before acknowledged" needs and NORMAL does not give in WAL mode.

use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use baton_core::{DeviceId, MessageId, SessionId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::append::{self, Advance, AppendTx, NewSession};
use crate::cursor::HistoryCursor;
use crate::error::StoreError;
use crate::records::{DeviceState, MessageRecord, Session};
use crate::rows::{
    DeviceColumns, MessageColumns, SessionColumns, StoredDevice, StoredMessage, StoredSession,
    uuid_column,
};
use crate::sqlite_thread::{GateGuard, SqliteThread, WriteGate};
use crate::store::BeginWrite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a connection waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read-only connections kept for queries.
const READERS: u32 = 4;

/// The message columns `message_from_row` reads.
macro_rules! message_columns {
    () => {
        "id, session_id, device_id, message, model, prompt_tokens, \
            completion_tokens, cost_usd, latency_ms, created_at, hlc"
    };
}

/// The device state columns `device_from_row` reads.
macro_rules! device_columns {
    () => {
        "device_id, status, context_version, last_seen, metadata, updated_hlc"
    };
}

/// Brings the schema up to date. Two processes that open a new file at the
/// same moment both start migrating; each migration is one transaction, so
/// the one that loses fails whole ("table … already exists") and, tried
/// again, finds the work done.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Pools on one SQLite database, and the engine's write thread.
#[derive(Clone)]
pub(crate) struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    gate: WriteGate,
    thread: SqliteThread,
    /// Where a `sqlite::memory:` store keeps its file; removed with the
    /// last clone.
    _scratch: Option<Arc<tempfile::TempDir>>,
}

/// The write pool, held by one writer at a time (see [`WriteGate`]).
pub(crate) struct Writer<'a> {
    pool: &'a SqlitePool,
    _gate: GateGuard,
}

impl Deref for Writer<'_> {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        self.pool
    }
}

impl SqliteStore {
    /// Opens a `sqlite:` URL: a file (created with its parent directories
    /// if missing) or `sqlite::memory:`.
    pub async fn connect_url(url: &str) -> Result<SqliteStore, StoreError> {
        if is_in_memory(url) {
            Self::connect_scratch().await
        } else {
            Self::connect_file(SqliteConnectOptions::from_str(url)?, None).await
        }
    }

    /// Opens (creating if missing) the database file at `options`' filename.
    pub async fn connect_file(
        options: SqliteConnectOptions,
        scratch: Option<Arc<tempfile::TempDir>>,
    ) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = options.get_filename().parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(sqlx::Error::Io)?;
        }
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // SQLite connections do not go stale the way network ones do: no
        // ping (a round trip to the connection's thread) before each use.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full),
            )
            .await?;
        migrate(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(true))
            .await?;
        let gate = WriteGate::default();
        let thread = SqliteThread::start(options.get_filename(), BUSY_TIMEOUT, gate.clone())?;
        Ok(SqliteStore {
            read,
            write,
            gate,
            thread,
            _scratch: scratch,
        })
    }

    /// `sqlite::memory:`: a private database in a scratch directory, since
    /// the write thread's connection must reach the same database as the
    /// pools (an in-memory database is private to one connection).
    async fn connect_scratch() -> Result<SqliteStore, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("baton-memory-")
            .tempdir()
            .map_err(sqlx::Error::Io)?;
        let options = SqliteConnectOptions::new().filename(dir.path().join("baton.db"));
        Self::connect_file(options, Some(Arc::new(dir))).await
    }

    /// The read-only pool, for queries.
    pub fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// The one-connection pool the writes beside the engine's go through,
    /// once no other writer in this process writes.
    pub async fn writer(&self) -> Writer<'_> {
        Writer {
            pool: &self.write,
            _gate: self.gate.enter().await,
        }
    }

    /// The engine's write thread.
    pub fn thread(&self) -> &SqliteThread {
        &self.thread
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.thread.close().await;
        self.write.close().await;
        self.read.close().await;
    }

    pub async fn put_device_state(
        &self,
        row: &DeviceColumns<'_>,
    ) -> Result<DeviceState, StoreError> {
        let state = row.state;
        let write = self.writer().await;
        let mut tx = write.begin_write().await?;
        sqlx::query(
            "INSERT INTO device_state \
                 (device_id, last_seen, status, context_version, updated_hlc, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (device_id) DO UPDATE SET \
                 last_seen = max(device_state.last_seen, excluded.last_seen), \
                 status = excluded.status, \
                 context_version = excluded.context_version, \
                 updated_hlc = excluded.updated_hlc, \
                 metadata = excluded.metadata \
             WHERE excluded.updated_hlc >= device_state.updated_hlc",
        )
        .bind(state.device_id.as_str())
        .bind(state.last_seen_ms)
        .bind(&state.status)
        .bind(state.context_version)
        .bind(row.hlc)
        .bind(&row.metadata)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE device_state SET last_seen = $2 WHERE device_id = $1 AND last_seen < $2",
        )
        .bind(state.device_id.as_str())
        .bind(state.last_seen_ms)
        .execute(&mut *tx)
        .await?;
        let stored = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM device_state WHERE device_id = $1"
        ))
        .bind(state.device_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        device_from_row(&stored)?.into_state()
    }

    pub async fn device_state(&self, id: &DeviceId) -> Result<Option<DeviceState>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM device_state WHERE device_id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?
        .map(|row| device_from_row(&row)?.into_state())
        .transpose()
    }

    /// Inserts the session unless its id is taken; returns whether it did.
    pub async fn insert_session(&self, row: &SessionColumns<'_>) -> Result<bool, StoreError> {
        let write = self.writer().await;
        let mut tx = write.begin_write().await?;
        let inserted = tx.insert_sessions(&[NewSession::empty(row)]).await?;
        tx.commit().await?;
        Ok(!inserted.is_empty())
    }

    pub async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT id, device_id, title, model, created_at, updated_at, hlc \
             FROM sessions WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        StoredSession {
            id: uuid_column(row.try_get("id")?)?,
            device_id: row.try_get("device_id")?,
            title: row.try_get("title")?,
            model: row.try_get("model")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            hlc: row.try_get("hlc")?,
        }
        .into_session()
        .map(Some)
    }

    pub async fn append(
        &self,
        sessions: &[SessionColumns<'_>],
        batch: &[MessageColumns<'_>],
    ) -> Result<(), StoreError> {
        let write = self.writer().await;
        let mut tx = write.begin_write().await?;
        append::append(&mut tx, sessions, batch).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` messages of a session, newest first.
    pub async fn latest_session_messages(
        &self,
        id: SessionId,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE session_id = $1 \
             ORDER BY seq DESC LIMIT $2"
        ))
        .bind(id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
    }

    /// Up to `limit` of a device's messages, newest first, strictly older
    /// than `before`.
    pub async fn device_history(
        &self,
        device: &DeviceId,
        before: Option<HistoryCursor>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let query = match before {
            None => sqlx::query(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE device_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ))
            .bind(device.as_str())
            .bind(i64::from(limit)),
            Some(cursor) => sqlx::query(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages \
                 WHERE device_id = $1 AND (created_at, id) < ($3, $4) \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ))
            .bind(device.as_str())
            .bind(i64::from(limit))
            .bind(cursor.created_ms)
            .bind(cursor.id.to_string()),
        };
        query
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(message_from_row)
            .collect()
    }
}

impl AppendTx for Transaction<'_, Sqlite> {
    async fn insert_sessions(
        &mut self,
        rows: &[NewSession<'_>],
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO sessions \
                 (id, device_id, title, model, created_at, updated_at, hlc, last_seq) ",
        );
        query.push_values(rows, |mut b, row| {
            let s = row.columns.session;
            b.push_bind(s.id.to_string())
                .push_bind(s.device_id.as_str())
                .push_bind(s.title.as_deref())
                .push_bind(s.model.as_deref())
                .push_bind(s.created_ms)
                .push_bind(row.updated_ms)
                .push_bind(row.columns.hlc)
                .push_bind(row.last_seq);
        });
        query.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        query
            .build_query_scalar::<String>()
            .fetch_all(&mut **self)
            .await?
            .iter()
            .map(|id| Ok(SessionId(uuid_column(id)?)))
            .collect()
    }

    async fn lock_sessions(
        &mut self,
        ids: &[SessionId],
    ) -> Result<Vec<(SessionId, i64)>, StoreError> {
        // The single write connection is the lock: no other writer runs
        // until this transaction ends.
        id_list(
            "SELECT id, last_seq FROM sessions WHERE id IN ",
            ids.iter().map(|id| id.0),
        )
        .build_query_as::<(String, i64)>()
        .fetch_all(&mut **self)
        .await?
        .into_iter()
        .map(|(id, seq)| Ok((SessionId(uuid_column(&id)?), seq)))
        .collect()
    }

    async fn stored_messages(&mut self, ids: &[MessageId]) -> Result<Vec<MessageId>, StoreError> {
        id_list(
            "SELECT id FROM messages WHERE id IN ",
            ids.iter().map(|id| id.0),
        )
        .build_query_scalar::<String>()
        .fetch_all(&mut **self)
        .await?
        .iter()
        .map(|id| Ok(MessageId(uuid_column(id)?)))
        .collect()
    }

    async fn insert_messages(
        &mut self,
        rows: &[(&MessageColumns<'_>, i64)],
    ) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (id, session_id, seq, device_id, role, content, model, \
                 message, prompt_tokens, completion_tokens, cost_usd, latency_ms, hlc, created_at) ",
        );
        query.push_values(rows, |mut b, (row, seq)| {
            let r = row.record;
            b.push_bind(r.id.to_string())
                .push_bind(r.session_id.to_string())
                .push_bind(*seq)
                .push_bind(r.device_id.as_str())
                .push_bind(row.role)
                .push_bind(row.content.as_str())
                .push_bind(r.model.as_deref())
                .push_bind(row.message.as_str())
                .push_bind(row.prompt_tokens)
                .push_bind(row.completion_tokens)
                .push_bind(r.cost_usd)
                .push_bind(row.latency_ms)
                .push_bind(row.hlc)
                .push_bind(r.created_ms);
        });
        query.push(" ON CONFLICT (id) DO NOTHING");
        Ok(query.build().execute(&mut **self).await?.rows_affected())
    }

    async fn advance_sessions(&mut self, rows: &[Advance]) -> Result<(), StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("WITH advance (id, last_seq, updated_ms) AS (");
        query.push_values(rows, |mut b, row| {
            b.push_bind(row.id.to_string())
                .push_bind(row.last_seq)
                .push_bind(row.updated_ms);
        });
        query.push(
            ") UPDATE sessions SET last_seq = advance.last_seq, \
                 updated_at = max(sessions.updated_at, advance.updated_ms) \
             FROM advance WHERE sessions.id = advance.id",
        );
        query.build().execute(&mut **self).await?;
        Ok(())
    }

    async fn touch_devices(&mut self, rows: &[(&DeviceId, i64)]) -> Result<(), StoreError> {
        let mut query =
            QueryBuilder::<Sqlite>::new("INSERT INTO device_state (device_id, last_seen, status) ");
        query.push_values(rows, |mut b, (id, seen_ms)| {
            b.push_bind(id.as_str())
                .push_bind(*seen_ms)
                .push_bind("unknown");
        });
        query.push(
            " ON CONFLICT (device_id) DO UPDATE SET \
                 last_seen = max(device_state.last_seen, excluded.last_seen)",
        );
        query.build().execute(&mut **self).await?;
        Ok(())
    }
}

/// `PREFIX ((?), (?), …)` with each id bound in its text form: the `IN`
/// lists the batched append looks rows up by.
fn id_list(prefix: &str, ids: impl IntoIterator<Item = Uuid>) -> QueryBuilder<'static, Sqlite> {
    let mut query = QueryBuilder::new(prefix);
    query.push_tuples(ids, |mut b, id| {
        b.push_bind(id.to_string());
    });
    query
}

/// Whether a `sqlite:` URL names an in-memory database rather than a file.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn device_from_row(row: &SqliteRow) -> Result<StoredDevice, StoreError> {
    Ok(StoredDevice {
        device_id: row.try_get("device_id")?,
        status: row.try_get("status")?,
        context_version: row.try_get("context_version")?,
        last_seen: row.try_get("last_seen")?,
        metadata: row.try_get("metadata")?,
        updated_hlc: row.try_get("updated_hlc")?,
    })
}

fn message_from_row(row: &SqliteRow) -> Result<MessageRecord, StoreError> {
    StoredMessage {
        id: uuid_column(row.try_get("id")?)?,
        session_id: uuid_column(row.try_get("session_id")?)?,
        device_id: row.try_get("device_id")?,
        message: row.try_get("message")?,
        model: row.try_get("model")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        latency_ms: row.try_get("latency_ms")?,
        created_at: row.try_get("created_at")?,
        hlc: row.try_get("hlc")?,
    }
    .into_record()
}
