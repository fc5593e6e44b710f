//! The command line, as clap sees it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "An AI orchestrator: one binary that routes, runs and remembers LLM work."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Configuration file [env: BATON_CONFIG] (default: $XDG_CONFIG_HOME/baton/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Environment overlay to apply from the configuration file [env: BATON_ENV].
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub environment: Option<String>,
    /// Data directory [env: BATON_DATA_DIR] (default: $XDG_DATA_HOME/baton).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL, `sqlite://…` or `postgres://…` [env: BATON_DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server: the hub API and the OpenAI-compatible gateway.
    Serve(ServeArgs),
    /// Chat with a model; interactive when no message is given.
    Chat(ChatArgs),
    /// List the models baton can route to.
    Models(ModelsArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HOST:PORT to listen on [env: BATON_ADDR] (default 127.0.0.1:8000).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The message; without it, baton starts an interactive conversation.
    pub message: Option<String>,
    /// `provider/model`, a unique bare model name, or `auto`.
    #[arg(long, short)]
    pub model: Option<String>,
    /// Continue this session.
    #[arg(long, short)]
    pub session: Option<String>,
    /// The device id to record this conversation under.
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Ask each provider for its current model list first.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective result, secrets redacted.
    Check,
}
