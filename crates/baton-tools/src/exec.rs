//! `shell` and `run`: commands and Python code, executed in the sandbox
//! (Landlock, resource limits, a wall-clock timeout that kills the whole
//! process group), never directly.
//!
//! The child sees a small fixed environment (no secrets from baton's own;
//! the call's idempotency key in `BATON_IDEMPOTENCY_KEY`), may write only
//! in the workspace and a temporary directory made for the call, and
//! reaches the network only when the run allows it.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use baton_sandbox::{ExecLimits, ExecOutcome, ExecSpec, ExitState, Limit, Sandbox};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ToolError;
use crate::tool::{CallInfo, Effect, IDEMPOTENCY_ENV, Tool, ToolContext, ToolOutput, parse_args};

/// The `PATH` commands run with.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The Python interpreter `run` uses.
const PYTHON: &str = "python3";
/// The longest code `run` accepts.
const MAX_CODE_BYTES: usize = 1024 * 1024;

/// Runs a command line with `/bin/sh -c`.
pub struct Shell {
    sandbox: Arc<Sandbox>,
}

/// Runs Python code with `python3`.
pub struct Run {
    sandbox: Arc<Sandbox>,
}

impl Shell {
    pub fn new(sandbox: Arc<Sandbox>) -> Shell {
        Shell { sandbox }
    }
}

impl Run {
    pub fn new(sandbox: Arc<Sandbox>) -> Run {
        Run { sandbox }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShellArgs {
    command: String,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunArgs {
    code: String,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

impl Tool for Shell {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: "shell".into(),
            description: Some(
                "Run a shell command line (sh -c) in the workspace, sandboxed: writes only in the \
                 workspace and a temp dir, no network unless allowed, time and output limits. \
                 Returns the exit code, stdout and stderr."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "the command line"},
                    "timeout_secs": {"type": "integer", "minimum": 1,
                        "description": "wall-clock limit, at most the configured tool timeout"}
                },
                "required": ["command"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &Value) -> Effect {
        Effect::Execute
    }

    fn subject(&self, args: &Value) -> Result<String, ToolError> {
        let args: ShellArgs = parse_args("shell", args.clone())?;
        Ok(args.command)
    }

    fn call<'a>(
        &'a self,
        args: Value,
        ctx: &'a ToolContext,
        call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: ShellArgs = parse_args("shell", args)?;
            if args.command.trim().is_empty() {
                return Err(ToolError::InvalidArguments {
                    tool: "shell".into(),
                    message: "`command` is empty".into(),
                });
            }
            let argv = vec![OsString::from("-c"), OsString::from(&args.command)];
            execute(
                &self.sandbox,
                ctx,
                call,
                "/bin/sh",
                argv,
                None,
                args.timeout_secs,
            )
            .await
        })
    }
}

impl Tool for Run {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: "run".into(),
            description: Some(
                "Run Python 3 code in the workspace, sandboxed like `shell`. Print what you want \
                 to see; returns the exit code, stdout and stderr."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Python source"},
                    "timeout_secs": {"type": "integer", "minimum": 1}
                },
                "required": ["code"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, _args: &Value) -> Effect {
        Effect::Execute
    }

    fn subject(&self, args: &Value) -> Result<String, ToolError> {
        parse_args::<RunArgs>("run", args.clone())?;
        Ok("python".into())
    }

    fn call<'a>(
        &'a self,
        args: Value,
        ctx: &'a ToolContext,
        call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(async move {
            let args: RunArgs = parse_args("run", args)?;
            if args.code.len() > MAX_CODE_BYTES {
                return Err(ToolError::TooLarge {
                    what: "code".into(),
                    limit: MAX_CODE_BYTES as u64,
                });
            }
            // The code goes in on stdin, so nothing is written before the
            // sandbox is up.
            let argv = vec![OsString::from("-")];
            execute(
                &self.sandbox,
                ctx,
                call,
                PYTHON,
                argv,
                Some(args.code.into_bytes()),
                args.timeout_secs,
            )
            .await
        })
    }
}

async fn execute(
    sandbox: &Sandbox,
    ctx: &ToolContext,
    call: &CallInfo,
    program: &str,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout_secs: Option<u64>,
) -> Result<ToolOutput, ToolError> {
    let limit = ctx.limits.timeout;
    let wall_time = match timeout_secs {
        Some(0) => {
            return Err(ToolError::InvalidArguments {
                tool: program.into(),
                message: "`timeout_secs` must be at least 1".into(),
            });
        }
        Some(secs) => std::time::Duration::from_secs(secs).min(limit),
        None => limit,
    };
    let scratch = tempfile::Builder::new()
        .prefix("baton-tool-")
        .tempdir()
        .map_err(|e| ToolError::Failed(format!("cannot make a temporary directory: {e}")))?;
    let root = ctx.workspace.root();
    let mut spec = ExecSpec::new(program, root);
    spec.args = args;
    spec.stdin = stdin;
    spec.env = environment(scratch.path(), call);
    spec.writable = vec![root.to_path_buf(), scratch.path().to_path_buf()];
    spec.network = ctx.network;
    spec.isolation_required = !ctx.allow_unsandboxed;
    spec.limits = ExecLimits {
        wall_time,
        cpu_time: wall_time,
        max_output_bytes: ctx.limits.max_output_bytes,
        max_file_size_bytes: ctx.limits.max_file_bytes,
        ..ExecLimits::default()
    };
    let outcome = sandbox
        .run(spec)
        .await
        .map_err(|e| ToolError::Failed(e.to_string()))?;
    Ok(render(&outcome, ctx.limits.max_output_bytes))
}

/// The child's whole environment: the sandbox passes on nothing else. The
/// call's idempotency key is in it so that a script that calls an outside
/// service can hand the key on, and a call repeated after a crash is
/// recognised there.
fn environment(scratch: &Path, call: &CallInfo) -> Vec<(OsString, OsString)> {
    let scratch = scratch.as_os_str().to_owned();
    vec![
        ("PATH".into(), PATH.into()),
        ("HOME".into(), scratch.clone()),
        ("TMPDIR".into(), scratch),
        ("LANG".into(), "C.UTF-8".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        (IDEMPOTENCY_ENV.into(), call.idempotency_key().into()),
    ]
}

/// What the model sees: how it ended, then stdout and stderr.
fn render(outcome: &ExecOutcome, max_bytes: usize) -> ToolOutput {
    let ended = match outcome.status {
        ExitState::Code(code) => format!("exit {code}"),
        ExitState::Signal(signal) => format!("killed by signal {signal}"),
    };
    let killed = match outcome.killed_by {
        Some(Limit::WallTime) => format!(
            "; killed after {:.1}s: time limit",
            outcome.duration.as_secs_f64()
        ),
        Some(Limit::CpuTime) => "; killed: CPU time limit".to_owned(),
        Some(Limit::FileSize) => "; killed: file size limit".to_owned(),
        Some(Limit::Output) => "; killed: output limit".to_owned(),
        None => String::new(),
    };
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let mut text = format!("{ended}{killed}\n");
    if !stdout.is_empty() {
        text.push_str("--- stdout ---\n");
        text.push_str(&stdout);
        if !stdout.ends_with('\n') {
            text.push('\n');
        }
    }
    if !stderr.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&stderr);
    }
    let cut = outcome.stdout_truncated || outcome.stderr_truncated;
    let lines = stdout.lines().count() + stderr.lines().count();
    let summary = format!("{ended}{killed}, {lines} lines of output");
    ToolOutput::new(text, summary, cut, max_bytes)
}
