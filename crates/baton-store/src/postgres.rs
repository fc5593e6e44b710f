//! The PostgreSQL backend, for several nodes sharing one database.
//!
//! Appenders serialise per session on the session row (`SELECT … FOR
//! UPDATE`), not on the whole database, so nodes writing different sessions
//! never wait for each other. Migrations take sqlx's advisory lock, so nodes
//! starting together apply them once.

use std::str::FromStr;
use std::time::Duration;

use baton_core::{DeviceId, SessionId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::append::{self, AppendTx};
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
}

impl PgStore {
    /// Connects to a `postgres:` or `postgresql:` URL and brings the schema
    /// up to date.
    pub async fn connect_url(url: &str) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
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
        let inserted = tx.insert_session(row).await?;
        tx.commit().await?;
        Ok(inserted)
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
    async fn insert_session(&mut self, row: &SessionColumns<'_>) -> Result<bool, sqlx::Error> {
        let s = row.session;
        let done = sqlx::query(
            "INSERT INTO sessions (id, device_id, title, model, created_at, updated_at, hlc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(s.id.0)
        .bind(s.device_id.as_str())
        .bind(&s.title)
        .bind(&s.model)
        .bind(s.created_ms)
        .bind(s.updated_ms)
        .bind(row.hlc)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn lock_session(&mut self, id: SessionId) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT last_seq FROM sessions WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_optional(&mut **self)
            .await
    }

    async fn insert_message(
        &mut self,
        row: &MessageColumns<'_>,
        seq: i64,
    ) -> Result<bool, sqlx::Error> {
        let r = row.record;
        let done = sqlx::query(
            "INSERT INTO messages (id, session_id, seq, device_id, role, content, model, \
                 message, prompt_tokens, completion_tokens, cost_usd, latency_ms, hlc, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(r.id.0)
        .bind(r.session_id.0)
        .bind(seq)
        .bind(r.device_id.as_str())
        .bind(row.role)
        .bind(&row.content)
        .bind(&r.model)
        .bind(&row.message)
        .bind(row.prompt_tokens)
        .bind(row.completion_tokens)
        .bind(r.cost_usd)
        .bind(row.latency_ms)
        .bind(row.hlc)
        .bind(r.created_ms)
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn advance_session(
        &mut self,
        id: SessionId,
        last_seq: i64,
        updated_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE sessions SET last_seq = $2, updated_at = GREATEST(updated_at, $3) \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(last_seq)
        .bind(updated_ms)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    async fn touch_device(&mut self, id: &DeviceId, seen_ms: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO device_state (device_id, last_seen, status) VALUES ($1, $2, 'unknown') \
             ON CONFLICT (device_id) DO UPDATE SET \
                 last_seen = GREATEST(device_state.last_seen, excluded.last_seen)",
        )
        .bind(id.as_str())
        .bind(seen_ms)
        .execute(&mut **self)
        .await?;
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
