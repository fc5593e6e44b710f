//! The gateway over real HTTP, against the scripted model server.

mod anthropic;
mod breaker;
mod common;
mod embeddings;
mod fallback;
mod ollama;
mod openai;
mod presets;
mod resolution;
mod secrets;
