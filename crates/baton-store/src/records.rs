//! The records the store keeps, in the shape the rest of baton uses.
//!
//! Times are unix milliseconds (`*_ms`): one integer that every backend and
//! every device stores and compares the same way. HLC stamps order writes
//! from several devices for sync. The types serialize (and describe their
//! OpenAPI schema) as they are, because the hub API and sync send them.

use baton_core::{DeviceId, HlcStamp, Message, MessageId, SessionId, Usage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a device last reported about itself (the seed's `device_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceState {
    pub device_id: DeviceId,
    /// Free-form status as the device reports it (`online`, `busy`, …).
    /// A device first seen through its messages has status `unknown`.
    pub status: String,
    /// The version of the context the device last loaded, so a hub can tell
    /// whether it is behind.
    pub context_version: i64,
    pub last_seen_ms: i64,
    /// Anything else the device wants to share (capabilities, address).
    pub metadata: serde_json::Value,
    /// When this state was written; a put with an older stamp than the
    /// stored one loses (newer timestamp wins).
    pub hlc: HlcStamp,
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    /// The device that started it; messages from other devices may join.
    pub device_id: DeviceId,
    pub title: Option<String>,
    pub model: Option<String>,
    pub created_ms: i64,
    /// Moves forward to the newest appended message's `created_ms`.
    pub updated_ms: i64,
    pub hlc: HlcStamp,
}

/// One stored message with what it cost. The store assigns its position in
/// the session when it is appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageRecord {
    pub id: MessageId,
    pub session_id: SessionId,
    /// The device that wrote it.
    pub device_id: DeviceId,
    /// The whole message, tool calls included.
    pub message: Message,
    /// The model that produced it, for assistant messages.
    pub model: Option<String>,
    /// Tokens the model call that produced it used, for cost reports.
    pub usage: Option<Usage>,
    /// What that call cost in US dollars, priced when it was made (prices
    /// change; the record keeps what was paid).
    pub cost_usd: Option<f64>,
    /// From the request to the last token, for the scheduler's history.
    pub latency_ms: Option<u64>,
    /// When the writing device created it; a device's history is ordered
    /// by this.
    pub created_ms: i64,
    /// The writing device's stamp, for sync.
    pub hlc: HlcStamp,
}

/// Which page of a device's history to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryPage {
    /// The `next_cursor` of the previous page; `None` for the newest page.
    pub before: Option<String>,
    /// Messages per page, clamped to `1..=HistoryPage::MAX_LIMIT`.
    pub limit: u32,
}

impl HistoryPage {
    /// The largest page the store returns, so one request cannot make it
    /// read a whole device's history into memory.
    pub const MAX_LIMIT: u32 = 500;
    /// The page size when the caller names none: a screenful.
    pub const DEFAULT_LIMIT: u32 = 50;

    /// The page size the store will actually use.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl Default for HistoryPage {
    fn default() -> Self {
        HistoryPage {
            before: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of a device's history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistorySlice {
    pub messages: Vec<MessageRecord>,
    /// Pass as `HistoryPage::before` for the next (older) page; `None` when
    /// this page reaches the oldest message.
    pub next_cursor: Option<String>,
}

/// What one group commit stores: new sessions first, then messages that may
/// belong to them. Lets a caller create a session and its first messages
/// without a synchronous write of its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Sessions to create; one whose id is already stored is left as it is.
    pub sessions: Vec<Session>,
    pub messages: Vec<MessageRecord>,
}

impl From<Vec<MessageRecord>> for Batch {
    fn from(messages: Vec<MessageRecord>) -> Self {
        Batch {
            sessions: Vec::new(),
            messages,
        }
    }
}
