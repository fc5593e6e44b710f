//! baton's storage adapter: sessions, messages and device state, on
//! embedded SQLite (the local-first default: one `baton.db` file in the
//! data directory) or PostgreSQL (several nodes sharing one database).
//!
//! Both backends have the same schema, run the same migrations at connect
//! and pass the same test suite, so the rest of baton never asks which one
//! it has. Writes are durable when they return: SQLite commits with
//! `synchronous = FULL`, and the [`RecordWriter`] groups many small appends
//! into one commit so that durability stays cheap on the request path.

mod append;
mod cursor;
mod documents;
mod error;
mod memories;
mod postgres;
mod records;
mod rows;
mod runs;
mod session_log;
mod sqlite;
mod sqlite_thread;
mod store;
mod workflows;
mod writer;

pub use documents::{DocumentVersion, NewDocumentVersion};
pub use error::StoreError;
pub use memories::{
    MAX_QUERY_TERMS, Memory, MemoryVector, NewMemory, STOPWORDS, StoredVector, query_terms,
};
pub use records::{Batch, DeviceState, HistoryPage, HistorySlice, MessageRecord, Session};
pub use runs::{
    AgentRun, Approval, ApprovalAnswer, ApprovalScope, ApprovalStatus, CallResult, CallState,
    Intent, RunProgress, RunStatus, ToolCallRecord,
};
pub use session_log::{LogEntry, NewLogEntry};
pub use store::{Backend, SQLITE_FILE_NAME, Store, default_sqlite_path};
pub use workflows::{
    ClaimNext, ClaimRequest, ClaimedTask, CompleteItem, CompletedBatch, Completion, FailureOutcome,
    NewTask, NewWorkflow, TaskFailure, TaskOutcome, TaskState, WORKFLOW_CHANNEL, WorkflowEvent,
    WorkflowListener, WorkflowNote, WorkflowRun, WorkflowStatus, WorkflowTask,
};
pub use writer::{Committed, RecordWriter, WriterOptions};
