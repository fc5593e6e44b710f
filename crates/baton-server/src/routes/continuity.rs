//! The continuity API: `GET /context`, what a fresh session reads first.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Query, State};
use baton_continuity::{Context, DEFAULT_BYTES_PER_TOKEN, MAX_BUDGET_TOKENS};
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

/// Tokens when the caller names no budget.
const DEFAULT_BUDGET_TOKENS: usize = 8_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContextQuery {
    /// A directory inside the server's workspace (default: the workspace).
    pub workspace: Option<String>,
    /// Tokens the context may take (1 to 1,000,000; default 8,000).
    pub budget: Option<usize>,
}

/// The workspace's handoff documents and latest session-log entries,
/// assembled within a token budget (the order, shares and truncation are
/// those of `baton context`).
#[utoipa::path(get, path = "/context", tag = "continuity", params(ContextQuery),
    responses((status = 200, body = Context), (status = 400, body = ErrorBody)))]
pub async fn get_context(
    State(state): State<AppState>,
    Query(query): Query<ContextQuery>,
) -> Result<Json<Context>, ApiError> {
    let budget = query.budget.unwrap_or(DEFAULT_BUDGET_TOKENS);
    if budget == 0 || budget > MAX_BUDGET_TOKENS {
        return Err(ApiError::bad_request(format!(
            "budget must be between 1 and {MAX_BUDGET_TOKENS} tokens, got {budget}"
        )));
    }
    let requested = query.workspace.map(PathBuf::from);
    let workspace = state.agent.workspace_for(requested.as_deref())?;
    let context = tokio::task::spawn_blocking(move || {
        baton_continuity::assemble(&workspace, None, budget, DEFAULT_BYTES_PER_TOKEN)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("context assembly stopped: {e}"),
        )
    })?;
    Ok(Json(context))
}
