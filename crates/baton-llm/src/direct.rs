//! Plain-HTTP/1.1 upstream connections driven by the task that reads the
//! response.
//!
//! reqwest runs each connection in a background task and hands the body
//! over a one-slot channel, so every streamed chunk costs two cross-task
//! wake-ups (often waking the other worker thread) and leaves the server
//! side writing one event per syscall. Here the connection is polled inside
//! the response stream itself: every chunk already in the socket buffer is
//! decoded in one go, without a hand-off, and the events made from them
//! reach the client in one write. Idle connections wait in a small pool and
//! are checked for a close by the server before reuse.
//!
//! Used for `http://` upstreams (local model servers, where the gateway's own
//! cost is what a user sees) when no proxy variable is set; TLS and proxies
//! stay with reqwest.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Idle connections kept per provider; more are closed when released.
const MAX_IDLE: usize = 64;

/// A pooled connection unused this long is closed rather than reused: the
/// server may have dropped it (hyper's and reqwest's default is the same).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Conn = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One HTTP/1.1 connection: the request half and the connection state
/// machine that this module polls itself.
struct Link {
    sender: SendRequest<Full<Bytes>>,
    conn: Conn,
    authority: String,
    idle_since: Instant,
    reused: bool,
}

impl Link {
    /// Drives the connection once; `false` once it has ended.
    fn poll_alive(&mut self, cx: &mut Context<'_>) -> bool {
        Pin::new(&mut self.conn).poll(cx).is_pending()
    }
}

/// A provider's pool of idle direct connections.
#[derive(Clone, Default)]
pub(crate) struct DirectPool {
    idle: Arc<Mutex<VecDeque<Box<Link>>>>,
}

impl std::fmt::Debug for DirectPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPool").finish_non_exhaustive()
    }
}

/// What can go wrong on a direct connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirectError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl DirectPool {
    /// Sends `request` to `authority` (`host:port`) and waits for the
    /// response head. When a pooled connection turns out closed before the
    /// request was written, the request goes out on another one (a fresh
    /// connection at worst); once written, a request is never sent twice.
    pub(crate) async fn send(
        &self,
        authority: &str,
        request: Request<Full<Bytes>>,
        connect_timeout: Duration,
    ) -> Result<Response<DirectBody>, DirectError> {
        let mut request = Some(request);
        loop {
            let mut link = match self.checkout(authority) {
                Some(link) => link,
                None => connect(authority, connect_timeout).await?,
            };
            let outgoing = request.take().expect("request present until sent");
            let mut sent = Box::pin(link.sender.try_send_request(outgoing));
            // A finished connection is not polled again; the response it
            // delivered (say with `Connection: close`) is still read.
            let mut alive = true;
            let result = poll_fn(|cx| {
                if alive {
                    alive = link.poll_alive(cx);
                }
                sent.as_mut().poll(cx)
            })
            .await;
            drop(sent);
            match result {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = DirectBody {
                        body,
                        link: alive.then_some(link),
                        pool: self.clone(),
                    };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut e) if link.reused => match e.take_message() {
                    Some(unsent) => request = Some(unsent),
                    None => return Err(DirectError::Http(e.into_error())),
                },
                Err(e) => return Err(DirectError::Http(e.into_error())),
            }
        }
    }

    /// An idle connection to `authority` that is still open. Connections
    /// idle too long are closed on the way; a connection the server closed
    /// while it sat in the pool shows as ended when polled here.
    fn checkout(&self, authority: &str) -> Option<Box<Link>> {
        let mut idle = self.idle.lock().expect("pool lock");
        while idle
            .front()
            .is_some_and(|link| link.idle_since.elapsed() > IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        let mut noop = Context::from_waker(Waker::noop());
        while let Some(at) = idle.iter().rposition(|link| link.authority == authority) {
            let mut link = idle.remove(at)?;
            if link.poll_alive(&mut noop) && link.sender.is_ready() {
                link.reused = true;
                return Some(link);
            }
        }
        None
    }

    fn release(&self, mut link: Box<Link>, cx: &mut Context<'_>) {
        if !link.poll_alive(cx) || !link.sender.is_ready() {
            return;
        }
        link.idle_since = Instant::now();
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE {
            idle.push_back(link);
        }
    }
}

async fn connect(authority: &str, timeout: Duration) -> Result<Box<Link>, DirectError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(authority))
        .await
        .map_err(|_| DirectError::ConnectTimeout)?
        .map_err(DirectError::Connect)?;
    stream.set_nodelay(true).map_err(DirectError::Connect)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    Ok(Box::new(Link {
        sender,
        conn,
        authority: authority.to_owned(),
        idle_since: Instant::now(),
        reused: false,
    }))
}

/// A response body that drives its own connection, returning it to the
/// pool once the body has been read to its end.
pub(crate) struct DirectBody {
    body: Incoming,
    link: Option<Box<Link>>,
    pool: DirectPool,
}

impl std::fmt::Debug for DirectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectBody")
            .field("pooled_when_read", &self.link.is_some())
            .finish_non_exhaustive()
    }
}

impl Stream for DirectBody {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(link) = this.link.as_mut()
                && !link.poll_alive(cx)
            {
                this.link = None;
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.link = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    if let Some(link) = this.link.take() {
                        this.pool.release(link, cx);
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const HELLO: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    const TIMEOUT: Duration = Duration::from_secs(2);

    /// A raw HTTP/1.1 server giving `answers` in order, one per request,
    /// closing each connection after one answer when `close_each`; the
    /// counter holds the connections accepted.
    async fn server(answers: Vec<&'static str>, close_each: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let answers = Arc::clone(&answers);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // Each test request is `{}` with its length.
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        if buf.len() < end + 4 + 2 {
                            continue;
                        }
                        buf.drain(..end + 6);
                        let answer = answers.lock().unwrap().pop_front().unwrap_or(HELLO);
                        stream.write_all(answer.as_bytes()).await.unwrap();
                        if close_each {
                            return;
                        }
                    }
                });
            }
        });
        (authority, accepted)
    }

    fn post(authority: &str) -> Request<Full<Bytes>> {
        Request::post("/v1/chat/completions")
            .header("host", authority)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    async fn text(pool: &DirectPool, authority: &str) -> String {
        let response = pool
            .send(authority, post(authority), TIMEOUT)
            .await
            .unwrap();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn one_connection_serves_calls_in_turn() {
        let (authority, accepted) = server(Vec::new(), false).await;
        let pool = DirectPool::default();
        for _ in 0..3 {
            assert_eq!(text(&pool, &authority).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_not_reused() {
        let (authority, accepted) = server(Vec::new(), true).await;
        let pool = DirectPool::default();
        for _ in 0..3 {
            assert_eq!(text(&pool, &authority).await, "hello");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_body_dropped_half_read_closes_its_connection() {
        let partial = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello";
        let (authority, accepted) = server(vec![partial], false).await;
        let pool = DirectPool::default();
        let response = pool
            .send(&authority, post(&authority), TIMEOUT)
            .await
            .unwrap();
        let mut body = response.into_body();
        assert_eq!(body.next().await.unwrap().unwrap(), "hello");
        drop(body);
        assert_eq!(text(&pool, &authority).await, "hello");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = DirectPool::default()
            .send(&authority, post(&authority), TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, DirectError::Connect(_)), "{err}");
    }

    #[tokio::test]
    async fn a_malformed_response_is_a_parse_error() {
        let (authority, _) = server(vec!["SMTP ready\r\n\r\n"], true).await;
        let err = DirectPool::default()
            .send(&authority, post(&authority), TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, DirectError::Http(e) if e.is_parse()),
            "{err}"
        );
    }
}
