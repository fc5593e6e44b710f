//! `GET /health` and `GET /openapi.json`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `healthy`, or `unhealthy` when the store does not answer.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_secs: u64,
    pub store: StoreHealth,
    pub providers: Vec<ProviderHealth>,
    /// How many models the gateway can route to.
    pub models: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    pub ok: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderHealth {
    pub name: String,
    pub kind: String,
    pub models: usize,
    /// The circuit breaker: `closed` (healthy), `open` or `half_open`.
    pub breaker: String,
}

/// Liveness and readiness; never needs a token.
#[utoipa::path(get, path = "/health", tag = "hub",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store = state.hub.store();
    let ok = store.ping().await.is_ok();
    let providers = state
        .hub
        .gateway()
        .providers()
        .into_iter()
        .map(|p| ProviderHealth {
            name: p.name,
            kind: p.kind.to_string(),
            models: p.models,
            breaker: p.breaker.to_string(),
        })
        .collect();
    let body = Health {
        status: if ok { "healthy" } else { "unhealthy" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        store: StoreHealth {
            backend: store.backend().as_str(),
            ok,
        },
        providers,
        models: state.hub.models().len(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// The OpenAPI document of this server, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi())
}
