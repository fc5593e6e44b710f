//! The agent service the faces call: start a run, resume one, list runs,
//! answer approvals. The CLI's `baton run` and the HTTP `POST /agent/run`
//! go through these same functions.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_config::{AgentConfig, PolicyConfig};
use baton_continuity::Memories;
use baton_core::{DeviceId, RunId};
use baton_hub::Hub;
use baton_policy::{Mode, Policy, Rules, Source};
use baton_store::{AgentRun, RunStatus, ToolCallRecord};
use baton_tools::{Limits, ToolContext, Toolbox, Workspace};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::approvals::Approvals;
use crate::budget::Budgets;
use crate::error::AgentError;
use crate::events::AgentEvent;
use crate::runner::{Run, RunParts, RunSummary};
use crate::spec::{Protocol, RunSpec};

/// What a face asks for; unset fields take the configuration's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// What the run should achieve.
    pub goal: String,
    /// Directory the tools are jailed in: the server's workspace (or the
    /// parent run's) if unset, else a directory inside it (absolute, or
    /// relative to it).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub workspace: Option<PathBuf>,
    #[serde(default)]
    pub model: Option<String>,
    /// `chat`, `plan`, `ask` or `auto`.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub max_steps: Option<u32>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    #[serde(default)]
    pub max_duration_secs: Option<u64>,
    /// Tools (or rules) allowed without asking, e.g. `search`, `shell(cargo test *)`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Words that deny any shell command holding them, e.g. `rm`.
    #[serde(default)]
    pub block: Vec<String>,
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Let `shell` and `run` reach the network (the policy may still ask).
    #[serde(default)]
    pub network: Option<bool>,
    #[serde(default)]
    pub goal_check: Option<bool>,
    #[serde(default)]
    pub device_id: Option<String>,
    /// The run this one works for (a sub-agent, a workflow task): its
    /// policy, workspace, network and budgets bound this one's.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub parent: Option<RunId>,
}

/// What the agent is built from.
pub struct AgentParts {
    pub hub: Hub,
    /// The tools every run gets (built-ins, the sandboxed executors, MCP).
    pub toolbox: Arc<Toolbox>,
    /// How the exec tools run commands, shared by all runs.
    pub tools: ToolContextFactory,
    pub config: AgentConfig,
    pub policy: PolicyConfig,
    /// Where a request that names no workspace works.
    pub default_workspace: PathBuf,
    pub default_device: String,
    /// Whether `shell` and `run` execute under OS isolation. Without it,
    /// every such call is asked, whatever the rules allow.
    pub sandboxed: bool,
    /// What runs recall into their context and what their log entries
    /// become.
    pub memories: Memories,
    /// Memories recalled into a run's context (`[memory] context_memories`).
    pub context_memories: usize,
}

/// Builds each run's tool context from its workspace, so that every run
/// shares the sandbox but is jailed in its own directory.
pub type ToolContextFactory = Arc<dyn Fn(Workspace, Limits, bool) -> ToolContext + Send + Sync>;

/// A started run: its id, its live events, and its end.
pub struct RunHandle {
    pub run_id: RunId,
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
    pub done: JoinHandle<Result<RunSummary, AgentError>>,
}

/// The agent service; clones share it.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentParts>,
    approvals: Approvals,
    driving: Driving,
}

/// The runs this process is driving now. A second `resume` of one of them
/// is refused: two loops acting for one run would each answer its open
/// calls and race on its steps.
#[derive(Clone, Default)]
struct Driving(Arc<Mutex<HashSet<RunId>>>);

impl Driving {
    fn claim(&self, id: RunId) -> Result<Claim, AgentError> {
        if self.0.lock().expect("driving lock").insert(id) {
            Ok(Claim {
                driving: self.clone(),
                id,
            })
        } else {
            Err(AgentError::Conflict(format!(
                "run {id} is already being driven; follow it with GET /agent/runs/{id}"
            )))
        }
    }
}

/// Held by a run's task for as long as it drives the run.
struct Claim {
    driving: Driving,
    id: RunId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.driving
            .0
            .lock()
            .expect("driving lock")
            .remove(&self.id);
    }
}

impl Agent {
    pub fn new(parts: AgentParts) -> Agent {
        let approvals = Approvals::new(parts.hub.store().clone());
        Agent {
            inner: Arc::new(parts),
            approvals,
            driving: Driving::default(),
        }
    }

    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// The memory manager the faces (`/memory`, MCP) share with runs.
    pub fn memories(&self) -> &Memories {
        &self.inner.memories
    }

    /// The directory a request names, checked to lie inside the default
    /// workspace (the default workspace itself when `None`): what the
    /// other workspace-scoped faces (context, later memory) resolve with.
    pub fn workspace_for(&self, requested: Option<&Path>) -> Result<PathBuf, AgentError> {
        match requested {
            None => Ok(self.inner.default_workspace.clone()),
            Some(dir) => inside_workspace(&self.inner.default_workspace, dir),
        }
    }

    /// The request with every default filled in and checked. A run with a
    /// parent is held inside it: the parent's workspace (or a directory
    /// within), network only if the parent had it, and budgets no larger
    /// than the parent's; its policy is bounded in [`policy`](Self::policy).
    fn spec(&self, request: RunRequest, parent: Option<&RunSpec>) -> Result<RunSpec, AgentError> {
        let c = &self.inner.config;
        if request.goal.trim().is_empty() {
            return Err(AgentError::Invalid("the goal is empty".into()));
        }
        let model = request.model.or_else(|| c.model.clone()).ok_or_else(|| {
            AgentError::Invalid(
                "no model: pass one or set `agent.model` in the configuration".into(),
            )
        })?;
        let mode = request.mode;
        if let Some(mode) = &mode
            && Mode::from_name(mode).is_none()
        {
            return Err(AgentError::Invalid(format!(
                "mode {mode:?} is not one of chat, plan, ask, auto"
            )));
        }
        let mut budgets = Budgets {
            max_steps: request.max_steps.unwrap_or(c.max_steps),
            max_tokens: request.max_tokens.unwrap_or(c.max_tokens),
            max_cost_usd: request.max_cost_usd.unwrap_or(c.max_cost_usd),
            max_duration: Duration::from_secs(
                request.max_duration_secs.unwrap_or(c.max_duration_secs),
            ),
        };
        if let Some(parent) = parent {
            budgets = budgets.within(&parent.budgets);
        }
        budgets.validate().map_err(AgentError::Invalid)?;
        let device = request
            .device_id
            .unwrap_or_else(|| self.inner.default_device.clone());
        let device_id = DeviceId::parse(&device).map_err(|e| AgentError::Invalid(e.to_string()))?;
        let workspace = match parent {
            None => self.workspace_for(request.workspace.as_deref())?,
            Some(parent) => match request.workspace {
                None => parent.workspace.clone(),
                Some(dir) => inside_workspace(&parent.workspace, &dir)?,
            },
        };
        let network = request.network.unwrap_or(c.network) && parent.is_none_or(|p| p.network);
        let spec = RunSpec {
            goal: request.goal,
            model,
            workspace,
            mode,
            budgets,
            allow: request.allow,
            block: request.block,
            protocol: request.protocol.unwrap_or_default(),
            network,
            goal_check: request.goal_check.unwrap_or(true),
            device_id,
            parent: request.parent,
        };
        // Fail now, not at the first tool call, on rules that do not parse.
        Rules::from_flags(&spec.allow, &spec.block)
            .map_err(|e| AgentError::Invalid(e.to_string()))?;
        Ok(spec)
    }

    /// Starts a run in the background; its events come through the handle.
    pub async fn start(&self, request: RunRequest) -> Result<RunHandle, AgentError> {
        let parent = match request.parent {
            Some(id) => Some(self.stored_spec(id).await?),
            None => None,
        };
        let spec = self.spec(request, parent.as_ref())?;
        let (events, receiver) = mpsc::unbounded_channel();
        let parts = self.parts(&spec, events).await?;
        let model = self.model(&spec.model)?;
        let run = Run::create(parts, spec, model).await?;
        let run_id = run.id();
        let claim = self.driving.claim(run_id)?;
        Ok(RunHandle {
            run_id,
            events: receiver,
            done: tokio::spawn(async move {
                let _claim = claim;
                run.drive().await
            }),
        })
    }

    /// Continues a run that stopped before it ended (baton was killed or
    /// restarted). Finished calls are not run again.
    pub async fn resume(&self, id: RunId) -> Result<RunHandle, AgentError> {
        let store = self.inner.hub.store();
        let record = store
            .run(id)
            .await?
            .ok_or_else(|| AgentError::NotFound(id.to_string()))?;
        if record.status != RunStatus::Running {
            return Err(AgentError::Conflict(format!(
                "run {id} has already ended ({})",
                record.status.as_str()
            )));
        }
        let spec: RunSpec = serde_json::from_value(record.spec.clone())
            .map_err(|e| AgentError::Invalid(format!("the stored run spec does not parse: {e}")))?;
        // Claimed before `Run::resume` marks open calls interrupted, which
        // must not happen to calls a live loop is running.
        let claim = self.driving.claim(id)?;
        let (events, receiver) = mpsc::unbounded_channel();
        let parts = self.parts(&spec, events).await?;
        let model = self.model(&record.model)?;
        let run = Run::resume(parts, record, spec, model).await?;
        Ok(RunHandle {
            run_id: id,
            events: receiver,
            done: tokio::spawn(async move {
                let _claim = claim;
                run.drive().await
            }),
        })
    }

    pub async fn run(&self, id: RunId) -> Result<(AgentRun, Vec<ToolCallRecord>), AgentError> {
        let store = self.inner.hub.store();
        let run = store
            .run(id)
            .await?
            .ok_or_else(|| AgentError::NotFound(id.to_string()))?;
        let calls = store.tool_calls(id).await?;
        Ok((run, calls))
    }

    pub async fn runs(
        &self,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<AgentRun>, AgentError> {
        Ok(self.inner.hub.store().runs(status, limit).await?)
    }

    fn model(&self, name: &str) -> Result<baton_core::ModelInfo, AgentError> {
        self.inner
            .hub
            .gateway()
            .resolve(name)
            .map_err(|e| AgentError::Invalid(e.to_string()))
    }

    /// What one run works with: its jailed tool context and its policy.
    async fn parts(
        &self,
        spec: &RunSpec,
        events: mpsc::UnboundedSender<AgentEvent>,
    ) -> Result<RunParts, AgentError> {
        let workspace = Workspace::open(&spec.workspace)
            .map_err(|e| AgentError::Invalid(format!("workspace: {e}")))?;
        let policy = self.policy(spec, workspace.root()).await?;
        let c = &self.inner.config;
        let limits = Limits {
            timeout: Duration::from_secs(c.tool_timeout_secs),
            max_output_bytes: c.max_output_bytes,
            max_file_bytes: c.max_file_bytes,
            ..Limits::default()
        };
        Ok(RunParts {
            hub: self.inner.hub.clone(),
            approvals: self.approvals.clone(),
            toolbox: self.inner.toolbox.clone(),
            policy,
            tools: (self.inner.tools)(workspace, limits, spec.network),
            approval_wait: Duration::from_secs(c.approval_wait_secs),
            events,
            memories: self.inner.memories.clone(),
            context_memories: self.inner.context_memories,
        })
    }

    /// What a stored run was started with.
    async fn stored_spec(&self, id: RunId) -> Result<RunSpec, AgentError> {
        let record = self
            .inner
            .hub
            .store()
            .run(id)
            .await?
            .ok_or_else(|| AgentError::NotFound(format!("parent run {id}")))?;
        serde_json::from_value(record.spec).map_err(|e| {
            AgentError::Invalid(format!("the stored spec of run {id} does not parse: {e}"))
        })
    }

    /// The run's `--allow`/`--block` rules, with its mode when the person
    /// chose one.
    fn flag_rules(&self, spec: &RunSpec) -> Result<Rules, AgentError> {
        let mut rules = Rules::from_flags(&spec.allow, &spec.block)
            .map_err(|e| AgentError::Invalid(e.to_string()))?;
        if let Some(mode) = spec.mode.as_deref().and_then(Mode::from_name) {
            rules = rules.with_mode(mode);
        }
        Ok(rules)
    }

    /// The run's policy: built-in defaults, the user's `[policy]`, the
    /// project's `.baton/policy.toml`, the run's flags and the workspace's
    /// remembered approvals; then bounded by the parent run's policy, if
    /// any, so a sub-agent never gets more than its parent.
    async fn policy(&self, spec: &RunSpec, workspace: &Path) -> Result<Policy, AgentError> {
        let invalid = |e: baton_policy::LayerError| AgentError::Invalid(e.to_string());
        let mut policy = Policy::new(Mode::Ask);
        let user = toml::Value::try_from(&self.inner.policy)
            .map_err(|e| AgentError::Invalid(format!("user policy: {e}")))?;
        policy.add(Rules::from_toml(&user, Source::User, "user config [policy]").map_err(invalid)?);
        if let Some(project) = Rules::load_project(workspace).map_err(invalid)? {
            policy.add(project);
        }
        if !self.inner.sandboxed {
            let mut unconfined = Rules::new(Source::Default);
            for tool in ["shell", "run"] {
                let rule = baton_policy::Rule::parse(tool)
                    .map_err(|e| AgentError::Invalid(e.to_string()))?;
                unconfined = unconfined.with_rule(baton_policy::Decision::Ask, rule);
            }
            policy.add(unconfined);
        }
        policy.add(self.flag_rules(spec)?);
        let workspace_key = workspace.display().to_string();
        for rule in self.inner.hub.store().grants(&workspace_key).await? {
            if let Err(error) = policy.restore_approval(&rule) {
                tracing::warn!(%rule, %error, "a remembered approval no longer applies");
            }
        }
        if let Some(parent) = spec.parent {
            let parent_spec = self.stored_spec(parent).await?;
            let parent_policy = Box::pin(self.policy(&parent_spec, &parent_spec.workspace)).await?;
            policy = parent_policy.child(Some(&self.flag_rules(spec)?));
        }
        Ok(policy)
    }
}

/// A workspace a request names must lie inside `root` (the directory
/// `baton serve` or `baton run` was given, or the parent run's), so a caller
/// of the HTTP API cannot point the tools at the rest of the machine. Public
/// for the faces that resolve workspaces without an agent (`baton mcp`).
pub fn inside_workspace(root: &Path, dir: &Path) -> Result<PathBuf, AgentError> {
    let invalid = |why: String| AgentError::Invalid(format!("workspace {}: {why}", dir.display()));
    let root = root
        .canonicalize()
        .map_err(|e| invalid(format!("{} cannot be opened: {e}", root.display())))?;
    let joined = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        root.join(dir)
    };
    let resolved = joined
        .canonicalize()
        .map_err(|e| invalid(format!("cannot be opened: {e}")))?;
    if !resolved.starts_with(&root) {
        return Err(invalid(format!("must be inside {}", root.display())));
    }
    Ok(resolved)
}
