//! Which providers exist, and how each is reached: the catalogue, the
//! `[[providers]]` list and the environment merged into one list.
//!
//! Precedence, field by field: a `[[providers]]` entry, then the
//! environment (the key, and the base URL variable the service's own SDK
//! reads), then the catalogue preset.

use std::collections::HashSet;

use baton_config::{ModelConfig, ProviderConfig, ProviderKind, Secret};

use crate::catalog::{Catalog, Preset};
use crate::error::GatewayError;
use crate::ollama;

/// Reads an environment variable; tests pass a map, the binary
/// `std::env::var`.
pub(crate) type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The request field OpenAI-compatible servers read the completion limit
/// from unless a preset says otherwise.
const DEFAULT_MAX_TOKENS_FIELD: &str = "max_tokens";

/// A provider with everything needed to build its client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProviderSpec {
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    /// For Ollama the server root; otherwise the base including the version.
    pub(crate) base_url: String,
    pub(crate) api_key: Option<Secret>,
    pub(crate) headers: Vec<(String, Secret)>,
    /// Declared models: the preset's, overridden by the entry's.
    pub(crate) models: Vec<ModelConfig>,
    pub(crate) max_tokens_field: String,
    /// A server whose own listing is the truth about its models (a local
    /// server), so it is asked at start.
    pub(crate) list_at_start: bool,
}

/// Every enabled provider: the `[[providers]]` entries in order, then each
/// hosted preset whose key variable is set and that no entry names.
pub(crate) fn assemble(
    configs: &[ProviderConfig],
    catalog: &Catalog,
    env: Env<'_>,
) -> Result<Vec<ProviderSpec>, GatewayError> {
    let mut named = HashSet::new();
    let mut specs = Vec::new();
    for entry in configs {
        validate_name(&entry.name)?;
        if !named.insert(entry.name.as_str()) {
            return Err(GatewayError::Config(format!(
                "provider {:?} is declared twice in [[providers]]",
                entry.name
            )));
        }
        if entry.enabled {
            specs.push(build(entry, catalog, env)?);
        }
    }
    for preset in catalog.presets.iter().filter(|p| !p.local) {
        let has_key = preset
            .api_key_env
            .as_deref()
            .is_some_and(|var| read(env, var).is_some());
        if has_key && !named.contains(preset.name.as_str()) {
            specs.push(build(&enabled(&preset.name), catalog, env)?);
        }
    }
    Ok(specs)
}

/// The Ollama server detected at `host`, as a provider named `ollama`.
pub(crate) fn detected_ollama(
    host: &str,
    catalog: &Catalog,
    env: Env<'_>,
) -> Result<ProviderSpec, GatewayError> {
    let mut entry = enabled("ollama");
    entry.kind = Some(ProviderKind::Ollama);
    entry.base_url = Some(host.to_owned());
    build(&entry, catalog, env)
}

/// Where to look for Ollama: `OLLAMA_HOST`, else its default address.
pub(crate) fn ollama_host(env: Env<'_>) -> String {
    read(env, "OLLAMA_HOST")
        .map_or_else(|| ollama::DEFAULT_HOST.to_owned(), |h| ollama::host_url(&h))
}

fn enabled(name: &str) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        enabled: true,
        ..ProviderConfig::default()
    }
}

/// A variable's value; set-but-empty counts as unset, as the SDKs do.
fn read(env: Env<'_>, var: &str) -> Option<String> {
    env(var).filter(|v| !v.trim().is_empty())
}

fn validate_name(name: &str) -> Result<(), GatewayError> {
    if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(GatewayError::Config(format!(
            "provider name {name:?} must be non-empty, without spaces or '/' (it is the first part of model ids)"
        )));
    }
    Ok(())
}

fn build(
    entry: &ProviderConfig,
    catalog: &Catalog,
    env: Env<'_>,
) -> Result<ProviderSpec, GatewayError> {
    let name = &entry.name;
    let preset: Option<&Preset> = match &entry.preset {
        Some(preset) => Some(catalog.get(preset).ok_or_else(|| {
            let known: Vec<&str> = catalog.presets.iter().map(|p| p.name.as_str()).collect();
            GatewayError::Config(format!(
                "provider {name:?}: unknown preset {preset:?} (known presets: {})",
                known.join(", ")
            ))
        })?),
        None => catalog.get(name),
    };
    let kind = entry
        .kind
        .or(preset.map(|p| p.kind))
        .unwrap_or(ProviderKind::Openai);
    let api_key_env = entry
        .api_key_env
        .as_deref()
        .or(preset.and_then(|p| p.api_key_env.as_deref()));
    let api_key = entry
        .api_key
        .clone()
        .or_else(|| api_key_env.and_then(|var| read(env, var)).map(Secret::new));
    if let (None, Some(var)) = (&api_key, api_key_env) {
        tracing::warn!(provider = %name, variable = %var, "the API key variable is not set; calls go without a key");
    }
    let base_url = entry
        .base_url
        .clone()
        .or_else(|| {
            preset
                .and_then(|p| p.base_url_env.as_deref())
                .and_then(|var| read(env, var))
        })
        .or_else(|| preset.map(|p| p.base_url.clone()))
        .or_else(|| (kind == ProviderKind::Ollama).then(|| ollama_host(env)))
        .ok_or_else(|| {
            GatewayError::Config(format!(
                "provider {name:?}: base_url is required (no preset is named {name:?})"
            ))
        })?;
    let base_url = if kind == ProviderKind::Ollama {
        ollama::host_url(&base_url)
    } else {
        base_url.trim_end_matches('/').to_owned()
    };
    match url::Url::parse(&base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
        _ => {
            return Err(GatewayError::Config(format!(
                "provider {name:?}: base_url must be an http:// or https:// URL"
            )));
        }
    }
    let models = merge_models(
        name,
        preset.map(|p| p.models.as_slice()).unwrap_or(&[]),
        &entry.models,
    )?;
    Ok(ProviderSpec {
        name: name.clone(),
        kind,
        base_url,
        api_key,
        headers: entry
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        models,
        max_tokens_field: preset
            .and_then(|p| p.max_tokens_field.clone())
            .unwrap_or_else(|| DEFAULT_MAX_TOKENS_FIELD.to_owned()),
        list_at_start: kind == ProviderKind::Ollama || preset.is_some_and(|p| p.local),
    })
}

/// The preset's models with the entry's declarations laid over them field
/// by field; models only the entry names are appended.
fn merge_models(
    provider: &str,
    preset: &[ModelConfig],
    declared: &[ModelConfig],
) -> Result<Vec<ModelConfig>, GatewayError> {
    let mut models = preset.to_vec();
    for d in declared {
        if d.name.trim().is_empty() {
            return Err(GatewayError::Config(format!(
                "provider {provider:?}: a [[providers.models]] entry has an empty name"
            )));
        }
        match models.iter_mut().find(|m| m.name == d.name) {
            Some(m) => {
                *m = ModelConfig {
                    name: d.name.clone(),
                    context_window: d.context_window.or(m.context_window),
                    max_output_tokens: d.max_output_tokens.or(m.max_output_tokens),
                    input_price: d.input_price.or(m.input_price),
                    output_price: d.output_price.or(m.output_price),
                    tools: d.tools.or(m.tools),
                    vision: d.vision.or(m.vision),
                    streaming: d.streaming.or(m.streaming),
                }
            }
            None => models.push(d.clone()),
        }
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn names(specs: &[ProviderSpec]) -> Vec<&str> {
        specs.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn hosted_presets_activate_from_their_sdk_variables() {
        let env = env_of(&[
            ("OPENAI_API_KEY", "sk-o"),
            ("OPENAI_BASE_URL", "http://proxy.lan/v1/"),
            ("ANTHROPIC_API_KEY", "sk-a"),
            ("GROQ_API_KEY", ""),
        ]);
        let specs = assemble(&[], Catalog::builtin(), &env).unwrap();
        assert_eq!(names(&specs), ["openai", "anthropic"]);
        assert_eq!(specs[0].base_url, "http://proxy.lan/v1");
        assert_eq!(specs[0].api_key.as_ref().unwrap().expose(), "sk-o");
        assert_eq!(specs[0].max_tokens_field, "max_completion_tokens");
        assert_eq!(specs[1].kind, ProviderKind::Anthropic);
        assert_eq!(specs[1].base_url, "https://api.anthropic.com");
        assert!(!specs[1].list_at_start);
    }

    #[test]
    fn local_presets_only_when_named() {
        let env = env_of(&[]);
        assert!(assemble(&[], Catalog::builtin(), &env).unwrap().is_empty());
        let specs = assemble(&[enabled("lmstudio")], Catalog::builtin(), &env).unwrap();
        assert_eq!(specs[0].base_url, "http://127.0.0.1:1234/v1");
        assert_eq!(specs[0].api_key, None);
        assert!(specs[0].list_at_start);
    }

    #[test]
    fn entries_override_presets_field_by_field() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-o"), ("WORK_KEY", "sk-w")]);
        let mut entry = enabled("openai");
        entry.api_key_env = Some("WORK_KEY".into());
        entry.models = vec![
            ModelConfig {
                name: "gpt-4o".into(),
                context_window: Some(1000),
                ..ModelConfig::default()
            },
            ModelConfig {
                name: "ft:gpt-4o:acme".into(),
                ..ModelConfig::default()
            },
        ];
        let specs = assemble(&[entry], Catalog::builtin(), &env).unwrap();
        assert_eq!(names(&specs), ["openai"], "the entry replaces the preset");
        let s = &specs[0];
        assert_eq!(s.api_key.as_ref().unwrap().expose(), "sk-w");
        assert_eq!(s.base_url, "https://api.openai.com/v1");
        let gpt4o = s.models.iter().find(|m| m.name == "gpt-4o").unwrap();
        assert_eq!(gpt4o.context_window, Some(1000), "declared beats catalogue");
        assert_eq!(
            gpt4o.max_output_tokens,
            Some(16384),
            "undeclared fields kept"
        );
        assert!(s.models.iter().any(|m| m.name == "ft:gpt-4o:acme"));
    }

    #[test]
    fn disabled_entries_turn_presets_off() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-o")]);
        let mut entry = enabled("openai");
        entry.enabled = false;
        assert!(
            assemble(&[entry], Catalog::builtin(), &env)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn custom_services_and_presets_under_other_names() {
        let env = env_of(&[("CORP_KEY", "k")]);
        let custom = ProviderConfig {
            name: "corp".into(),
            kind: Some(ProviderKind::Openai),
            base_url: Some("https://llm.corp.example/v1".into()),
            api_key_env: Some("CORP_KEY".into()),
            models: vec![ModelConfig {
                name: "corp-large".into(),
                ..ModelConfig::default()
            }],
            enabled: true,
            ..ProviderConfig::default()
        };
        let mut second_groq = enabled("groq-b");
        second_groq.preset = Some("groq".into());
        let specs = assemble(&[custom, second_groq], Catalog::builtin(), &env).unwrap();
        assert_eq!(specs[0].api_key.as_ref().unwrap().expose(), "k");
        assert_eq!(specs[0].models.len(), 1);
        assert_eq!(specs[1].base_url, "https://api.groq.com/openai/v1");
        assert!(!specs[1].models.is_empty());
    }

    #[test]
    fn ollama_entries_read_ollama_host() {
        let env = env_of(&[("OLLAMA_HOST", "gpu.lan:11500")]);
        let specs = assemble(&[enabled("ollama")], Catalog::builtin(), &env).unwrap();
        assert_eq!(specs[0].kind, ProviderKind::Ollama);
        assert_eq!(specs[0].base_url, "http://gpu.lan:11500");
        assert_eq!(ollama_host(&env), "http://gpu.lan:11500");
        assert_eq!(ollama_host(&env_of(&[])), "http://127.0.0.1:11434");
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let env = env_of(&[]);
        let err = |configs: &[ProviderConfig]| {
            assemble(configs, Catalog::builtin(), &env)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[enabled("nopreset")]).contains("base_url is required"));
        let mut bad = enabled("x");
        bad.preset = Some("nosuch".into());
        assert!(err(&[bad]).contains("unknown preset \"nosuch\""));
        assert!(err(&[enabled("a/b")]).contains("without spaces or '/'"));
        assert!(err(&[enabled("lmstudio"), enabled("lmstudio")]).contains("declared twice"));
        let mut bad_url = enabled("x");
        bad_url.base_url = Some("ftp://x".into());
        assert!(err(&[bad_url]).contains("http:// or https://"));
    }
}
