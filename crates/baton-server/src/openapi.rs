//! The OpenAPI document, generated from the handlers' annotations so it
//! cannot drift from the code (a test checks every route is in it).

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes::{agent, continuity, health, hub, memory, openai, workflow};

#[derive(OpenApi)]
#[openapi(
    info(title = "baton", description = "baton's hub API and OpenAI-compatible gateway."),
    paths(
        health::health, health::openapi_document,
        hub::chat, hub::chat_stream, hub::report_device, hub::device_state, hub::device_history,
        openai::chat_completions, openai::list_models, openai::get_model,
        agent::start_run, agent::resume_run, agent::list_runs, agent::get_run,
        agent::pending_approvals, agent::decide_approval,
        continuity::get_context, continuity::end_chat_session, memory::search, memory::remember, memory::forget,
        workflow::execute, workflow::list, workflow::get, workflow::cancel, workflow::resume,
        workflow::decide, workflow::events, workflow::watch,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags((name = "hub", description = "the seed hub API"),
         (name = "openai", description = "OpenAI-compatible API"),
         (name = "agent", description = "agent runs and their approvals"),
         (name = "continuity", description = "handoff documents, the session log and memory"),
         (name = "workflow", description = "durable workflow runs: plans, their events, cancel, resume and approvals"),
         (name = "meta", description = "about this server")),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
