//! Listening, refusing unsafe exposure, and shutting down gracefully.

use axum::Router;
use axum::serve::ListenerExt;
use baton_config::Secret;
use baton_hub::Hub;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} without a token: every endpoint but /health would be open to the network. Set BATON_TOKEN (or server.token), or listen on 127.0.0.1"
    )]
    ExposedWithoutToken(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Refuses to serve beyond loopback without a token.
pub fn check_exposure(addr: SocketAddr, token: Option<&Secret>) -> Result<(), ServeError> {
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(ServeError::ExposedWithoutToken(addr));
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish for
/// up to `grace`, then commits every queued record.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    hub: Hub,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = signalled_tx.send(());
        let _ = stop_tx.send(());
    });
    // Without TCP_NODELAY, Nagle's algorithm holds a stream's small last
    // chunks until the client's delayed ACK: tens of milliseconds a stream.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    });
    let server = tokio::spawn(async move { server.await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => {
            result.map_err(|e| std::io::Error::other(e.to_string()))??;
        }
        _ = signalled_rx => {
            tracing::info!(grace_secs = grace.as_secs(), "shutting down: finishing in-flight requests");
            match tokio::time::timeout(grace, &mut server).await {
                Ok(result) => {
                    result.map_err(|e| std::io::Error::other(e.to_string()))??;
                }
                Err(_) => tracing::warn!("grace period over; closing remaining connections"),
            }
        }
    }
    hub.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Binds `addr`, with an error that names it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}
