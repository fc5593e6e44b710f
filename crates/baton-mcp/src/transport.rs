//! Opening the two transports MCP defines: a child process spoken to over
//! stdio, and streamable HTTP.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::transport::common::client_side_sse::SseRetryPolicy;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::ChildStderr;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::McpServerConfig;
use crate::error::McpError;

/// Longest stderr line logged as one event; longer output is split.
const MAX_STDERR_LINE: u64 = 4096;
/// How many of the last stderr lines are kept to explain a failure.
const STDERR_TAIL_LINES: usize = 8;

/// The last lines a stdio server wrote to stderr (already redacted), quoted
/// in errors when the server fails to start or dies.
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == STDERR_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// `"; stderr: a | b"`, or nothing when the server wrote nothing.
    pub(crate) fn suffix(&self) -> String {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.is_empty() {
            String::new()
        } else {
            let joined: Vec<&str> = lines.iter().map(String::as_str).collect();
            format!("; stderr: {}", joined.join(" | "))
        }
    }
}

/// A spawned stdio server: the transport plus the task draining its stderr.
pub(crate) struct Child {
    pub(crate) transport: TokioChildProcess,
    pub(crate) stderr: StderrTail,
    pub(crate) stderr_task: JoinHandle<()>,
}

/// Spawns `config.command` in its own process group (so closing baton's side
/// kills helpers it started too, as `npx` does), killed when dropped, with
/// stderr drained into tracing at debug level instead of baton's terminal.
pub(crate) fn spawn(config: &McpServerConfig, command: &str) -> Result<Child, McpError> {
    let spawn_error = |reason: String| McpError::Spawn {
        server: config.name.clone(),
        command: command.to_owned(),
        reason,
    };
    if let Some(cwd) = &config.cwd
        && !cwd.is_dir()
    {
        return Err(spawn_error(format!(
            "working directory {} is not a directory",
            cwd.display()
        )));
    }
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(&config.args).envs(&config.env).kill_on_drop(true);
    if let Some(cwd) = &config.cwd {
        cmd.current_dir(cwd);
    }
    let mut wrapped = CommandWrap::from(cmd);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let (transport, stderr) = TokioChildProcess::builder(wrapped)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            spawn_error(match error.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such program (is it installed and in PATH?)".to_owned()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied (is it executable?)".to_owned()
                }
                _ => config.redact(&error.to_string()),
            })
        })?;
    let tail = StderrTail::default();
    let stderr_task = match stderr {
        Some(stderr) => tokio::spawn(forward_stderr(config.clone(), stderr, tail.clone())),
        None => tokio::spawn(async {}),
    };
    Ok(Child {
        transport,
        stderr: tail,
        stderr_task,
    })
}

async fn forward_stderr(config: McpServerConfig, stderr: ChildStderr, tail: StderrTail) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_STDERR_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) => return,
            Ok(_) => {
                let text = config.redact(String::from_utf8_lossy(&line).trim_end());
                tracing::debug!(server = %config.name, "mcp server stderr: {text}");
                tail.push(text);
            }
            Err(error) => {
                tracing::debug!(server = %config.name, %error, "reading mcp server stderr failed");
                return;
            }
        }
    }
}

/// A streamable HTTP transport to `url` carrying the configured headers
/// (marked sensitive so HTTP-level logs hide them).
pub(crate) fn http(
    config: &McpServerConfig,
    url: &Url,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, McpError> {
    install_crypto_provider();
    let mut headers = HashMap::with_capacity(config.headers.len());
    for (name, value) in &config.headers {
        let invalid = || McpError::InvalidConfig {
            server: config.name.clone(),
            reason: format!("header `{name}` is not a valid HTTP header"),
        };
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let mut value = http::HeaderValue::from_str(value).map_err(|_| invalid())?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let mut transport_config =
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers);
    transport_config.retry_config = Arc::new(BoundedReconnect);
    Ok(StreamableHttpClientTransport::from_config(transport_config))
}

/// Reconnect attempts for a broken SSE response stream before the requests
/// waiting on it fail (rmcp's default retries forever, so a dead server would
/// only ever surface as a timeout). A server's SSE `retry:` hint replaces the
/// delay below (rmcp's own server asks for 3 s, so a dead one is noticed
/// after about 3 s).
const SSE_RECONNECT_ATTEMPTS: usize = 2;
/// First reconnect delay; doubled for the next attempt.
const SSE_RECONNECT_BASE: Duration = Duration::from_millis(250);

/// Bridges a network blip, gives up on a server that is gone.
#[derive(Debug)]
struct BoundedReconnect;

impl SseRetryPolicy for BoundedReconnect {
    fn retry(&self, attempts_so_far: usize) -> Option<Duration> {
        (attempts_so_far < SSE_RECONNECT_ATTEMPTS)
            .then(|| SSE_RECONNECT_BASE * 2u32.pow(attempts_so_far as u32))
    }
}

/// rmcp's HTTP client is reqwest with rustls but no built-in crypto, so that
/// baton uses ring (already in the build through its other HTTP clients)
/// instead of compiling a second one. A provider installed by the embedding
/// program wins.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    }
}
