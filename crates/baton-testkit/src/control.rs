//! The control plane under `/__testkit`, so that tests written in other
//! languages script and inspect the server over HTTP.
//!
//! - `POST /__testkit/steps`: queue one step (a JSON object) or several (a list)
//! - `GET /__testkit/steps`: `{"pending": N}`, the steps not yet taken
//! - `GET /__testkit/requests`: every recorded model request, oldest first
//! - `POST /__testkit/reset`: forget queued steps and recorded requests

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::exchange::json_response;
use crate::record::RecordedRequest;
use crate::script::Step;
use crate::server::Shared;

pub(crate) async fn push_steps(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let steps = serde_json::from_slice::<Value>(&body).and_then(|value| match value {
        Value::Array(_) => serde_json::from_value::<Vec<Step>>(value),
        _ => serde_json::from_value::<Step>(value).map(|step| vec![step]),
    });
    match steps {
        Ok(steps) => {
            for step in steps {
                shared.script.push(step);
            }
            pending(&shared)
        }
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "invalid_step", "message": e.to_string()}}),
        ),
    }
}

pub(crate) async fn pending_steps(State(shared): State<Arc<Shared>>) -> Response {
    pending(&shared)
}

pub(crate) async fn requests(State(shared): State<Arc<Shared>>) -> Json<Vec<RecordedRequest>> {
    Json(shared.recorder.snapshot())
}

pub(crate) async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

fn pending(shared: &Shared) -> Response {
    json_response(StatusCode::OK, json!({"pending": shared.script.len()}))
}
