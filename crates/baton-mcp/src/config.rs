//! The `[[mcp.servers]]` entry: how to reach one MCP server, validated before
//! anything is spawned or dialled, and printed without its secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::McpError;

/// Longest server name: it prefixes every function name the model sees, and
/// OpenAI-style function names stop at 64 characters, so half is left for the tool.
pub const MAX_SERVER_NAME_LEN: usize = 32;
/// Per-call timeout when the entry sets none.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest accepted `timeout_secs`: a tool call that may take longer than an
/// hour belongs in a workflow, not in one agent step.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

/// Headers the MCP transport sets itself; a configured value would break the protocol.
const RESERVED_HEADERS: [&str; 5] = [
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// How a validated entry reaches its server.
pub(crate) enum Endpoint<'a> {
    /// Spawn this program and speak MCP over its stdin/stdout.
    Stdio(&'a str),
    /// Speak streamable HTTP to this URL.
    Http(&'a Url),
}

/// One configured server, as it appears in baton's TOML config:
///
/// ```toml
/// [[mcp.servers]]
/// name = "github"
/// command = "npx"
/// args = ["-y", "@modelcontextprotocol/server-github"]
/// env = { GITHUB_TOKEN = "..." }
///
/// [[mcp.servers]]
/// name = "docs"
/// url = "http://127.0.0.1:9000/mcp"
/// headers = { Authorization = "Bearer ..." }
/// timeout_secs = 30
/// ```
///
/// Exactly one of `command` (stdio: baton spawns the server) and `url`
/// (streamable HTTP) is set. `Debug` prints `env` and `headers` values as
/// `***`; `Serialize` writes them as they are, because it exists to write
/// configuration files.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Prefix of the server's tools (`name__tool`): `[A-Za-z0-9_-]`, 1 to 32
    /// characters, no `__` and no trailing `_`, so the prefix can be split off again.
    pub name: String,
    /// Program of a stdio server, looked up in `PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment of a stdio server (secret values allowed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory of a stdio server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Endpoint of a streamable HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// Extra HTTP headers sent on every request (secret values allowed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Per-call limit in seconds (1 to 3600); 60 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl McpServerConfig {
    /// A stdio server entry; the rest of the fields can be set on the result.
    pub fn stdio(name: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            command: Some(command.into()),
            ..Self::empty(name.into())
        }
    }

    /// A streamable HTTP server entry.
    pub fn http(name: impl Into<String>, url: Url) -> Self {
        Self {
            url: Some(url),
            ..Self::empty(name.into())
        }
    }

    fn empty(name: String) -> Self {
        Self {
            name,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            url: None,
            headers: BTreeMap::new(),
            timeout_secs: None,
        }
    }

    /// Checks everything that can be checked without starting the server, so a
    /// typo is reported at start-up with the key that is wrong.
    pub fn validate(&self) -> Result<(), McpError> {
        self.endpoint().map(|_| ())
    }

    /// Validates the entry and says how to reach the server.
    pub(crate) fn endpoint(&self) -> Result<Endpoint<'_>, McpError> {
        validate_name(&self.name).map_err(|reason| self.invalid(reason))?;
        let endpoint = match (&self.command, &self.url) {
            (Some(_), Some(_)) => {
                return Err(self.invalid("set either `command` (stdio) or `url` (HTTP), not both"));
            }
            (None, None) => {
                return Err(self.invalid("set `command` (stdio) or `url` (streamable HTTP)"));
            }
            (Some(command), None) => {
                self.validate_stdio(command)?;
                Endpoint::Stdio(command)
            }
            (None, Some(url)) => {
                self.validate_http(url)?;
                Endpoint::Http(url)
            }
        };
        if let Some(secs) = self.timeout_secs
            && !(1..=MAX_TIMEOUT_SECS).contains(&secs)
        {
            return Err(self.invalid(format!(
                "`timeout_secs` is {secs}; it must be between 1 and {MAX_TIMEOUT_SECS}"
            )));
        }
        Ok(endpoint)
    }

    fn validate_stdio(&self, command: &str) -> Result<(), McpError> {
        if command.trim().is_empty() {
            return Err(self.invalid("`command` is empty"));
        }
        if !self.headers.is_empty() {
            return Err(self.invalid("`headers` apply to `url` servers only"));
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(self.invalid(format!("`env` key {key:?} is not a valid variable name")));
            }
        }
        if self.env.values().any(|value| value.contains('\0')) {
            return Err(self.invalid("an `env` value contains a NUL byte"));
        }
        Ok(())
    }

    fn validate_http(&self, url: &Url) -> Result<(), McpError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.invalid(format!(
                "`url` scheme is `{}`; it must be http or https",
                url.scheme()
            )));
        }
        if !self.args.is_empty() || !self.env.is_empty() || self.cwd.is_some() {
            return Err(self.invalid("`args`, `env` and `cwd` apply to `command` servers only"));
        }
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(self.invalid(format!(
                    "header `{name}` is set by the MCP transport and cannot be configured"
                )));
            }
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(
                    self.invalid(format!("header name {name:?} is not a valid HTTP header"))
                );
            }
            if http::HeaderValue::from_str(value).is_err() {
                return Err(self.invalid(format!(
                    "the value of header `{name}` is not a valid HTTP header value"
                )));
            }
        }
        Ok(())
    }

    /// The per-call limit this entry asks for.
    pub fn call_timeout(&self) -> Duration {
        self.timeout_secs
            .map_or(DEFAULT_CALL_TIMEOUT, Duration::from_secs)
    }

    /// Replaces every configured secret value (env and header values, URL
    /// password) found in `text` with `***`, so server output and transport
    /// errors can be shown safely.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let url_password = self.url.as_ref().and_then(Url::password);
        for secret in self
            .env
            .values()
            .chain(self.headers.values())
            .map(String::as_str)
            .chain(url_password)
        {
            if !secret.is_empty() {
                out = out.replace(secret, "***");
            }
        }
        out
    }

    fn invalid(&self, reason: impl Into<String>) -> McpError {
        McpError::InvalidConfig {
            server: self.name.clone(),
            reason: reason.into(),
        }
    }
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SERVER_NAME_LEN {
        return Err(format!(
            "`name` must be 1 to {MAX_SERVER_NAME_LEN} characters, got {}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "`name` may hold only A-Z, a-z, 0-9, `_` and `-`; found {bad:?}"
        ));
    }
    if name.contains("__") || name.ends_with('_') {
        return Err(
            "`name` may not contain `__` or end with `_`: `__` separates it from tool names"
                .to_owned(),
        );
    }
    Ok(())
}

/// Values are secrets: only their keys are printed.
struct Keys<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|key| (key, "***")))
            .finish()
    }
}

impl fmt::Debug for McpServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url.as_ref().map(|url| {
            let mut shown = url.clone();
            if shown.password().is_some() {
                let _ = shown.set_password(Some("***"));
            }
            shown.to_string()
        });
        f.debug_struct("McpServerConfig")
            .field("name", &self.name)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &Keys(&self.env))
            .field("cwd", &self.cwd)
            .field("url", &url)
            .field("headers", &Keys(&self.headers))
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate has no TOML dependency; the tests write entries as JSON objects
    /// with the same keys, which is what serde sees either way.
    fn parse(json_text: &str) -> McpServerConfig {
        serde_json::from_str(json_text).expect("entry parses")
    }

    fn reason(config: &McpServerConfig) -> String {
        match config.validate() {
            Err(McpError::InvalidConfig { reason, .. }) => reason,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn stdio_and_http_entries_validate() {
        let stdio = parse(
            r#"{"name": "git-hub", "command": "npx", "args": ["-y", "x"], "env": {"TOKEN": "s3cret"}}"#,
        );
        stdio.validate().expect("stdio entry is valid");
        let http = parse(
            r#"{"name": "docs", "url": "http://127.0.0.1:9000/mcp", "headers": {"Authorization": "Bearer abc"}, "timeout_secs": 30}"#,
        );
        http.validate().expect("http entry is valid");
        assert_eq!(http.call_timeout(), Duration::from_secs(30));
        assert_eq!(stdio.call_timeout(), DEFAULT_CALL_TIMEOUT);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = serde_json::from_str::<McpServerConfig>(
            r#"{"name": "a", "command": "x", "commmand": "y"}"#,
        )
        .expect_err("typo is refused");
        assert!(err.to_string().contains("commmand"), "{err}");
    }

    #[test]
    fn exactly_one_transport_is_required() {
        let both = parse(r#"{"name": "a", "command": "x", "url": "http://h/mcp"}"#);
        assert!(reason(&both).contains("not both"));
        let neither = parse(r#"{"name": "a"}"#);
        assert!(reason(&neither).contains("set `command`"));
    }

    #[test]
    fn names_must_be_short_plain_and_splittable() {
        for bad in [
            "",
            "has space",
            "dot.ted",
            "a__b",
            "trailing_",
            &"x".repeat(33),
        ] {
            let config = McpServerConfig::stdio(bad, "x");
            assert!(config.validate().is_err(), "{bad:?} should be refused");
        }
        for good in ["a", "git-hub", "my_server", "A1-b_2", &"x".repeat(32)] {
            McpServerConfig::stdio(good, "x")
                .validate()
                .unwrap_or_else(|e| panic!("{good:?} should be accepted: {e}"));
        }
    }

    #[test]
    fn misplaced_fields_and_bad_values_are_named() {
        let mut http = McpServerConfig::http("a", Url::parse("http://h/mcp").unwrap());
        http.env.insert("K".into(), "v".into());
        assert!(reason(&http).contains("`env`"));

        let mut stdio = McpServerConfig::stdio("a", "x");
        stdio.headers.insert("X".into(), "v".into());
        assert!(reason(&stdio).contains("`headers`"));

        let ftp = McpServerConfig::http("a", Url::parse("ftp://h/mcp").unwrap());
        assert!(reason(&ftp).contains("ftp"));

        let mut reserved = McpServerConfig::http("a", Url::parse("http://h/mcp").unwrap());
        reserved.headers.insert("Mcp-Session-Id".into(), "1".into());
        assert!(reason(&reserved).contains("Mcp-Session-Id"));

        let mut zero = McpServerConfig::stdio("a", "x");
        zero.timeout_secs = Some(0);
        assert!(reason(&zero).contains("timeout_secs"));
        zero.timeout_secs = Some(MAX_TIMEOUT_SECS + 1);
        assert!(reason(&zero).contains("timeout_secs"));

        let empty = McpServerConfig::stdio("a", " ");
        assert!(reason(&empty).contains("empty"));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let mut http = McpServerConfig::http("a", Url::parse("http://user:hunter2@h/mcp").unwrap());
        http.headers
            .insert("Authorization".into(), "Bearer tok-123\n".into());
        let debug = format!("{http:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("tok-123"),
            "{debug}"
        );
        assert!(debug.contains("Authorization"), "{debug}");
        let error = reason(&http);
        assert!(!error.contains("tok-123"), "{error}");

        let mut stdio = McpServerConfig::stdio("a", "x");
        stdio.env.insert("TOKEN".into(), "s3cret-value".into());
        assert!(!format!("{stdio:?}").contains("s3cret-value"));
        assert_eq!(
            stdio.redact("failed with s3cret-value!"),
            "failed with ***!"
        );
    }
}
