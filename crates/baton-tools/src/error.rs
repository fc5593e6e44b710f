//! The one error type every tool returns, so the agent can show the model a
//! clear reason and the policy layer can tell a refusal from a failure.

use std::io;
use std::time::Duration;

/// Why a tool call did not produce output.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not match the tool's schema or break one of its rules.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArguments { tool: String, message: String },
    /// A path argument would reach outside the workspace (or into `.git/` for a write).
    #[error("`{path}` is refused: {reason}")]
    OutsideWorkspace { path: String, reason: String },
    /// The named file or directory does not exist.
    #[error("`{path}` does not exist")]
    NotFound { path: String },
    /// A file or a content is bigger than the limit the tool runs under.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// The file holds binary data, which the text tools neither show nor overwrite.
    #[error("`{path}` is a binary file")]
    Binary { path: String },
    /// The call ran past its time limit and was stopped.
    #[error("timed out after {} s", .after.as_secs_f64())]
    Timeout { after: Duration },
    /// The operating system refused an operation on `path`.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The tool ran but its work failed (a git error, for instance); the message says why.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// An `InvalidArguments` error for `tool`.
    pub fn invalid(tool: &str, message: impl Into<String>) -> Self {
        ToolError::InvalidArguments {
            tool: tool.to_owned(),
            message: message.into(),
        }
    }

    /// An `Io` error naming the workspace-relative `path`, turning "not found" into `NotFound`.
    pub fn io(path: impl Into<String>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            ToolError::NotFound { path }
        } else {
            ToolError::Io { path, source }
        }
    }
}
