//! A scripted model server for testing baton's providers over real HTTP.
//!
//! No model is reachable from CI, so every provider test talks to this
//! server instead. It speaks three wires faithfully enough for real clients
//! (baton's own and the official SDKs): OpenAI chat completions, Anthropic
//! Messages and Ollama's native API, each whole and streamed. A test queues
//! [`Step`]s that say what the "model" answers, how fast, and how it fails;
//! requests without a fitting step get the default reply (an echo of the last
//! user message). Every model request is recorded for assertions.
//!
//! ```no_run
//! # async fn demo() {
//! use baton_testkit::{ScriptedServer, Step};
//!
//! let server = ScriptedServer::start().await;
//! server.push(Step::text("Hello there").for_model("scripted-small"));
//! // point a client at server.openai_base() ...
//! assert_eq!(server.request_count(), 0);
//! # }
//! ```
//!
//! Tests in other languages run the `baton-model-server` binary and script it
//! over HTTP: `POST /__testkit/steps` takes a step or a list of steps in the
//! JSON form described on [`Step`] (`{"text":"hi","for_model":"m"}`),
//! `GET /__testkit/requests` lists the recorded requests, and
//! `POST /__testkit/reset` starts over.

mod answer;
mod anthropic;
mod control;
mod database;
mod embeddings;
mod exchange;
mod ollama;
mod openai;
mod prompt;
mod python;
mod record;
mod script;
mod server;
mod stream;

pub use database::TestDatabase;
pub use embeddings::{DEFAULT_DIMENSIONS, embed};
pub use python::test_python;
pub use record::{RecordedRequest, Wire};
pub use script::{Fault, Reply, ScriptedToolCall, Step};
pub use server::{DEFAULT_RECORD_LIMIT, ScriptedServer, ServerOptions};
