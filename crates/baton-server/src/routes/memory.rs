//! The memory API: remember, recall (hybrid full-text and vector search)
//! and forget, for a directory inside the server's workspace.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use baton_continuity::{DEFAULT_RESULTS, MemorySource, NewMemoryText, Recall, Remembered};
use serde::Deserialize;

use super::workspace;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiQuery, ErrorBody};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// What to recall (1 to 4,096 bytes).
    pub q: String,
    /// Results wanted (1 to 100; default 10).
    pub limit: Option<usize>,
    /// A directory inside the server's workspace (default: the workspace).
    pub workspace: Option<String>,
}

/// The workspace's memories most relevant to `q`: full-text and vector
/// rankings fused by reciprocal rank fusion. Without an embedder (or when
/// it fails) the full-text ranking alone answers and `vector_note` says why.
#[utoipa::path(get, path = "/memory/search", tag = "continuity", params(SearchQuery),
    responses((status = 200, body = Object, description = "a Recall: query, hits (memory fields, score, text_rank, vector_rank, similarity), vector_model, vector_note"),
        (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<Recall>, ApiError> {
    let workspace = workspace(&state, query.workspace)?;
    let limit = query.limit.unwrap_or(DEFAULT_RESULTS);
    let recall = state
        .agent
        .memories()
        .search(&workspace, &query.q, limit)
        .await?;
    Ok(Json(recall))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberRequest {
    /// The text to remember (at most 64 KiB).
    pub content: String,
    /// `note` (default), `log`, `document` or `conversation`.
    pub source: Option<MemorySource>,
    /// What in the source: a log position, a document name, a session id.
    pub source_ref: Option<String>,
    /// A directory inside the server's workspace (default: the workspace).
    pub workspace: Option<String>,
}

/// Remembers a text for the workspace. The same text again is not stored
/// twice (`new: false`); when no vector could be made, the memory is kept
/// for full-text recall and `vector_note` says why.
#[utoipa::path(post, path = "/memory", tag = "continuity", request_body = RememberRequest,
    responses((status = 201, body = Object, description = "the Remembered memory"),
        (status = 200, body = Object, description = "already remembered"),
        (status = 400, body = ErrorBody)))]
pub async fn remember(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RememberRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let workspace = workspace(&state, request.workspace)?;
    let remembered: Remembered = state
        .agent
        .memories()
        .remember(
            &workspace,
            NewMemoryText {
                source: request.source.unwrap_or(MemorySource::Note),
                source_ref: request.source_ref,
                content: request.content,
            },
        )
        .await?;
    let status = if remembered.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(remembered)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ForgetQuery {
    /// A directory inside the server's workspace (default: the workspace).
    pub workspace: Option<String>,
}

/// Forgets one memory of the workspace.
#[utoipa::path(delete, path = "/memory/{id}", tag = "continuity",
    params(("id" = String, Path, description = "the memory's id"), ForgetQuery),
    responses((status = 204, description = "forgotten"), (status = 404, body = ErrorBody)))]
pub async fn forget(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ForgetQuery>,
) -> Result<StatusCode, ApiError> {
    let workspace = workspace(&state, query.workspace)?;
    if state.agent.memories().forget(&workspace, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no memory {id} in this workspace"
        )))
    }
}
