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
    #[error(transparent)]
    Store(#[from] baton_store::StoreError),
}
