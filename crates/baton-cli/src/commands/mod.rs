//! One module per verb; each parses nothing and decides nothing beyond
//! presenting what the services return.

mod chat;
mod config;
mod context;
mod doctor;
mod eval;
mod init;
mod log;
mod mcp;
mod memory;
mod models;
mod run;
mod serve;
mod worker;
mod workflow;

use clap::CommandFactory;
use std::process::ExitCode;

use crate::args::{Cli, Command, ConfigCommand, EvalCommand, LogCommand};

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
        Command::Context(args) => context::run(&global, args).await,
        Command::Handoff(args) => log::handoff(&global, args).await,
        Command::Log(LogCommand::Verify) => log::verify(&global).await,
        Command::Memory(command) => memory::run(&global, command).await,
        Command::Eval(EvalCommand::Continuity(args)) => eval::continuity(&global, args).await,
        Command::Mcp => mcp::run(&global).await,
        Command::Workflow(command) => workflow::run(&global, command).await,
        Command::Worker(args) => worker::run(&global, args).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "baton", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
