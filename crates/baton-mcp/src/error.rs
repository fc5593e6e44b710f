//! The one error type of the MCP client. Every variant names the server, because
//! an agent may hold several MCP connections and a bare "connection closed" is
//! useless to the person reading the trace.

/// What went wrong while configuring, connecting to or calling an MCP server.
/// Messages never contain the values of configured `env` or `headers` entries.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The `[[mcp.servers]]` entry is malformed.
    #[error("MCP server `{server}`: invalid configuration: {reason}")]
    InvalidConfig { server: String, reason: String },
    /// The stdio server's command could not be started.
    #[error("MCP server `{server}`: cannot start `{command}`: {reason}")]
    Spawn {
        server: String,
        command: String,
        reason: String,
    },
    /// The initialize handshake failed (the server exited, refused the
    /// connection or answered something that is not MCP).
    #[error("MCP server `{server}`: initialize failed: {reason}")]
    Connect { server: String, reason: String },
    /// An operation ran past its limit; the request was cancelled.
    #[error("MCP server `{server}`: {operation} timed out after {secs} s")]
    Timeout {
        server: String,
        operation: String,
        secs: u64,
    },
    /// The connection ended while an operation was in flight or before it started.
    #[error("MCP server `{server}`: connection lost during {operation}: {reason}")]
    Disconnected {
        server: String,
        operation: String,
        reason: String,
    },
    /// The server answered with a JSON-RPC error or a reply of the wrong shape.
    #[error("MCP server `{server}`: {operation} failed: {reason}")]
    Protocol {
        server: String,
        operation: String,
        reason: String,
    },
    /// The server offers more tools than baton accepts from one server.
    #[error("MCP server `{server}` lists more than {limit} tools; baton accepts at most {limit}")]
    TooManyTools { server: String, limit: usize },
    /// The tool (or function name) is not among the server's tools.
    #[error("MCP server `{server}` has no tool `{tool}`")]
    UnknownTool { server: String, tool: String },
    /// The arguments of a call are not a JSON object.
    #[error("MCP server `{server}`: arguments of `{tool}` must be a JSON object, got {got}")]
    InvalidArguments {
        server: String,
        tool: String,
        got: &'static str,
    },
}
