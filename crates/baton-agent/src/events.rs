//! What a run reports as it goes: the CLI prints these as a live trace and
//! the HTTP API streams them as Server-Sent Events, so both faces show the
//! same run the same way.

use baton_core::{ApprovalId, RunId, SessionId};
use baton_store::{ApprovalScope, CallState, RunStatus};
use serde::{Deserialize, Serialize};

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The run began, or resumed after a stop.
    Started {
        run_id: RunId,
        session_id: SessionId,
        model: String,
        workspace: String,
        mode: String,
        resumed: bool,
    },
    /// A model call begins.
    Step { step: u32 },
    /// A fragment of the model's text, as it arrives.
    Text { text: String },
    /// A fragment of a tool call the model is still writing, as it
    /// arrives: `index` tells the calls of one answer apart, `call_id` and
    /// `tool` come with a call's first fragment, `arguments` are JSON text
    /// to append. `tool_call` follows with the whole call before it runs.
    ToolCallDelta {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool: Option<String>,
        arguments: String,
    },
    /// The model asked for a tool call.
    ToolCall {
        call_id: String,
        tool: String,
        arguments: serde_json::Value,
    },
    /// The policy asks a person; answer with `POST /approvals/{id}`.
    ApprovalRequested {
        approval_id: ApprovalId,
        call_id: String,
        tool: String,
        subject: String,
        reason: String,
    },
    ApprovalAnswered {
        approval_id: ApprovalId,
        allowed: bool,
        scope: Option<ApprovalScope>,
        by: String,
    },
    /// The policy or a person refused a call; the model is told why.
    Blocked {
        call_id: String,
        tool: String,
        subject: String,
        reason: String,
    },
    /// A call ended (done, failed, refused or interrupted).
    ToolResult {
        call_id: String,
        tool: String,
        state: CallState,
        summary: String,
        duration_ms: u64,
        truncated: bool,
    },
    /// Something the person should know that is not a call (the context
    /// was trimmed, a text tool line was malformed, the goal check said no).
    Note { message: String },
    /// The run ended; `reason` says why in words.
    Finished {
        run_id: RunId,
        status: RunStatus,
        reason: String,
        steps: u32,
        prompt_tokens: u64,
        completion_tokens: u64,
        cost_usd: f64,
        /// The model's last answer.
        answer: String,
    },
}
