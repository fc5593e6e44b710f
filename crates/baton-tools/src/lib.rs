//! The agent's tools: search, read, write, edit, list, git, shell, run and
//! the tools of MCP servers, each with a JSON schema and explicit limits,
//! all jailed to one workspace directory.
//!
//! The agent crate sees only [`Tool`], [`Toolbox`] and [`ToolContext`]; the
//! policy layer matches on [`Tool::effect`] and [`Tool::subject`]. Programs
//! (git, shell commands, Python code) never run here directly: they go
//! through the sandbox crate.

mod dirfd;
pub mod edit;
pub mod error;
pub mod exec;
pub mod git;
pub mod list;
pub mod mcp;
pub mod read;
pub mod search;
mod textfile;
pub mod tool;
pub mod toolbox;
pub mod workspace;
pub mod write;

pub use edit::EditTool;
pub use error::ToolError;
pub use exec::{Run, Shell};
pub use git::GitTool;
pub use list::ListTool;
pub use mcp::McpTool;
pub use read::ReadTool;
pub use search::SearchTool;
pub use tool::{
    CallInfo, Effect, IDEMPOTENCY_ENV, Limits, MAX_IDEMPOTENCY_KEY_LEN, Tool, ToolContext,
    ToolOutput, cut_to_limit, parse_args,
};
pub use toolbox::{DuplicateTool, Toolbox};
pub use workspace::{Workspace, WriteTarget};
pub use write::WriteTool;
