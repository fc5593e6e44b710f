//! baton's configuration: one TOML file, per-environment overlays and
//! `BATON_*` environment variables, validated before anything starts.

mod providers;
mod secret;

pub use providers::{GatewayConfig, ModelConfig, ProviderConfig, ProviderKind};
pub use secret::Secret;
