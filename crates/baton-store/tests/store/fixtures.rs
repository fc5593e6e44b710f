//! Records for the cases to store.

use baton_core::{DeviceId, HlcStamp, Message, MessageId, SessionId, Usage};
use baton_store::{MessageRecord, Session};

pub fn device(name: &str) -> DeviceId {
    DeviceId::parse(name).unwrap()
}

pub fn stamp(millis: u64) -> HlcStamp {
    HlcStamp { millis, counter: 0 }
}

pub fn session(device_name: &str) -> Session {
    Session {
        id: SessionId::new(),
        device_id: device(device_name),
        title: Some("a chat".into()),
        model: Some("ollama/qwen2.5:7b".into()),
        created_ms: 1_000,
        updated_ms: 1_000,
        hlc: stamp(1_000),
    }
}

/// A user message from the session's own device.
pub fn message(session: &Session, text: &str, created_ms: i64) -> MessageRecord {
    MessageRecord {
        id: MessageId::new(),
        session_id: session.id,
        device_id: session.device_id.clone(),
        message: Message::user(text),
        model: None,
        usage: None,
        cost_usd: None,
        latency_ms: None,
        created_ms,
        hlc: stamp(created_ms as u64),
    }
}

/// An assistant answer with what it cost.
pub fn answer(session: &Session, text: &str, created_ms: i64) -> MessageRecord {
    MessageRecord {
        message: Message::assistant(text),
        model: Some("openai/gpt-4o-mini".into()),
        usage: Some(Usage {
            prompt_tokens: 120,
            completion_tokens: 30,
        }),
        cost_usd: Some(0.000_036),
        latency_ms: Some(840),
        ..message(session, text, created_ms)
    }
}
