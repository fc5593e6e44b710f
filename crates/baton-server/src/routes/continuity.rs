//! The continuity API: `GET /context`, what a fresh session reads first.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_continuity::{
    ContextRequest, ContinuityError, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORIES, TokenCounter,
    WorkspaceContext,
};
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ApiQuery, ErrorBody};

impl From<ContinuityError> for ApiError {
    fn from(e: ContinuityError) -> Self {
        match e {
            ContinuityError::InvalidMemory(_)
            | ContinuityError::InvalidRequest(_)
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
    /// The model the context is for (`provider/model`): tokens are counted
    /// as its family counts them (exactly for OpenAI's encodings); default:
    /// a pessimistic estimate from bytes.
    pub model: Option<String>,
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
    let requested = query.workspace.map(PathBuf::from);
    let workspace = state.agent.workspace_for(requested.as_deref())?;
    let request = ContextRequest {
        workspace,
        portfolio: None,
        query: query.query,
        budget_tokens: query.budget.unwrap_or(DEFAULT_BUDGET_TOKENS),
        counter: query
            .model
            .as_deref()
            .map(TokenCounter::for_model)
            .unwrap_or_default(),
        memories: query.memories.unwrap_or(DEFAULT_MEMORIES),
    };
    let context = baton_continuity::get_context(request, Some(state.agent.memories())).await?;
    Ok(Json(context))
}
