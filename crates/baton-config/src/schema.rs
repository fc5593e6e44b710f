//! The shape of the configuration file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::{GatewayConfig, ProviderConfig, Secret};

/// The whole configuration, as loaded and validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub gateway: GatewayConfig,
    pub chat: ChatConfig,
    pub log: LogConfig,
    pub agent: AgentConfig,
    pub policy: PolicyConfig,
    pub mcp: McpConfig,
    pub memory: MemoryConfig,
    pub engine: EngineConfig,
    pub providers: Vec<ProviderConfig>,
    /// Per-environment overlays (`[environments.production]`), each shaped
    /// like this whole file. Only the selected one is applied; all are
    /// checked.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, toml::Table>,
}

/// The HTTP face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `HOST:PORT` to listen on (`BATON_ADDR`).
    pub addr: String,
    /// Bearer token every endpoint but `/health` requires (`BATON_TOKEN`).
    /// Mandatory once `addr` is not a loopback address.
    pub token: Option<Secret>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests may run on after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "127.0.0.1:8000".into(),
            token: None,
            max_body_bytes: 4 * 1024 * 1024,
            shutdown_grace_secs: 30,
        }
    }
}

/// Where records live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory (`BATON_DATA_DIR`); default `$XDG_DATA_HOME/baton`.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…` (`BATON_DATABASE_URL`); default a
    /// SQLite file `baton.db` in the data directory.
    pub database_url: Option<Secret>,
}

/// How conversations are run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Prepended to every hub conversation as a system message.
    pub system_prompt: Option<String>,
    /// How many earlier messages of a session are sent back to the model.
    pub history_messages: u32,
    /// Device id used when a request names none.
    pub default_device: String,
    /// Append every message to `memory_log.jsonl` in the data directory.
    pub memory_log: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            system_prompt: None,
            history_messages: 40,
            default_device: "local".into(),
            memory_log: true,
        }
    }
}

/// How agent runs (`baton run`, `POST /agent/run`) work by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Model for runs that name none.
    pub model: Option<String>,
    /// Steps a run may take unless it asks for fewer or more.
    pub max_steps: u32,
    /// Tokens (prompt + completion) a run may use.
    pub max_tokens: u64,
    /// US dollars a run may spend.
    pub max_cost_usd: f64,
    /// Wall-clock seconds a run may take.
    pub max_duration_secs: u64,
    /// How long a run waits for a person to answer an approval.
    pub approval_wait_secs: u64,
    /// Longest a single tool call may run.
    pub tool_timeout_secs: u64,
    /// Largest tool output shown to the model; the rest is cut with a note.
    pub max_output_bytes: usize,
    /// Largest file the file tools read or write.
    pub max_file_bytes: u64,
    /// Let `shell` and `run` reach the network.
    pub network: bool,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            model: None,
            max_steps: 10,
            max_tokens: 2_000_000,
            max_cost_usd: 5.0,
            max_duration_secs: 30 * 60,
            approval_wait_secs: 600,
            tool_timeout_secs: 30,
            max_output_bytes: 64 * 1024,
            max_file_bytes: 10 * 1024 * 1024,
            network: false,
        }
    }
}

/// The user's own policy rules (`deny` → `ask` → `allow`, first match
/// wins), applied to every run beside the built-in defaults and the
/// project's `.baton/policy.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `chat`, `plan`, `ask` (default) or `auto`.
    pub mode: Option<String>,
    pub allow: Vec<String>,
    pub ask: Vec<String>,
    pub deny: Vec<String>,
}

/// The memory manager: `baton memory`, `GET /memory/search`, and the
/// memories recalled into every session's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Where memory vectors come from: `provider/model` (the provider's
    /// embeddings endpoint, e.g. `openai/text-embedding-3-small` or
    /// `ollama/nomic-embed-text`), `local` (the model in `model_dir`, no
    /// network), or `none` (full-text recall only). Unset: `local` when
    /// `model_dir` is set, else `none`.
    pub embedder: Option<String>,
    /// A sentence-embedding model's directory (`config.json`,
    /// `tokenizer.json`, `model.safetensors`), e.g. all-MiniLM-L6-v2.
    pub model_dir: Option<PathBuf>,
    /// Memories recalled into a session's context (0 turns recall off).
    pub context_memories: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            embedder: None,
            model_dir: None,
            context_memories: 5,
        }
    }
}

/// The workflow engine: how workers claim and run tasks (`baton serve`,
/// `baton worker`, `baton workflow run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How long a claimed task stays a worker's without a heartbeat: a
    /// killed worker's tasks go to others this long after its last beat.
    pub lease_ms: u64,
    /// The longest a worker waits without a wake-up before it looks for
    /// work (another process on SQLite, a retry whose backoff ended).
    pub poll_ms: u64,
    /// A retry waits this long per attempt so far.
    pub backoff_ms: u64,
    /// Tasks one worker runs at once.
    pub concurrency: usize,
    /// Attempts a task gets unless its plan says otherwise.
    pub max_attempts: u32,
    /// A task's time limit unless its plan says otherwise.
    pub task_timeout_secs: u64,
    /// The model that plans requests; the gateway's default when unset.
    pub planner_model: Option<String>,
    /// Queues with a concurrency limit across every worker: `{ gpu = 1 }`.
    pub queue_limits: BTreeMap<String, u32>,
    /// Days an ended run (its tasks, outputs and events) is kept before the
    /// workers delete it; 0 keeps every run forever.
    pub retain_days: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease_ms: 15_000,
            poll_ms: 500,
            backoff_ms: 1_000,
            concurrency: 16,
            max_attempts: 3,
            task_timeout_secs: 30 * 60,
            planner_model: None,
            queue_limits: BTreeMap::new(),
            retain_days: 30,
        }
    }
}

/// Where memory vectors come from, as [`MemoryConfig`] resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderChoice {
    None,
    Local(PathBuf),
    /// `provider/model`.
    Provider(String),
}

impl MemoryConfig {
    /// The embedder this configuration asks for (validated at load).
    pub fn embedder_choice(&self) -> EmbedderChoice {
        match (self.embedder.as_deref(), &self.model_dir) {
            (None | Some("local"), Some(dir)) => EmbedderChoice::Local(dir.clone()),
            (None | Some("none" | "local"), _) => EmbedderChoice::None,
            (Some(model), _) => EmbedderChoice::Provider(model.to_owned()),
        }
    }
}

/// MCP servers whose tools agent runs may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// `[[mcp.servers]]`: each a `command` (stdio) or a `url` (streamable
    /// HTTP); its tools appear to models as `name__tool` and to the policy
    /// as `mcp(name.tool)`.
    pub servers: Vec<McpServerEntry>,
}

/// One MCP server. `env` and `headers` values are secrets: `config check`
/// shows them as `***`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerEntry {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// Diagnostics output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `baton=debug,tower_http=info`); `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
