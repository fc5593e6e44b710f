//! What can go wrong in the store, sorted by whose fault it is, so that a
//! face can answer 4xx for the caller's mistakes and 5xx for baton's own.
//!
//! No message carries a database password: connection URLs are never
//! formatted into errors, and the driver's own messages do not include them.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record the operation depends on does not exist (an append to an
    /// unknown session).
    #[error("{what} {id} not found")]
    NotFound {
        /// The kind of record: `"session"`, `"device"`.
        what: &'static str,
        id: String,
    },
    /// The caller passed something the store cannot keep: a bad cursor, a
    /// NUL character in a text column, a number out of range, an unsupported
    /// database URL.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The write contradicts what is stored (a session id already used by
    /// another device).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A worker wrote for a task it no longer holds: its lease ran out and
    /// the task was given to another, or the run ended. Nothing changed.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The database failed or refused the operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite connection the store's own thread writes with failed or
    /// refused the operation.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The record writer could not take or commit the records: it was
    /// closed, or the database could not be reached for a whole group.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// A stored row that baton cannot read back. It is reported as a
    /// database decode error: the data, not the caller, is at fault.
    pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
        StoreError::Database(sqlx::Error::Decode(what.into().into()))
    }
}
