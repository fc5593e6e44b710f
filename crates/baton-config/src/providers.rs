//! The `[gateway]` table and the `[[providers]]` list.

use serde::{Deserialize, Serialize};

use crate::Secret;

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI chat completions: OpenAI, vLLM, llama.cpp, LM Studio, Groq, …
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Ollama: models listed from `/api/tags`, chat over its OpenAI-compatible API.
    Ollama,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One upstream model server. Either fully described here, or naming a
/// built-in `preset` (openai, anthropic, groq, lmstudio, …) whose fields
/// this entry overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The `provider` part of model ids (`groq/llama-3.3-70b`).
    pub name: String,
    /// A built-in preset to start from; defaults to `name` when a preset of
    /// that name exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProviderKind>,
    /// Base URL including the version path (`https://api.openai.com/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The API key itself; prefer `api_key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// The environment variable holding the API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every request (values may be secrets).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// Models this provider serves, beyond those the preset declares or the
    /// server lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelConfig>,
    /// Turn a preset off without deleting it.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A model's declared limits, prices and abilities. A declared value always
/// beats a catalogue or a guess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The upstream's name for the model.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// US dollars per million prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_price: Option<f64>,
    /// US dollars per million completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
}

/// How the gateway routes, retries and falls back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// The model used when a request names none (or names `auto`).
    pub default_model: Option<String>,
    /// Models tried in order after the requested one fails in a way that
    /// another model could fix (429, 5xx, timeout, connection refused, a
    /// stream broken before its first token).
    pub fallbacks: Vec<String>,
    /// Longest `Retry-After` honoured before moving on, in seconds.
    pub retry_after_cap_secs: u64,
    pub connect_timeout_secs: u64,
    /// Time allowed until the response headers (or the first streamed token).
    pub first_token_timeout_secs: u64,
    /// Time allowed for a whole non-streamed call.
    pub request_timeout_secs: u64,
    /// Consecutive failures that open a provider's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker rejects calls before a trial call.
    pub breaker_cooldown_secs: u64,
    /// Look for Ollama at `OLLAMA_HOST` or 127.0.0.1:11434 at start.
    pub detect_ollama: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            default_model: None,
            fallbacks: Vec::new(),
            retry_after_cap_secs: 10,
            connect_timeout_secs: 5,
            first_token_timeout_secs: 60,
            request_timeout_secs: 600,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            detect_ollama: true,
        }
    }
}
