//! What can go wrong keeping continuity.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ContinuityError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a session log entry: {0}")]
    InvalidEntry(String),
    /// A request outside its limits (a budget, a count).
    #[error("{0}")]
    InvalidRequest(String),
    /// A document that cannot be stored as a tier.
    #[error("{0}")]
    InvalidDocument(String),
    /// A memory or memory query that cannot be used as given.
    #[error("{0}")]
    InvalidMemory(String),
    /// The embedder failed where a vector was required.
    #[error("{0}")]
    Embedding(String),
    /// A model call the operation depends on failed (a model-written
    /// briefing falls back instead; an evaluation cannot).
    #[error("{0}")]
    Model(String),
    #[error(transparent)]
    Store(#[from] baton_store::StoreError),
}
