//! The continuity API: `GET /context`, what a fresh session reads first.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_continuity::{
    ContextRequest, ContinuityError, DEFAULT_BYTES_PER_TOKEN, MAX_BUDGET_TOKENS, MAX_RESULTS,
    WorkspaceContext,
};
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ApiQuery, ErrorBody};

/// Tokens when the caller names no budget.
const DEFAULT_BUDGET_TOKENS: usize = 8_000;

/// Memories recalled for a query when the caller names no number.
const DEFAULT_MEMORIES: usize = 5;

impl From<ContinuityError> for ApiError {
    fn from(e: ContinuityError) -> Self {
        match e {
            ContinuityError::InvalidMemory(_)
            | ContinuityError::InvalidDocument(_)
            | ContinuityError::InvalidEntry(_) => ApiError::bad_request(e.to_string()),
            ContinuityError::Embedding(_) | ContinuityError::Model(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", e.to_string())
            }
            ContinuityError::Io { ref source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ApiError::not_found(e.to_string())
            }
            ContinuityError::Store(inner) => ApiError::from(baton_hub::HubError::Store(inner)),
            ContinuityError::Io { .. } => {
                tracing::error!(error = %e, "continuity file failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContextQuery {
    /// A directory inside the server's workspace (default: the workspace).
    pub workspace: Option<String>,
    /// Tokens the context may take (1 to 1,000,000; default 8,000).
    pub budget: Option<usize>,
    /// What the session is about: the most relevant memories are recalled
    /// into the context (up to 15 % of the budget).
    pub query: Option<String>,
    /// Memories recalled for `query` (0 to 100; default 5).
    pub memories: Option<usize>,
}

/// The workspace's handoff documents, latest session-log entries and the
/// memories relevant to `query`, assembled within a token budget (the
/// order, shares and truncation are those of `baton context`).
#[utoipa::path(get, path = "/context", tag = "continuity", params(ContextQuery),
    responses((status = 200, body = WorkspaceContext), (status = 400, body = ErrorBody)))]
pub async fn get_context(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ContextQuery>,
) -> Result<Json<WorkspaceContext>, ApiError> {
    let budget = query.budget.unwrap_or(DEFAULT_BUDGET_TOKENS);
    if budget == 0 || budget > MAX_BUDGET_TOKENS {
        return Err(ApiError::bad_request(format!(
            "budget must be between 1 and {MAX_BUDGET_TOKENS} tokens, got {budget}"
        )));
    }
    let memories = query.memories.unwrap_or(DEFAULT_MEMORIES);
    if memories > MAX_RESULTS {
        return Err(ApiError::bad_request(format!(
            "memories must be between 0 and {MAX_RESULTS}, got {memories}"
        )));
    }
    let requested = query.workspace.map(PathBuf::from);
    let workspace = state.agent.workspace_for(requested.as_deref())?;
    let request = ContextRequest {
        workspace,
        portfolio: None,
        query: query.query,
        budget_tokens: budget,
        bytes_per_token: DEFAULT_BYTES_PER_TOKEN,
        memories,
    };
    let context = baton_continuity::get_context(request, Some(state.agent.memories())).await?;
    Ok(Json(context))
}
