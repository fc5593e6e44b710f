//! The HTTP edge every provider client shares: connection pools per
//! provider, secret-bearing headers, and the translation of transport
//! failures and error statuses into [`UpstreamError`]s.
//!
//! POSTs to `http://` upstreams go over [`direct`](crate::direct)
//! connections (no proxy variable set); everything else over reqwest, which
//! brings TLS and proxies.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::Full;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::direct::{DirectBody, DirectError, DirectPool};
use crate::error::{GatewayError, UpstreamError};
use crate::redact::Redactor;

/// Upstream error bodies longer than this are cut: the first lines say
/// what went wrong, the rest (an HTML error page) would only flood logs.
const MAX_ERROR_MESSAGE: usize = 500;

/// How much of an error body is read at most.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The largest whole (not streamed) response accepted: far above any chat
/// completion or model listing, small enough that a runaway upstream cannot
/// exhaust memory.
const MAX_RESPONSE_BODY: usize = 32 * 1024 * 1024;

/// Proxy variables reqwest honours; when any is set, plain-HTTP upstreams
/// go through reqwest too, so that the proxy is used.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

const USER_AGENT_VALUE: &str = concat!("baton/", env!("CARGO_PKG_VERSION"));

/// A provider's HTTP client. Cloning shares the connection pools.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// The provider's own headers (keys), for direct requests.
    headers: HeaderMap,
    /// `None` when a proxy is configured.
    direct: Option<DirectPool>,
    connect_timeout: Duration,
    redactor: Redactor,
}

/// An upstream response, from whichever transport carried it.
#[derive(Debug)]
pub(crate) enum Response {
    Pooled(reqwest::Response),
    Direct(hyper::Response<DirectBody>),
}

/// A response body as bytes, whichever transport carried it.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// A failure while reading a response body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error(transparent)]
    Pooled(reqwest::Error),
    #[error(transparent)]
    Direct(hyper::Error),
}

impl Response {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Response::Pooled(r) => r.status(),
            Response::Direct(r) => r.status(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Response::Pooled(r) => r.headers(),
            Response::Direct(r) => r.headers(),
        }
    }

    /// The body, chunk by chunk as it arrives.
    pub(crate) fn bytes_stream(self) -> BodyStream {
        match self {
            Response::Pooled(r) => Box::pin(r.bytes_stream().map_err(BodyError::Pooled)),
            Response::Direct(r) => Box::pin(r.into_body().map_err(BodyError::Direct)),
        }
    }
}

impl Http {
    /// A client sending `headers` (all marked sensitive, so that reqwest's
    /// own `Debug` hides them) with every request; `redactor` knows the
    /// secrets inside them.
    pub(crate) fn new(
        provider: &str,
        connect_timeout: Duration,
        headers: &[(String, String)],
        redactor: Redactor,
    ) -> Result<Self, GatewayError> {
        let proxied = PROXY_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        Self::with_transports(provider, connect_timeout, headers, redactor, !proxied)
    }

    fn with_transports(
        provider: &str,
        connect_timeout: Duration,
        headers: &[(String, String)],
        redactor: Redactor,
        direct: bool,
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
            .user_agent(USER_AGENT_VALUE)
            .connect_timeout(connect_timeout)
            .default_headers(map.clone())
            .build()
            .map_err(|e| GatewayError::Config(format!("provider {provider}: HTTP client: {e}")))?;
        Ok(Http {
            client,
            headers: map,
            direct: direct.then(DirectPool::default),
            connect_timeout,
            redactor,
        })
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
        let sent = async {
            request
                .send()
                .await
                .map(Response::Pooled)
                .map_err(|e| self.transport_error(e))
        };
        self.checked(with_timeout(headers_timeout, sent).await?)
            .await
    }

    /// POSTs a JSON body; see [`send`](Self::send).
    pub(crate) async fn post_json(
        &self,
        url: String,
        body: &Value,
        headers_timeout: Option<Duration>,
    ) -> Result<Response, UpstreamError> {
        let direct = self.direct.as_ref().filter(|_| url.starts_with("http://"));
        let Some(pool) = direct else {
            return self
                .send(self.client.post(url).json(body), headers_timeout)
                .await;
        };
        let (authority, request) = self.direct_request(&url, body)?;
        let sent = async {
            pool.send(&authority, request, self.connect_timeout)
                .await
                .map(Response::Direct)
                .map_err(|e| self.direct_error(e))
        };
        self.checked(with_timeout(headers_timeout, sent).await?)
            .await
    }

    /// A POST of `body` for a direct connection, with the headers reqwest
    /// would have sent, and the `host:port` to connect to.
    fn direct_request(
        &self,
        url: &str,
        body: &Value,
    ) -> Result<(String, hyper::Request<Full<Bytes>>), UpstreamError> {
        let invalid = || UpstreamError::Connect(format!("invalid upstream URL {url:?}"));
        let uri: hyper::Uri = url.parse().map_err(|_| invalid())?;
        let host = uri.host().ok_or_else(invalid)?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let host_header = uri.authority().ok_or_else(invalid)?.as_str().to_owned();
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let json = serde_json::to_vec(body)
            .map_err(|e| UpstreamError::Protocol(format!("request body: {e}")))?;
        let mut request = hyper::Request::post(path)
            .body(Full::new(Bytes::from(json)))
            .map_err(|_| invalid())?;
        let headers = request.headers_mut();
        headers.extend(self.headers.clone());
        headers.insert(
            HOST,
            HeaderValue::from_str(&host_header).map_err(|_| invalid())?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        Ok((authority, request))
    }

    /// Passes a success through; any other status becomes an error.
    async fn checked(&self, response: Response) -> Result<Response, UpstreamError> {
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.status_error(response).await)
        }
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
        let mut body = response.bytes_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.body_error(e))?;
            if bytes.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(UpstreamError::Protocol(format!(
                    "the response body is larger than {} MiB",
                    MAX_RESPONSE_BODY / (1024 * 1024)
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
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

    /// Classifies a direct-connection failure the way
    /// [`transport_error`](Self::transport_error) does reqwest's.
    fn direct_error(&self, error: DirectError) -> UpstreamError {
        let text = self.redactor.redact(&error_chain(&error));
        match error {
            DirectError::ConnectTimeout => UpstreamError::Timeout("connection"),
            DirectError::Connect(_) => UpstreamError::Connect(text),
            DirectError::Http(e) if e.is_parse() => UpstreamError::Protocol(text),
            DirectError::Http(_) => UpstreamError::Transport(text),
        }
    }

    fn body_error(&self, error: BodyError) -> UpstreamError {
        match error {
            BodyError::Pooled(e) => self.transport_error(e),
            BodyError::Direct(e) => self.direct_error(DirectError::Http(e)),
        }
    }

    async fn status_error(&self, response: Response) -> UpstreamError {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let mut chunks = response.bytes_stream();
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match chunks.next().await {
                Some(Ok(chunk)) => body.extend_from_slice(&chunk),
                Some(Err(_)) | None => break,
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

/// Awaits `sent`, for at most `limit` when given.
async fn with_timeout<F>(limit: Option<Duration>, sent: F) -> Result<Response, UpstreamError>
where
    F: std::future::Future<Output = Result<Response, UpstreamError>>,
{
    match limit {
        Some(limit) => tokio::time::timeout(limit, sent)
            .await
            .map_err(|_| UpstreamError::Timeout("response headers"))?,
        None => sent.await,
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
    format!("{}…", baton_core::head(text, max))
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

    /// The same calls over both transports give the same results: the
    /// direct one (plain HTTP, no proxy) and reqwest (TLS or a proxy).
    #[tokio::test]
    async fn both_transports_answer_alike() {
        use baton_testkit::{Fault, ScriptedServer, Step};
        let srv = ScriptedServer::start().await;
        let url = format!("{}/chat/completions", srv.openai_base());
        let ask = |stream: bool| serde_json::json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        let key = [("authorization".to_owned(), "Bearer k-123".to_owned())];
        for direct in [true, false] {
            let http = Http::with_transports(
                "p",
                Duration::from_secs(1),
                &key,
                Redactor::default(),
                direct,
            )
            .unwrap();
            let transport = if direct { "direct" } else { "reqwest" };
            assert_eq!(http.direct.is_some(), direct);

            srv.push(Step::text("whole answer"));
            let response = http
                .post_json(url.clone(), &ask(false), Some(Duration::from_secs(1)))
                .await
                .unwrap();
            assert!(
                matches!(response, Response::Direct(_)) == direct,
                "{transport}"
            );
            let completion: Value = http.json(response).await.unwrap();
            assert_eq!(
                completion["choices"][0]["message"]["content"], "whole answer",
                "{transport}"
            );

            srv.push(Step::text("a streamed answer").chunks(3));
            let response = http.post_json(url.clone(), &ask(true), None).await.unwrap();
            let mut body = response.bytes_stream();
            let mut text = String::new();
            while let Some(chunk) = body.next().await {
                text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            }
            assert!(
                text.trim_end().ends_with("data: [DONE]"),
                "{transport}: {text}"
            );

            srv.push(Step::failure(Fault::Status {
                status: 503,
                message: "busy".into(),
            }));
            let err = http
                .post_json(url.clone(), &ask(false), None)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, UpstreamError::Status { status: 503, message, .. } if message == "busy"),
                "{transport}: {err:?}"
            );

            let request = srv.requests().pop().unwrap();
            assert_eq!(
                request.header("authorization"),
                Some("Bearer k-123"),
                "{transport}"
            );
            assert_eq!(
                request.header("content-type"),
                Some("application/json"),
                "{transport}"
            );
            assert!(
                request.header("user-agent").unwrap().starts_with("baton/"),
                "{transport}"
            );
        }

        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        for direct in [true, false] {
            let http = Http::with_transports(
                "p",
                Duration::from_secs(1),
                &[],
                Redactor::default(),
                direct,
            )
            .unwrap();
            let err = http
                .post_json(
                    format!("http://{closed}/v1/chat/completions"),
                    &ask(false),
                    None,
                )
                .await
                .unwrap_err();
            assert!(
                matches!(err, UpstreamError::Connect(_)),
                "direct {direct}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_whole_body_past_the_limit_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                MAX_RESPONSE_BODY + 1
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let block = vec![b' '; 1024 * 1024];
            while stream.write_all(&block).await.is_ok() {}
        });
        let http =
            Http::with_transports("p", Duration::from_secs(1), &[], Redactor::default(), true)
                .unwrap();
        let response = http
            .post_json(format!("http://{addr}/x"), &Value::Null, None)
            .await
            .unwrap();
        let err = http.json::<Value>(response).await.unwrap_err();
        assert!(err.to_string().contains("larger than 32 MiB"), "{err}");
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
