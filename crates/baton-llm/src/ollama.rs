//! Ollama: models listed from its native `/api/tags`, chat through its
//! OpenAI-compatible endpoint, and discovery of a server running nearby.

use std::time::Duration;

use serde::Deserialize;

use crate::error::UpstreamError;
use crate::http::Http;
use crate::openai::OpenAiClient;
use crate::redact::Redactor;

/// Where Ollama listens unless `OLLAMA_HOST` says otherwise.
pub(crate) const DEFAULT_HOST: &str = "http://127.0.0.1:11434";

/// Ollama's own port, assumed when `OLLAMA_HOST` names none.
const DEFAULT_PORT: u16 = 11434;

/// How long the start-up probe waits: a local server answers in
/// milliseconds, and an absent one must not slow baton's start.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// A client for one Ollama server.
#[derive(Debug, Clone)]
pub(crate) struct OllamaClient {
    http: Http,
    host: String,
    chat: OpenAiClient,
}

impl OllamaClient {
    /// `host` is the server's root (`http://127.0.0.1:11434`).
    pub(crate) fn new(http: Http, host: &str) -> Self {
        let host = host.trim_end_matches('/').to_owned();
        let chat = OpenAiClient::new(http.clone(), &format!("{host}/v1"), "max_tokens");
        OllamaClient { http, host, chat }
    }

    /// The OpenAI-compatible client that carries chat calls.
    pub(crate) fn chat(&self) -> &OpenAiClient {
        &self.chat
    }

    /// The models pulled on this server, from `GET /api/tags`.
    pub(crate) async fn list_models(
        &self,
        timeout: Duration,
    ) -> Result<Vec<String>, UpstreamError> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            models: Vec<Tag>,
        }
        #[derive(Deserialize)]
        struct Tag {
            name: String,
        }
        let response = self
            .http
            .send(
                self.http.client().get(format!("{}/api/tags", self.host)),
                Some(timeout),
            )
            .await?;
        let tags: Tags = self.http.json(response).await?;
        Ok(tags.models.into_iter().map(|t| t.name).collect())
    }
}

/// The server root named by an `OLLAMA_HOST` value, read the way Ollama's
/// own client reads it: `host`, `host:port`, `:port` or a full URL; no
/// scheme means `http` on port 11434, while an explicit `http://` or
/// `https://` without a port means 80 or 443. The bind-all address
/// `0.0.0.0` is reached through loopback. A `/v1` suffix (a base URL pasted
/// from an OpenAI client's settings) is dropped.
pub(crate) fn host_url(value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        return DEFAULT_HOST.to_owned();
    }
    let (scheme, rest, default_port) = match value.split_once("://") {
        Some((scheme, rest)) => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            (scheme.to_ascii_lowercase(), rest, port)
        }
        None => ("http".to_owned(), value, DEFAULT_PORT),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.trim_end_matches('/')),
        None => (rest, ""),
    };
    let path = if path == "v1" {
        ""
    } else {
        path.strip_suffix("/v1").unwrap_or(path)
    };
    let (host, port) = split_host_port(authority);
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h => h,
    };
    let port = port.unwrap_or(default_port);
    if path.is_empty() {
        format!("{scheme}://{host}:{port}")
    } else {
        format!("{scheme}://{host}:{port}/{path}")
    }
}

fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some(end) = authority.strip_prefix('[').and_then(|r| r.find(']')) {
        // `[v6]` or `[v6]:port`
        let host = &authority[..end + 2];
        let port = authority[end + 2..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok());
        return (host, port);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (authority, None),
        },
        _ => (authority, None),
    }
}

/// Whether an Ollama server answers `GET /api/version` at `host` within
/// [`PROBE_TIMEOUT`] (with its `{"version": …}`, so that some other server
/// on the port is not mistaken for it).
pub(crate) async fn probe(host: &str) -> bool {
    #[derive(Deserialize)]
    struct Version {
        #[serde(rename = "version")]
        _version: String,
    }
    let Ok(http) = Http::new("ollama", PROBE_TIMEOUT, &[], Redactor::default()) else {
        return false;
    };
    let request = http
        .client()
        .get(format!("{}/api/version", host.trim_end_matches('/')))
        .timeout(PROBE_TIMEOUT);
    let answered = async {
        let response = http.send(request, Some(PROBE_TIMEOUT)).await?;
        http.json::<Version>(response).await
    };
    answered.await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_forms() {
        for (input, expected) in [
            ("", "http://127.0.0.1:11434"),
            ("127.0.0.1:11434", "http://127.0.0.1:11434"),
            ("box.lan", "http://box.lan:11434"),
            ("box.lan:9999", "http://box.lan:9999"),
            (":9999", "http://127.0.0.1:9999"),
            ("0.0.0.0", "http://127.0.0.1:11434"),
            ("http://box.lan:11434", "http://box.lan:11434"),
            ("http://box.lan", "http://box.lan:80"),
            (
                "https://ollama.example.com",
                "https://ollama.example.com:443",
            ),
            (
                "https://example.com/ollama/",
                "https://example.com:443/ollama",
            ),
            ("http://127.0.0.1:11434/v1/", "http://127.0.0.1:11434"),
            ("[::1]:8080", "http://[::1]:8080"),
            ("[::1]", "http://[::1]:11434"),
        ] {
            assert_eq!(host_url(input), expected, "OLLAMA_HOST={input:?}");
        }
    }

    #[tokio::test]
    async fn probe_of_a_closed_port_fails_fast() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let started = std::time::Instant::now();
        assert!(!probe(&format!("http://{addr}")).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
