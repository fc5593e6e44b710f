//! baton's continuity service: what lets a fresh session behave as if it
//! remembered. The four tiers of seed 001's handoff, created from
//! templates by `baton init`; the session log (`SESSION_LOG.md`, the
//! fourth tier) with its structured entries, recorded hash-chained in the
//! store so that tampering is found by position; context assembly within
//! a token budget; and the memory manager with hybrid (full-text + vector)
//! recall.

mod context;
mod conversation;
mod embedder;
mod entry;
mod error;
pub mod eval;
mod fusion;
mod get_context;
mod handoff;
mod memory;
mod session_end;
mod session_log;
mod tiers;
mod tokens;
mod vector_index;

pub use context::{Context, MAX_BUDGET_TOKENS, MAX_DOCUMENT_BYTES, Part, Source, assemble};
pub use conversation::{CONVERSATION_CONTEXT_TOKENS, ConversationLoop, remember_exchange};
pub use embedder::Embedder;
pub use entry::Entry;
pub use error::ContinuityError;
pub use fusion::{Fused, RRF_K, fuse};
pub use get_context::{
    ContextRequest, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORIES, MEMORY_SHARE, WorkspaceContext,
    get_context,
};
pub use handoff::{HandoffReport, RECENT_ENTRIES, Writer, handoff, update_briefing};
pub use memory::{
    DEFAULT_RESULTS, EMBED_INPUT_BYTES, MAX_BATCH, MAX_MEMORY_BYTES, MAX_QUERY_BYTES, MAX_RESULTS,
    Memories, MemorySource, NewMemoryText, Recall, Recalled, Remembered,
};
pub use session_end::{SessionRecord, end_session};
pub use session_log::{
    FILE_NAME, MAX_ENTRY_BYTES, Problem, SessionLog, Verification, workspace_key,
};
pub use tiers::{InitReport, Tier, init, read_tier, record_tiers, record_version};
pub use tokens::{DEFAULT_BYTES_PER_TOKEN, SAMPLE_BYTES, TokenCounter};
pub use vector_index::{Neighbour, RERANK_FACTOR, VectorIndex, dot, exact_nearest, normalize};
