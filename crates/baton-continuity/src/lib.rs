//! baton's continuity service: what lets a fresh session behave as if it
//! remembered. So far: the four tiers of seed 001's handoff, created from
//! templates by `baton init`, and the session log (`SESSION_LOG.md`, the
//! fourth tier) with its structured entries, recorded hash-chained in the
//! store so that tampering is found by position.

mod context;
mod entry;
mod error;
mod handoff;
mod session_log;
mod tiers;

pub use context::{
    Context, DEFAULT_BYTES_PER_TOKEN, MAX_BUDGET_TOKENS, MAX_DOCUMENT_BYTES, Part, Source, assemble,
};
pub use entry::Entry;
pub use error::ContinuityError;
pub use handoff::{HandoffReport, RECENT_ENTRIES, handoff};
pub use session_log::{FILE_NAME, MAX_ENTRY_BYTES, Problem, SessionLog, Verification};
pub use tiers::{InitReport, Tier, init, record_tiers, record_version};
