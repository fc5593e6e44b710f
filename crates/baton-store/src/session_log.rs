//! The session log of each workspace: `SESSION_LOG.md`'s entries, in order,
//! hash-chained ([`baton_core::log_chain`]). Appending assigns the next
//! position and chains to the previous entry inside one transaction, so
//! concurrent appenders (several processes, several nodes on PostgreSQL)
//! never share a position or break the chain; nothing is ever rewritten.

use baton_core::log_chain::{GENESIS, entry_hash};
use baton_core::{DeviceId, HlcStamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::rows::{check_text, device_id_column, hlc_column, hlc_from_column};
use crate::store::{BeginWrite, SequenceLock, Store, on_pool};

/// One stored entry of a workspace's session log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub id: String,
    /// The workspace directory the log belongs to.
    pub workspace: String,
    /// Position in the log, from 1.
    pub seq: i64,
    /// The entry exactly as appended to the file.
    pub text: String,
    pub prev_hash: String,
    pub hash: String,
    pub device_id: DeviceId,
    pub hlc: HlcStamp,
    pub created_ms: i64,
}

/// What an appender gives; the store assigns position and hashes.
#[derive(Debug, Clone)]
pub struct NewLogEntry<'a> {
    pub workspace: &'a str,
    pub text: &'a str,
    pub device_id: &'a DeviceId,
    pub hlc: HlcStamp,
    pub created_ms: i64,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    workspace: String,
    seq: i64,
    text: String,
    prev_hash: String,
    hash: String,
    device_id: String,
    hlc: i64,
    created_at: i64,
}

impl EntryRow {
    fn into_entry(self) -> Result<LogEntry, StoreError> {
        Ok(LogEntry {
            device_id: device_id_column(&self.device_id)?,
            hlc: hlc_from_column(self.hlc)?,
            id: self.id,
            workspace: self.workspace,
            seq: self.seq,
            text: self.text,
            prev_hash: self.prev_hash,
            hash: self.hash,
            created_ms: self.created_at,
        })
    }
}

const COLUMNS: &str = "id, workspace, seq, text, prev_hash, hash, device_id, hlc, created_at";

impl Store {
    /// Appends an entry at the end of its workspace's log, chained to the
    /// entry before it; durable when it returns.
    pub async fn append_log_entry(&self, new: NewLogEntry<'_>) -> Result<LogEntry, StoreError> {
        check_text("workspace", new.workspace)?;
        check_text("log entry", new.text)?;
        let hlc = hlc_column(new.hlc)?;
        let id = uuid::Uuid::now_v7().to_string();
        let lock_key = format!("log_entries\n{}", new.workspace);
        let (seq, prev_hash, hash) = on_pool!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            tx.lock_sequence(&lock_key).await?;
            let last: Option<(i64, String)> = sqlx::query_as(
                "SELECT seq, hash FROM log_entries WHERE workspace = $1 \
                     ORDER BY seq DESC LIMIT 1",
            )
            .bind(new.workspace)
            .fetch_optional(&mut *tx)
            .await?;
            let (seq, prev) = match last {
                Some((seq, hash)) => (seq + 1, hash),
                None => (1, GENESIS.to_owned()),
            };
            let hash = entry_hash(&prev, new.text);
            sqlx::query(&format!(
                "INSERT INTO log_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(&id)
            .bind(new.workspace)
            .bind(seq)
            .bind(new.text)
            .bind(&prev)
            .bind(&hash)
            .bind(new.device_id.as_str())
            .bind(hlc)
            .bind(new.created_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            (seq, prev, hash)
        });
        Ok(LogEntry {
            id,
            workspace: new.workspace.to_owned(),
            seq,
            text: new.text.to_owned(),
            prev_hash,
            hash,
            device_id: new.device_id.clone(),
            hlc: new.hlc,
            created_ms: new.created_ms,
        })
    }

    /// Every entry of a workspace's log, in order.
    pub async fn log_entries(&self, workspace: &str) -> Result<Vec<LogEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM log_entries WHERE workspace = $1 ORDER BY seq");
        let rows: Vec<EntryRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql).bind(workspace).fetch_all(pool).await?
        });
        rows.into_iter().map(EntryRow::into_entry).collect()
    }
}
