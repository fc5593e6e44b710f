//! One module per verb; each parses nothing and decides nothing beyond
//! presenting what the services return.

mod chat;
mod config;
mod context;
mod doctor;
mod init;
mod log;
mod models;
mod run;
mod serve;

use clap::CommandFactory;
use std::process::ExitCode;

use crate::args::{Cli, Command, ConfigCommand, LogCommand};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(&global, args).await,
        Command::Chat(args) => chat::run(&global, args).await,
        Command::Models(args) => models::run(&global, args).await,
        Command::Run(args) => run::run(&global, args).await,
        Command::Doctor => doctor::run(&global).await,
        Command::Config(ConfigCommand::Check) => config::check(&global),
        Command::Init(args) => init::run(&global, args),
        Command::Context(args) => context::run(&global, args),
        Command::Handoff => log::handoff(&global).await,
        Command::Log(LogCommand::Verify) => log::verify(&global).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "baton", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
