//! The contract between the agent loop and every tool: a schema the model
//! reads, an effect the policy checks, a subject the policy rules match, and
//! a call that runs jailed to the workspace under explicit limits.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ToolError;
use crate::workspace::Workspace;

/// One capability the agent can use.
pub trait Tool: Send + Sync {
    /// Name, description and JSON Schema of the arguments (baton_core::ToolSpec).
    fn spec(&self) -> baton_core::ToolSpec;
    /// What this call can do to the world; `plan` mode allows only
    /// `Effect::Read`. Per call, because one tool may both look and change
    /// (`git status` reads, `git commit` writes).
    fn effect(&self, args: &serde_json::Value) -> Effect;
    /// The tool name policy rules use for this tool: its own name for the
    /// built-ins, `mcp` for a remote tool (whose subject is `server.tool`).
    fn policy_tool(&self) -> String {
        self.spec().name
    }
    /// The string policy rules match for this call: the command line for `shell`, the path for
    /// `read`/`write`/`edit`, the subcommand for `git` ("commit", "status"...), "server.tool" for MCP.
    /// Errors for arguments that do not parse.
    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError>;
    /// Runs the call; `args` are checked against the schema first. `call`
    /// holds what belongs to this one call rather than to the run (its
    /// idempotency key): kept apart from `ctx`, which the faces build once
    /// per run.
    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>>;
}

/// The environment variable in which `shell`, `run` and `git` hand the
/// program they start its call's idempotency key.
pub const IDEMPOTENCY_ENV: &str = "BATON_IDEMPOTENCY_KEY";

/// The longest idempotency key, so that services which cap the length of
/// theirs take it whole.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// What one tool call carries besides its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    idempotency_key: String,
}

impl CallInfo {
    /// The call `call_id` (the model's id for it) of the agent run
    /// `run_id`. A crash can cut a call off after it reached the outside
    /// world; the run is resumed under the same id and the call keeps its
    /// id, so the key is the same on every attempt and an external system
    /// can recognise the repeat.
    pub fn new(run_id: &str, call_id: &str) -> CallInfo {
        CallInfo {
            idempotency_key: idempotency_key(run_id, call_id),
        }
    }

    /// `baton-<run id>-<call id>`, only `[A-Za-z0-9._-]`, at most
    /// [`MAX_IDEMPOTENCY_KEY_LEN`] bytes: safe in an environment variable,
    /// an HTTP header or a JSON field.
    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }
}

fn idempotency_key(run_id: &str, call_id: &str) -> String {
    let raw = format!("baton-{run_id}-{call_id}");
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if raw.len() <= MAX_IDEMPOTENCY_KEY_LEN && raw.chars().all(allowed) {
        return raw;
    }
    // Replacing characters or cutting the end could give two calls the
    // same key, and a service would then drop the second as a repeat: a
    // digest of the whole original keeps them apart. FNV-1a rather than
    // std's hasher, whose output may change between Rust releases, and a
    // run resumed by a newer baton must still make the same key.
    let digest = raw.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("-{digest:016x}");
    let mut key: String = raw
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    // Only ASCII is left, so any byte length is a character boundary.
    key.truncate(MAX_IDEMPOTENCY_KEY_LEN - suffix.len());
    key.push_str(&suffix);
    key
}

/// What a call can do to the world. The policy's own type, so the tools
/// and the policy cannot disagree on the vocabulary.
pub use baton_policy::Effect;

/// Where and under which limits a call runs.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub workspace: Workspace,
    pub limits: Limits,
    /// Whether `shell` and `run` may reach the network.
    pub network: bool,
    /// Whether `shell` and `run` may run where the OS offers no sandbox
    /// (the policy then asks for every call).
    pub allow_unsandboxed: bool,
}

impl ToolContext {
    /// A context with the default limits.
    pub fn new(workspace: Workspace) -> Self {
        ToolContext {
            workspace,
            limits: Limits::default(),
            network: false,
            allow_unsandboxed: false,
        }
    }
}

/// The bounds every tool call runs within, so one call cannot flood the
/// model's context, fill memory or hang the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time of one call (default 30 s).
    pub timeout: Duration,
    /// Bytes of output the model sees; more is cut with a note (default 64 KiB).
    pub max_output_bytes: usize,
    /// Largest file a tool reads, writes or searches (default 10 MiB).
    pub max_file_bytes: u64,
    /// Most results (search matches, listed entries) one call returns (default 200).
    pub max_results: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            max_output_bytes: 64 * 1024,
            max_file_bytes: 10 * 1024 * 1024,
            max_results: 200,
        }
    }
}

/// What a call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// What the model sees.
    pub text: String,
    /// One line for the live trace, e.g. "12 matches in 5 files".
    pub summary: String,
    /// Whether `text` (or the results behind it) was cut to a limit.
    pub truncated: bool,
}

impl ToolOutput {
    /// An output whose text is cut to `max_bytes` (at a UTF-8 boundary, with
    /// a note saying how much was cut); `truncated` is also set when the tool
    /// itself already dropped results.
    pub fn new(text: String, summary: String, results_cut: bool, max_bytes: usize) -> Self {
        let (text, cut) = cut_to_limit(text, max_bytes);
        ToolOutput {
            text,
            summary,
            truncated: cut || results_cut,
        }
    }
}

/// Cuts `text` to at most `max_bytes` at a character boundary and appends
/// "[… N bytes cut]"; returns whether anything was cut.
pub fn cut_to_limit(mut text: String, max_bytes: usize) -> (String, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let end = baton_core::head(&text, max_bytes).len();
    let cut = text.len() - end;
    text.truncate(end);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("[… {cut} bytes cut]"));
    (text, true)
}

/// Runs a tool whose work is synchronous file I/O on tokio's blocking
/// pool: parses `args` into `A`, then calls `work` with a clone of the
/// context.
pub(crate) fn run_blocking<'a, A, F>(
    tool: &'static str,
    args: serde_json::Value,
    ctx: &'a ToolContext,
    work: F,
) -> BoxFuture<'a, Result<ToolOutput, ToolError>>
where
    A: DeserializeOwned + Send + 'static,
    F: FnOnce(A, &ToolContext) -> Result<ToolOutput, ToolError> + Send + 'static,
{
    Box::pin(async move {
        let args: A = parse_args(tool, args)?;
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || work(args, &ctx))
            .await
            .map_err(|e| ToolError::Failed(format!("the {tool} task failed: {e}")))?
    })
}

/// Deserializes a tool's arguments into its `deny_unknown_fields` struct,
/// turning serde's complaint into a message the model can act on. `null`
/// counts as `{}`, since some models send no arguments for a call without any.
pub fn parse_args<T: DeserializeOwned>(
    tool: &str,
    args: serde_json::Value,
) -> Result<T, ToolError> {
    let args = match args {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        serde_json::Value::Object(map) => serde_json::Value::Object(map),
        other => {
            return Err(ToolError::invalid(
                tool,
                format!("the arguments must be a JSON object, not {other}"),
            ));
        }
    };
    serde_json::from_value(args).map_err(|e| ToolError::invalid(tool, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn the_idempotency_key_names_the_run_and_the_call() {
        let run = "0191d2c4-7f3a-7c1e-9a2b-3c4d5e6f7a8b";
        let key = CallInfo::new(run, "call_Ab1.x-y");
        assert_eq!(
            key.idempotency_key(),
            format!("baton-{run}-call_Ab1.x-y"),
            "a clean id is used as it is"
        );
        assert_eq!(
            key,
            CallInfo::new(run, "call_Ab1.x-y"),
            "the same run and call id give the same key on every attempt"
        );
        assert_ne!(key, CallInfo::new(run, "call_Ab1.x-z"));
        assert_ne!(key, CallInfo::new("other-run", "call_Ab1.x-y"));
    }

    #[test]
    fn an_unusual_call_id_is_cleaned_cut_and_kept_apart() {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let long = "x".repeat(300);
        let odd = [
            "call/1",
            "call 1",
            "call_1",
            "callé",
            "call\n",
            long.as_str(),
            &format!("{long}y"),
        ];
        let keys: Vec<String> = odd
            .iter()
            .map(|id| CallInfo::new("run", id).idempotency_key().to_owned())
            .collect();
        for (id, key) in odd.iter().zip(&keys) {
            assert!(key.len() <= MAX_IDEMPOTENCY_KEY_LEN, "{id:?}: {key}");
            assert!(key.chars().all(allowed), "{id:?}: {key}");
            assert!(key.starts_with("baton-run-"), "{key}");
            assert_eq!(key, CallInfo::new("run", id).idempotency_key(), "stable");
        }
        assert_eq!(keys[2], "baton-run-call_1", "clean ids stay as they are");
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(
            distinct.len(),
            keys.len(),
            "ids that clean or cut to the same text keep distinct keys: {keys:?}"
        );
        assert_eq!(
            CallInfo::new("run", "call/1").idempotency_key(),
            "baton-run-call_1-7d7b4b1b33d6fab0",
            "FNV-1a of `baton-run-call/1`: fixed, so a resumed run makes the same key"
        );
    }

    #[test]
    fn cut_keeps_short_text() {
        assert_eq!(cut_to_limit("abc".into(), 3), ("abc".to_owned(), false));
    }

    #[test]
    fn cut_stops_at_a_char_boundary_and_says_how_much() {
        let (text, cut) = cut_to_limit("aé€x".into(), 3);
        assert!(cut);
        assert_eq!(text, "aé\n[… 4 bytes cut]");
    }

    #[test]
    fn parse_args_names_the_unknown_field() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            #[allow(dead_code)]
            path: String,
        }
        let err =
            parse_args::<Args>("read", serde_json::json!({"path": "a", "pth": 1})).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unknown field `pth`"), "{message}");
        let err = parse_args::<Args>("read", serde_json::json!([1])).unwrap_err();
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
        let err = parse_args::<Args>("read", serde_json::Value::Null).unwrap_err();
        assert!(err.to_string().contains("missing field `path`"), "{err}");
    }
}
