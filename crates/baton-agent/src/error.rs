//! What can stop a run from starting or going on, sorted by whose fault it
//! is so the faces can answer 4xx or 5xx.

use baton_llm::GatewayError;
use baton_store::StoreError;

use crate::context::TooLarge;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request cannot be run as given (bad budgets, a mode that does
    /// not exist, a workspace that is not a directory).
    #[error("invalid run: {0}")]
    Invalid(String),
    /// The run does not exist.
    #[error("run {0} not found")]
    NotFound(String),
    /// The run cannot do what was asked in its state (resume an ended run).
    #[error("{0}")]
    Conflict(String),
    /// The model could not be reached or answered badly, after the
    /// gateway's own fallbacks.
    #[error("model: {0}")]
    Model(String),
    /// The conversation cannot fit the model's window.
    #[error(transparent)]
    Context(#[from] TooLarge),
    /// A tool failed in a way the model cannot be told about (its result
    /// could not be produced at all).
    #[error("tool: {0}")]
    Tool(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<GatewayError> for AgentError {
    fn from(error: GatewayError) -> Self {
        AgentError::Model(error.to_string())
    }
}
