//! What can go wrong in the engine, sorted by whose fault it is so that a
//! face answers 4xx for the caller's mistakes and 5xx for baton's own.

use baton_llm::GatewayError;
use baton_store::StoreError;

use crate::decomposer::DecomposeError;
use crate::plan::PlanError;

/// An engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request itself is wrong (an empty description, an unknown
    /// option, a workspace outside the server's).
    #[error("{0}")]
    Invalid(String),
    /// The plan given, or written by the model, does not validate.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The decomposer could not produce a valid plan.
    #[error(transparent)]
    Decompose(#[from] DecomposeError),
    /// A model named in the request or plan is not known to the gateway.
    #[error(transparent)]
    Model(#[from] GatewayError),
    /// No such workflow (or task).
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The operation contradicts the run's state (cancelling a finished
    /// run, deciding a task that is not waiting).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> EngineError {
        match error {
            StoreError::NotFound { what, id } => EngineError::NotFound { what, id },
            StoreError::Conflict(message) | StoreError::Fenced(message) => {
                EngineError::Conflict(message)
            }
            StoreError::InvalidInput(message) => EngineError::Invalid(message),
            other => EngineError::Store(other),
        }
    }
}

impl EngineError {
    /// The HTTP status a face answers with.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::Invalid(_) | EngineError::Plan(_) => 400,
            EngineError::Decompose(e) => e.status(),
            EngineError::Model(e) => e.status(),
            EngineError::NotFound { .. } => 404,
            EngineError::Conflict(_) => 409,
            EngineError::Store(_) => 500,
        }
    }

    /// A stable machine-readable code for `{"error": {"code": …}}`.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Invalid(_) => "invalid_request",
            EngineError::Plan(_) => "invalid_plan",
            EngineError::Decompose(e) => e.code(),
            EngineError::Model(e) => e.code(),
            EngineError::NotFound { .. } => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::Store(_) => "store_error",
        }
    }
}
