//! The router: every route, its middleware and the shared state.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use baton_agent::Agent;
use baton_config::Secret;
use baton_engine::Engine;
use baton_hub::Hub;
use std::sync::Arc;
use std::time::Instant;

use crate::error::ApiError;
use crate::routes::{agent, continuity, health, hub, memory, openai, workflow};

/// What the HTTP face needs beyond the hub.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Required as `Authorization: Bearer …` on every route but `/health`.
    pub token: Option<Secret>,
    pub max_body_bytes: usize,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub agent: Agent,
    pub engine: Engine,
    pub token: Option<Arc<Secret>>,
    pub started: Instant,
}

/// Builds the whole HTTP API over the hub, agent and workflow services.
pub fn router(hub: Hub, agent: Agent, engine: Engine, settings: &ServerSettings) -> Router {
    let state = AppState {
        hub,
        agent,
        engine,
        token: settings.token.clone().map(Arc::new),
        started: Instant::now(),
    };
    Router::new()
        .route("/health", get(health::health))
        .route("/chat", post(hub::chat))
        .route("/chat/stream", post(hub::chat_stream))
        .route("/device/state", post(hub::report_device))
        .route("/device/{id}/state", get(hub::device_state))
        .route("/device/{id}/history", get(hub::device_history))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{*id}", get(openai::get_model))
        .route("/agent/run", post(agent::start_run))
        .route("/agent/runs", get(agent::list_runs))
        .route("/agent/runs/{id}", get(agent::get_run))
        .route("/agent/runs/{id}/resume", post(agent::resume_run))
        .route("/approvals", get(agent::pending_approvals))
        .route("/approvals/{id}", post(agent::decide_approval))
        .route("/context", get(continuity::get_context))
        .route(
            "/chat/sessions/{id}/end",
            post(continuity::end_chat_session),
        )
        .route("/memory", post(memory::remember))
        .route("/memory/search", get(memory::search))
        .route("/memory/{id}", delete(memory::forget))
        .route("/api/v1/workflow/execute", post(workflow::execute))
        .route("/api/v1/workflows", get(workflow::list))
        .route("/api/v1/workflow/{id}", get(workflow::get))
        .route("/api/v1/workflow/{id}/cancel", post(workflow::cancel))
        .route("/api/v1/workflow/{id}/resume", post(workflow::resume))
        .route(
            "/api/v1/workflow/{id}/tasks/{task}/decision",
            post(workflow::decide),
        )
        .route("/api/v1/workflow/{id}/events", get(workflow::events))
        .route("/ws/workflow/{id}", get(workflow::watch))
        .route("/openapi.json", get(health::openapi_document))
        // MCP over streamable HTTP (`crate::mcp`), behind the same token.
        .route_service(
            "/mcp",
            crate::ContinuityMcp::for_app(&state).http_service(settings),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_token,
        ))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
