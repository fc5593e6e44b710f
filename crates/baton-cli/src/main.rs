//! `baton`: one binary for the whole orchestrator.

mod args;
mod boot;
mod commands;
mod interrupt;
mod style;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            style::error(&format!("cannot start the async runtime: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            style::error(&format!("{e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}
