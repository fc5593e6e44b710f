//! Every model baton can route to, and how a name a person typed becomes
//! one of them.

use std::collections::BTreeMap;

use baton_config::ModelConfig;
use baton_core::{Capabilities, ModelId, ModelInfo, Pricing};

use crate::error::GatewayError;

/// The context window assumed for a model the server lists but nobody
/// declared: small enough that any current model holds it, so context
/// assembly never overflows a model it knows nothing about. Declare the
/// model in `[[providers.models]]` to use more of it.
pub const UNKNOWN_CONTEXT_WINDOW: u32 = 8192;

/// The names that ask the gateway to choose.
const AUTO: &[&str] = &["", "auto"];

/// At most this many suggestions for an unknown name.
const MAX_SUGGESTIONS: usize = 5;

/// The registered models, by id, remembering the order of providers and of
/// models within each: the first configured model is the default of last
/// resort, however the listings at start interleave.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    models: BTreeMap<ModelId, ModelInfo>,
    order: Vec<ModelId>,
    providers: Vec<String>,
}

/// A declared model as the registry describes it; undeclared limits take
/// the conservative defaults.
pub(crate) fn declared(provider: &str, m: &ModelConfig) -> ModelInfo {
    let defaults = Capabilities::default();
    ModelInfo {
        id: ModelId::new(provider, m.name.as_str()),
        context_window: m.context_window.unwrap_or(UNKNOWN_CONTEXT_WINDOW),
        max_output_tokens: m.max_output_tokens,
        pricing: Pricing {
            input_per_mtok: m.input_price.unwrap_or(0.0),
            output_per_mtok: m.output_price.unwrap_or(0.0),
        },
        capabilities: Capabilities {
            tools: m.tools.unwrap_or(defaults.tools),
            vision: m.vision.unwrap_or(defaults.vision),
            streaming: m.streaming.unwrap_or(defaults.streaming),
        },
    }
}

/// A model known only because its server listed it.
pub(crate) fn listed(provider: &str, name: &str) -> ModelInfo {
    declared(
        provider,
        &ModelConfig {
            name: name.to_owned(),
            ..ModelConfig::default()
        },
    )
}

impl Registry {
    /// Declares a provider; providers declared earlier come first.
    pub(crate) fn add_provider(&mut self, name: &str) {
        if !self.providers.iter().any(|p| p == name) {
            self.providers.push(name.to_owned());
        }
    }

    /// The model of the earliest provider that was registered first.
    fn first(&self) -> Option<&ModelInfo> {
        let rank = |provider: &str| {
            self.providers
                .iter()
                .position(|p| p == provider)
                .unwrap_or(usize::MAX)
        };
        self.order
            .iter()
            .enumerate()
            .min_by_key(|(i, id)| (rank(id.provider()), *i))
            .map(|(_, id)| &self.models[id])
    }

    /// Adds a model unless one with its id exists (what was declared first
    /// beats what a listing says later). Returns whether it was added.
    pub(crate) fn insert(&mut self, info: ModelInfo) -> bool {
        if self.models.contains_key(&info.id) {
            return false;
        }
        self.order.push(info.id.clone());
        self.models.insert(info.id.clone(), info);
        true
    }

    /// Every model, sorted by id.
    pub(crate) fn all(&self) -> Vec<ModelInfo> {
        self.models.values().cloned().collect()
    }

    pub(crate) fn count(&self, provider: &str) -> usize {
        self.models
            .keys()
            .filter(|id| id.provider() == provider)
            .count()
    }

    /// Resolves what a caller asked for: a full `provider/model` id, a bare
    /// model name that only one provider serves, or `auto`/nothing for
    /// `default_model` (else the first model configured).
    pub(crate) fn resolve(
        &self,
        name: &str,
        default_model: Option<&str>,
    ) -> Result<ModelInfo, GatewayError> {
        let name = name.trim();
        if AUTO.contains(&name) {
            return match default_model.map(str::trim).filter(|d| !AUTO.contains(d)) {
                Some(default) => self.resolve(default, None),
                None => self.first().cloned().ok_or(GatewayError::NoModel),
            };
        }
        if let Ok(id) = ModelId::parse(name)
            && let Some(info) = self.models.get(&id)
        {
            return Ok(info.clone());
        }
        // A bare name, which may itself contain `/` (`meta-llama/llama-3`).
        let matches: Vec<&ModelInfo> = self
            .models
            .values()
            .filter(|m| m.id.model() == name)
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] if self.models.is_empty() => Err(GatewayError::NoModel),
            [] => Err(GatewayError::ModelNotFound {
                name: name.to_owned(),
                suggestions: self.suggestions(name),
            }),
            many => Err(GatewayError::ModelAmbiguous {
                name: name.to_owned(),
                candidates: many.iter().map(|m| m.id.to_string()).collect(),
            }),
        }
    }

    /// Registered ids close to `name`: sharing a substring, or within a few
    /// edits of the full id or the bare model name, best first.
    fn suggestions(&self, name: &str) -> Vec<String> {
        let wanted = name.to_lowercase();
        let limit = (wanted.chars().count() / 3).max(2);
        let mut scored: Vec<(usize, String)> = self
            .models
            .keys()
            .filter_map(|id| {
                let full = id.to_string().to_lowercase();
                let bare = id.model().to_lowercase();
                let distance = edit_distance(&wanted, &full).min(edit_distance(&wanted, &bare));
                let related = distance <= limit
                    || (wanted.len() >= 3 && full.contains(&wanted))
                    || (bare.len() >= 3 && wanted.contains(&bare));
                related.then(|| (distance, id.to_string()))
            })
            .collect();
        scored.sort();
        scored
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, id)| id)
            .collect()
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(ids: &[&str]) -> Registry {
        let mut r = Registry::default();
        for id in ids {
            let id = ModelId::parse(id).unwrap();
            r.insert(listed(id.provider(), id.model()));
        }
        r
    }

    fn resolved(r: &Registry, name: &str) -> String {
        r.resolve(name, None).unwrap().id.to_string()
    }

    #[test]
    fn full_ids_and_unique_bare_names() {
        let r = registry(&[
            "openai/gpt-4o",
            "groq/llama-3.3-70b",
            "openrouter/meta-llama/llama-3.3-70b",
            "ollama/qwen2.5:7b",
        ]);
        assert_eq!(resolved(&r, "openai/gpt-4o"), "openai/gpt-4o");
        assert_eq!(resolved(&r, "gpt-4o"), "openai/gpt-4o");
        assert_eq!(resolved(&r, " qwen2.5:7b "), "ollama/qwen2.5:7b");
        assert_eq!(
            resolved(&r, "meta-llama/llama-3.3-70b"),
            "openrouter/meta-llama/llama-3.3-70b",
            "a bare name containing '/'"
        );
    }

    #[test]
    fn ambiguous_bare_names_list_candidates() {
        let r = registry(&["a/m1", "b/m1", "b/m2"]);
        match r.resolve("m1", None) {
            Err(GatewayError::ModelAmbiguous { candidates, .. }) => {
                assert_eq!(candidates, ["a/m1", "b/m1"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(resolved(&r, "b/m1"), "b/m1");
    }

    #[test]
    fn unknown_names_suggest_close_ids() {
        let r = registry(&[
            "openai/gpt-4o",
            "openai/gpt-4o-mini",
            "anthropic/claude-sonnet-4-5",
        ]);
        match r.resolve("gpt4o", None) {
            Err(GatewayError::ModelNotFound { suggestions, .. }) => {
                assert_eq!(suggestions[0], "openai/gpt-4o");
                assert!(!suggestions.contains(&"anthropic/claude-sonnet-4-5".to_owned()));
            }
            other => panic!("{other:?}"),
        }
        match r.resolve("sonnet", None) {
            Err(GatewayError::ModelNotFound { suggestions, .. }) => {
                assert_eq!(suggestions, ["anthropic/claude-sonnet-4-5"]);
            }
            other => panic!("{other:?}"),
        }
        match r.resolve("zzz/unrelated-thing", None) {
            Err(GatewayError::ModelNotFound { suggestions, .. }) => assert!(suggestions.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auto_uses_the_default_then_the_first_configured() {
        let mut r = registry(&["a/listed-late", "z/first", "a/second"]);
        r.add_provider("z");
        r.add_provider("a");
        assert_eq!(resolved(&r, ""), "z/first");
        assert_eq!(resolved(&r, "auto"), "z/first");
        assert_eq!(
            r.resolve("auto", Some("second")).unwrap().id.to_string(),
            "a/second"
        );
        assert_eq!(
            r.resolve("auto", Some("auto")).unwrap().id.to_string(),
            "z/first"
        );
        assert!(matches!(
            Registry::default().resolve("auto", None),
            Err(GatewayError::NoModel)
        ));
        assert!(matches!(
            Registry::default().resolve("gpt-4o", None),
            Err(GatewayError::NoModel)
        ));
    }

    #[test]
    fn first_declaration_wins_and_listing_defaults_are_conservative() {
        let mut r = Registry::default();
        assert!(r.insert(declared(
            "p",
            &ModelConfig {
                name: "m".into(),
                context_window: Some(100_000),
                input_price: Some(1.0),
                ..ModelConfig::default()
            }
        )));
        assert!(!r.insert(listed("p", "m")));
        assert!(r.insert(listed("p", "n")));
        let all = r.all();
        assert_eq!(all[0].context_window, 100_000);
        assert_eq!(all[1].context_window, UNKNOWN_CONTEXT_WINDOW);
        assert_eq!(all[1].pricing, Pricing::default());
        assert_eq!(r.count("p"), 2);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
