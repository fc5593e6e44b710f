//! Appending messages: the one algorithm both backends run, so that the
//! ordering guarantee lives in one place.
//!
//! A batch is appended in one transaction with a fixed, small number of
//! statements whatever its size, because every statement is a round trip
//! (to the SQLite worker thread or to the PostgreSQL server) and those
//! round trips, not the rows, are what recording costs:
//!
//! 1. the batch's new sessions are inserted already advanced to the seq and
//!    `updated_at` their messages will give them; the ids actually stored
//!    come back. A session that was new has no messages yet, so its
//!    messages take seqs 1, 2, … without reading anything;
//! 2. sessions that already existed are locked (in id order, so that two
//!    batches touching the same sessions cannot deadlock) and their last
//!    seq read; messages of theirs already stored are looked up and skipped
//!    (re-sending is a no-op);
//! 3. all new messages are inserted at their seqs in one statement, the
//!    existing sessions advanced in one more, and the devices whose messages
//!    were stored get `last_seen` moved forward in a last one.
//!
//! Because the locks are held until commit, concurrent appenders to one
//! session take turns and seq has no duplicates and no gaps. A message id
//! stored meanwhile in another session would leave a gap, so the insert
//! checks its count and refuses the batch instead.

use std::collections::{BTreeMap, HashSet};

use baton_core::{DeviceId, MessageId, SessionId};

use crate::error::StoreError;
use crate::rows::{MessageColumns, SessionColumns};

/// Rows bound by one statement at most: 1,000 rows of 14 columns stay under
/// both SQLite's (32,766) and PostgreSQL's (65,535) limit on parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// A session to create, with the seq and `updated_at` it has once the
/// batch's messages are in.
pub(crate) struct NewSession<'a> {
    pub columns: &'a SessionColumns<'a>,
    pub last_seq: i64,
    pub updated_ms: i64,
}

impl<'a> NewSession<'a> {
    /// The session as it is before any message.
    pub fn empty(columns: &'a SessionColumns<'a>) -> Self {
        NewSession {
            columns,
            last_seq: 0,
            updated_ms: columns.session.updated_ms,
        }
    }
}

/// An existing session's new last seq and newest message time.
pub(crate) struct Advance {
    pub id: SessionId,
    pub last_seq: i64,
    pub updated_ms: i64,
}

/// The statements an append needs, run by a backend inside one open
/// transaction. Each takes a whole slice (at most [`ROWS_PER_STATEMENT`]
/// rows) and is one round trip.
pub(crate) trait AppendTx {
    /// Stores the sessions whose ids are free; returns the ids it stored.
    async fn insert_sessions(
        &mut self,
        rows: &[NewSession<'_>],
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Locks the sessions against other appenders until commit and returns
    /// the last seq of each that exists.
    async fn lock_sessions(
        &mut self,
        ids: &[SessionId],
    ) -> Result<Vec<(SessionId, i64)>, StoreError>;

    /// Which of `ids` are stored messages.
    async fn stored_messages(&mut self, ids: &[MessageId]) -> Result<Vec<MessageId>, StoreError>;

    /// Stores each message at its seq unless its id is taken; returns how
    /// many it stored.
    async fn insert_messages(
        &mut self,
        rows: &[(&MessageColumns<'_>, i64)],
    ) -> Result<u64, StoreError>;

    /// Records each session's new last seq and moves its `updated_at`
    /// forward (never back).
    async fn advance_sessions(&mut self, rows: &[Advance]) -> Result<(), StoreError>;

    /// Moves each device's `last_seen` forward, creating its state row
    /// (status `unknown`, stamp zero) if the device never reported.
    async fn touch_devices(&mut self, rows: &[(&DeviceId, i64)]) -> Result<(), StoreError>;
}

/// Creates `sessions` (skipping ids already stored) and appends `batch`
/// through `tx`; the caller commits.
pub(crate) async fn append(
    tx: &mut impl AppendTx,
    sessions: &[SessionColumns<'_>],
    batch: &[MessageColumns<'_>],
) -> Result<(), StoreError> {
    let mut unique = HashSet::with_capacity(batch.len());
    let mut by_session: BTreeMap<SessionId, Vec<&MessageColumns<'_>>> = BTreeMap::new();
    for row in batch {
        if unique.insert(row.record.id) {
            by_session
                .entry(row.record.session_id)
                .or_default()
                .push(row);
        }
    }

    let mut offered = HashSet::with_capacity(sessions.len());
    let mut new_sessions: Vec<NewSession<'_>> = sessions
        .iter()
        .filter(|s| offered.insert(s.session.id))
        .map(|columns| {
            let rows = by_session.get(&columns.session.id);
            let newest = rows
                .into_iter()
                .flatten()
                .map(|r| r.record.created_ms)
                .max();
            NewSession {
                columns,
                last_seq: rows.map_or(0, |rows| rows.len() as i64),
                updated_ms: newest.map_or(columns.session.updated_ms, |newest| {
                    newest.max(columns.session.updated_ms)
                }),
            }
        })
        .collect();
    // In id order too: two batches inserting the same new sessions then
    // wait on each other's keys in one order and cannot deadlock.
    new_sessions.sort_by_key(|s| s.columns.session.id);
    let mut created = HashSet::with_capacity(new_sessions.len());
    for chunk in new_sessions.chunks(ROWS_PER_STATEMENT) {
        created.extend(tx.insert_sessions(chunk).await?);
    }

    let existing: Vec<SessionId> = by_session
        .keys()
        .filter(|id| !created.contains(id))
        .copied()
        .collect();
    let mut last_seq: BTreeMap<SessionId, i64> = BTreeMap::new();
    let mut stored: HashSet<MessageId> = HashSet::new();
    if !existing.is_empty() {
        for chunk in existing.chunks(ROWS_PER_STATEMENT) {
            last_seq.extend(tx.lock_sessions(chunk).await?);
        }
        if let Some(missing) = existing.iter().find(|id| !last_seq.contains_key(id)) {
            return Err(StoreError::NotFound {
                what: "session",
                id: missing.to_string(),
            });
        }
        let ids: Vec<MessageId> = existing
            .iter()
            .flat_map(|id| &by_session[id])
            .map(|row| row.record.id)
            .collect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            stored.extend(tx.stored_messages(chunk).await?);
        }
    }

    let mut inserts: Vec<(&MessageColumns<'_>, i64)> = Vec::with_capacity(batch.len());
    let mut advances = Vec::new();
    let mut seen: BTreeMap<&DeviceId, i64> = BTreeMap::new();
    for (session, rows) in &by_session {
        let mut seq = last_seq.get(session).copied().unwrap_or(0);
        let mut newest = None;
        for row in rows.iter().filter(|row| !stored.contains(&row.record.id)) {
            seq += 1;
            inserts.push((row, seq));
            let created_ms = row.record.created_ms;
            newest = newest.max(Some(created_ms));
            let device = seen.entry(&row.record.device_id).or_insert(created_ms);
            *device = (*device).max(created_ms);
        }
        if let (Some(updated_ms), false) = (newest, created.contains(session)) {
            advances.push(Advance {
                id: *session,
                last_seq: seq,
                updated_ms,
            });
        }
    }

    let mut inserted = 0;
    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        inserted += tx.insert_messages(chunk).await?;
    }
    if inserted != inserts.len() as u64 {
        return Err(StoreError::Conflict(
            "a message id of this batch is stored in another session".into(),
        ));
    }
    for chunk in advances.chunks(ROWS_PER_STATEMENT) {
        tx.advance_sessions(chunk).await?;
    }
    let devices: Vec<(&DeviceId, i64)> = seen.into_iter().collect();
    for chunk in devices.chunks(ROWS_PER_STATEMENT) {
        tx.touch_devices(chunk).await?;
    }
    Ok(())
}
