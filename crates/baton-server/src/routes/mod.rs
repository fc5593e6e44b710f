//! Route handlers, one module per API.

pub mod agent;
pub mod continuity;
pub mod health;
pub mod hub;
pub mod memory;
pub mod openai;
pub mod workflow;

use std::path::PathBuf;

use crate::AppState;
use crate::error::ApiError;

/// The directory a request names (relative to, and inside, the server's
/// workspace; the workspace itself when it names none), for every
/// workspace-scoped route.
pub(crate) fn workspace(state: &AppState, requested: Option<String>) -> Result<PathBuf, ApiError> {
    let requested = requested.map(PathBuf::from);
    Ok(state.agent.workspace_for(requested.as_deref())?)
}
