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
    /// The directory agent tools work in (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server: the hub API and the OpenAI-compatible gateway.
    Serve(ServeArgs),
    /// Chat with a model; interactive when no message is given.
    Chat(ChatArgs),
    /// List the models baton can route to.
    Models(ModelsArgs),
    /// Run an agent toward a goal with tools, under the policy and sandbox.
    Run(RunArgs),
    /// Check what this machine offers baton: sandbox, store, providers, tools.
    Doctor,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create the four handoff tiers that are missing in the workspace
    /// (never overwriting): PROJECT_CONTEXT.md, SESSION_BRIEFING.md,
    /// SESSION_LOG.md, and PORTFOLIO_CONTEXT.md.
    Init(InitArgs),
    /// Print what a fresh session reads first: the four tiers and the
    /// latest session-log entries, within a token budget.
    Context(ContextArgs),
    /// Regenerate SESSION_BRIEFING.md from the latest session-log entries
    /// (the briefing it replaces is kept in the store): written by a model
    /// when one is configured, else (or with --summary) summarised
    /// deterministically.
    Handoff(HandoffArgs),
    /// The workspace's session log (`SESSION_LOG.md`).
    #[command(subcommand)]
    Log(LogCommand),
    /// What baton remembers for the workspace: add, search (full text and
    /// vectors, fused), forget.
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// Measure baton against a model.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Serve the workspace's continuity (context, memories, session log,
    /// tiers) over MCP on stdin/stdout: an assistant's memory.
    Mcp,
    /// Workflows: a request or a plan file run as a DAG of tasks by
    /// workers, durably (a killed worker loses nothing; a run can be resumed).
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Run workflow tasks from the store until SIGINT or SIGTERM: a worker
    /// process beside `baton serve`, on this machine or (with a PostgreSQL
    /// `--database`) on any other.
    Worker(WorkerArgs),
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
pub struct RunArgs {
    /// What the run should achieve.
    #[arg(long, short)]
    pub goal: Option<String>,
    /// Continue a run that stopped before it ended (finished tool calls are not repeated).
    #[arg(long, value_name = "RUN_ID", conflicts_with = "goal")]
    pub resume: Option<String>,
    /// `provider/model` or a unique bare name (default: `agent.model`).
    #[arg(long, short)]
    pub model: Option<String>,
    /// `ask` (default), `auto`, `plan` (read-only tools) or `chat` (no tools).
    #[arg(long, value_parser = ["ask", "auto", "plan", "chat"])]
    pub mode: Option<String>,
    /// Model calls the run may make (default: `agent.max_steps`, 10).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_steps: Option<u32>,
    /// Tokens the run may use.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// US dollars the run may spend.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Seconds the run may take.
    #[arg(long, value_name = "SECS")]
    pub max_time: Option<u64>,
    /// Tools or rules allowed without asking: `search,read,run`, `shell(cargo test *)`.
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Words that deny any shell command holding them: `rm,del,format`.
    #[arg(long, value_delimiter = ',')]
    pub block: Vec<String>,
    /// How tool calls travel: `auto`, `native` (tool-calling API) or `text` (`search: …` lines).
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// Let `shell` and `run` reach the network.
    #[arg(long)]
    pub network: bool,
    /// End as soon as the model stops calling tools, without asking it to check the goal.
    #[arg(long)]
    pub no_goal_check: bool,
    /// The device id to record the run under.
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProtocolArg {
    Auto,
    Native,
    Text,
}

impl From<ProtocolArg> for baton_agent::Protocol {
    fn from(p: ProtocolArg) -> Self {
        match p {
            ProtocolArg::Auto => baton_agent::Protocol::Auto,
            ProtocolArg::Native => baton_agent::Protocol::Native,
            ProtocolArg::Text => baton_agent::Protocol::Text,
        }
    }
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Ask each provider for its current model list first.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where PORTFOLIO_CONTEXT.md goes (the root above your projects);
    /// default: the workspace.
    #[arg(long, value_name = "DIR")]
    pub portfolio: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HandoffArgs {
    /// The model that writes the briefing; default: [agent] model, else
    /// the gateway's default.
    #[arg(long, conflicts_with = "summary")]
    pub model: Option<String>,
    /// Write the deterministic summary without asking a model.
    #[arg(long)]
    pub summary: bool,
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// Tokens the context may take (estimated from bytes, pessimistically).
    #[arg(long, default_value_t = 8_000)]
    pub budget: usize,
    /// What the session is about: the most relevant memories are recalled
    /// into the context (up to 15 % of the budget).
    #[arg(long)]
    pub query: Option<String>,
    /// Memories recalled for `--query` at most (0 to 100).
    #[arg(long, default_value_t = 5)]
    pub memories: usize,
    /// The model that will read the context: tokens are counted as its
    /// family counts them (exactly for OpenAI's encodings); default: a
    /// pessimistic estimate from bytes.
    #[arg(long)]
    pub model: Option<String>,
    /// Where PORTFOLIO_CONTEXT.md is; default: the workspace.
    #[arg(long, value_name = "DIR")]
    pub portfolio: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run a suite of tasks in fresh sessions with and without the handoff
    /// documents and report, per metric (consistency, autonomy,
    /// adaptation), how the handoff changed the outcome.
    Continuity(EvalContinuityArgs),
}

#[derive(Debug, Args)]
pub struct EvalContinuityArgs {
    /// The model to evaluate; default: [agent] model, else the gateway's
    /// default.
    #[arg(long)]
    pub model: Option<String>,
    /// A suite file (TOML, the built-in suite's format: `baton eval
    /// continuity --print-suite`); default: the built-in suite.
    #[arg(long, value_name = "FILE", conflicts_with = "print_suite")]
    pub suite: Option<PathBuf>,
    /// Print the built-in suite and exit.
    #[arg(long)]
    pub print_suite: bool,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Remember a text (from the argument, or standard input when it is
    /// absent or `-`).
    Add {
        text: Option<String>,
        /// Where it came from.
        #[arg(long, value_enum, default_value = "note")]
        source: MemorySourceArg,
        /// What in that source (a document name, a log position, a session).
        #[arg(long = "ref", value_name = "REF")]
        source_ref: Option<String>,
    },
    /// The memories that best match a query.
    Search {
        query: String,
        /// Results wanted (1 to 100).
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Forget one memory by its id.
    Forget { id: String },
    /// Make vectors for memories that have none from the current embedder
    /// (kept while it was failing, or made by another model).
    Embed {
        /// Memories to embed at most.
        #[arg(long, default_value_t = 1_000)]
        limit: u32,
    },
}

/// Where a memory came from, as `--source` spells it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MemorySourceArg {
    Note,
    Log,
    Document,
    Conversation,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Check the file against its hash-chained record: an edited, moved,
    /// deleted or hand-added entry is reported by position (exit 1).
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Plan and run a workflow, following it live until it ends (exit 0
    /// completed, 1 failed, 3 cancelled, 130 interrupted: resumable).
    Run(WorkflowRunArgs),
    /// The latest workflows, newest first.
    #[command(visible_alias = "list")]
    Ls {
        /// Workflows to list (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// One workflow: its run and every task.
    Show {
        /// The workflow id, as `run` and `ls` print it.
        id: String,
    },
    /// Cancel a running workflow (it can be resumed later).
    Cancel {
        id: String,
        /// Why, recorded with the run.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start a failed or cancelled workflow again where it stopped
    /// (completed tasks keep their results) and follow it like `run`.
    Resume {
        id: String,
        /// Only mark it to run again and return; a running `baton serve` or
        /// `baton worker` carries it out.
        #[arg(long)]
        detach: bool,
    },
    /// A workflow's event log: every state change in order, numbered from 1.
    Events {
        id: String,
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Keep printing events as they happen, until the run ends.
        #[arg(long)]
        follow: bool,
    },
    /// Delete workflows that ended more than DAYS ago, with their tasks,
    /// outputs and events (workers do this on their own after `[engine]
    /// retain_days`).
    Prune {
        /// Age in days of the newest ended workflow to delete; 0 deletes
        /// every ended workflow.
        #[arg(long, value_name = "DAYS")]
        older_than: u32,
    },
    /// Decide an approval task that is waiting: approve it (its dependents
    /// run), or reject it with --reject (the workflow fails).
    Approve {
        id: String,
        /// The approval task's id in the plan.
        task: String,
        /// Refuse instead of approving.
        #[arg(long)]
        reject: bool,
        /// A note kept with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct WorkflowRunArgs {
    /// What to do (a model plans it), or a plan file: an existing
    /// `FILE.json` or `FILE.toml` runs as it is written.
    pub request: String,
    /// Run the description as one agent task instead of asking a model
    /// for a plan.
    #[arg(long)]
    pub no_plan: bool,
    /// The model for tasks that name none.
    #[arg(long, short)]
    pub model: Option<String>,
    /// The model that writes the plan (default: --model, else the
    /// gateway's default).
    #[arg(long)]
    pub planner: Option<String>,
    /// What kind of work this is (`research`, `coding`, …); recorded with
    /// the run.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// A file in the workspace given to the planner and to every task as
    /// context; repeatable.
    #[arg(long = "context", value_name = "FILE")]
    pub context: Vec<PathBuf>,
    /// Tools or rules every agent task may use without asking:
    /// `search,read`, `shell(cargo test *)`. A plan file's task `tools`
    /// are allowed for that task too; a model's plan grants nothing.
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Words that deny any shell command holding them, in every agent
    /// task: `rm,del,format`.
    #[arg(long, value_delimiter = ',')]
    pub block: Vec<String>,
    /// Let the agent tasks' `shell` and `run` reach the network.
    #[arg(long)]
    pub network: bool,
    /// Store the workflow, print its id and return without running it:
    /// `baton serve` or `baton worker` carries it out.
    #[arg(long)]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Serve only this queue (a plan task's `queue`, `default` when it
    /// names none); repeatable. Default: every queue.
    #[arg(long = "queue", value_name = "QUEUE", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// Tasks run at once (default 16).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective result, secrets redacted.
    Check,
}
