//! baton's MCP client: lets the agent use the tools of any MCP server named
//! in the configuration, over stdio (a child process baton spawns) or
//! streamable HTTP, through the official Rust SDK (`rmcp`).
//!
//! Each remote tool reaches the model as `server__tool` (see [`naming`]);
//! every operation has an explicit limit and every error names its server.

mod client;
mod config;
mod error;
pub mod naming;
mod result;
mod transport;

pub use client::{
    CLOSE_TIMEOUT, CONNECT_TIMEOUT, IDEMPOTENCY_META_KEY, MAX_TOOL_PAGES, MAX_TOOLS, McpClient,
    RemoteTool, tools_by_function,
};
pub use config::{DEFAULT_CALL_TIMEOUT, MAX_SERVER_NAME_LEN, MAX_TIMEOUT_SECS, McpServerConfig};
pub use error::McpError;
pub use result::{CallResult, MAX_RESULT_BYTES};
