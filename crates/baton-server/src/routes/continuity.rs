//! The continuity API: `GET /context` (what a fresh session reads first) and
//! `POST /chat/sessions/{id}/end` (a conversation's end in the loop).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_continuity::ConversationLoop;
use baton_continuity::{
    ContextRequest, ContinuityError, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORIES, TokenCounter,
    WorkspaceContext,
};
use baton_core::{Role, SessionId};
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
    let workspace = super::workspace(&state, query.workspace)?;
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndChatRequest {
    /// The directory the conversation joined (inside the server's
    /// workspace; default: the workspace).
    pub workspace: Option<String>,
}

/// What ending a conversation recorded.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EndedChat {
    /// The entry's position in `SESSION_LOG.md`.
    pub position: i64,
    pub hash: String,
    /// Exchanges in the entry.
    pub exchanges: usize,
}

/// Ends a `/chat` conversation in the continuity loop: its session-log
/// entry (what was asked, by which model) is appended to the workspace's
/// `SESSION_LOG.md` and its exchanges are remembered, as `baton chat` does
/// when it exits. The workspace must have handoff documents.
#[utoipa::path(post, path = "/chat/sessions/{id}/end", tag = "continuity",
    params(("id" = String, Path, description = "the session id `/chat` answered with")),
    request_body = EndChatRequest,
    responses((status = 200, body = EndedChat), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn end_chat_session(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::error::ApiJson(request): crate::error::ApiJson<EndChatRequest>,
) -> Result<Json<EndedChat>, ApiError> {
    let session: SessionId = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a session id")))?;
    let workspace = super::workspace(&state, request.workspace)?;
    let store = state.hub.store();
    if store
        .session(session)
        .await
        .map_err(baton_hub::HubError::Store)?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no session {session}")));
    }
    let memories = state.agent.memories();
    let mut conversation = ConversationLoop::in_workspace(
        workspace.clone(),
        store.clone(),
        Some(memories.clone()),
        memories.device().clone(),
    )
    .ok_or_else(|| {
        ApiError::bad_request(format!(
            "{} has no handoff documents (baton init creates them)",
            workspace.display()
        ))
    })?;
    let messages = store
        .session_messages(session, u32::MAX)
        .await
        .map_err(baton_hub::HubError::Store)?;
    let mut exchanges = 0;
    for pair in messages.windows(2) {
        if pair[0].message.role == Role::User && pair[1].message.role == Role::Assistant {
            let model = pair[1].model.clone().unwrap_or_default();
            conversation.answered(
                &pair[0].message.text(),
                &pair[1].message.text(),
                &session.to_string(),
                &model,
            );
            exchanges += 1;
        }
    }
    let record = conversation.end().await?.ok_or_else(|| {
        ApiError::bad_request(format!("session {session} has no answered message to log"))
    })?;
    Ok(Json(EndedChat {
        position: record.entry.seq,
        hash: record.entry.hash,
        exchanges,
    }))
}
