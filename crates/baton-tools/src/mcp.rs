//! A tool of an MCP server, as a baton tool: the model sees it as
//! `server__tool`, the policy as `mcp(server.tool)`, and its calls go to
//! the server through the shared client, each with its idempotency key in
//! the request's `_meta`.

use std::sync::Arc;

use baton_mcp::{McpClient, RemoteTool};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::ToolError;
use crate::tool::{CallInfo, Effect, Tool, ToolContext, ToolOutput};

/// One remote tool and the client of its server.
pub struct McpTool {
    client: Arc<McpClient>,
    remote: RemoteTool,
}

impl McpTool {
    pub fn new(client: Arc<McpClient>, remote: RemoteTool) -> McpTool {
        McpTool { client, remote }
    }

    /// Every tool of a connected server, ready to register.
    pub async fn all(client: Arc<McpClient>) -> Result<Vec<McpTool>, baton_mcp::McpError> {
        Ok(client
            .tools()
            .await?
            .into_iter()
            .map(|remote| McpTool::new(client.clone(), remote))
            .collect())
    }
}

impl Tool for McpTool {
    fn spec(&self) -> baton_core::ToolSpec {
        self.remote.spec()
    }

    /// What the server says: read-only when it marks the tool so, else an
    /// action beyond the workspace.
    fn effect(&self, _args: &Value) -> Effect {
        if self.remote.read_only {
            Effect::Read
        } else {
            Effect::External
        }
    }

    fn policy_tool(&self) -> String {
        "mcp".into()
    }

    fn subject(&self, args: &Value) -> Result<String, ToolError> {
        if !(args.is_object() || args.is_null()) {
            return Err(ToolError::invalid(
                &self.remote.function,
                "the arguments must be a JSON object",
            ));
        }
        Ok(self.remote.qualified.clone())
    }

    fn call<'a>(
        &'a self,
        args: Value,
        ctx: &'a ToolContext,
        call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args = if args.is_null() {
                Value::Object(Default::default())
            } else {
                args
            };
            let result = self
                .client
                .call_with_key(&self.remote.name, args, Some(call.idempotency_key()))
                .await
                .map_err(|e| ToolError::Failed(e.to_string()))?;
            let status = if result.is_error { "error" } else { "ok" };
            let summary = format!("{} {status}", self.remote.qualified);
            let text = if result.is_error {
                format!("the tool reported an error:\n{}", result.text)
            } else {
                result.text
            };
            Ok(ToolOutput::new(
                text,
                summary,
                false,
                ctx.limits.max_output_bytes,
            ))
        })
    }
}
