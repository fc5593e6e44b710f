//! One live connection to an MCP server: handshake, tool listing (all pages,
//! cached), calls with a deadline, and shutdown.

use std::collections::HashSet;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation,
    PaginatedRequestParams, RequestMetaObject, Tool,
};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::{Endpoint, McpServerConfig};
use crate::error::McpError;
use crate::naming::function_name;
use crate::result::{CallResult, MAX_RESULT_BYTES};
use crate::transport::{self, StderrTail};

/// Limit on the initialize handshake (spawn or dial included) used by
/// [`McpClient::connect`]; `npx`-style servers may download on first start.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most tools accepted from one server: each becomes part of every prompt.
pub const MAX_TOOLS: usize = 512;
/// Most `tools/list` pages followed, so a server that keeps handing out
/// cursors cannot keep baton listing forever.
pub const MAX_TOOL_PAGES: usize = 64;
/// How long [`McpClient::close`] waits for a graceful end before killing.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The `_meta` key a `tools/call` carries its idempotency key under (see
/// [`McpClient::call_with_key`]); the `baton/` prefix keeps it apart from
/// the keys the MCP specification reserves.
pub const IDEMPOTENCY_META_KEY: &str = "baton/idempotencyKey";
/// How long a failed start waits for the server's last stderr lines.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// A tool offered by an MCP server, as baton's agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTool {
    /// The configured server name.
    pub server: String,
    /// The tool's name on the server (what `tools/call` takes).
    pub name: String,
    /// `server.tool`: how people and policy rules (`mcp(server.tool)`) name it.
    pub qualified: String,
    /// The name the model calls (`server__tool`, see [`crate::naming`]).
    pub function: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments object.
    pub input_schema: Value,
    /// The server's `readOnlyHint` (false when absent). A hint from a server
    /// that may not be trusted: the policy decides what it is worth.
    pub read_only: bool,
}

impl RemoteTool {
    fn from_wire(server: &str, tool: Tool) -> Self {
        let name = tool.name.into_owned();
        Self {
            server: server.to_owned(),
            qualified: format!("{server}.{name}"),
            function: function_name(server, &name),
            description: tool.description.map(|d| d.into_owned()),
            input_schema: Value::Object(tool.input_schema.as_ref().clone()),
            read_only: tool
                .annotations
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
            name,
        }
    }

    /// The tool as offered to a model: named by its function name.
    pub fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: self.function.clone(),
            description: self.description.clone(),
            parameters: self.input_schema.clone(),
        }
    }
}

/// A connected MCP server. Dropping it ends the session and kills a stdio
/// server's process group; [`McpClient::close`] does so gracefully first.
pub struct McpClient {
    config: McpServerConfig,
    service: RunningService<RoleClient, ClientConfig>,
    stderr: Option<StderrTail>,
    process_id: Option<u32>,
    tools: Mutex<Option<Vec<RemoteTool>>>,
}

impl McpClient {
    /// Validates `config`, starts or dials the server and runs the MCP
    /// initialize handshake within [`CONNECT_TIMEOUT`].
    pub async fn connect(config: &McpServerConfig) -> Result<McpClient, McpError> {
        Self::connect_within(config, CONNECT_TIMEOUT).await
    }

    /// [`McpClient::connect`] with another limit on the handshake.
    pub async fn connect_within(
        config: &McpServerConfig,
        limit: Duration,
    ) -> Result<McpClient, McpError> {
        let endpoint = config.endpoint()?;
        let handshake = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("baton", env!("CARGO_PKG_VERSION")),
        );
        let server = config.name.clone();
        let timed_out = || McpError::Timeout {
            server: server.clone(),
            operation: "initialize".to_owned(),
            secs: limit.as_secs().max(1),
        };
        let failed = |reason: String| McpError::Connect {
            server: server.clone(),
            reason: config.redact(&reason),
        };
        match endpoint {
            Endpoint::Stdio(command) => {
                let child = transport::spawn(config, command)?;
                let process_id = child.transport.id();
                let started = tokio::time::timeout(limit, handshake.serve(child.transport)).await;
                let service = match started {
                    Ok(Ok(service)) => service,
                    Ok(Err(error)) => {
                        let _ = tokio::time::timeout(STDERR_GRACE, child.stderr_task).await;
                        return Err(failed(format!(
                            "{}{}",
                            initialize_error_text(&error),
                            child.stderr.suffix()
                        )));
                    }
                    Err(_) => return Err(timed_out()),
                };
                let mut client = Self::new(config, service, Some(child.stderr));
                client.process_id = process_id;
                Ok(client)
            }
            Endpoint::Http(url) => {
                let transport = transport::http(config, url)?;
                let service = tokio::time::timeout(limit, handshake.serve(transport))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|error| failed(initialize_error_text(&error)))?;
                Ok(Self::new(config, service, None))
            }
        }
    }

    fn new(
        config: &McpServerConfig,
        service: RunningService<RoleClient, ClientConfig>,
        stderr: Option<StderrTail>,
    ) -> Self {
        Self {
            config: config.clone(),
            service,
            stderr,
            process_id: None,
            tools: Mutex::new(None),
        }
    }

    /// The configured name, which prefixes this server's tools.
    pub fn server_name(&self) -> &str {
        &self.config.name
    }

    /// The process id of a stdio server (the leader of its process group), for
    /// diagnostics; `None` for HTTP servers.
    pub fn process_id(&self) -> Option<u32> {
        self.process_id
    }

    /// Every tool of the server, following `tools/list` cursors, within the
    /// per-call timeout. Listed once per connection and then cached; a
    /// server's `tools/list_changed` notification does not refresh the cache.
    pub async fn tools(&self) -> Result<Vec<RemoteTool>, McpError> {
        let mut cache = self.tools.lock().await;
        if let Some(tools) = cache.as_ref() {
            return Ok(tools.clone());
        }
        let limit = self.config.call_timeout();
        let tools = tokio::time::timeout(limit, self.list_all())
            .await
            .map_err(|_| self.timeout("tools/list", limit))??;
        *cache = Some(tools.clone());
        Ok(tools)
    }

    async fn list_all(&self) -> Result<Vec<RemoteTool>, McpError> {
        let server = self.server_name();
        let mut tools = Vec::new();
        let mut names = HashSet::new();
        let mut functions = HashSet::new();
        let mut cursors = HashSet::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = cursor
                .clone()
                .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
            let page = self
                .service
                .peer()
                .list_tools(params)
                .await
                .map_err(|error| self.service_error("tools/list", error))?;
            for tool in page.tools {
                if tools.len() == MAX_TOOLS {
                    return Err(McpError::TooManyTools {
                        server: server.to_owned(),
                        limit: MAX_TOOLS,
                    });
                }
                let tool = RemoteTool::from_wire(server, tool);
                if !names.insert(tool.name.clone()) {
                    return Err(self.protocol(
                        "tools/list",
                        format!("tool `{}` is listed twice", tool.name),
                    ));
                }
                if !functions.insert(tool.function.clone()) {
                    return Err(self.protocol(
                        "tools/list",
                        format!("two tools map to the function name `{}`", tool.function),
                    ));
                }
                tools.push(tool);
            }
            match page.next_cursor {
                None => return Ok(tools),
                Some(next) if !cursors.insert(next.clone()) => {
                    return Err(
                        self.protocol("tools/list", format!("cursor {next:?} was returned twice"))
                    );
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(self.protocol(
            "tools/list",
            format!(
                "still more pages after {MAX_TOOL_PAGES}; baton follows at most {MAX_TOOL_PAGES}"
            ),
        ))
    }

    /// The listed tool the model calls `function` (a `server__tool` name).
    pub async fn find_function(&self, function: &str) -> Result<RemoteTool, McpError> {
        self.tools()
            .await?
            .into_iter()
            .find(|tool| tool.function == function)
            .ok_or_else(|| McpError::UnknownTool {
                server: self.server_name().to_owned(),
                tool: function.to_owned(),
            })
    }

    /// Calls `tool` (its name on the server) with an arguments object (or
    /// `null` for none) within the configured per-call timeout; on timeout
    /// the request is cancelled on the server. A tool that fails is an
    /// `Ok` with `is_error`; an `Err` means the call itself could not be made.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<CallResult, McpError> {
        self.call_with_key(tool, arguments, None).await
    }

    /// [`call`](Self::call), with `idempotency_key` (when given) in the
    /// request's `_meta` under [`IDEMPOTENCY_META_KEY`]. In `_meta`, not
    /// the arguments, because the tool's schema does not know it: a
    /// server that understands it can tell a call repeated after a crash
    /// from a new one, and any other server ignores it.
    pub async fn call_with_key(
        &self,
        tool: &str,
        arguments: Value,
        idempotency_key: Option<&str>,
    ) -> Result<CallResult, McpError> {
        let server = self.server_name();
        let arguments = match arguments {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                return Err(McpError::InvalidArguments {
                    server: server.to_owned(),
                    tool: tool.to_owned(),
                    got: json_kind(&other),
                });
            }
        };
        if !self.tools().await?.iter().any(|known| known.name == tool) {
            return Err(McpError::UnknownTool {
                server: server.to_owned(),
                tool: tool.to_owned(),
            });
        }
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        if let Some(key) = idempotency_key {
            // rmcp merges its own keys (progress token, client context)
            // into this map on sending.
            let mut meta = RequestMetaObject::new();
            meta.insert(IDEMPOTENCY_META_KEY.to_owned(), Value::from(key));
            params.meta = Some(meta);
        }
        let limit = self.config.call_timeout();
        let operation = format!("call of `{tool}`");
        let result = tokio::time::timeout(limit, self.service.peer().call_tool(params))
            .await
            .map_err(|_| self.timeout(&operation, limit))?
            .map_err(|error| self.service_error(&operation, error))?;
        Ok(CallResult::from_wire(result, MAX_RESULT_BYTES))
    }

    /// Ends the session: closes a stdio server's stdin, waits for it to exit,
    /// then terminates and kills it (within [`CLOSE_TIMEOUT`]) and kills
    /// whatever it left running in its process group; an HTTP session is
    /// deleted on the server.
    pub async fn close(mut self) {
        match self.service.close_with_timeout(CLOSE_TIMEOUT).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::warn!(server = %self.config.name, "mcp server did not close in time; killing it")
            }
            Err(error) => {
                tracing::warn!(server = %self.config.name, %error, "mcp session task failed while closing")
            }
        }
        if let Some(group) = self
            .process_id
            .take()
            .and_then(|pid| i32::try_from(pid).ok())
        {
            kill_process_group(&self.config.name, group);
        }
    }

    fn timeout(&self, operation: &str, limit: Duration) -> McpError {
        McpError::Timeout {
            server: self.config.name.clone(),
            operation: operation.to_owned(),
            secs: limit.as_secs().max(1),
        }
    }

    fn protocol(&self, operation: &str, reason: String) -> McpError {
        McpError::Protocol {
            server: self.config.name.clone(),
            operation: operation.to_owned(),
            reason: self.config.redact(&reason),
        }
    }

    fn disconnected(&self, operation: &str, reason: String) -> McpError {
        McpError::Disconnected {
            server: self.config.name.clone(),
            operation: operation.to_owned(),
            reason: self.config.redact(&reason),
        }
    }

    fn service_error(&self, operation: &str, error: ServiceError) -> McpError {
        let stderr = || {
            self.stderr
                .as_ref()
                .map(StderrTail::suffix)
                .unwrap_or_default()
        };
        match error {
            ServiceError::McpError(data) => self.protocol(
                operation,
                format!("server error {}: {}", data.code.0, data.message),
            ),
            ServiceError::Timeout { timeout } => self.timeout(operation, timeout),
            ServiceError::TransportClosed | ServiceError::Cancelled { .. } => {
                self.disconnected(operation, format!("{}{}", describe_chain(&error), stderr()))
            }
            ServiceError::TransportSend(error) => self.disconnected(
                operation,
                format!("{}{}", transport_error_text(error.error.as_ref()), stderr()),
            ),
            other => self.protocol(operation, describe_chain(&other)),
        }
    }
}

/// Dropping without [`McpClient::close`] kills a stdio server and everything
/// in its process group at once: rmcp alone would only close the server's
/// stdin and leave helpers it started running.
impl Drop for McpClient {
    fn drop(&mut self) {
        if let Some(group) = self
            .process_id
            .take()
            .and_then(|pid| i32::try_from(pid).ok())
        {
            kill_process_group(&self.config.name, group);
        }
    }
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Kills the stdio server's process group (its id is the server's pid, as
/// the server was spawned as group leader). Nothing left is the usual case.
fn kill_process_group(server: &str, group: i32) {
    use nix::errno::Errno;
    use nix::sys::signal::{Signal, killpg};
    match killpg(nix::unistd::Pid::from_raw(group), Signal::SIGKILL) {
        Ok(()) => tracing::debug!(server, group, "killed processes the mcp server left behind"),
        Err(Errno::ESRCH) => {}
        Err(error) => {
            tracing::warn!(server, group, %error, "cannot kill the mcp server's process group")
        }
    }
}

/// Why the handshake failed, without rmcp's transport type names.
fn initialize_error_text(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, context } => {
            format!("{} ({context})", transport_error_text(error.error.as_ref()))
        }
        ClientInitializeError::ConnectionClosed(context) => {
            format!("the server closed the connection ({context})")
        }
        other => describe_chain(other),
    }
}

/// A transport failure with its causes; rmcp's HTTP "Client error" does not
/// link to the reqwest error underneath (where "connection refused" is).
fn transport_error_text(error: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    match error.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
        Some(StreamableHttpError::Client(inner)) => describe_chain(inner),
        _ => describe_chain(error),
    }
}

/// An error and its sources on one line: rmcp's top-level messages
/// ("Transport closed") say little without the cause underneath.
fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The tools of several clients keyed by function name, for routing a model's
/// call back to its server.
pub fn tools_by_function(tools: &[RemoteTool]) -> std::collections::HashMap<&str, &RemoteTool> {
    tools
        .iter()
        .map(|tool| (tool.function.as_str(), tool))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn wire_tools_become_remote_tools() {
        let mut schema = serde_json::Map::new();
        schema.insert("type".into(), Value::String("object".into()));
        let mut wire = Tool::new("read.file", "Reads a file", Arc::new(schema));
        wire.annotations = Some(rmcp::model::ToolAnnotations::new().read_only(true));
        let tool = RemoteTool::from_wire("fs", wire);
        assert_eq!(tool.qualified, "fs.read.file");
        assert!(
            tool.function.starts_with("fs__read_file_"),
            "{}",
            tool.function
        );
        assert!(tool.read_only);
        let spec = tool.spec();
        assert_eq!(spec.name, tool.function);
        assert_eq!(spec.description.as_deref(), Some("Reads a file"));
        assert_eq!(spec.parameters, serde_json::json!({"type": "object"}));
        assert_eq!(
            tools_by_function(std::slice::from_ref(&tool))[tool.function.as_str()],
            &tool
        );
    }

    #[test]
    fn argument_kinds_are_named() {
        assert_eq!(json_kind(&serde_json::json!([1])), "an array");
        assert_eq!(json_kind(&serde_json::json!("x")), "a string");
    }
}
