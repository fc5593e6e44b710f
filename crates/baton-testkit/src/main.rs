//! `baton-model-server`: the scripted model server as a process, for
//! benchmarks and for tests written in other languages.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use baton_testkit::{Reply, ScriptedServer, ServerOptions};
use clap::Parser;

/// Serves the OpenAI, Anthropic and Ollama wires with scripted answers until
/// SIGTERM or SIGINT. Script it over HTTP at /__testkit.
#[derive(Debug, Parser)]
#[command(name = "baton-model-server", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Write the bound port to this file once listening.
    #[arg(long, value_name = "PATH")]
    port_file: Option<PathBuf>,
    /// Answer 401 to model requests that do not present this key.
    #[arg(long, value_name = "KEY")]
    require_key: Option<String>,
    /// The default reply, instead of echoing the last user message.
    #[arg(long, value_name = "TEXT")]
    reply_text: Option<String>,
    /// Split default replies into this many stream chunks (default: one a word).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    chunks: Option<u64>,
    /// Wait this long before each chunk; whole answers wait for all of them.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    token_delay_ms: u64,
    /// A model to list (repeatable; default: scripted-small, scripted-large).
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Keep no request log (requests are still counted); for benchmarks.
    #[arg(long)]
    no_record: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-model-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> io::Result<()> {
    let defaults = ServerOptions::default();
    let options = ServerOptions {
        require_api_key: args.require_key,
        models: if args.models.is_empty() {
            defaults.models
        } else {
            args.models
        },
        default_reply: args.reply_text.map_or(Reply::Echo, Reply::Text),
        addr: Some(args.addr),
        default_chunks: args.chunks.and_then(|n| usize::try_from(n).ok()),
        default_token_delay: Duration::from_millis(args.token_delay_ms),
        record_limit: if args.no_record {
            0
        } else {
            defaults.record_limit
        },
    };
    // Listen for signals before announcing the address, so that a supervisor
    // may stop the server as soon as it has seen it start.
    let stop = shutdown_signal()?;
    let server = ScriptedServer::bind(options).await?;
    if let Some(path) = &args.port_file {
        write_port_file(path, server.addr().port())?;
    }
    println!("listening on {}", server.url());
    stop.await?;
    drop(server);
    Ok(())
}

/// Writes the port to a sibling temporary file and renames it into place, so
/// a process polling for the file never reads it half-written.
fn write_port_file(path: &Path, port: u16) -> io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, port.to_string())?;
    std::fs::rename(&partial, path)
}

/// Resolves on the first SIGTERM or SIGINT; the handlers are installed when
/// this is called, not when it is first awaited.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl Future<Output = io::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        Ok(())
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl Future<Output = io::Result<()>>> {
    Ok(tokio::signal::ctrl_c())
}
