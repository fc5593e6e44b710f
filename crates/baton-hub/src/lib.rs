//! The hub service: the one place that runs a conversation and keeps its
//! records. The CLI, the HTTP API and (later) MCP all call these functions,
//! so every face behaves the same and none holds business logic.

mod completions;
mod conversation;
mod devices;
mod error;
mod hub;
mod memory_log;
mod recording;

pub use baton_core::rfc3339;
pub use completions::CallContext;
pub use conversation::{ChatInput, ChatOutput, HubEvent, HubStream};
pub use devices::DeviceReport;
pub use error::HubError;
pub use hub::{Hub, HubParts};
pub use memory_log::{MemoryLog, MemoryLogEntry};
