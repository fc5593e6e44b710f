//! The PostgreSQL backend, for several nodes sharing one database.
//!
//! Appenders serialise per session on the session row (`SELECT … FOR
//! UPDATE`), not on the whole database, so nodes writing different sessions
//! never wait for each other. Migrations take sqlx's advisory lock, so nodes
//! starting together apply them once.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use baton_core::{DeviceId, MessageId, SessionId};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::query::QueryAs;
use sqlx::{ConnectOptions, Connection, Postgres, QueryBuilder, Row, Transaction};
use uuid::Uuid;

use crate::append::{self, Advance, AppendTx, NewSession};
use crate::cursor::HistoryCursor;
use crate::error::StoreError;
use crate::records::{DeviceState, MessageRecord, Session};
use crate::rows::{
    DeviceColumns, MessageColumns, SessionColumns, StoredDevice, StoredMessage, StoredSession,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long an operation waits for a pooled connection (or, at connect, for
/// the server to accept one) before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const MAX_CONNECTIONS: u32 = 10;
/// A pooled connection idle for this long is pinged before it is handed
/// out, so one the server dropped meanwhile (a restart, a failover) is
/// replaced instead of failing its next query. A busy engine's connections
/// go back and forth within microseconds, and a ping on every hand-out was
/// a round trip per statement.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The message columns `message_from_row` reads.
macro_rules! message_columns {
    () => {
        "id, session_id, device_id, message::text AS message, model, \
            prompt_tokens, completion_tokens, cost_usd, latency_ms, created_at, hlc"
    };
}

/// The device state columns `device_from_row` reads.
macro_rules! device_columns {
    () => {
        "device_id, status, context_version, last_seen, metadata::text AS metadata, \
            updated_hlc"
    };
}

/// A pool on one PostgreSQL database.
#[derive(Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// Connections of the store's own, outside the pool, for the workflow
    /// engine's hot paths (see [`PgStore::fetch_on_own`]).
    completions: Arc<OwnConnection>,
    event_reads: Arc<OwnConnection>,
    submissions: Arc<OwnConnection>,
    claims: Arc<OwnConnection>,
}

/// The hot paths that have a connection of their own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Own {
    /// A worker's completion batches, one after another.
    Completions,
    /// Watchers' reads of a run's events, one per step.
    EventReads,
    /// New runs, each waited for by whoever submits it.
    Submissions,
    /// Idle workers' claims.
    Claims,
}

/// One connection outside the pool, made on first use; `None` while it is
/// not made, or after a query on it failed.
#[derive(Default)]
struct OwnConnection(tokio::sync::Mutex<Option<PgConnection>>);

impl PgStore {
    /// Connects to a `postgres:` or `postgresql:` URL and brings the schema
    /// up to date.
    pub async fn connect_url(url: &str) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore {
            pool,
            completions: Arc::default(),
            event_reads: Arc::default(),
            submissions: Arc::default(),
            claims: Arc::default(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `query` on the store's own connection for `lane` when no one
    /// else is using it, else on the pool. sqlx pings every pooled
    /// connection as it goes back (a round trip, always) and hands
    /// connections over between tasks, and a chain step waited on that:
    /// alternated on the fsync-off test cluster, completions on their own
    /// connection took the step from 1.22–1.24 to 0.68–0.93 ms, and event
    /// reads on theirs from 0.75–0.94 to 0.65–0.85 ms (fan1000 0.14–0.20 →
    /// 0.14–0.17 ms a task). The connection is made on first use and put
    /// back only after a query that went through: one that failed, or whose
    /// caller stopped waiting mid-way, is dropped, and the next use connects
    /// afresh.
    pub async fn fetch_on_own<'q, O>(
        &self,
        lane: Own,
        query: QueryAs<'q, Postgres, O, PgArguments>,
    ) -> Result<Vec<O>, StoreError>
    where
        O: Send + Unpin + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        let own = match lane {
            Own::Completions => &self.completions,
            Own::EventReads => &self.event_reads,
            Own::Submissions => &self.submissions,
            Own::Claims => &self.claims,
        };
        let Ok(mut slot) = own.0.try_lock() else {
            return Ok(query.fetch_all(&self.pool).await?);
        };
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.pool.connect_options().connect().await?,
        };
        let rows = query.fetch_all(&mut conn).await?;
        *slot = Some(conn);
        Ok(rows)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        for own in [
            &self.completions,
            &self.event_reads,
            &self.submissions,
            &self.claims,
        ] {
            if let Some(conn) = own.0.lock().await.take() {
                let _ = conn.close().await;
            }
        }
    }

    pub async fn put_device_state(
        &self,
        row: &DeviceColumns<'_>,
    ) -> Result<DeviceState, StoreError> {
        let state = row.state;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO device_state \
                 (device_id, last_seen, status, context_version, updated_hlc, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6::jsonb) \
             ON CONFLICT (device_id) DO UPDATE SET \
                 last_seen = GREATEST(device_state.last_seen, excluded.last_seen), \
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
        .fetch_optional(&self.pool)
        .await?
        .map(|row| device_from_row(&row)?.into_state())
        .transpose()
    }

    /// Inserts the session unless its id is taken; returns whether it did.
    pub async fn insert_session(&self, row: &SessionColumns<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = tx.insert_sessions(&[NewSession::empty(row)]).await?;
        tx.commit().await?;
        Ok(!inserted.is_empty())
    }

    pub async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT id, device_id, title, model, created_at, updated_at, hlc \
             FROM sessions WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        StoredSession {
            id: row.try_get("id")?,
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
        let mut tx = self.pool.begin().await?;
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
        .bind(id.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
            .bind(cursor.id.0),
        };
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(message_from_row)
            .collect()
    }
}

impl AppendTx for Transaction<'_, Postgres> {
    async fn insert_sessions(
        &mut self,
        rows: &[NewSession<'_>],
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(
            "INSERT INTO sessions \
                 (id, device_id, title, model, created_at, updated_at, hlc, last_seq) ",
        );
        query.push_values(rows, |mut b, row| {
            let s = row.columns.session;
            b.push_bind(s.id.0)
                .push_bind(s.device_id.as_str())
                .push_bind(s.title.as_deref())
                .push_bind(s.model.as_deref())
                .push_bind(s.created_ms)
                .push_bind(row.updated_ms)
                .push_bind(row.columns.hlc)
                .push_bind(row.last_seq);
        });
        query.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
        Ok(query
            .build_query_scalar::<Uuid>()
            .fetch_all(&mut **self)
            .await?
            .into_iter()
            .map(SessionId)
            .collect())
    }

    async fn lock_sessions(
        &mut self,
        ids: &[SessionId],
    ) -> Result<Vec<(SessionId, i64)>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        Ok(sqlx::query_as::<_, (Uuid, i64)>(
            "SELECT id, last_seq FROM sessions WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .fetch_all(&mut **self)
        .await?
        .into_iter()
        .map(|(id, seq)| (SessionId(id), seq))
        .collect())
    }

    async fn stored_messages(&mut self, ids: &[MessageId]) -> Result<Vec<MessageId>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        Ok(
            sqlx::query_scalar::<_, Uuid>("SELECT id FROM messages WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&mut **self)
                .await?
                .into_iter()
                .map(MessageId)
                .collect(),
        )
    }

    async fn insert_messages(
        &mut self,
        rows: &[(&MessageColumns<'_>, i64)],
    ) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(
            "INSERT INTO messages (id, session_id, seq, device_id, role, content, model, \
                 message, prompt_tokens, completion_tokens, cost_usd, latency_ms, hlc, created_at) ",
        );
        query.push_values(rows, |mut b, (row, seq)| {
            let r = row.record;
            b.push_bind(r.id.0)
                .push_bind(r.session_id.0)
                .push_bind(*seq)
                .push_bind(r.device_id.as_str())
                .push_bind(row.role)
                .push_bind(row.content.as_str())
                .push_bind(r.model.as_deref())
                .push_bind(row.message.as_str())
                .push_unseparated("::json")
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
        let mut query = QueryBuilder::<Postgres>::new(
            "UPDATE sessions SET last_seq = advance.last_seq, \
                 updated_at = GREATEST(sessions.updated_at, advance.updated_ms) FROM (",
        );
        query.push_values(rows, |mut b, row| {
            b.push_bind(row.id.0)
                .push_bind(row.last_seq)
                .push_bind(row.updated_ms);
        });
        query.push(") AS advance (id, last_seq, updated_ms) WHERE sessions.id = advance.id");
        query.build().execute(&mut **self).await?;
        Ok(())
    }

    async fn touch_devices(&mut self, rows: &[(&DeviceId, i64)]) -> Result<(), StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(
            "INSERT INTO device_state (device_id, last_seen, status) ",
        );
        query.push_values(rows, |mut b, (id, seen_ms)| {
            b.push_bind(id.as_str())
                .push_bind(*seen_ms)
                .push_bind("unknown");
        });
        query.push(
            " ON CONFLICT (device_id) DO UPDATE SET \
                 last_seen = GREATEST(device_state.last_seen, excluded.last_seen)",
        );
        query.build().execute(&mut **self).await?;
        Ok(())
    }
}

fn device_from_row(row: &PgRow) -> Result<StoredDevice, StoreError> {
    Ok(StoredDevice {
        device_id: row.try_get("device_id")?,
        status: row.try_get("status")?,
        context_version: row.try_get("context_version")?,
        last_seen: row.try_get("last_seen")?,
        metadata: row.try_get("metadata")?,
        updated_hlc: row.try_get("updated_hlc")?,
    })
}

fn message_from_row(row: &PgRow) -> Result<MessageRecord, StoreError> {
    StoredMessage {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
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
