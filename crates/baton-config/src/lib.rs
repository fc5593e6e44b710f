//! baton's configuration: one TOML file, per-environment overlays and
//! `BATON_*` environment variables, validated before anything starts.
//!
//! Precedence, lowest first: built-in defaults → the TOML file → the file's
//! `[environments.NAME]` overlay for the selected environment → environment
//! variables → command-line flags. Every layer goes through the same
//! validation, and an error names the key and where its value came from.

mod env_vars;
mod load;
mod paths;
mod providers;
mod schema;
mod secret;

pub use env_vars::EnvVars;
pub use load::{ConfigError, LoadOptions, load};
pub use paths::{default_config_path, default_data_dir};
pub use providers::{GatewayConfig, ModelConfig, ProviderConfig, ProviderKind};
pub use schema::{
    AgentConfig, ChatConfig, Config, EmbedderChoice, EngineConfig, LogConfig, LogFormat, McpConfig,
    McpServerEntry, MemoryConfig, PolicyConfig, ServerConfig, StorageConfig,
};
pub use secret::Secret;
