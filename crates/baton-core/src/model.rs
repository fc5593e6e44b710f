//! What baton knows about a model: its id, limits, prices and abilities.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::chat::Usage;

/// A `provider/model` id. The model part may itself contain `/` or `:`
/// (`openrouter/meta-llama/llama-3-70b`, `ollama/qwen2.5:7b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelId {
    provider: String,
    model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model id {0:?} is not of the form provider/model")]
pub struct ModelIdError(pub String);

impl ModelId {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        ModelId {
            provider: provider.into(),
            model: model.into(),
        }
    }

    /// Parses `provider/model`; a string without `/` is not a full id.
    pub fn parse(s: &str) -> Result<Self, ModelIdError> {
        match s.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(ModelId::new(p, m)),
            _ => Err(ModelIdError(s.to_owned())),
        }
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The upstream's own name for the model.
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

impl TryFrom<String> for ModelId {
    type Error = ModelIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ModelId::parse(&s)
    }
}

impl From<ModelId> for String {
    fn from(id: ModelId) -> String {
        id.to_string()
    }
}

/// What a model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    pub tools: bool,
    pub vision: bool,
    pub streaming: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            tools: true,
            vision: false,
            streaming: true,
        }
    }
}

/// Prices in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pricing {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Pricing {
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.input_per_mtok
            + usage.completion_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// A model as the registry describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: ModelId,
    /// Context window in tokens (prompt + completion).
    pub context_window: u32,
    /// Largest completion the model will produce, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub pricing: Pricing,
    #[serde(default)]
    pub capabilities: Capabilities,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_on_first_slash() {
        let id = ModelId::parse("openrouter/meta-llama/llama-3-70b").unwrap();
        assert_eq!(id.provider(), "openrouter");
        assert_eq!(id.model(), "meta-llama/llama-3-70b");
        assert_eq!(id.to_string(), "openrouter/meta-llama/llama-3-70b");
        assert!(ModelId::parse("bare").is_err());
        assert!(ModelId::parse("/x").is_err());
    }

    #[test]
    fn cost_is_per_million() {
        let p = Pricing {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        };
        let u = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 100,
        };
        assert!((p.cost(&u) - 0.0045).abs() < 1e-12);
    }
}
