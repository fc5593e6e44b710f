//! Route handlers, one module per API.

pub mod agent;
pub mod continuity;
pub mod health;
pub mod hub;
pub mod memory;
pub mod openai;
