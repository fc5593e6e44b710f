//! The hub itself: the shared state every call works with.

use baton_config::ChatConfig;
use baton_core::Hlc;
use baton_llm::Gateway;
use baton_store::{RecordWriter, Store};
use std::sync::Arc;
use tokio_util::task::TaskTracker;

use crate::MemoryLog;

/// What a hub is built from; the binary assembles these at start.
pub struct HubParts {
    pub store: Store,
    pub gateway: Gateway,
    pub writer: RecordWriter,
    pub memory_log: MemoryLog,
    pub chat: ChatConfig,
}

/// Cheap to clone; every face holds one.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub gateway: Gateway,
    pub writer: RecordWriter,
    pub memory_log: MemoryLog,
    pub chat: ChatConfig,
    pub clock: Hlc,
    /// Recordings still running after their response went out; shutdown
    /// waits for them before closing the writer.
    pub background: TaskTracker,
}

impl Hub {
    pub fn new(parts: HubParts) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                store: parts.store,
                gateway: parts.gateway,
                writer: parts.writer,
                memory_log: parts.memory_log,
                chat: parts.chat,
                clock: Hlc::new(),
                background: TaskTracker::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    pub fn memory_log(&self) -> &MemoryLog {
        &self.inner.memory_log
    }

    /// The hub's hybrid logical clock, for stamping records written beside
    /// the hub's own (agent transcripts).
    pub fn clock(&self) -> &Hlc {
        &self.inner.clock
    }

    /// Finishes every pending recording, commits every queued record and
    /// syncs the memory log; called last, so that nothing is lost on exit.
    pub async fn shutdown(&self) {
        self.inner.background.close();
        self.inner.background.wait().await;
        self.inner.writer.close().await;
        self.inner.memory_log.flush().await;
    }
}
