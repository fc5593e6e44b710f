//! Start-up shared by every command: configuration, logging, store,
//! gateway and hub, assembled the same way for the CLI and the server.

use anyhow::Context;
use baton_agent::{Agent, AgentParts, ToolContextFactory};
use baton_config::{Config, EmbedderChoice, EnvVars, LoadOptions, LogFormat};
use baton_continuity::{Embedder, Memories};
use baton_core::DeviceId;
use baton_embed::LocalEmbedder;
use baton_engine::{Engine, EngineConfig, EngineParts};
use baton_hub::{Hub, HubParts, MemoryLog};
use baton_llm::Gateway;
use baton_mcp::{McpClient, McpServerConfig};
use baton_sandbox::Sandbox;
use baton_store::{Store, WriterOptions};
use baton_tools::{McpTool, ToolContext, Toolbox};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::args::Global;

/// The loaded configuration and where it came from.
pub struct Loaded {
    pub config: Config,
    pub path: Option<PathBuf>,
    pub env: EnvVars,
}

impl Loaded {
    pub fn data_dir(&self) -> PathBuf {
        self.config
            .storage
            .data_dir
            .clone()
            .unwrap_or_else(|| baton_config::default_data_dir(&self.env.lookup()))
    }
}

/// Reads the configuration; flags become the top layer.
pub fn load(global: &Global, mut overrides: Vec<(String, String)>) -> anyhow::Result<Loaded> {
    if let Some(dir) = &global.data_dir {
        overrides.push(("storage.data_dir".into(), dir.display().to_string()));
    }
    if let Some(url) = &global.database {
        overrides.push(("storage.database_url".into(), url.clone()));
    }
    let env = EnvVars::from_process();
    let opts = LoadOptions {
        file: global.config.clone(),
        environment: global.environment.clone(),
        overrides,
    };
    let (config, path) = baton_config::load(&opts, &env)?;
    Ok(Loaded { config, path, env })
}

/// Logs go to stderr so that stdout stays for data. `RUST_LOG` wins over
/// the configured level; `quiet` commands default to warnings only.
/// The configured filter, with the MCP SDK held to warnings unless the
/// filter names it: it logs three INFO lines for every `/mcp` request.
fn default_filter(level: &str) -> String {
    if level.contains("rmcp") {
        level.to_owned()
    } else {
        format!("{level},rmcp=warn")
    }
}

pub fn init_tracing(config: &Config, quiet: bool) {
    let default = default_filter(if quiet {
        "warn"
    } else {
        config.log.level.as_str()
    });
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Opens the configured store: PostgreSQL when a URL says so, else the
/// SQLite file in the data directory.
pub async fn open_store(loaded: &Loaded) -> anyhow::Result<Store> {
    match &loaded.config.storage.database_url {
        Some(url) => Store::connect(url.expose())
            .await
            .context("cannot open the database named by storage.database_url"),
        None => {
            let path = loaded.data_dir().join("baton.db");
            Store::open_sqlite(&path)
                .await
                .with_context(|| format!("cannot open the database {}", path.display()))
        }
    }
}

pub async fn gateway(loaded: &Loaded) -> anyhow::Result<Gateway> {
    let c = &loaded.config;
    Gateway::new(&c.providers, &c.gateway, &loaded.env.lookup())
        .await
        .context("cannot set up the model providers")
}

/// Everything a command that talks to models needs.
pub async fn hub(loaded: &Loaded) -> anyhow::Result<Hub> {
    let data_dir = loaded.data_dir();
    ensure_dir(&data_dir)?;
    let (store, gateway) = tokio::try_join!(open_store(loaded), gateway(loaded))?;
    let memory_log = if loaded.config.chat.memory_log {
        MemoryLog::open(&data_dir)
            .with_context(|| format!("cannot open memory_log.jsonl in {}", data_dir.display()))?
    } else {
        MemoryLog::disabled()
    };
    let writer = store.writer(WriterOptions::default());
    Ok(Hub::new(HubParts {
        store,
        gateway,
        writer,
        memory_log,
        chat: loaded.config.chat.clone(),
    }))
}

fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// The agent service: the built-in tools, `shell` and `run` in the sandbox,
/// the tools of every configured MCP server, and the policy configuration.
/// A server that cannot be reached is reported and left out; the agent
/// still starts.
pub async fn agent(loaded: &Loaded, hub: &Hub, global: &Global) -> anyhow::Result<Agent> {
    let sandbox = Arc::new(Sandbox::probe());
    let isolation = sandbox.isolation();
    let sandboxed = isolation.is_isolated();
    if !sandboxed {
        tracing::warn!(
            %isolation,
            "NO SANDBOX: shell and run will execute unconfined, and every such call will be asked"
        );
    }
    let mut toolbox = Toolbox::builtin(sandbox);
    // All servers at once, each within its own timeout: start-up waits for
    // the slowest, not for the sum.
    let servers = mcp_servers(loaded)?;
    let connected = futures::future::join_all(servers.iter().map(|server| async move {
        let client = Arc::new(McpClient::connect(server).await?);
        McpTool::all(client).await
    }))
    .await;
    for (server, tools) in servers.iter().zip(connected) {
        match tools {
            Ok(tools) => {
                for tool in tools {
                    toolbox.register(Arc::new(tool))?;
                }
            }
            Err(error) => {
                tracing::warn!(server = %server.name, %error, "MCP server unavailable; its tools are left out");
            }
        }
    }
    let workspace = workspace(global)?;
    let tools: ToolContextFactory = Arc::new(move |workspace, limits, network| ToolContext {
        workspace,
        limits,
        network,
        allow_unsandboxed: !sandboxed,
    });
    Ok(Agent::new(AgentParts {
        hub: hub.clone(),
        toolbox: Arc::new(toolbox),
        tools,
        config: loaded.config.agent.clone(),
        policy: loaded.config.policy.clone(),
        default_workspace: workspace,
        default_device: loaded.config.chat.default_device.clone(),
        sandboxed,
        memories: memories(loaded, hub.store(), Some(hub.gateway())).await?,
        context_memories: loaded.config.memory.context_memories as usize,
    }))
}

/// The memory manager with the configured embedder. A local model is
/// loaded here (a fraction of a second for MiniLM); a provider's endpoint
/// goes through `gateway`, set up here when the caller has none.
pub async fn memories(
    loaded: &Loaded,
    store: &Store,
    gateway: Option<&Gateway>,
) -> anyhow::Result<Memories> {
    let embedder = match loaded.config.memory.embedder_choice() {
        EmbedderChoice::None => None,
        EmbedderChoice::Provider(model) => {
            let gateway = match gateway {
                Some(gateway) => gateway.clone(),
                None => self::gateway(loaded).await?,
            };
            Some(Embedder::Provider { gateway, model })
        }
        EmbedderChoice::Local(dir) => Some(local_embedder(dir).await?),
    };
    let device = DeviceId::parse(&loaded.config.chat.default_device)
        .context("chat.default_device is not a usable device id")?;
    Ok(Memories::new(store.clone(), embedder, device))
}

/// Loads the sentence-embedding model in `dir` off the async threads.
async fn local_embedder(dir: PathBuf) -> anyhow::Result<Embedder> {
    let shown = dir.display().to_string();
    let model = tokio::task::spawn_blocking(move || LocalEmbedder::load(&dir))
        .await
        .context("loading the local embedding model stopped")?
        .with_context(|| {
            format!("cannot load the embedding model in {shown} (memory.model_dir)")
        })?;
    Ok(Embedder::Local(Arc::new(model)))
}

/// The directory `--workspace` names, else the current one: where agent
/// runs and the continuity verbs work.
pub fn workspace(global: &Global) -> anyhow::Result<PathBuf> {
    match &global.workspace {
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_dir().context("cannot read the current directory"),
    }
}

/// The configured MCP servers, checked: errors name the key and the file.
pub fn mcp_servers(loaded: &Loaded) -> anyhow::Result<Vec<McpServerConfig>> {
    let source = loaded
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the environment".into());
    let mut servers = Vec::new();
    for (i, entry) in loaded.config.mcp.servers.iter().enumerate() {
        let key = format!("mcp.servers[{i}]");
        let url = entry
            .url
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .with_context(|| format!("key `{key}.url` in {source}: not a URL"))?;
        let expose = |map: &std::collections::BTreeMap<String, baton_config::Secret>| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect()
        };
        let server = McpServerConfig {
            name: entry.name.clone(),
            command: entry.command.clone(),
            args: entry.args.clone(),
            env: expose(&entry.env),
            cwd: entry.cwd.clone(),
            url,
            headers: expose(&entry.headers),
            timeout_secs: entry.timeout_secs,
        };
        server
            .validate()
            .map_err(|e| anyhow::anyhow!("key `{key}` in {source}: {e}"))?;
        servers.push(server);
    }
    Ok(servers)
}

/// The workflow engine over the hub and agent, with the engine's defaults
/// and the gateway's default model for tasks that name none.
pub fn engine(
    loaded: &Loaded,
    hub: &Hub,
    agent: &Agent,
    global: &Global,
) -> anyhow::Result<Engine> {
    engine_with(loaded, hub, Some(agent), global, engine_config(loaded))
}

/// The engine's defaults for this configuration; `baton worker` adjusts
/// queues and concurrency from its flags before building the engine.
pub fn engine_config(loaded: &Loaded) -> EngineConfig {
    let engine = &loaded.config.engine;
    EngineConfig {
        lease: Duration::from_millis(engine.lease_ms),
        poll: Duration::from_millis(engine.poll_ms),
        backoff: Duration::from_millis(engine.backoff_ms),
        concurrency: engine.concurrency,
        claim_batch: (engine.concurrency as u32).min(EngineConfig::default().claim_batch),
        default_max_attempts: engine.max_attempts,
        default_timeout: Duration::from_secs(engine.task_timeout_secs),
        planner_model: engine.planner_model.clone(),
        default_model: loaded.config.gateway.default_model.clone(),
        retain: (engine.retain_days > 0)
            .then(|| Duration::from_secs(u64::from(engine.retain_days) * 86_400)),
        ..EngineConfig::default()
    }
}

/// Puts `[engine] queue_limits` into the store, where every worker of the
/// database counts against them.
pub async fn apply_queue_limits(loaded: &Loaded, hub: &Hub) -> anyhow::Result<()> {
    for (queue, limit) in &loaded.config.engine.queue_limits {
        hub.store()
            .set_queue_limit(queue, Some(*limit))
            .await
            .with_context(|| format!("cannot set the limit of queue {queue}"))?;
    }
    Ok(())
}

/// The engine with a given configuration. Without an agent it still
/// answers every question about runs and decides approvals (the workflow
/// verbs that only read or decide need no tools, MCP servers or sandbox
/// probe); only agent tasks need one, and only where a worker runs.
pub fn engine_with(
    loaded: &Loaded,
    hub: &Hub,
    agent: Option<&Agent>,
    global: &Global,
    config: EngineConfig,
) -> anyhow::Result<Engine> {
    // Absolute, because runs store it and a worker elsewhere (another
    // directory, another machine) must read it the same way.
    let workspace = std::path::absolute(workspace(global)?)
        .context("cannot resolve the workspace directory")?;
    Ok(Engine::new(EngineParts {
        hub: hub.clone(),
        agent: agent.cloned(),
        workspace,
        device: loaded.config.chat.default_device.clone(),
        config,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mcp_sdk_is_quiet_unless_named() {
        assert_eq!(default_filter("info"), "info,rmcp=warn");
        assert_eq!(default_filter("debug,rmcp=debug"), "debug,rmcp=debug");
    }
}
