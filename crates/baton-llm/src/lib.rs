//! baton's model gateway: everything between "ask model X" and the bytes
//! an upstream server sends back.
//!
//! - Provider clients over real HTTP: any OpenAI-compatible server,
//!   Anthropic Messages natively, and Ollama (listed from its own API,
//!   detected on start).
//! - A catalogue of well-known services as data (`catalog.toml`), merged
//!   with `[[providers]]` and the services' own environment variables.
//! - A registry that resolves `provider/model`, bare names and `auto`.
//! - A fallback chain with `Retry-After` handling and a circuit breaker per
//!   provider, so that one failing upstream costs callers as little as
//!   possible.
//!
//! Secrets never leave a provider client: keys and header values are masked
//! in every error and absent from every `Debug` output.

mod anthropic;
mod breaker;
mod catalog;
mod direct;
mod embeddings;
mod error;
mod gateway;
mod http;
mod ollama;
mod openai;
mod provider;
mod redact;
mod registry;
mod spec;
mod sse;

pub use breaker::BreakerState;
pub use catalog::{Catalog, Preset};
pub use embeddings::{Embeddings, MAX_EMBEDDING_INPUTS};
pub use error::{Attempt, GatewayError};
pub use gateway::{EventStream, Gateway, ProviderStatus, Routed};
pub use registry::UNKNOWN_CONTEXT_WINDOW;
