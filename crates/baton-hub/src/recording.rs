//! Turning an exchange into durable records: store rows (through the group
//! committing writer) and `memory_log.jsonl` lines, from one source.

use baton_core::{DeviceId, Message, MessageId, SessionId, Usage, wall_millis};
use baton_store::{Batch, MessageRecord, Session, StoreError};

use crate::hub::Inner;
use crate::memory_log::MemoryLogEntry;

/// The model call that produced an assistant message.
pub(crate) struct CallFacts {
    pub model: String,
    pub usage: Usage,
    pub cost_usd: f64,
    pub latency_ms: u64,
}

/// Messages of one exchange waiting to be recorded.
pub(crate) struct Exchange {
    pub session_id: SessionId,
    pub device_id: DeviceId,
    /// Created in the same transaction as the messages.
    pub new_session: Option<Session>,
    pub records: Vec<MessageRecord>,
}

impl Exchange {
    pub fn new(session_id: SessionId, device_id: DeviceId, new_session: Option<Session>) -> Self {
        Exchange {
            session_id,
            device_id,
            new_session,
            records: Vec::new(),
        }
    }

    fn into_batch(self) -> Batch {
        Batch {
            sessions: self.new_session.into_iter().collect(),
            messages: self.records,
        }
    }

    /// Adds a message; `facts` only for the model's own messages.
    pub fn push(
        &mut self,
        inner: &Inner,
        message: Message,
        facts: Option<&CallFacts>,
    ) -> MessageId {
        let id = MessageId::new();
        self.records.push(MessageRecord {
            id,
            session_id: self.session_id,
            device_id: self.device_id.clone(),
            message,
            model: facts.map(|f| f.model.clone()),
            usage: facts.map(|f| f.usage),
            cost_usd: facts.map(|f| f.cost_usd),
            latency_ms: facts.map(|f| f.latency_ms),
            created_ms: wall_millis() as i64,
            hlc: inner.clock.now(),
        });
        id
    }

    fn log_entries(&self) -> Vec<MemoryLogEntry> {
        self.records
            .iter()
            .map(|r| MemoryLogEntry {
                timestamp: baton_core::rfc3339(r.created_ms),
                message_id: r.id.to_string(),
                session_id: r.session_id.to_string(),
                device_id: r.device_id.to_string(),
                role: r.message.role.as_str().to_owned(),
                content: r.message.text(),
                model: r.model.clone(),
                tool_calls: r.message.tool_calls.clone(),
            })
            .collect()
    }

    /// Records the exchange and waits until the store has committed it.
    pub async fn commit(self, inner: &Inner) -> Result<(), StoreError> {
        inner.memory_log.append(self.log_entries());
        let committed = inner.writer.submit_batch(self.into_batch()).await?;
        committed.await
    }

    /// Records the exchange without waiting (the gateway path: what the
    /// caller is acknowledged is the model's answer, not the record).
    pub fn record_in_background(self, inner: &Inner) {
        inner.memory_log.append(self.log_entries());
        let writer = inner.writer.clone();
        let batch = self.into_batch();
        inner.background.spawn(async move {
            if let Err(e) = writer.defer_batch(batch).await {
                tracing::error!(error = %e, "cannot queue conversation records");
            }
        });
    }
}
