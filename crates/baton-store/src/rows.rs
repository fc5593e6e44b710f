//! Records as column values, both ways, shared by the two backends.
//!
//! Going in, a record is checked against what every backend can keep
//! (PostgreSQL text cannot hold NUL, integer columns are signed 64-bit) so
//! that SQLite and PostgreSQL accept and refuse the same input. Coming out,
//! a row that does not parse back is reported as corrupt rather than
//! silently altered.

use baton_core::{DeviceId, HlcStamp, MessageId, SessionId, Usage};
use uuid::Uuid;

use crate::error::StoreError;
use crate::records::{DeviceState, MessageRecord, Session};

/// A device state ready to bind.
pub(crate) struct DeviceColumns<'a> {
    pub state: &'a DeviceState,
    pub hlc: i64,
    pub metadata: String,
}

impl<'a> DeviceColumns<'a> {
    pub fn new(state: &'a DeviceState) -> Result<Self, StoreError> {
        check_text("device status", &state.status)?;
        if json_has_nul(&state.metadata) {
            return Err(StoreError::InvalidInput(
                "device metadata must not contain NUL characters".into(),
            ));
        }
        Ok(DeviceColumns {
            state,
            hlc: hlc_column(state.hlc)?,
            metadata: state.metadata.to_string(),
        })
    }
}

/// A device state row as read.
pub(crate) struct StoredDevice {
    pub device_id: String,
    pub status: String,
    pub context_version: i64,
    pub last_seen: i64,
    pub metadata: String,
    pub updated_hlc: i64,
}

impl StoredDevice {
    pub fn into_state(self) -> Result<DeviceState, StoreError> {
        Ok(DeviceState {
            device_id: device_id_column(&self.device_id)?,
            status: self.status,
            context_version: self.context_version,
            last_seen_ms: self.last_seen,
            metadata: serde_json::from_str(&self.metadata)
                .map_err(|e| StoreError::corrupt(format!("device metadata: {e}")))?,
            hlc: hlc_from_column(self.updated_hlc)?,
        })
    }
}

/// A session ready to bind.
pub(crate) struct SessionColumns<'a> {
    pub session: &'a Session,
    pub hlc: i64,
}

impl<'a> SessionColumns<'a> {
    pub fn new(session: &'a Session) -> Result<Self, StoreError> {
        if let Some(title) = &session.title {
            check_text("session title", title)?;
        }
        if let Some(model) = &session.model {
            check_text("session model", model)?;
        }
        Ok(SessionColumns {
            session,
            hlc: hlc_column(session.hlc)?,
        })
    }
}

/// A session row as read.
pub(crate) struct StoredSession {
    pub id: Uuid,
    pub device_id: String,
    pub title: Option<String>,
    pub model: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub hlc: i64,
}

impl StoredSession {
    pub fn into_session(self) -> Result<Session, StoreError> {
        Ok(Session {
            id: SessionId(self.id),
            device_id: device_id_column(&self.device_id)?,
            title: self.title,
            model: self.model,
            created_ms: self.created_at,
            updated_ms: self.updated_at,
            hlc: hlc_from_column(self.hlc)?,
        })
    }
}

/// A message ready to bind. `role` and `content` are the seed's readable
/// columns, derived from the message; `message` is its JSON.
pub(crate) struct MessageColumns<'a> {
    pub record: &'a MessageRecord,
    pub role: &'static str,
    pub content: String,
    pub message: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: Option<i64>,
    pub hlc: i64,
}

impl<'a> MessageColumns<'a> {
    pub fn new(record: &'a MessageRecord) -> Result<Self, StoreError> {
        if let Some(model) = &record.model {
            check_text("message model", model)?;
        }
        let message = serde_json::to_string(&record.message)
            .map_err(|e| StoreError::InvalidInput(format!("message {}: {e}", record.id)))?;
        Ok(MessageColumns {
            record,
            role: record.message.role.as_str(),
            content: record.message.text().replace('\0', "\u{fffd}"),
            message,
            prompt_tokens: record
                .usage
                .map(|u| int_column("prompt_tokens", u.prompt_tokens))
                .transpose()?,
            completion_tokens: record
                .usage
                .map(|u| int_column("completion_tokens", u.completion_tokens))
                .transpose()?,
            latency_ms: record
                .latency_ms
                .map(|v| int_column("latency_ms", v))
                .transpose()?,
            hlc: hlc_column(record.hlc)?,
        })
    }
}

/// A message row as read.
pub(crate) struct StoredMessage {
    pub id: Uuid,
    pub session_id: Uuid,
    pub device_id: String,
    pub message: String,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub latency_ms: Option<i64>,
    pub created_at: i64,
    pub hlc: i64,
}

impl StoredMessage {
    pub fn into_record(self) -> Result<MessageRecord, StoreError> {
        let usage = match (self.prompt_tokens, self.completion_tokens) {
            (None, None) => None,
            (prompt, completion) => Some(Usage {
                prompt_tokens: unsigned_column("prompt_tokens", prompt.unwrap_or(0))?,
                completion_tokens: unsigned_column("completion_tokens", completion.unwrap_or(0))?,
            }),
        };
        Ok(MessageRecord {
            id: MessageId(self.id),
            session_id: SessionId(self.session_id),
            device_id: device_id_column(&self.device_id)?,
            message: serde_json::from_str(&self.message)
                .map_err(|e| StoreError::corrupt(format!("message {}: {e}", self.id)))?,
            model: self.model,
            usage,
            cost_usd: self.cost_usd,
            latency_ms: self
                .latency_ms
                .map(|v| unsigned_column("latency_ms", v))
                .transpose()?,
            created_ms: self.created_at,
            hlc: hlc_from_column(self.hlc)?,
        })
    }
}

/// Parses a uuid stored as text (SQLite keeps ids as text).
pub(crate) fn uuid_column(text: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(text).map_err(|e| StoreError::corrupt(format!("id {text:?}: {e}")))
}

pub(crate) fn device_id_column(text: &str) -> Result<DeviceId, StoreError> {
    DeviceId::parse(text).map_err(|e| StoreError::corrupt(e.to_string()))
}

/// An HLC stamp as a signed 64-bit column; stamps past the year 6400 do not fit.
pub(crate) fn hlc_column(stamp: HlcStamp) -> Result<i64, StoreError> {
    i64::try_from(stamp.to_u64())
        .map_err(|_| StoreError::InvalidInput(format!("hlc stamp {stamp} is out of range")))
}

pub(crate) fn hlc_from_column(value: i64) -> Result<HlcStamp, StoreError> {
    u64::try_from(value)
        .map(HlcStamp::from_u64)
        .map_err(|_| StoreError::corrupt(format!("negative hlc stamp {value}")))
}

fn int_column(field: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::InvalidInput(format!("{field} {value} is out of range")))
}

fn unsigned_column(field: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::corrupt(format!("negative {field} {value}")))
}

pub(crate) fn check_text(field: &str, value: &str) -> Result<(), StoreError> {
    if value.contains('\0') {
        Err(StoreError::InvalidInput(format!(
            "{field} must not contain NUL characters"
        )))
    } else {
        Ok(())
    }
}

fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v))
        }
        _ => false,
    }
}
