//! Drives the scripted model server over real HTTP, as baton's providers and
//! the official SDKs will.

mod anthropic;
mod auth;
mod binary;
mod control;
mod faults;
mod ollama;
mod openai;
mod script;
mod support;
