//! The server itself: its options, the state every route shares, the routes,
//! and the accept loop whose lifetime is tied to a [`ScriptedServer`] handle.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::answer::Defaults;
use crate::anthropic::Anthropic;
use crate::exchange::{Dialect, chat};
use crate::ollama::Ollama;
use crate::openai::OpenAi;
use crate::record::{RecordedRequest, Recorder, Wire};
use crate::script::{Reply, Script, Step};
use crate::{control, embeddings, ollama, openai};

/// How many requests are kept for [`ScriptedServer::requests`] by default.
pub const DEFAULT_RECORD_LIMIT: usize = 10_000;

/// Request bodies up to this size are accepted (conversations with images).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How a [`ScriptedServer`] behaves when a test has not scripted otherwise.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// When set, model routes answer 401 (in the wire's error format) unless
    /// the request presents this key.
    pub require_api_key: Option<String>,
    /// What the model listings (`/v1/models`, `/api/tags`) name. Requests for
    /// any other model are answered all the same.
    pub models: Vec<String>,
    /// The answer when no queued step fits the request.
    pub default_reply: Reply,
    /// Where to listen; `127.0.0.1:0` (a free port) when `None`.
    pub addr: Option<SocketAddr>,
    /// Chunks for steps that do not set [`Step::chunks`]; `None` streams one
    /// word a chunk.
    pub default_chunks: Option<usize>,
    /// Token delay for steps that do not set [`Step::token_delay`].
    pub default_token_delay: Duration,
    /// How many of the latest requests to keep; 0 keeps none (they are
    /// still counted).
    pub record_limit: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            require_api_key: None,
            models: vec!["scripted-small".to_owned(), "scripted-large".to_owned()],
            default_reply: Reply::Echo,
            addr: None,
            default_chunks: None,
            default_token_delay: Duration::ZERO,
            record_limit: DEFAULT_RECORD_LIMIT,
        }
    }
}

/// A running scripted model server.
///
/// Clones share one server; when the last clone is dropped the server stops
/// and every open connection, hanging ones included, is closed.
#[derive(Debug, Clone)]
pub struct ScriptedServer {
    inner: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping the sender is the accept loop's signal to stop.
    _stop: oneshot::Sender<()>,
}

impl ScriptedServer {
    /// Starts a server with default options on a free loopback port.
    pub async fn start() -> ScriptedServer {
        ScriptedServer::start_with(ServerOptions::default()).await
    }

    /// Starts a server; panics when the address cannot be bound, which in a
    /// test is a broken environment rather than something to handle.
    pub async fn start_with(options: ServerOptions) -> ScriptedServer {
        let addr = options.addr;
        ScriptedServer::bind(options)
            .await
            .unwrap_or_else(|e| panic!("the scripted model server cannot listen on {addr:?}: {e}"))
    }

    /// Starts a server, reporting a failure to bind instead of panicking.
    pub async fn bind(options: ServerOptions) -> io::Result<ScriptedServer> {
        let addr = options
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(options));
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(accept_loop(
            listener,
            routes(Arc::clone(&shared)),
            Arc::clone(&shared),
            stopped,
        ));
        Ok(ScriptedServer {
            inner: Arc::new(Handle {
                addr,
                shared,
                _stop: stop,
            }),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// What `OPENAI_BASE_URL` would be: the URL with `/v1`.
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// What `ANTHROPIC_BASE_URL` would be; clients append `/v1/messages`.
    pub fn anthropic_base(&self) -> String {
        self.url()
    }

    /// What `OLLAMA_HOST` would be; clients append `/api/...`.
    pub fn ollama_base(&self) -> String {
        self.url()
    }

    /// Appends a step to the script.
    pub fn push(&self, step: Step) {
        self.inner.shared.script.push(step);
    }

    /// Steps queued but not yet taken, so a test can check its script ran out.
    pub fn pending_steps(&self) -> usize {
        self.inner.shared.script.len()
    }

    /// The recorded model requests (chat and embeddings), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.shared.recorder.snapshot()
    }

    /// Model requests received since start or the last reset, recorded or not.
    pub fn request_count(&self) -> usize {
        self.inner.shared.recorder.count()
    }

    /// TCP connections accepted since start, so that a test can tell a
    /// reused keep-alive connection from a fresh one.
    pub fn connections_accepted(&self) -> u64 {
        self.inner.shared.accepted.load(Ordering::Relaxed)
    }

    /// Forgets queued steps and recorded requests.
    pub fn reset(&self) {
        self.inner.shared.reset();
    }
}

/// State every route shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) api_key: Option<String>,
    pub(crate) models: Vec<String>,
    pub(crate) defaults: Defaults,
    pub(crate) script: Script,
    pub(crate) recorder: Recorder,
    next_id: AtomicU64,
    accepted: AtomicU64,
}

impl Shared {
    fn new(options: ServerOptions) -> Shared {
        Shared {
            api_key: options.require_api_key,
            models: options.models,
            defaults: Defaults {
                reply: options.default_reply,
                chunks: options.default_chunks.map(|n| n.max(1)),
                token_delay: options.default_token_delay,
            },
            script: Script::default(),
            recorder: Recorder::new(options.record_limit),
            next_id: AtomicU64::new(1),
            accepted: AtomicU64::new(0),
        }
    }

    /// A number unique for the server's lifetime, for response ids.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a model request and, when recording, keeps it; a body that is
    /// not JSON is kept as text.
    pub(crate) fn record(
        &self,
        wire: Wire,
        uri: &Uri,
        headers: &HeaderMap,
        raw: &[u8],
        parsed: Option<Value>,
    ) {
        self.recorder.record(|| {
            let body =
                parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(raw).into_owned()));
            RecordedRequest {
                wire,
                path: uri.path().to_owned(),
                headers: headers
                    .iter()
                    .map(|(name, value)| {
                        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                        (name.as_str().to_owned(), value)
                    })
                    .collect(),
                model: body
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                body,
            }
        });
    }

    pub(crate) fn reset(&self) {
        self.script.clear();
        self.recorder.clear();
    }
}

fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::<OpenAi>))
        .route("/v1/models", get(openai::models))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/messages", post(chat::<Anthropic>))
        .route("/", get(ollama::banner))
        .route("/api/chat", post(chat::<Ollama>))
        .route("/api/tags", get(ollama::tags))
        .route("/api/version", get(ollama::version))
        .route("/api/show", post(ollama::show))
        .route(
            "/__testkit/steps",
            post(control::push_steps).get(control::pending_steps),
        )
        .route("/__testkit/requests", get(control::requests))
        .route("/__testkit/reset", post(control::reset))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn not_found(uri: Uri) -> Response {
    OpenAi::error(
        StatusCode::NOT_FOUND,
        &format!("the scripted model server has no route {}", uri.path()),
    )
}

/// Serves connections until `stop` fires or its sender is dropped; then drops
/// every connection task, so no hanging request outlives the server.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    // Small SSE frames must leave at once, not wait for Nagle.
                    if stream.set_nodelay(true).is_err() {
                        continue;
                    }
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        // A client that goes away mid-request is not our error.
                        let _ = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors and the like: back off, then retry.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
