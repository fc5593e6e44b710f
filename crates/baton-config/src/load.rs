//! Reading the layers, merging them and validating the result.

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{Config, EnvVars, default_config_path};

/// What the caller (usually the CLI) knows before the file is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// An explicit file (`--config` / `BATON_CONFIG`); it must exist.
    pub file: Option<PathBuf>,
    /// The environment overlay to apply (`--env` / `BATON_ENV`).
    pub environment: Option<String>,
    /// Values from command-line flags, as `(dotted.key, value)`; they win
    /// over everything else.
    pub overrides: Vec<(String, String)>,
}

/// Why the configuration was refused. The message names the key and the
/// file or variable its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("cannot read configuration file {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("unknown environment {name:?}: {path} defines {known}")]
    UnknownEnvironment {
        name: String,
        path: String,
        known: String,
    },
}

/// Maps the documented shortcut variables to their keys.
const SHORTCUT_VARS: &[(&str, &str)] = &[
    ("BATON_ADDR", "server.addr"),
    ("BATON_TOKEN", "server.token"),
    ("BATON_DATA_DIR", "storage.data_dir"),
    ("BATON_DATABASE_URL", "storage.database_url"),
    ("BATON_DEFAULT_MODEL", "gateway.default_model"),
    ("BATON_LOG", "log.level"),
];

/// Loads and validates the configuration. `env` reads environment variables
/// (the binary passes `std::env::var`; tests pass a map).
pub fn load(opts: &LoadOptions, vars: &EnvVars) -> Result<(Config, Option<PathBuf>), ConfigError> {
    let env = &|k: &str| vars.get(k).map(str::to_owned);
    let explicit = opts.file.clone().or_else(|| {
        env("BATON_CONFIG")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    });
    let path = match explicit {
        Some(p) if !p.exists() => return Err(ConfigError::Missing { path: p }),
        Some(p) => Some(p),
        None => Some(default_config_path(env)).filter(|p| p.exists()),
    };

    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    let mut file_table = toml::Table::new();
    if let Some(path) = &path {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.clone(),
            message: e.to_string(),
        })?;
        file_table = toml::from_str(&text).map_err(|e| {
            ConfigError::Invalid(format!("{}: {}", path.display(), e.to_string().trim_end()))
        })?;
        figment = figment.merge(Toml::file_exact(path));
    }

    let environment = opts
        .environment
        .clone()
        .or_else(|| env("BATON_ENV").filter(|s| !s.is_empty()));
    if let Some(name) = &environment {
        let overlay = Overlay::select(&file_table, name, path.as_deref())?;
        figment = figment.merge(overlay);
    }

    figment = figment.merge(env_provider(vars));
    for (key, value) in &opts.overrides {
        figment = figment.merge(Serialized::global(key, value));
    }

    let config: Config = figment.extract().map_err(|e| describe(&e))?;
    validate(&config, path.as_deref())?;
    for (name, table) in &config.environments {
        check_overlay(name, table, path.as_deref())?;
    }
    Ok((config, path))
}

/// Environment variables as one provider: the documented shortcuts plus
/// `BATON_SECTION__KEY` for any other key (`BATON_GATEWAY__FALLBACKS`).
fn env_provider(vars: &EnvVars) -> Figment {
    let mut f = Figment::new();
    for (var, key) in SHORTCUT_VARS {
        if let Some(v) = vars.get(var).filter(|v| !v.is_empty()) {
            f = f.merge(Serialized::global(key, v).named_as(var));
        }
    }
    for (var, value) in vars.iter() {
        let Some(rest) = var.strip_prefix("BATON_").filter(|r| r.contains("__")) else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace("__", ".");
        let value: Value = value
            .parse()
            .unwrap_or_else(|_| Value::from(value.to_owned()));
        f = f.merge(Serialized::global(&key, value).named_as(var));
    }
    f
}

trait NamedAs: Sized {
    fn named_as(self, name: &str) -> Named<Self>;
}

impl<T: Provider> NamedAs for T {
    fn named_as(self, name: &str) -> Named<Self> {
        Named {
            inner: self,
            meta: Metadata::named(format!("environment variable `{name}`")),
        }
    }
}

/// A provider with a clearer name in error messages.
struct Named<T> {
    inner: T,
    meta: Metadata,
}

impl<T: Provider> Provider for Named<T> {
    fn metadata(&self) -> Metadata {
        self.meta.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

/// The `[environments.NAME]` table of the file, applied over the base.
struct Overlay {
    data: Dict,
    meta: Metadata,
}

impl Overlay {
    fn select(table: &toml::Table, name: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        let where_ = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "no configuration file".into());
        let envs = table.get("environments").and_then(|v| v.as_table());
        let Some(overlay) = envs.and_then(|e| e.get(name)).and_then(|v| v.as_table()) else {
            let known = envs
                .map(|e| e.keys().cloned().collect::<Vec<_>>().join(", "))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "no environments".into());
            return Err(ConfigError::UnknownEnvironment {
                name: name.to_owned(),
                path: where_,
                known,
            });
        };
        let value = Value::serialize(overlay).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let data = value.into_dict().unwrap_or_default();
        Ok(Overlay {
            data,
            meta: Metadata::named(format!("[environments.{name}] in {where_}")),
        })
    }
}

impl Provider for Overlay {
    fn metadata(&self) -> Metadata {
        self.meta.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// Checks an overlay that is not selected, so a typo in it is found now and
/// not on the day that environment is first used.
fn check_overlay(name: &str, table: &toml::Table, path: Option<&Path>) -> Result<(), ConfigError> {
    if table.contains_key("environments") {
        return Err(ConfigError::Invalid(format!(
            "[environments.{name}] must not contain further environments"
        )));
    }
    let where_ = path.map(|p| p.display().to_string()).unwrap_or_default();
    let figment = Figment::from(Serialized::defaults(Config::default())).merge(Overlay {
        data: Value::serialize(table)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?
            .into_dict()
            .unwrap_or_default(),
        meta: Metadata::named(format!("[environments.{name}] in {where_}")),
    });
    let config: Config = figment.extract().map_err(|e| describe(&e))?;
    validate(&config, path)
}

/// One line per problem: `key `server.addr` in FILE: what is wrong`.
fn describe(err: &figment::Error) -> ConfigError {
    let lines: Vec<String> = err
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(p)) => p.display().to_string(),
                    _ => m.name.to_string(),
                })
                .unwrap_or_else(|| "defaults".into());
            let key = if key.is_empty() {
                String::new()
            } else {
                format!("key `{key}` ")
            };
            format!("{key}in {source}: {}", e.kind)
        })
        .collect();
    ConfigError::Invalid(lines.join("\n"))
}

fn invalid(path: Option<&Path>, key: &str, message: impl std::fmt::Display) -> ConfigError {
    let source = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the environment".into());
    ConfigError::Invalid(format!("key `{key}` in {source}: {message}"))
}

fn check_url(
    path: Option<&Path>,
    key: &str,
    value: &str,
    schemes: &[&str],
) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value)
        .map_err(|e| invalid(path, key, format!("{value:?} is not a URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(
            path,
            key,
            format!(
                "scheme {:?} is not one of {}",
                url.scheme(),
                schemes.join(", ")
            ),
        ));
    }
    Ok(url)
}

/// A provider's base URL gets request paths appended, so a query or a
/// fragment would end up before them; and it is printed by `config check`
/// and in errors, so it must not carry credentials (those belong in
/// `api_key`, `api_key_env` or `headers`, which are kept secret).
fn check_base_url(path: Option<&Path>, key: &str, value: &str) -> Result<(), ConfigError> {
    let url = check_url(path, key, value, &["http", "https"])?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            path,
            key,
            "must not contain a user or password; put the key in api_key_env, api_key or headers",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            path,
            key,
            "must not have a query (?…) or fragment (#…): request paths are appended to it; \
             send extra parameters as headers",
        ));
    }
    Ok(())
}

/// Checks values whose type is right but whose content is not.
fn validate(c: &Config, path: Option<&Path>) -> Result<(), ConfigError> {
    c.server.addr.parse::<SocketAddr>().map_err(|_| {
        invalid(
            path,
            "server.addr",
            format!("{:?} is not HOST:PORT (e.g. 127.0.0.1:8000)", c.server.addr),
        )
    })?;
    if c.server.max_body_bytes < 1024 {
        return Err(invalid(
            path,
            "server.max_body_bytes",
            "must be at least 1024",
        ));
    }
    if let Some(token) = &c.server.token
        && token.expose().len() < 16
    {
        return Err(invalid(
            path,
            "server.token",
            "must be at least 16 characters",
        ));
    }
    if let Some(url) = &c.storage.database_url {
        let url = url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                path,
                "storage.database_url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
    }
    let mut names = std::collections::HashSet::new();
    for (i, p) in c.providers.iter().enumerate() {
        let key = format!("providers[{i}]");
        if p.name.is_empty() || p.name.contains('/') {
            return Err(invalid(
                path,
                &format!("{key}.name"),
                "must be non-empty and contain no '/'",
            ));
        }
        if !names.insert(p.name.as_str()) {
            return Err(invalid(
                path,
                &format!("{key}.name"),
                format!("provider {:?} is declared twice", p.name),
            ));
        }
        if let Some(url) = &p.base_url {
            check_base_url(path, &format!("{key}.base_url"), url)?;
        }
        if p.preset.is_none() && p.kind.is_none() && p.base_url.is_some() {
            return Err(invalid(
                path,
                &format!("{key}.kind"),
                "a provider with its own base_url needs kind = \"openai\", \"anthropic\" or \"ollama\"",
            ));
        }
        for (j, m) in p.models.iter().enumerate() {
            if m.name.is_empty() {
                return Err(invalid(
                    path,
                    &format!("{key}.models[{j}].name"),
                    "must not be empty",
                ));
            }
            for (field, v) in [
                ("input_price", m.input_price),
                ("output_price", m.output_price),
            ] {
                if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                    return Err(invalid(
                        path,
                        &format!("{key}.models[{j}].{field}"),
                        "must be a non-negative number",
                    ));
                }
            }
        }
    }
    let g = &c.gateway;
    for (key, v) in [
        ("gateway.connect_timeout_secs", g.connect_timeout_secs),
        (
            "gateway.first_token_timeout_secs",
            g.first_token_timeout_secs,
        ),
        ("gateway.request_timeout_secs", g.request_timeout_secs),
    ] {
        if v == 0 {
            return Err(invalid(path, key, "must be at least 1"));
        }
    }
    if g.breaker_failures == 0 {
        return Err(invalid(
            path,
            "gateway.breaker_failures",
            "must be at least 1",
        ));
    }
    validate_agent(&c.agent, path)?;
    validate_memory(&c.memory, path)?;
    validate_engine(&c.engine, path)?;
    validate_policy(&c.policy, path)
}

fn validate_memory(m: &crate::MemoryConfig, path: Option<&Path>) -> Result<(), ConfigError> {
    match m.embedder.as_deref() {
        Some("local") if m.model_dir.is_none() => Err(invalid(
            path,
            "memory.embedder",
            "\"local\" needs memory.model_dir, the directory of a sentence-embedding model",
        )),
        None | Some("local" | "none") => Ok(()),
        Some(name) if baton_core::ModelId::parse(name).is_ok() => Ok(()),
        Some(name) => Err(invalid(
            path,
            "memory.embedder",
            format!(
                "{name:?} is not \"none\", \"local\" or provider/model (e.g. openai/text-embedding-3-small)"
            ),
        )),
    }
}

fn validate_engine(e: &crate::EngineConfig, path: Option<&Path>) -> Result<(), ConfigError> {
    if e.lease_ms < 100 {
        return Err(invalid(path, "engine.lease_ms", "must be at least 100"));
    }
    for (key, value) in [
        ("engine.poll_ms", e.poll_ms),
        ("engine.concurrency", e.concurrency as u64),
        ("engine.max_attempts", u64::from(e.max_attempts)),
        ("engine.task_timeout_secs", e.task_timeout_secs),
    ] {
        if value == 0 {
            return Err(invalid(path, key, "must be at least 1"));
        }
    }
    if e.max_attempts > 100 {
        return Err(invalid(path, "engine.max_attempts", "must be at most 100"));
    }
    if e.retain_days > 100 * 365 {
        return Err(invalid(
            path,
            "engine.retain_days",
            "must be at most 36500 (0 keeps runs forever)",
        ));
    }
    for (queue, limit) in &e.queue_limits {
        if *limit == 0 {
            return Err(invalid(
                path,
                &format!("engine.queue_limits.{queue}"),
                "must be at least 1",
            ));
        }
    }
    if e.planner_model
        .as_deref()
        .is_some_and(|m| m.trim().is_empty())
    {
        return Err(invalid(
            path,
            "engine.planner_model",
            "must name a model (provider/model, a bare name or auto)",
        ));
    }
    Ok(())
}

/// The `[policy]` rules parse, so a typo stops baton at start rather than
/// at an agent's first tool call.
fn validate_policy(p: &crate::PolicyConfig, path: Option<&Path>) -> Result<(), ConfigError> {
    let value = toml::Value::try_from(p).map_err(|e| invalid(path, "policy", e))?;
    baton_policy::Rules::from_toml(&value, baton_policy::Source::User, "[policy]")
        .map(|_| ())
        .map_err(|e| invalid(path, "policy", e))
}

fn validate_agent(a: &crate::AgentConfig, path: Option<&Path>) -> Result<(), ConfigError> {
    if !(1..=1_000).contains(&a.max_steps) {
        return Err(invalid(path, "agent.max_steps", "must be 1 to 1000"));
    }
    if !(a.max_cost_usd.is_finite() && a.max_cost_usd > 0.0) {
        return Err(invalid(
            path,
            "agent.max_cost_usd",
            "must be a positive number",
        ));
    }
    for (key, v) in [
        ("agent.max_tokens", a.max_tokens),
        ("agent.max_duration_secs", a.max_duration_secs),
        ("agent.approval_wait_secs", a.approval_wait_secs),
        ("agent.tool_timeout_secs", a.tool_timeout_secs),
        ("agent.max_file_bytes", a.max_file_bytes),
    ] {
        if v == 0 {
            return Err(invalid(path, key, "must be at least 1"));
        }
    }
    if a.max_output_bytes < 1024 {
        return Err(invalid(
            path,
            "agent.max_output_bytes",
            "must be at least 1024",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
