//! What can go wrong in a hub call, and how each face should report it.

use baton_llm::GatewayError;
use baton_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The caller sent something baton cannot act on.
    #[error("{0}")]
    InvalidInput(String),
    #[error("session {0} does not exist")]
    SessionNotFound(String),
    #[error("device {0} is unknown")]
    DeviceNotFound(String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl HubError {
    /// The HTTP status a face should answer with: 4xx for the caller's
    /// mistakes, 5xx only for faults of baton or its upstreams.
    pub fn status(&self) -> u16 {
        match self {
            HubError::InvalidInput(_) => 400,
            HubError::SessionNotFound(_) | HubError::DeviceNotFound(_) => 404,
            HubError::Gateway(e) => e.status(),
            HubError::Store(StoreError::InvalidInput(_)) => 400,
            HubError::Store(StoreError::Unavailable(_)) => 503,
            HubError::Store(_) => 500,
        }
    }

    /// A stable machine-readable code for the `error.code` field.
    pub fn code(&self) -> &'static str {
        match self {
            HubError::InvalidInput(_) => "invalid_request",
            HubError::SessionNotFound(_) => "session_not_found",
            HubError::DeviceNotFound(_) => "device_not_found",
            HubError::Gateway(e) => e.code(),
            HubError::Store(StoreError::InvalidInput(_)) => "invalid_request",
            HubError::Store(StoreError::Unavailable(_)) => "storage_unavailable",
            HubError::Store(_) => "storage_error",
        }
    }
}
