//! The built-in catalogue of well-known model services.
//!
//! Endpoints, key variables, limits and prices change more often than code
//! should, so they live as data in `catalog.toml`, embedded in the binary and
//! parsed once. Everything here can be overridden from `[[providers]]`.

use std::sync::OnceLock;

use baton_config::{ModelConfig, ProviderKind};
use serde::Deserialize;

const CATALOG_TOML: &str = include_str!("../catalog.toml");

/// Every preset baton knows, in catalogue order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The `[[preset]]` tables of `catalog.toml`.
    #[serde(rename = "preset")]
    pub presets: Vec<Preset>,
}

/// One well-known service: where it lives, how it authenticates, and the
/// models worth knowing about before its listing endpoint is asked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The provider part of model ids.
    pub name: String,
    /// The wire protocol the service speaks.
    pub kind: ProviderKind,
    /// Default base URL, including the version path.
    pub base_url: String,
    /// The variable the service's own SDK reads its key from; `None` for
    /// servers that need no key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The variable the service's own SDK reads a base URL override from.
    #[serde(default)]
    pub base_url_env: Option<String>,
    /// A local server: active only when `[[providers]]` names it, because
    /// nothing in the environment says it is running.
    #[serde(default)]
    pub local: bool,
    /// The request field that carries the completion limit; OpenAI's newer
    /// models accept only `max_completion_tokens`.
    #[serde(default)]
    pub max_tokens_field: Option<String>,
    /// Models worth knowing before the service is asked, with their
    /// limits and prices; a `[[providers.models]]` entry overrides them.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

impl Catalog {
    /// The embedded catalogue, parsed on first use.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            toml::from_str(CATALOG_TOML)
                .unwrap_or_else(|e| panic!("the embedded catalog.toml is invalid: {e}"))
        })
    }

    /// The preset called `name`.
    pub fn get(&self, name: &str) -> Option<&Preset> {
        self.presets.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn embedded_catalog_parses() {
        let catalog = Catalog::builtin();
        let names: Vec<&str> = catalog.presets.iter().map(|p| p.name.as_str()).collect();
        for expected in [
            "openai",
            "anthropic",
            "xai",
            "mistral",
            "groq",
            "openrouter",
            "deepseek",
            "together",
            "lmstudio",
            "vllm",
            "llamacpp",
            "ollama",
        ] {
            assert!(names.contains(&expected), "missing preset {expected}");
        }
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate preset names");
    }

    #[test]
    fn hosted_presets_declare_keys_and_models() {
        for preset in Catalog::builtin().presets.iter().filter(|p| !p.local) {
            assert!(
                preset.api_key_env.is_some(),
                "{} has no key variable",
                preset.name
            );
            assert!(
                !preset.models.is_empty(),
                "{} declares no models",
                preset.name
            );
            for m in &preset.models {
                assert!(
                    m.context_window.unwrap_or(0) > 0,
                    "{}/{}",
                    preset.name,
                    m.name
                );
                assert!(m.input_price.is_some() && m.output_price.is_some());
            }
            url::Url::parse(&preset.base_url).expect("preset base_url is a URL");
        }
    }

    #[test]
    fn sdk_variables_match_the_services_own() {
        let c = Catalog::builtin();
        let openai = c.get("openai").unwrap();
        assert_eq!(openai.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(openai.base_url_env.as_deref(), Some("OPENAI_BASE_URL"));
        assert_eq!(openai.base_url, "https://api.openai.com/v1");
        let anthropic = c.get("anthropic").unwrap();
        assert_eq!(anthropic.kind, ProviderKind::Anthropic);
        assert_eq!(anthropic.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
        assert_eq!(
            anthropic.base_url_env.as_deref(),
            Some("ANTHROPIC_BASE_URL")
        );
        let lmstudio = c.get("lmstudio").unwrap();
        assert!(lmstudio.local && lmstudio.api_key_env.is_none());
        assert_eq!(c.get("vllm").unwrap().base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(
            c.get("llamacpp").unwrap().base_url,
            "http://127.0.0.1:8080/v1"
        );
    }
}
