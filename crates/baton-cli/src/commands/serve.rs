//! `baton serve`: the HTTP server until SIGTERM or SIGINT.

use anyhow::Context;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::args::{Global, ServeArgs};
use crate::boot;
use crate::interrupt::interrupted;

pub async fn run(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = Vec::new();
    if let Some(addr) = args.addr {
        overrides.push(("server.addr".to_owned(), addr));
    }
    let loaded = boot::load(global, overrides)?;
    boot::init_tracing(&loaded.config, false);
    let server = &loaded.config.server;
    let addr: SocketAddr = server
        .addr
        .parse()
        .with_context(|| format!("server.addr {:?} is not HOST:PORT", server.addr))?;
    baton_server::check_exposure(addr, server.token.as_ref())?;
    let hub = boot::hub(&loaded).await?;
    let listener = baton_server::bind(addr).await?;
    let local = listener.local_addr()?;
    let settings = baton_server::ServerSettings {
        token: server.token.clone(),
        max_body_bytes: server.max_body_bytes,
    };
    let agent = boot::agent(&loaded, &hub, global).await?;
    let engine = boot::engine(&loaded, &hub, &agent, global)?;
    engine.listen().await?;
    boot::apply_queue_limits(&loaded, &hub).await?;
    let worker = engine.spawn_worker();
    let records = engine.clone();
    let app = baton_server::router(hub.clone(), agent, engine, &settings);
    tracing::info!(
        addr = %local,
        store = hub.store().backend().as_str(),
        models = hub.models().len(),
        auth = settings.token.is_some(),
        "baton listening on http://{local}"
    );
    // Listing happens after the server is healthy.
    let refresher = hub.clone();
    tokio::spawn(async move {
        for (provider, result) in refresher.gateway().refresh_models().await {
            if let Err(error) = result {
                tracing::warn!(%provider, %error, "could not list models");
            }
        }
    });
    baton_server::serve(
        listener,
        app,
        hub,
        async {
            interrupted().await;
        },
        Duration::from_secs(server.shutdown_grace_secs),
    )
    .await?;
    worker.stop().await;
    records.settle().await;
    Ok(ExitCode::SUCCESS)
}
