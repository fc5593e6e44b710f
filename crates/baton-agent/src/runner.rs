//! The agent loop: ask the model, run the tool calls it asks for under the
//! policy, feed the results back, until the goal check says done or a
//! budget, the stuck detector or an error ends the run.
//!
//! Durability, in order: the assistant message is stored before any of
//! its calls run; each call is stored as an intent before it runs and
//! finished with its result after; the tool answer is stored last. So a
//! run resumed after `kill -9` finds every finished call's result (reused,
//! never re-run), every cut-off call marked interrupted (reported to the
//! model, never silently repeated), and every call that never started
//! (run now).

use baton_continuity::{ContextRequest, Entry, Memories, SessionLog, end_session};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_core::{
    ChatRequest, Message, MessageId, ModelInfo, Role, RunId, SessionId, StreamAccumulator,
    StreamEvent, ToolCall, ToolCallId, Usage, one_line, wall_millis,
};
use baton_hub::{Hub, MemoryLogEntry};
use baton_policy::{Decision, Effect, Mode, Policy};
use baton_store::{
    AgentRun, Approval, ApprovalScope, ApprovalStatus, CallResult, CallState, Intent,
    MessageRecord, RunProgress, RunStatus, Session, ToolCallRecord,
};
use baton_tools::{CallInfo, ToolContext, ToolError, Toolbox};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::approvals::{Approvals, Outcome};
use crate::budget::{Exhausted, Spent};
use crate::context::{self, CalibratedCounter, Window};
use crate::error::AgentError;
use crate::events::AgentEvent;
use crate::goal;
use crate::spec::{Protocol, RunSpec};
use crate::stuck::StuckDetector;
use crate::text_protocol;

/// Everything one run works with, besides its own state.
#[derive(Clone)]
pub(crate) struct RunParts {
    pub hub: Hub,
    pub approvals: Approvals,
    pub toolbox: Arc<Toolbox>,
    pub policy: Policy,
    pub tools: ToolContext,
    pub approval_wait: Duration,
    pub events: mpsc::UnboundedSender<AgentEvent>,
    pub memories: Memories,
    /// Memories recalled into the run's context.
    pub context_memories: usize,
}

/// How a run ended, as the faces report it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: RunId,
    pub status: RunStatus,
    pub reason: String,
    pub steps: u32,
    pub answer: String,
}

/// One run in progress.
pub(crate) struct Run {
    parts: RunParts,
    spec: RunSpec,
    record: AgentRun,
    model: ModelInfo,
    native: bool,
    messages: Vec<Message>,
    known: HashMap<String, ToolCallRecord>,
    spent: Spent,
    clock_start: Instant,
    elapsed_before: Duration,
    stuck: StuckDetector,
    counter: CalibratedCounter,
    window: Window,
    work: Vec<String>,
    decisions: Vec<String>,
    tests: Vec<String>,
    last_answer: String,
    resumed: bool,
}

/// The most of a model's prompt room the handoff documents may take.
const HANDOFF_SHARE: f64 = 0.2;

/// The handoff documents' budget whatever the window.
const MAX_HANDOFF_TOKENS: u32 = 8_000;

/// The system prompt every run starts with: the instructions, then what
/// earlier sessions left (the continuity loop's "read the four tiers"): the
/// handoff documents and the memories most relevant to the goal, within
/// `handoff_tokens`.
async fn system_prompt(
    parts: &RunParts,
    spec: &RunSpec,
    native: bool,
    model: &str,
    handoff_tokens: usize,
) -> Result<String, AgentError> {
    let mut prompt = format!(
        "You are baton's agent. Work towards the goal the user gives you, using the tools \
         available, one step at a time. The workspace is {}; paths are relative to it. \
         When the goal is met, answer with a short summary of what you did and no tool call.",
        spec.workspace.display()
    );
    if !native && parts.policy.mode() != Mode::Chat {
        prompt.push_str("\n\n");
        prompt.push_str(text_protocol::instructions());
    }
    let request = ContextRequest {
        workspace: spec.workspace.clone(),
        portfolio: None,
        query: Some(spec.goal.clone()),
        budget_tokens: handoff_tokens,
        counter: baton_continuity::TokenCounter::for_model(model),
        memories: parts.context_memories,
    };
    let handoff = match baton_continuity::get_context(request, Some(&parts.memories)).await {
        Ok(handoff) => handoff,
        Err(error) => {
            tracing::warn!(%error, "the run starts without its handoff context");
            return Ok(prompt);
        }
    };
    if handoff.context.used_tokens > 0 {
        prompt.push_str(
            "\n\nWhat earlier sessions left in this workspace's handoff documents (portfolio, \
             project, briefing, latest session-log entries) and the memories most relevant to \
             the goal; read them before you start:\n\n",
        );
        prompt.push_str(&handoff.text());
    }
    Ok(prompt)
}

impl Run {
    /// A new run: stores it and its transcript's session.
    pub async fn create(
        parts: RunParts,
        spec: RunSpec,
        model: ModelInfo,
    ) -> Result<Run, AgentError> {
        let now = wall_millis() as i64;
        let session = Session {
            id: SessionId::new(),
            device_id: spec.device_id.clone(),
            title: Some(spec.goal.chars().take(120).collect()),
            model: Some(model.id.to_string()),
            created_ms: now,
            updated_ms: now,
            hlc: parts.hub.clock().now(),
        };
        let store = parts.hub.store();
        store.create_session(&session).await?;
        let record = AgentRun {
            id: RunId::new(),
            parent_id: spec.parent,
            session_id: session.id,
            device_id: spec.device_id.clone(),
            goal: spec.goal.clone(),
            workspace: parts.tools.workspace.root().display().to_string(),
            model: model.id.to_string(),
            spec: serde_json::to_value(&spec).map_err(|e| AgentError::Invalid(e.to_string()))?,
            status: RunStatus::Running,
            reason: None,
            steps: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            created_ms: now,
            updated_ms: now,
            finished_ms: None,
        };
        store.create_run(&record).await?;
        let mut run = Run::new(parts, spec, record, model, false);
        let prompt_room = run
            .window
            .context_tokens
            .saturating_sub(run.window.answer_tokens);
        let handoff_tokens =
            ((f64::from(prompt_room) * HANDOFF_SHARE) as u32).min(MAX_HANDOFF_TOKENS) as usize;
        let opening = [
            Message::system(
                system_prompt(
                    &run.parts,
                    &run.spec,
                    run.native,
                    &run.record.model,
                    handoff_tokens,
                )
                .await?,
            ),
            Message::user(run.spec.goal.clone()),
        ];
        for message in opening {
            run.push(message, None, None).await?;
        }
        Ok(run)
    }

    /// A stored run, continued where it stopped.
    pub async fn resume(
        parts: RunParts,
        record: AgentRun,
        spec: RunSpec,
        model: ModelInfo,
    ) -> Result<Run, AgentError> {
        let store = parts.hub.store().clone();
        let now = wall_millis() as i64;
        store.cancel_pending_approvals(record.id, now).await?;
        let interrupted = store.interrupt_open_calls(record.id, now).await?;
        let transcript = store.session_messages(record.session_id, u32::MAX).await?;
        let calls = store.tool_calls(record.id).await?;
        let mut run = Run::new(parts, spec, record, model, true);
        run.messages = transcript.into_iter().map(|r| r.message).collect();
        run.known = calls
            .into_iter()
            .map(|call| (call.call_id.clone(), call))
            .collect();
        for call in &interrupted {
            run.decisions.push(format!(
                "`{}` call {} was interrupted by a stop; its effects are unknown and it was not repeated",
                call.tool, call.call_id
            ));
        }
        run.spent = Spent {
            steps: run.record.steps as u32,
            prompt_tokens: run.record.prompt_tokens as u64,
            completion_tokens: run.record.completion_tokens as u64,
            cost_usd: run.record.cost_usd,
            elapsed: Duration::ZERO,
        };
        run.elapsed_before = Duration::from_millis((now - run.record.created_ms).max(0) as u64);
        Ok(run)
    }

    fn new(
        parts: RunParts,
        spec: RunSpec,
        record: AgentRun,
        model: ModelInfo,
        resumed: bool,
    ) -> Run {
        // Native tool calling when asked for, or when the model has it.
        let native = match spec.protocol {
            Protocol::Auto => model.capabilities.tools,
            Protocol::Native => true,
            Protocol::Text => false,
        };
        let window = Window::new(model.context_window, model.max_output_tokens);
        Run {
            parts,
            spec,
            record,
            model,
            native,
            messages: Vec::new(),
            known: HashMap::new(),
            spent: Spent::default(),
            clock_start: Instant::now(),
            elapsed_before: Duration::ZERO,
            stuck: StuckDetector::default(),
            counter: CalibratedCounter::default(),
            window,
            work: Vec::new(),
            decisions: Vec::new(),
            tests: Vec::new(),
            last_answer: String::new(),
            resumed,
        }
    }

    pub fn id(&self) -> RunId {
        self.record.id
    }

    fn emit(&self, event: AgentEvent) {
        let _ = self.parts.events.send(event);
    }

    /// Drives the run to its end and records how it ended.
    pub async fn drive(mut self) -> Result<RunSummary, AgentError> {
        self.emit(AgentEvent::Started {
            run_id: self.record.id,
            session_id: self.record.session_id,
            model: self.model.id.to_string(),
            workspace: self.record.workspace.clone(),
            mode: self.parts.policy.mode().name().to_owned(),
            resumed: self.resumed,
        });
        let ending = match self.answer_unanswered_calls().await {
            Ok(()) => self.steps().await,
            Err(error) => Err(error),
        };
        let (status, reason) = match ending {
            Ok(end) => end,
            Err(error) => (RunStatus::Failed, error.to_string()),
        };
        self.finish(status, reason).await
    }

    /// Calls of the last assistant message that have no answer in the
    /// transcript (the run stopped among them): stored results are
    /// reused, calls that never started run now.
    async fn answer_unanswered_calls(&mut self) -> Result<(), AgentError> {
        let Some(last) = self
            .messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
        else {
            return Ok(());
        };
        // The stored step count moves only when a step is over: a step cut
        // off among its calls is the next one, resumed.
        let step = self.spent.steps + 1;
        let calls = if self.native {
            self.messages[last].tool_calls.clone()
        } else {
            text_protocol::parse(&self.messages[last].text(), step.into()).calls
        };
        let answered: Vec<String> = self.messages[last + 1..]
            .iter()
            .filter_map(|m| m.tool_call_id.clone())
            .collect();
        let pending: Vec<ToolCall> = calls
            .into_iter()
            .filter(|c| !answered.contains(&c.id))
            .collect();
        if pending.is_empty() || (!self.native && last + 1 < self.messages.len()) {
            return Ok(());
        }
        self.spent.steps = step;
        self.run_calls(&pending).await?;
        self.save_progress().await
    }

    async fn steps(&mut self) -> Result<(RunStatus, String), AgentError> {
        loop {
            self.spent.elapsed = self.elapsed_before + self.clock_start.elapsed();
            if let Err(exhausted) = self.spec.budgets.check(&self.spent) {
                return Ok(match exhausted {
                    Exhausted::Steps(reason) => (RunStatus::MaxStepsReached, reason),
                    Exhausted::Other(reason) => (RunStatus::BudgetExhausted, reason),
                });
            }
            self.spent.steps += 1;
            self.emit(AgentEvent::Step {
                step: self.spent.steps,
            });
            let (reply, usage, cost) = self.ask_model().await?;
            let (calls, problems) = if self.native {
                (reply.tool_calls.clone(), Vec::new())
            } else if self.parts.policy.mode() == Mode::Chat {
                (Vec::new(), Vec::new())
            } else {
                let parsed = text_protocol::parse(&reply.text(), self.spent.steps.into());
                (parsed.calls, parsed.problems)
            };
            self.last_answer = reply.text();
            self.push(reply, Some(usage), Some(cost)).await?;
            let (action, result, error) = if calls.is_empty() {
                if !problems.is_empty() {
                    let note = format!(
                        "Some tool lines could not be understood: {}",
                        problems.join("; ")
                    );
                    self.emit(AgentEvent::Note {
                        message: note.clone(),
                    });
                    self.push(Message::user(note.clone()), None, None).await?;
                    (format!("malformed:{}", problems.join("|")), note, None)
                } else if let Some(done) = self.check_goal().await? {
                    return Ok(done);
                } else {
                    (
                        format!("answer:{}", self.last_answer),
                        self.last_answer.clone(),
                        None,
                    )
                }
            } else {
                self.run_calls(&calls).await?
            };
            self.save_progress().await?;
            if let Some(stuck) = self.stuck.observe(&action, &result, error.as_deref()) {
                return Ok((RunStatus::Stuck, stuck.0));
            }
        }
    }

    /// One model call, streamed: text goes out as events as it arrives.
    /// Returns the reply with what it used and cost.
    async fn ask_model(&mut self) -> Result<(Message, Usage, f64), AgentError> {
        let mut messages = self.messages.clone();
        let fitted = context::fit(&mut messages, self.window.prompt_budget(), &self.counter)?;
        if fitted.elided + fitted.dropped > 0 {
            self.emit(AgentEvent::Note {
                message: format!(
                    "context trimmed to fit the model's window: {} outputs elided, {} messages omitted",
                    fitted.elided, fitted.dropped
                ),
            });
        }
        let tools = if self.native {
            self.allowed_specs()
        } else {
            Vec::new()
        };
        let request = ChatRequest {
            model: self.model.id.to_string(),
            messages: messages.clone(),
            tools,
            max_tokens: Some(self.window.answer_tokens),
            ..ChatRequest::default()
        };
        let routed = self.parts.hub.gateway().chat_stream(&request).await?;
        let pricing = routed.model.pricing;
        let mut stream = routed.value;
        let mut acc = StreamAccumulator::default();
        while let Some(event) = stream.next().await {
            let event = event?;
            match &event {
                StreamEvent::Text { text } => self.emit(AgentEvent::Text { text: text.clone() }),
                StreamEvent::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => self.emit(AgentEvent::ToolCallDelta {
                    index: *index,
                    call_id: id.clone(),
                    tool: name.clone(),
                    arguments: arguments.clone(),
                }),
                _ => {}
            }
            acc.push(&event);
        }
        let response = acc.finish().ok_or_else(|| {
            AgentError::Model("the model's stream ended without finishing".into())
        })?;
        let usage = response.usage;
        let cost = pricing.cost(&usage);
        self.spent.prompt_tokens += usage.prompt_tokens;
        self.spent.completion_tokens += usage.completion_tokens;
        self.spent.cost_usd += cost;
        if usage.prompt_tokens > 0 {
            self.counter.calibrate(&messages, usage.prompt_tokens);
        }
        let mut message = response.message;
        message.role = Role::Assistant;
        Ok((message, usage, cost))
    }

    /// The tool specs the model is shown: none in `chat` mode; otherwise
    /// all of them, and the policy decides each call (a refusal tells the
    /// model why, which a hidden tool would not).
    fn allowed_specs(&self) -> Vec<baton_core::ToolSpec> {
        if self.parts.policy.mode() == Mode::Chat {
            Vec::new()
        } else {
            self.parts.toolbox.specs()
        }
    }

    /// Runs a step's calls in order; returns the stuck detector's view of
    /// the step.
    async fn run_calls(
        &mut self,
        calls: &[ToolCall],
    ) -> Result<(String, String, Option<String>), AgentError> {
        let mut action = String::new();
        let mut result = String::new();
        let mut errors = Vec::new();
        let mut text_results = String::new();
        for call in calls {
            let (state, output) = self.run_call(call).await?;
            action.push_str(&format!("{}({});", call.name, call.arguments));
            result.push_str(&output);
            if matches!(state, CallState::Failed | CallState::Refused) {
                errors.push(output.clone());
            }
            if self.native {
                let answer = Message {
                    tool_call_id: Some(call.id.clone()),
                    name: Some(call.name.clone()),
                    ..Message::new(Role::Tool, output)
                };
                self.push(answer, None, None).await?;
            } else {
                text_results.push_str(&format!(
                    "### {}: {}\n{}\n\n",
                    call.name,
                    one_line(&call.arguments, 200),
                    output
                ));
            }
        }
        if !self.native {
            let results = Message::user(format!("Tool results:\n\n{text_results}"));
            self.push(results, None, None).await?;
        }
        let error = (errors.len() == calls.len()).then(|| errors.join("\n"));
        Ok((action, result, error))
    }

    /// One call: reused if its id already ran; otherwise decided by the
    /// policy (and a person when asked), stored as an intent, run, and
    /// finished. Returns its state and what the model is shown.
    async fn run_call(&mut self, call: &ToolCall) -> Result<(CallState, String), AgentError> {
        let arguments: serde_json::Value = match serde_json::from_str(&call.arguments) {
            Ok(value) => value,
            Err(e) => serde_json::Value::String(format!("{}: {e}", call.arguments)),
        };
        self.emit(AgentEvent::ToolCall {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: arguments.clone(),
        });
        if let Some(stored) = self.known.get(&call.id) {
            let output = stored
                .output
                .clone()
                .unwrap_or_else(|| "interrupted: its effects are unknown".into());
            let note = format!(
                "call id {} was already handled ({}); its stored result is returned and it is not run again",
                call.id,
                stored.state.as_str()
            );
            self.emit(AgentEvent::ToolResult {
                call_id: call.id.clone(),
                tool: call.name.clone(),
                state: stored.state,
                summary: note,
                duration_ms: 0,
                truncated: stored.truncated,
            });
            return Ok((stored.state, output));
        }
        let started = Instant::now();
        let tool = self.parts.toolbox.get(&call.name);
        let prepared = match (&tool, &arguments) {
            (None, _) => Err(format!(
                "unknown tool `{}`; the tools are: {}",
                call.name,
                self.parts.toolbox.names().join(", ")
            )),
            (Some(_), serde_json::Value::String(bad)) => {
                Err(format!("the arguments are not valid JSON: {bad}"))
            }
            (Some(tool), args) => tool
                .subject(args)
                .map(|subject| (subject, tool.effect(args), tool.policy_tool()))
                .map_err(|e| e.to_string()),
        };
        let (subject, effect, policy_tool) = match prepared {
            Ok(prepared) => prepared,
            Err(message) => {
                let output = format!("error: {message}");
                self.store_call(
                    call,
                    "",
                    Effect::Read,
                    CallState::Failed,
                    &output,
                    &output,
                    false,
                )
                .await?;
                self.trace(call, CallState::Failed, &output, started, false);
                return Ok((CallState::Failed, output));
            }
        };
        let verdict = self.parts.policy.check(&policy_tool, effect, &subject);
        let refusal = match verdict.decision {
            Decision::Allow => None,
            Decision::Deny => Some(format!("refused: {}", verdict.reason)),
            Decision::Ask => {
                self.ask_person(call, &policy_tool, &subject, &verdict.reason)
                    .await?
            }
        };
        if let Some(reason) = refusal {
            self.decisions
                .push(format!("blocked `{}` on `{subject}`: {reason}", call.name));
            tracing::info!(run = %self.record.id, tool = %call.name, %subject, %reason, "tool call blocked");
            self.emit(AgentEvent::Blocked {
                call_id: call.id.clone(),
                tool: call.name.clone(),
                subject: subject.clone(),
                reason: reason.clone(),
            });
            let output = format!("{reason}. Do not retry this call; choose another way or stop.");
            self.store_call(
                call,
                &subject,
                effect,
                CallState::Refused,
                &output,
                &reason,
                false,
            )
            .await?;
            self.trace(call, CallState::Refused, &reason, started, false);
            return Ok((CallState::Refused, output));
        }

        let record = self.intent(call, &subject, effect);
        match self.parts.hub.store().record_intent(&record).await? {
            Intent::New => {}
            Intent::Existing(stored) => {
                let output = stored.output.clone().unwrap_or_default();
                let state = stored.state;
                self.known.insert(call.id.clone(), *stored);
                return Ok((state, output));
            }
        }
        let tool = tool.expect("prepared above");
        // The run's id is stored before the run starts and kept on resume,
        // and the call id is the model's: the key a crash-cut call had is
        // the key it has again, on this attempt and every later one.
        let call_info = CallInfo::new(&self.record.id.to_string(), &call.id);
        let outcome = tool.call(arguments, &self.parts.tools, &call_info).await;
        let (state, output, summary, truncated) = match outcome {
            Ok(out) => (CallState::Done, out.text, out.summary, out.truncated),
            Err(error) => {
                let message = format!("error: {error}");
                let summary = one_line(&message, 120);
                (CallState::Failed, message, summary, false)
            }
        };
        let result = CallResult {
            state,
            output: output.clone(),
            summary: summary.clone(),
            truncated,
            finished_ms: wall_millis() as i64,
        };
        self.parts
            .hub
            .store()
            .finish_tool_call(record.id, &result)
            .await?;
        self.note_work(call, &subject, state, &summary);
        self.known.insert(
            call.id.clone(),
            ToolCallRecord {
                state,
                output: Some(output.clone()),
                summary: Some(summary.clone()),
                truncated,
                finished_ms: Some(result.finished_ms),
                ..record
            },
        );
        self.trace(call, state, &summary, started, truncated);
        Ok((state, output))
    }

    fn intent(&self, call: &ToolCall, subject: &str, effect: Effect) -> ToolCallRecord {
        ToolCallRecord {
            id: ToolCallId::new(),
            run_id: self.record.id,
            call_id: call.id.clone(),
            step: i64::from(self.spent.steps),
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            subject: subject.to_owned(),
            side_effect: effect != Effect::Read,
            state: CallState::Intent,
            output: None,
            summary: None,
            truncated: false,
            started_ms: wall_millis() as i64,
            finished_ms: None,
        }
    }

    /// Stores a call that ended without running (refused, or arguments
    /// that could not be understood), so its id is never run later.
    #[allow(clippy::too_many_arguments)]
    async fn store_call(
        &mut self,
        call: &ToolCall,
        subject: &str,
        effect: Effect,
        state: CallState,
        output: &str,
        summary: &str,
        truncated: bool,
    ) -> Result<(), AgentError> {
        let record = self.intent(call, subject, effect);
        let store = self.parts.hub.store();
        if let Intent::New = store.record_intent(&record).await? {
            let result = CallResult {
                state,
                output: output.to_owned(),
                summary: one_line(summary, 200),
                truncated,
                finished_ms: wall_millis() as i64,
            };
            store.finish_tool_call(record.id, &result).await?;
            self.known.insert(
                call.id.clone(),
                ToolCallRecord {
                    state,
                    output: Some(result.output),
                    summary: Some(result.summary),
                    finished_ms: Some(result.finished_ms),
                    ..record
                },
            );
        }
        Ok(())
    }

    /// Asks a person; `None` when allowed, the refusal otherwise.
    async fn ask_person(
        &mut self,
        call: &ToolCall,
        policy_tool: &str,
        subject: &str,
        reason: &str,
    ) -> Result<Option<String>, AgentError> {
        let approval = Approval {
            id: baton_core::ApprovalId::new(),
            run_id: self.record.id,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            subject: subject.to_owned(),
            arguments: call.arguments.clone(),
            reason: reason.to_owned(),
            status: ApprovalStatus::Pending,
            scope: None,
            decided_by: None,
            created_ms: wall_millis() as i64,
            decided_ms: None,
        };
        self.emit(AgentEvent::ApprovalRequested {
            approval_id: approval.id,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            subject: subject.to_owned(),
            reason: reason.to_owned(),
        });
        let outcome = self
            .parts
            .approvals
            .ask(&approval, self.parts.approval_wait)
            .await?;
        let answer = match outcome {
            Outcome::TimedOut(wait) => {
                return Ok(Some(format!(
                    "refused: nobody answered the approval within {}s",
                    wait.as_secs()
                )));
            }
            Outcome::Answered(answer) => answer,
        };
        self.emit(AgentEvent::ApprovalAnswered {
            approval_id: approval.id,
            allowed: answer.allowed,
            scope: Some(answer.scope),
            by: answer.decided_by.clone(),
        });
        self.decisions.push(format!(
            "{} {} `{}` on `{subject}` ({})",
            answer.decided_by,
            if answer.allowed { "allowed" } else { "denied" },
            call.name,
            answer.scope.as_str()
        ));
        if !answer.allowed {
            return Ok(Some(format!("refused: {} denied it", answer.decided_by)));
        }
        if answer.scope == ApprovalScope::Always {
            match self
                .parts
                .policy
                .remember(policy_tool, subject, baton_policy::Scope::Always)
            {
                Ok(rules) => {
                    for rule in rules {
                        self.parts
                            .hub
                            .store()
                            .add_grant(
                                &self.record.workspace,
                                &rule,
                                approval.id,
                                wall_millis() as i64,
                            )
                            .await?;
                    }
                }
                Err(refused) => self.emit(AgentEvent::Note {
                    message: format!("the answer applies to this call only: {refused}"),
                }),
            }
        }
        Ok(None)
    }

    fn note_work(&mut self, call: &ToolCall, subject: &str, state: CallState, summary: &str) {
        let line = format!(
            "{} `{}`: {} ({})",
            call.name,
            one_line(subject, 120),
            one_line(summary, 160),
            state.as_str()
        );
        if call.name == "shell" && is_test_command(subject) {
            self.tests.push(line.clone());
        }
        self.work.push(line);
    }

    fn trace(&self, call: &ToolCall, state: CallState, summary: &str, started: Instant, cut: bool) {
        self.emit(AgentEvent::ToolResult {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            state,
            summary: one_line(summary, 200),
            duration_ms: started.elapsed().as_millis() as u64,
            truncated: cut,
        });
    }

    /// Stores a transcript message durably, and in the memory log.
    async fn push(
        &mut self,
        message: Message,
        usage: Option<Usage>,
        cost: Option<f64>,
    ) -> Result<(), AgentError> {
        let now = wall_millis() as i64;
        let record = MessageRecord {
            id: MessageId::new(),
            session_id: self.record.session_id,
            device_id: self.record.device_id.clone(),
            model: (message.role == Role::Assistant).then(|| self.model.id.to_string()),
            message,
            usage,
            cost_usd: cost,
            latency_ms: None,
            created_ms: now,
            hlc: self.parts.hub.clock().now(),
        };
        self.parts
            .hub
            .store()
            .append_messages(std::slice::from_ref(&record))
            .await?;
        self.parts.hub.memory_log().append(vec![MemoryLogEntry {
            timestamp: baton_hub::rfc3339(now),
            message_id: record.id.to_string(),
            session_id: record.session_id.to_string(),
            device_id: record.device_id.to_string(),
            role: record.message.role.as_str().to_owned(),
            content: record.message.text(),
            model: record.model.clone(),
            tool_calls: record.message.tool_calls.clone(),
        }]);
        self.messages.push(record.message);
        Ok(())
    }

    /// The goal check; `Some` ends the run completed, `None` goes on (the
    /// model is told why).
    async fn check_goal(&mut self) -> Result<Option<(RunStatus, String)>, AgentError> {
        if !self.spec.goal_check {
            return Ok(Some((
                RunStatus::Completed,
                "the model finished without a goal check".into(),
            )));
        }
        let request = goal::request(
            &self.model.id.to_string(),
            &self.spec.goal,
            &self.work,
            &self.last_answer,
        );
        let routed = self.parts.hub.gateway().chat(&request).await?;
        let usage = routed.value.usage;
        self.spent.prompt_tokens += usage.prompt_tokens;
        self.spent.completion_tokens += usage.completion_tokens;
        self.spent.cost_usd += routed.model.pricing.cost(&usage);
        let judgement = goal::parse(&routed.value.message.text());
        if judgement.met {
            return Ok(Some((
                RunStatus::Completed,
                format!("goal met: {}", judgement.reason),
            )));
        }
        let note = format!(
            "The goal is not met yet: {}. Continue working towards it.",
            judgement.reason
        );
        self.emit(AgentEvent::Note {
            message: note.clone(),
        });
        self.push(Message::user(note), None, None).await?;
        Ok(None)
    }

    async fn save_progress(&mut self) -> Result<(), AgentError> {
        let progress = self.progress(RunStatus::Running, None);
        self.parts
            .hub
            .store()
            .update_run(self.record.id, &progress)
            .await?;
        Ok(())
    }

    fn progress(&self, status: RunStatus, reason: Option<String>) -> RunProgress {
        RunProgress {
            status,
            reason,
            steps: i64::from(self.spent.steps),
            prompt_tokens: self.spent.prompt_tokens as i64,
            completion_tokens: self.spent.completion_tokens as i64,
            cost_usd: self.spent.cost_usd,
            updated_ms: wall_millis() as i64,
        }
    }

    /// Stores the end, writes the session log entry, reports it.
    async fn finish(self, status: RunStatus, reason: String) -> Result<RunSummary, AgentError> {
        let store = self.parts.hub.store();
        let now = wall_millis() as i64;
        store.cancel_pending_approvals(self.record.id, now).await?;
        store
            .update_run(self.record.id, &self.progress(status, Some(reason.clone())))
            .await?;
        let entry = self.log_entry(status, &reason).render();
        // The continuity loop's end: the run's entry in the session log, and
        // the tiers as the run leaves them kept as versions.
        let (device, clock) = (&self.record.device_id, self.parts.hub.clock());
        let memories = Some(&self.parts.memories);
        let recorded = match SessionLog::open(self.parts.tools.workspace.root()) {
            Ok(log) => end_session(store, memories, &log, &entry, device, clock)
                .await
                .map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::warn!(%error, "cannot record the session in the workspace's continuity files");
        }
        self.parts.hub.memory_log().flush().await;
        self.emit(AgentEvent::Finished {
            run_id: self.record.id,
            status,
            reason: reason.clone(),
            steps: self.spent.steps,
            prompt_tokens: self.spent.prompt_tokens,
            completion_tokens: self.spent.completion_tokens,
            cost_usd: self.spent.cost_usd,
            answer: self.last_answer.clone(),
        });
        Ok(RunSummary {
            run_id: self.record.id,
            status,
            reason,
            steps: self.spent.steps,
            answer: self.last_answer,
        })
    }

    fn log_entry(&self, status: RunStatus, reason: &str) -> Entry {
        let mut starting = vec![format!("Goal: {}", self.spec.goal)];
        if self.resumed {
            starting.push("Resumed after a stop; finished calls were not repeated".into());
        }
        starting.push(format!(
            "Mode {}, model {}, budget {} steps",
            self.parts.policy.mode().name(),
            self.model.id,
            self.spec.budgets.max_steps
        ));
        let mut blockers = Vec::new();
        let mut next = Vec::new();
        if status == RunStatus::Completed {
            next.push(format!("Done: {}", one_line(&self.last_answer, 400)));
        } else {
            blockers.push(format!("Ended {}: {reason}", status.as_str()));
            next.push(format!(
                "The goal is not met; pick up from: {}",
                one_line(&self.last_answer, 400)
            ));
        }
        Entry {
            title: format!(
                "{} - baton run {} ({})",
                baton_hub::rfc3339(wall_millis() as i64),
                self.record.id,
                self.model.id
            ),
            starting_context: starting,
            work_done: self.work.clone(),
            decisions: self.decisions.clone(),
            blockers,
            for_next_instance: next,
            test_status: self.tests.clone(),
        }
    }
}

/// Shell commands that run a test suite, for the log's test status.
fn is_test_command(command: &str) -> bool {
    [
        "cargo test",
        "cargo nextest",
        "pytest",
        "npm test",
        "go test",
        "make test",
        "ctest",
    ]
    .iter()
    .any(|t| command.contains(t))
}

impl From<ToolError> for AgentError {
    fn from(error: ToolError) -> Self {
        AgentError::Tool(error.to_string())
    }
}
