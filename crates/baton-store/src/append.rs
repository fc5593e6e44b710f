//! Appending messages: the one algorithm both backends run, so that the
//! ordering guarantee lives in one place.
//!
//! Inside one transaction, after creating the batch's new sessions, for
//! each session of the batch (in id order, so
//! that two batches touching the same sessions lock them in the same order
//! and cannot deadlock): lock the session row, read its last seq, insert
//! each new message at the next seq, skip ids already stored (re-sending is
//! a no-op), and advance the session. Because the lock is held until commit,
//! concurrent appenders to one session take turns and seq has no duplicates
//! and no gaps. Devices whose messages were stored then get `last_seen`
//! moved forward.

use std::collections::BTreeMap;

use baton_core::{DeviceId, SessionId};

use crate::error::StoreError;
use crate::rows::{MessageColumns, SessionColumns};

/// The statements an append needs, run by a backend inside one open
/// transaction.
pub(crate) trait AppendTx {
    /// Stores a session unless its id is taken; returns whether it did.
    async fn insert_session(&mut self, row: &SessionColumns<'_>) -> Result<bool, sqlx::Error>;

    /// Locks the session against other appenders until commit and returns
    /// the seq of its newest message, or `None` if there is no such session.
    async fn lock_session(&mut self, id: SessionId) -> Result<Option<i64>, sqlx::Error>;

    /// Stores one message at `seq` unless a message with its id is stored;
    /// returns whether it was stored.
    async fn insert_message(
        &mut self,
        row: &MessageColumns<'_>,
        seq: i64,
    ) -> Result<bool, sqlx::Error>;

    /// Records the session's new last seq and moves `updated_at` forward to
    /// `updated_ms` (never back).
    async fn advance_session(
        &mut self,
        id: SessionId,
        last_seq: i64,
        updated_ms: i64,
    ) -> Result<(), sqlx::Error>;

    /// Moves the device's `last_seen` forward to `seen_ms`, creating its
    /// state row (status `unknown`, stamp zero) if the device never reported.
    async fn touch_device(&mut self, id: &DeviceId, seen_ms: i64) -> Result<(), sqlx::Error>;
}

/// Creates `sessions` (skipping ids already stored) and appends `batch`
/// through `tx`; the caller commits.
pub(crate) async fn append(
    tx: &mut impl AppendTx,
    sessions: &[SessionColumns<'_>],
    batch: &[MessageColumns<'_>],
) -> Result<(), StoreError> {
    for session in sessions {
        tx.insert_session(session).await?;
    }
    let mut by_session: BTreeMap<SessionId, Vec<&MessageColumns<'_>>> = BTreeMap::new();
    for row in batch {
        by_session
            .entry(row.record.session_id)
            .or_default()
            .push(row);
    }
    let mut seen: BTreeMap<&DeviceId, i64> = BTreeMap::new();
    for (session, rows) in by_session {
        let mut seq = tx
            .lock_session(session)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "session",
                id: session.to_string(),
            })?;
        let mut newest = None;
        for row in rows {
            if tx.insert_message(row, seq + 1).await? {
                seq += 1;
                let created = row.record.created_ms;
                newest = newest.max(Some(created));
                let device = seen.entry(&row.record.device_id).or_insert(created);
                *device = (*device).max(created);
            }
        }
        if let Some(updated_ms) = newest {
            tx.advance_session(session, seq, updated_ms).await?;
        }
    }
    for (device, seen_ms) in seen {
        tx.touch_device(device, seen_ms).await?;
    }
    Ok(())
}
