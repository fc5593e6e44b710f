//! The vocabulary every other baton crate speaks.
//!
//! This crate does no I/O: it holds the types that cross layer boundaries
//! (chat messages, model descriptions, ids, clocks) so that the store, the
//! providers and the faces agree on one shape without depending on each other.

pub mod chat;
pub mod clock;
pub mod ids;
pub mod log_chain;
pub mod model;
pub mod summary;

pub use chat::{
    ChatRequest, ChatResponse, Content, ContentPart, FinishReason, ImageUrl, Message, Role,
    StreamAccumulator, StreamEvent, ToolCall, ToolSpec, Usage,
};
pub use clock::{Hlc, HlcStamp, rfc3339, wall_millis};
pub use ids::{ApprovalId, DeviceId, MessageId, RunId, SessionId, ToolCallId, WorkflowId};
pub use model::{Capabilities, ModelId, ModelIdError, ModelInfo, Pricing};
pub use summary::{head, one_line};
