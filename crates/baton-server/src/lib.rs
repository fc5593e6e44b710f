//! baton's HTTP face. Handlers translate HTTP to calls on the hub service and
//! back; they hold no business logic.

mod app;
mod auth;
mod error;
mod mcp;
mod openai_wire;
mod openapi;
mod routes;
mod serve;

pub use app::{AppState, ServerSettings, router};
pub use error::{ApiError, ErrorBody};
pub use mcp::{ContinuityMcp, WorkspaceResolver};
pub use openapi::openapi;
pub use serve::{ServeError, bind, check_exposure, serve};
