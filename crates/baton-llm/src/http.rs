//! The HTTP edge every provider client shares: one pooled connection pool
//! per provider, secret-bearing headers, and the translation of transport
//! failures and error statuses into [`UpstreamError`]s.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{GatewayError, UpstreamError};
use crate::redact::Redactor;

/// Upstream error bodies longer than this are cut: the first lines say
/// what went wrong, the rest (an HTML error page) would only flood logs.
const MAX_ERROR_MESSAGE: usize = 500;

/// How much of an error body is read at most.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A provider's HTTP client. Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    redactor: Redactor,
}

impl Http {
    /// A pooled client sending `headers` (all marked sensitive, so that
    /// reqwest's own `Debug` hides them) with every request; `redactor`
    /// knows the secrets inside them.
    pub(crate) fn new(
        provider: &str,
        connect_timeout: Duration,
        headers: &[(String, String)],
        redactor: Redactor,
    ) -> Result<Self, GatewayError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                GatewayError::Config(format!(
                    "provider {provider}: {name:?} is not a valid HTTP header name"
                ))
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                GatewayError::Config(format!(
                    "provider {provider}: the value of header {name:?} is not valid in HTTP"
                ))
            })?;
            value.set_sensitive(true);
            map.insert(header, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect_timeout)
            .default_headers(map)
            .build()
            .map_err(|e| GatewayError::Config(format!("provider {provider}: HTTP client: {e}")))?;
        Ok(Http { client, redactor })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Sends a request and waits for its headers (for at most
    /// `headers_timeout` when given); a non-success status becomes an error
    /// carrying the upstream's own message.
    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        headers_timeout: Option<Duration>,
    ) -> Result<Response, UpstreamError> {
        let sent = request.send();
        let response = match headers_timeout {
            Some(limit) => tokio::time::timeout(limit, sent)
                .await
                .map_err(|_| UpstreamError::Timeout("response headers"))?,
            None => sent.await,
        }
        .map_err(|e| self.transport_error(e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.status_error(response).await)
        }
    }

    /// POSTs a JSON body; see [`send`](Self::send).
    pub(crate) async fn post_json(
        &self,
        url: String,
        body: &Value,
        headers_timeout: Option<Duration>,
    ) -> Result<Response, UpstreamError> {
        self.send(self.client.post(url).json(body), headers_timeout)
            .await
    }

    /// The ids of a model listing in the `{"data": [{"id": …}]}` shape that
    /// OpenAI's and Anthropic's APIs share.
    pub(crate) async fn list_ids(
        &self,
        url: String,
        timeout: Duration,
    ) -> Result<Vec<String>, UpstreamError> {
        #[derive(serde::Deserialize)]
        struct Listing {
            data: Vec<Listed>,
        }
        #[derive(serde::Deserialize)]
        struct Listed {
            id: String,
        }
        let response = self.send(self.client.get(url), Some(timeout)).await?;
        let listing: Listing = self.json(response).await?;
        Ok(listing.data.into_iter().map(|m| m.id).collect())
    }

    /// Reads a whole JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        response: Response,
    ) -> Result<T, UpstreamError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            UpstreamError::Protocol(format!("the response body is not the expected JSON: {e}"))
        })
    }

    /// Classifies a reqwest failure; the URL is dropped (it may carry a key
    /// in its query) and the text redacted.
    pub(crate) fn transport_error(&self, error: reqwest::Error) -> UpstreamError {
        let error = error.without_url();
        if error.is_timeout() {
            return UpstreamError::Timeout(if error.is_connect() {
                "connection"
            } else {
                "response"
            });
        }
        let text = self.redactor.redact(&error_chain(&error));
        if error.is_connect() {
            UpstreamError::Connect(text)
        } else if error.is_decode() {
            UpstreamError::Protocol(text)
        } else {
            UpstreamError::Transport(text)
        }
    }

    async fn status_error(&self, mut response: Response) -> UpstreamError {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        let message = upstream_message(&String::from_utf8_lossy(&body));
        UpstreamError::Status {
            status,
            message: self.redactor.redact(&message),
            retry_after,
        }
    }
}

/// The error and its causes on one line: reqwest's own message alone
/// ("error sending request") rarely says what happened.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The human message inside an upstream error body. OpenAI and Anthropic
/// put it in `error.message`; others use `error`, `message` or `detail`;
/// anything else is shown as text, cut short.
pub(crate) fn upstream_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
        ]
        .into_iter()
        .flatten()
        .find_map(|m| m.as_str().map(str::to_owned))
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    if text.is_empty() {
        return "(no message)".to_owned();
    }
    truncate(&text, MAX_ERROR_MESSAGE)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// How long the upstream asked us to wait: `retry-after-ms` (OpenAI's
/// finer hint), else `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text(RETRY_AFTER.as_str())?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_milliseconds() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")]),
                now
            ),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "250"), ("retry-after", "9")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn upstream_messages_come_from_the_usual_places() {
        assert_eq!(
            upstream_message(r#"{"error":{"message":"bad tool","type":"invalid_request_error"}}"#),
            "bad tool"
        );
        assert_eq!(
            upstream_message(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(
            upstream_message(r#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(upstream_message(r#"{"detail":"nope"}"#), "nope");
        assert_eq!(upstream_message("  plain text\n"), "plain text");
        assert_eq!(upstream_message(""), "(no message)");
        let long = "é".repeat(400);
        assert!(upstream_message(&long).ends_with('…'));
    }

    #[test]
    fn invalid_headers_are_configuration_errors_that_hide_the_value() {
        let err = Http::new(
            "p",
            Duration::from_secs(1),
            &[("x-key".into(), "bad\nsecret-value".into())],
            Redactor::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "config");
        assert!(!err.to_string().contains("secret-value"));
    }
}
