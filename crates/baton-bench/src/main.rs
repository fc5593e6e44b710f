//! `baton-loadgen`: the measuring half of baton's benchmarks.
//!
//! * `rate` drives an OpenAI chat-completions endpoint open-loop at a fixed
//!   rate and reports latency percentiles measured from each request's
//!   *scheduled* send time, so a slow server cannot hide its slowness by
//!   slowing the generator down (coordinated omission).
//! * `startup` measures how long `baton serve` takes from spawn to a healthy
//!   `/health`, and how much memory it holds once idle.
//!
//! The scripts in `bench/` run these against real processes; the numbers
//! are recorded in `BENCHMARKS.md`.

mod rate;
mod sse;
mod startup;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "baton-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// POST chat completions open-loop at a fixed rate and report latency.
    Rate(RateArgs),
    /// Time `baton serve` from spawn to a healthy /health, and its idle RSS.
    Startup(StartupArgs),
}

/// Flags of `baton-loadgen rate`.
#[derive(Debug, Clone, Args)]
pub struct RateArgs {
    /// The full chat-completions URL (`http://127.0.0.1:PORT/v1/chat/completions`).
    #[arg(long)]
    pub url: reqwest::Url,
    /// Requests per second, held exactly whatever the server does.
    #[arg(long, value_parser = parse_rate)]
    pub rate: f64,
    /// Seconds measured after the warm-up.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Seconds sent at the same rate before measuring, to fill connection
    /// pools and caches; not recorded.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub warmup: u64,
    /// Ask for a streamed answer and read the SSE body to `[DONE]`.
    #[arg(long)]
    pub stream: bool,
    /// The `model` field of each request.
    #[arg(long, default_value = "scripted-small")]
    pub model: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    #[arg(long)]
    pub token: Option<String>,
    /// Most requests in flight at once (also the connection-pool size).
    /// Requests past the cap wait for a slot; their wait counts in their
    /// latency because latency runs from the scheduled time.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub concurrency_cap: u32,
    /// A request not finished this many milliseconds after its scheduled
    /// time is abandoned and counted as a `timeout` error.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
    /// Tokio worker threads for the generator; keep it small on a machine
    /// shared with the servers being measured.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `baton-loadgen startup`.
#[derive(Debug, Clone, Args)]
pub struct StartupArgs {
    /// The `baton` binary to start.
    #[arg(long)]
    pub baton: PathBuf,
    /// The data directory every run opens; the first, discarded run creates it.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Measured runs (after the discarded first one).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Passed to baton as `--config FILE`, so a user's own configuration
    /// does not change what is measured.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seconds the memory-measured run sits idle after becoming healthy.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub idle_secs: u64,
    /// Give up on a run that is not healthy after this many seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub health_timeout_secs: u64,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Rates are bounded so a typo cannot start an unbounded flood.
fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 {
        Ok(rate)
    } else {
        Err("rate must be a number in (0, 100000]".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rate(args) => rate::main(args),
        Command::Startup(args) => startup::main(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("baton-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
