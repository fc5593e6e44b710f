//! Route handlers, one module per API.

pub mod health;
pub mod hub;
pub mod openai;
