//! Bearer-token authentication: every route but `/health` once a token is set.
//!
//! WebSocket routes (`/ws/…`) also take the token as `?token=`, because a
//! browser's `WebSocket` cannot send an `Authorization` header; everywhere
//! else the query is not looked at, so a token is never invited into URLs
//! (and the access logs of proxies) where a header would do.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(req).await;
    };
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let query_token = req
        .uri()
        .path()
        .starts_with("/ws/")
        .then(|| query_token(req.uri()))
        .flatten();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or(query_token.as_deref());
    match presented {
        Some(p) if constant_time_eq(p.trim().as_bytes(), token.expose().as_bytes()) => {
            next.run(req).await
        }
        Some(_) => unauthorized("the bearer token is not valid"),
        None => unauthorized("this server requires `Authorization: Bearer <token>`"),
    }
}

/// The `token` query parameter, percent-decoded.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    axum::extract::Query::<TokenQuery>::try_from_uri(uri)
        .ok()
        .and_then(|query| query.0.token)
}

fn unauthorized(message: &str) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// Compares without an early exit, so timing does not reveal the prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_strings() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
