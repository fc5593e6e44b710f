//! baton as an MCP server: continuity memory for any assistant (Claude
//! Desktop or Code, an IDE, the MCP Inspector). `baton mcp` serves it over
//! stdio and `baton serve` at `/mcp` (streamable HTTP); both faces build
//! the same [`ContinuityMcp`].
//!
//! Tools: `get_context`, `search_memory`, `remember`, `append_session_log`,
//! `read_tier`, `update_briefing`; each maps its arguments onto one
//! `baton-continuity` service call and nothing more. Every tool takes an
//! optional `workspace`, a directory inside the workspace baton was started
//! with (the same rule as the agent's and `/context`'s).
//!
//! Resources: the four tiers of the default workspace, as
//! `baton://tiers/{file name}` (`baton://tiers/SESSION_BRIEFING.md`; the
//! short names `portfolio`, `project`, `briefing`, `log` are read too),
//! Markdown.
//!
//! A mistake of the caller (an empty memory, an unknown tier, a workspace
//! outside) is a tool result with `isError`, which the assistant reads and
//! can correct; only the store or the disk failing is a protocol error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use baton_agent::AgentError;
use baton_continuity::{
    ContextRequest, ContinuityError, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORIES, DEFAULT_RESULTS,
    Entry, Memories, MemorySource, NewMemoryText, SessionLog, Tier, TokenCounter,
};
use baton_core::{DeviceId, Hlc, wall_millis};
use baton_store::Store;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::schemars::JsonSchema;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

use crate::{AppState, ServerSettings};

/// Where resource URIs start; the rest is a tier's file name.
const TIER_URI_PREFIX: &str = "baton://tiers/";

/// What the assistant is told at `initialize`: the continuity loop in two
/// calls, so a session starts from the last one's end and leaves its own.
const INSTRUCTIONS: &str = "baton keeps this project's continuity: four Markdown tiers \
(portfolio, project, session briefing, session log) and memories searchable by meaning. \
At the start of every session call `get_context` (with a `query` saying what the session is \
about) and read it before doing anything else. Use `search_memory` when you need something \
from earlier sessions and `remember` for facts worth keeping. At the end of every session \
call `append_session_log` with what was done, the decisions and why, the blockers and what \
the next instance should do; bring the briefing up to date with `update_briefing` when what \
is being worked on has changed.";

/// Resolves a tool's `workspace` argument to a directory inside the
/// default workspace (the default itself for `None`); the error says why
/// not.
pub type WorkspaceResolver = Arc<dyn Fn(Option<&Path>) -> Result<PathBuf, String> + Send + Sync>;

/// The MCP server over baton's continuity services. Cheap to clone: the
/// HTTP face makes one per request.
#[derive(Clone)]
pub struct ContinuityMcp {
    inner: Arc<Inner>,
}

struct Inner {
    /// Built once: the tools' schemas are generated when it is.
    tool_router: ToolRouter<ContinuityMcp>,
    store: Store,
    memories: Memories,
    /// Stamps the log entries and briefing versions written here.
    device: DeviceId,
    clock: Hlc,
    resolve: WorkspaceResolver,
}

impl ContinuityMcp {
    pub fn new(
        store: Store,
        memories: Memories,
        device: DeviceId,
        resolve: WorkspaceResolver,
    ) -> ContinuityMcp {
        ContinuityMcp {
            inner: Arc::new(Inner {
                tool_router: Self::tool_router(),
                store,
                memories,
                device,
                clock: Hlc::new(),
                resolve,
            }),
        }
    }

    /// The server `/mcp` serves: the hub's store, the memory manager the
    /// agent and `/memory` use, workspaces resolved as the agent does.
    pub fn for_app(state: &AppState) -> ContinuityMcp {
        let agent = state.agent.clone();
        let resolve: WorkspaceResolver =
            Arc::new(move |dir| agent.workspace_for(dir).map_err(refusal));
        let memories = state.agent.memories().clone();
        let device = memories.device().clone();
        ContinuityMcp::new(state.hub.store().clone(), memories, device, resolve)
    }

    /// A resolver that keeps workspaces inside `root`, for a face without
    /// an agent (`baton mcp`).
    pub fn inside(root: PathBuf) -> WorkspaceResolver {
        Arc::new(move |dir| match dir {
            None => Ok(root.clone()),
            Some(dir) => baton_agent::inside_workspace(&root, dir).map_err(refusal),
        })
    }

    /// The streamable HTTP endpoint. Stateless, with JSON answers: no tool
    /// keeps anything between calls, so no session is held in memory for a
    /// client that went away, and no open event stream holds up a graceful
    /// shutdown. The `Host` check against DNS rebinding stays on while the
    /// server has no token (and so listens on loopback only); with a token
    /// it may be reached under any name, and the token is the guard.
    pub fn http_service(
        self,
        settings: &ServerSettings,
    ) -> StreamableHttpService<ContinuityMcp, NeverSessionManager> {
        let mut config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_max_request_body_bytes(settings.max_body_bytes);
        if settings.token.is_some() {
            config = config.disable_allowed_hosts();
        }
        StreamableHttpService::new(
            move || Ok(self.clone()),
            Arc::new(NeverSessionManager::default()),
            config,
        )
    }

    fn workspace(&self, requested: Option<&str>) -> Result<PathBuf, Failure> {
        (self.inner.resolve)(requested.map(Path::new)).map_err(Failure::Refused)
    }
}

/// Why a workspace was refused, without the agent's "invalid run" prefix:
/// no run is involved here.
fn refusal(e: AgentError) -> String {
    match e {
        AgentError::Invalid(why) => why,
        other => other.to_string(),
    }
}

/// `get_context`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct GetContextArgs {
    /// A directory inside baton's workspace; default: the workspace itself.
    workspace: Option<String>,
    /// What this session is about; the most relevant memories are recalled
    /// into the context (up to 15 % of the budget).
    query: Option<String>,
    /// Tokens the context may take, 1 to 1,000,000; default 8,000.
    budget_tokens: Option<usize>,
    /// Memories recalled for `query`, 0 to 100; default 5.
    memories: Option<usize>,
    /// The model that will read the context (`provider/model`), so tokens
    /// are counted as its family counts them; default: an estimate.
    model: Option<String>,
}

/// `search_memory`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct SearchMemoryArgs {
    /// What to recall, in words (1 to 4,096 bytes).
    query: String,
    /// Results wanted, 1 to 100; default 10.
    limit: Option<usize>,
    /// A directory inside baton's workspace; default: the workspace itself.
    workspace: Option<String>,
}

/// `remember`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct RememberArgs {
    /// The fact to keep, self-contained (at most 64 KiB).
    content: String,
    /// A directory inside baton's workspace; default: the workspace itself.
    workspace: Option<String>,
}

/// `append_session_log`'s arguments: the sections of a `SESSION_LOG.md`
/// entry, one list item per point.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct AppendSessionLogArgs {
    /// What the session was, in a few words (the date and time are added).
    title: String,
    /// What the session found when it started: the goal, the state.
    #[serde(default)]
    starting_context: Vec<String>,
    /// What was done.
    #[serde(default)]
    work_done: Vec<String>,
    /// Choices made, each with why.
    #[serde(default)]
    decisions: Vec<String>,
    /// What is in the way.
    #[serde(default)]
    blockers: Vec<String>,
    /// What the next session should do first.
    #[serde(default)]
    for_next_instance: Vec<String>,
    /// Test commands run and how they ended.
    #[serde(default)]
    test_status: Vec<String>,
    /// A directory inside baton's workspace; default: the workspace itself.
    workspace: Option<String>,
}

/// `read_tier`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct ReadTierArgs {
    /// `portfolio`, `project`, `briefing` or `log`, or the file's name
    /// (`SESSION_BRIEFING.md`).
    tier: String,
    /// A directory inside baton's workspace; default: the workspace itself.
    workspace: Option<String>,
}

/// `update_briefing`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct UpdateBriefingArgs {
    /// The whole new `SESSION_BRIEFING.md`, Markdown.
    text: String,
    /// A directory inside baton's workspace; default: the workspace itself.
    workspace: Option<String>,
}

/// What `append_session_log` answers.
#[derive(Debug, Serialize)]
struct Appended {
    /// The entry's 1-based position in the log.
    position: i64,
    hash: String,
    file: String,
    /// The tiers stored as new versions, as the session leaves them.
    tiers_stored: Vec<Tier>,
    /// Memories made from the entry and the changed tiers.
    memories: usize,
}

#[tool_router]
impl ContinuityMcp {
    /// What a session reads first: the project's handoff documents (portfolio, project, briefing), the latest session-log entries and, for a `query`, the most relevant memories, assembled as Markdown within a token budget. Call it at the start of every session.
    #[tool(annotations(read_only_hint = true))]
    async fn get_context(
        &self,
        Parameters(args): Parameters<GetContextArgs>,
    ) -> Result<CallToolResult, McpError> {
        answer(
            async {
                let request = ContextRequest {
                    workspace: self.workspace(args.workspace.as_deref())?,
                    portfolio: None,
                    query: args.query,
                    budget_tokens: args.budget_tokens.unwrap_or(DEFAULT_BUDGET_TOKENS),
                    counter: args
                        .model
                        .as_deref()
                        .map(TokenCounter::for_model)
                        .unwrap_or_default(),
                    memories: args.memories.unwrap_or(DEFAULT_MEMORIES),
                };
                let context =
                    baton_continuity::get_context(request, Some(&self.inner.memories)).await?;
                let mut result = CallToolResult::success(vec![ContentBlock::text(context.text())]);
                result.structured_content = Some(to_json(&context)?);
                Ok(result)
            }
            .await,
        )
    }

    /// The memories of earlier sessions that best match a query, by words and by meaning, best first, with where each came from and when.
    #[tool(annotations(read_only_hint = true))]
    async fn search_memory(
        &self,
        Parameters(args): Parameters<SearchMemoryArgs>,
    ) -> Result<CallToolResult, McpError> {
        answer(
            async {
                let workspace = self.workspace(args.workspace.as_deref())?;
                let limit = args.limit.unwrap_or(DEFAULT_RESULTS);
                let recall = self
                    .inner
                    .memories
                    .search(&workspace, &args.query, limit)
                    .await?;
                structured(&recall)
            }
            .await,
        )
    }

    /// Keeps a fact for later sessions (a decision, a convention, where something lives), findable with search_memory and recalled into get_context. The same text twice is kept once.
    #[tool(annotations(idempotent_hint = true, destructive_hint = false))]
    async fn remember(
        &self,
        Parameters(args): Parameters<RememberArgs>,
    ) -> Result<CallToolResult, McpError> {
        answer(
            async {
                let workspace = self.workspace(args.workspace.as_deref())?;
                let new = NewMemoryText {
                    source: MemorySource::Note,
                    source_ref: None,
                    content: args.content,
                };
                structured(&self.inner.memories.remember(&workspace, new).await?)
            }
            .await,
        )
    }

    /// Appends this session's entry to the project's SESSION_LOG.md (append-only, tamper-evident) and remembers it, with the handoff documents as the session leaves them. Call it at the end of every session: what was done, the decisions and why, the blockers, and what the next instance should do.
    #[tool(annotations(destructive_hint = false))]
    async fn append_session_log(
        &self,
        Parameters(args): Parameters<AppendSessionLogArgs>,
    ) -> Result<CallToolResult, McpError> {
        answer(
            async {
                if args.title.trim().is_empty() {
                    return Err(Failure::Refused("an entry needs a title".to_owned()));
                }
                let workspace = self.workspace(args.workspace.as_deref())?;
                let text = Entry {
                    title: format!(
                        "{} - {}",
                        baton_hub::rfc3339(wall_millis() as i64),
                        args.title.trim()
                    ),
                    starting_context: args.starting_context,
                    work_done: args.work_done,
                    decisions: args.decisions,
                    blockers: args.blockers,
                    for_next_instance: args.for_next_instance,
                    test_status: args.test_status,
                }
                .render();
                let inner = &self.inner;
                let log = SessionLog::open(&workspace)?;
                let record = baton_continuity::end_session(
                    &inner.store,
                    Some(&inner.memories),
                    &log,
                    &text,
                    &inner.device,
                    &inner.clock,
                )
                .await?;
                structured(&Appended {
                    position: record.entry.seq,
                    hash: record.entry.hash,
                    file: log.path().display().to_string(),
                    tiers_stored: record.tiers,
                    memories: record.memories,
                })
            }
            .await,
        )
    }

    /// One tier of the handoff as Markdown: `portfolio` (what exists and how projects relate), `project` (stack, decisions and why, constraints), `briefing` (what is happening now) or `log` (the session journal).
    #[tool(annotations(read_only_hint = true))]
    async fn read_tier(
        &self,
        Parameters(args): Parameters<ReadTierArgs>,
    ) -> Result<CallToolResult, McpError> {
        answer(
            async {
                let tier = Tier::named(&args.tier).ok_or_else(|| {
                    Failure::Refused(format!(
                        "unknown tier {:?}: use portfolio, project, briefing or log",
                        args.tier
                    ))
                })?;
                let workspace = self.workspace(args.workspace.as_deref())?;
                let text = read(workspace, tier).await?;
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
            }
            .await,
        )
    }

    /// Replaces SESSION_BRIEFING.md (what is happening now, for the next session) with a new text; the version it replaces is kept in baton's store.
    #[tool]
    async fn update_briefing(
        &self,
        Parameters(args): Parameters<UpdateBriefingArgs>,
    ) -> Result<CallToolResult, McpError> {
        answer(
            async {
                let log = SessionLog::open(&self.workspace(args.workspace.as_deref())?)?;
                let inner = &self.inner;
                let report = baton_continuity::update_briefing(
                    &inner.store,
                    &log,
                    &args.text,
                    &inner.device,
                    &inner.clock,
                )
                .await?;
                structured(&report)
            }
            .await,
        )
    }
}

#[tool_handler(router = self.inner.tool_router)]
impl ServerHandler for ContinuityMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("baton", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let resources = Tier::ALL
            .into_iter()
            .map(|tier| {
                Resource::new(tier_uri(tier), tier.short_name())
                    .with_title(tier.file_name())
                    .with_description(describe(tier))
                    .with_mime_type("text/markdown")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let not_found = |why: String| McpError::resource_not_found(why, None);
        let tier = request
            .uri
            .strip_prefix(TIER_URI_PREFIX)
            .and_then(Tier::named)
            .ok_or_else(|| {
                not_found(format!(
                    "no resource {}: the tiers are {TIER_URI_PREFIX}{{file name}}",
                    request.uri
                ))
            })?;
        let workspace = (self.inner.resolve)(None).map_err(not_found)?;
        // A tier that is missing (or binary) is not there to read.
        let text = read(workspace, tier).await.map_err(|e| match e {
            ContinuityError::InvalidDocument(why) => not_found(why),
            other => {
                tracing::error!(error = %other, "an MCP resource could not be read");
                McpError::internal_error(other.to_string(), None)
            }
        })?;
        let contents = ResourceContents::text(text, request.uri).with_mime_type("text/markdown");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

/// A tier's resource URI.
fn tier_uri(tier: Tier) -> String {
    format!("{TIER_URI_PREFIX}{}", tier.file_name())
}

fn describe(tier: Tier) -> &'static str {
    match tier {
        Tier::Portfolio => "What exists, where it lives and how the projects relate",
        Tier::Project => "How this project works and why: stack, decisions, constraints",
        Tier::Briefing => "What is happening now, for the next session",
        Tier::Log => "The append-only journal of sessions, newest last",
    }
}

/// A tier's text, read off the async threads (a document may be megabytes).
async fn read(workspace: PathBuf, tier: Tier) -> Result<String, ContinuityError> {
    let path = workspace.clone();
    tokio::task::spawn_blocking(move || baton_continuity::read_tier(&workspace, None, tier))
        .await
        .map_err(|e| ContinuityError::Io {
            path,
            source: std::io::Error::other(format!("reading the tier stopped: {e}")),
        })?
}

/// Why a call did not succeed.
enum Failure {
    /// The caller's mistake: a tool result with `isError`, which the
    /// assistant reads and can correct its call from.
    Refused(String),
    /// The store or the disk failed: a protocol error.
    Internal(String),
}

impl From<ContinuityError> for Failure {
    fn from(e: ContinuityError) -> Failure {
        match e {
            ContinuityError::InvalidMemory(_)
            | ContinuityError::InvalidDocument(_)
            | ContinuityError::InvalidEntry(_)
            | ContinuityError::InvalidRequest(_)
            | ContinuityError::Embedding(_)
            | ContinuityError::Model(_) => Failure::Refused(e.to_string()),
            ContinuityError::Store(_) | ContinuityError::Io { .. } => {
                tracing::error!(error = %e, "an MCP call failed");
                Failure::Internal(e.to_string())
            }
        }
    }
}

/// The tool's answer on the wire.
fn answer(result: Result<CallToolResult, Failure>) -> Result<CallToolResult, McpError> {
    match result {
        Ok(result) => Ok(result),
        Err(Failure::Refused(message)) => {
            Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
        }
        Err(Failure::Internal(message)) => Err(McpError::internal_error(message, None)),
    }
}

/// A service's answer as the tool's structured result (and as JSON text,
/// for clients that read only text).
fn structured(value: &impl Serialize) -> Result<CallToolResult, Failure> {
    Ok(CallToolResult::structured(to_json(value)?))
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure::Internal(e.to_string()))
}
