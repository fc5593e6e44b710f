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
