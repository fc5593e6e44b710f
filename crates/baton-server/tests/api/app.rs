//! A running baton HTTP server over a fresh database and a scripted model
//! server, for one test.

use baton_agent::{Agent, AgentParts, ToolContextFactory};
use baton_config::{
    AgentConfig, ChatConfig, GatewayConfig, ModelConfig, PolicyConfig, ProviderConfig,
    ProviderKind, Secret,
};
use baton_continuity::{Embedder, Memories};
use baton_core::DeviceId;
use baton_hub::{Hub, HubParts, MemoryLog};
use baton_llm::Gateway;
use baton_sandbox::Sandbox;
use baton_store::{Store, WriterOptions};
use baton_testkit::{ScriptedServer, TestDatabase};
use baton_tools::{ToolContext, Toolbox};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a test may change about the app.
#[derive(Default)]
pub struct Options {
    pub token: Option<String>,
    pub fallbacks: Vec<String>,
    pub max_body_bytes: Option<usize>,
    /// The user's `[policy]` for agent runs.
    pub policy: PolicyConfig,
    /// `[memory] embedder`, e.g. `scripted/embedder`; memory is full-text
    /// only without one (and the scripted server sees no embeddings calls).
    pub embedder: Option<String>,
}

pub struct TestApp {
    db_url: String,
    pub addr: SocketAddr,
    pub model_server: ScriptedServer,
    pub hub: Hub,
    pub data_dir: tempfile::TempDir,
    /// Where agent runs work unless a request names another directory.
    pub workspace: tempfile::TempDir,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The engine's worker, which carries out workflow runs.
    worker: Option<baton_engine::WorkerHandle>,
}

impl TestApp {
    pub async fn start(db: &TestDatabase, options: Options) -> TestApp {
        let model_server = ScriptedServer::start().await;
        let data_dir = tempfile::tempdir().unwrap();
        let store = Store::connect(db.url()).await.unwrap();
        let providers = vec![ProviderConfig {
            name: "scripted".into(),
            kind: Some(ProviderKind::Openai),
            base_url: Some(model_server.openai_base()),
            models: ["scripted-small", "scripted-large"]
                .into_iter()
                .map(|name| ModelConfig {
                    name: name.into(),
                    context_window: Some(32_000),
                    input_price: Some(1.0),
                    output_price: Some(2.0),
                    ..Default::default()
                })
                .collect(),
            enabled: true,
            ..Default::default()
        }];
        let gateway_config = GatewayConfig {
            default_model: Some("scripted/scripted-small".into()),
            fallbacks: options.fallbacks,
            detect_ollama: false,
            retry_after_cap_secs: 1,
            first_token_timeout_secs: 5,
            request_timeout_secs: 10,
            ..Default::default()
        };
        let gateway = Gateway::new(&providers, &gateway_config, &|_| None)
            .await
            .unwrap();
        let writer = store.writer(WriterOptions::default());
        let hub = Hub::new(HubParts {
            store,
            gateway,
            writer,
            memory_log: MemoryLog::open(data_dir.path()).unwrap(),
            chat: ChatConfig::default(),
        });
        let settings = baton_server::ServerSettings {
            token: options.token.map(Secret::new),
            max_body_bytes: options.max_body_bytes.unwrap_or(64 * 1024),
        };
        let workspace = tempfile::tempdir().unwrap();
        let agent = test_agent(&hub, workspace.path(), options.policy, options.embedder);
        let engine = baton_engine::Engine::new(baton_engine::EngineParts {
            hub: hub.clone(),
            agent: Some(agent.clone()),
            workspace: workspace.path().to_path_buf(),
            device: "desktop-1".into(),
            config: baton_engine::EngineConfig {
                default_model: Some("scripted/scripted-small".into()),
                poll: Duration::from_millis(100),
                ..Default::default()
            },
        });
        engine.listen().await.unwrap();
        // Held, not dropped: dropping the handle stops the worker (its stop
        // channel closes).
        let worker = engine.spawn_worker();
        let app = baton_server::router(hub.clone(), agent, engine, &settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve_hub = hub.clone();
        let server = tokio::spawn(async move {
            baton_server::serve(
                listener,
                app,
                serve_hub,
                async {
                    let _ = stopped.await;
                },
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        });
        TestApp {
            db_url: db.url().to_owned(),
            addr,
            model_server,
            hub,
            data_dir,
            workspace,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
            worker: Some(worker),
        }
    }

    /// Stops this app and starts another with `options` on the same database.
    pub async fn reconfigure(self, options: Options) -> TestApp {
        let db = TestDatabase::existing(&self.db_url);
        self.stop().await;
        TestApp::start(&db, options).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server gracefully, committing everything queued.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// The agent as `baton serve` builds it: the built-in tools, those that
/// run programs in the real sandbox, jailed in `workspace`.
fn test_agent(
    hub: &Hub,
    workspace: &std::path::Path,
    policy: PolicyConfig,
    embedder: Option<String>,
) -> Agent {
    let sandbox = Arc::new(Sandbox::probe());
    let sandboxed = sandbox.isolation().is_isolated();
    let toolbox = Toolbox::builtin(sandbox);
    let tools: ToolContextFactory = Arc::new(move |workspace, limits, network| ToolContext {
        workspace,
        limits,
        network,
        allow_unsandboxed: !sandboxed,
    });
    Agent::new(AgentParts {
        hub: hub.clone(),
        toolbox: Arc::new(toolbox),
        tools,
        config: AgentConfig {
            model: Some("scripted/scripted-small".into()),
            approval_wait_secs: 20,
            tool_timeout_secs: 10,
            ..AgentConfig::default()
        },
        policy,
        default_workspace: workspace.to_path_buf(),
        default_device: "api-test".into(),
        sandboxed,
        memories: Memories::new(
            hub.store().clone(),
            embedder.map(|model| Embedder::Provider {
                gateway: hub.gateway().clone(),
                model,
            }),
            DeviceId::parse("api-test").unwrap(),
        ),
        context_memories: 5,
    })
}
