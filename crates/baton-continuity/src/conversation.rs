//! The continuity loop for a conversation (`baton chat` in a workspace):
//! its first message starts it from the workspace's context (the tiers,
//! the latest log entries and the memories relevant to that message), and
//! its end appends one session-log entry naming what was asked, through
//! [`end_session`] like every other session, and remembers each exchange
//! (question and answer) as a conversation memory. A directory without any tier
//! file has no loop: chatting there leaves nothing behind.

use std::path::{Path, PathBuf};

use baton_core::{DeviceId, Hlc, one_line, rfc3339, wall_millis};
use baton_store::Store;

use crate::entry::Entry;
use crate::error::ContinuityError;
use crate::get_context::{ContextRequest, DEFAULT_MEMORIES, get_context};
use crate::memory::{MAX_MEMORY_BYTES, Memories, MemorySource, NewMemoryText};
use crate::session_end::{SessionRecord, end_session};
use crate::session_log::SessionLog;
use crate::tiers::Tier;
use crate::tokens::TokenCounter;
use baton_core::head;

/// Tokens of context a conversation starts from.
pub const CONVERSATION_CONTEXT_TOKENS: usize = 4_000;

/// Questions listed in the entry at most (the first ones).
const LISTED_QUESTIONS: usize = 10;

/// One conversation's part in the loop.
pub struct ConversationLoop {
    workspace: PathBuf,
    store: Store,
    memories: Option<Memories>,
    device: DeviceId,
    clock: Hlc,
    context: Option<String>,
    asked: Vec<String>,
    /// Each exchange and its session, to remember at the end.
    exchanges: Vec<(String, String)>,
    sessions: Vec<String>,
    model: Option<String>,
}

impl ConversationLoop {
    /// The loop for a conversation in `workspace`, or `None` when the
    /// workspace has no tier file.
    pub fn in_workspace(
        workspace: PathBuf,
        store: Store,
        memories: Option<Memories>,
        device: DeviceId,
    ) -> Option<ConversationLoop> {
        let has_tiers = Tier::ALL
            .iter()
            .any(|tier| workspace.join(tier.file_name()).is_file());
        has_tiers.then(|| ConversationLoop {
            workspace,
            store,
            memories,
            device,
            clock: Hlc::new(),
            context: None,
            asked: Vec::new(),
            exchanges: Vec::new(),
            sessions: Vec::new(),
            model: None,
        })
    }

    /// The context to send with `message`: assembled for the first message
    /// (for `model`'s token counting), the same text for every later one.
    pub async fn context(
        &mut self,
        message: &str,
        model: Option<&str>,
    ) -> Result<String, ContinuityError> {
        if let Some(context) = &self.context {
            return Ok(context.clone());
        }
        let request = ContextRequest {
            workspace: self.workspace.clone(),
            portfolio: None,
            query: Some(message.to_owned()),
            budget_tokens: CONVERSATION_CONTEXT_TOKENS,
            counter: model.map(TokenCounter::for_model).unwrap_or_default(),
            memories: DEFAULT_MEMORIES,
        };
        let assembled = get_context(request, self.memories.as_ref()).await?;
        let text = format!(
            "What earlier sessions left in this workspace's handoff documents and memory; \
             read it before you answer:\n\n{}",
            assembled.text()
        );
        self.context = Some(text.clone());
        Ok(text)
    }

    /// Notes a message and its answer, in `session` by `model`.
    pub fn answered(&mut self, message: &str, reply: &str, session: &str, model: &str) {
        self.asked.push(one_line(message, 200));
        self.exchanges.push((
            head(
                &format!("Q: {}\nA: {}", message.trim(), reply.trim()),
                MAX_MEMORY_BYTES,
            )
            .to_owned(),
            session.to_owned(),
        ));
        if !self.sessions.iter().any(|s| s == session) {
            self.sessions.push(session.to_owned());
        }
        self.model = Some(model.to_owned());
    }

    /// Appends the conversation's entry (when anything was answered).
    pub async fn end(self) -> Result<Option<SessionRecord>, ContinuityError> {
        if self.asked.is_empty() {
            return Ok(None);
        }
        let model = self.model.clone().unwrap_or_default();
        let mut work_done: Vec<String> = self
            .asked
            .iter()
            .take(LISTED_QUESTIONS)
            .map(|q| format!("asked: {q}"))
            .collect();
        if self.asked.len() > LISTED_QUESTIONS {
            work_done.push(format!(
                "and {} more questions",
                self.asked.len() - LISTED_QUESTIONS
            ));
        }
        let entry = Entry {
            title: format!("{} - baton chat ({model})", rfc3339(wall_millis() as i64)),
            starting_context: vec![format!(
                "conversation {} with {model}: {} messages",
                self.sessions.join(", "),
                self.asked.len()
            )],
            work_done,
            ..Entry::default()
        }
        .render();
        if let Some(memories) = &self.memories {
            let exchanges = self
                .exchanges
                .iter()
                .map(|(content, session)| NewMemoryText {
                    source: MemorySource::Conversation,
                    source_ref: Some(session.clone()),
                    content: content.clone(),
                })
                .collect();
            if let Err(error) = memories.remember_all(&self.workspace, exchanges).await {
                tracing::warn!(%error, "the conversation's exchanges could not be remembered");
            }
        }
        let log = SessionLog::open(&self.workspace)?;
        let record = end_session(
            &self.store,
            self.memories.as_ref(),
            &log,
            &entry,
            &self.device,
            &self.clock,
        )
        .await?;
        Ok(Some(record))
    }
}

/// An exchange as one memory: the question and the answer.
fn exchange_text(message: &str, reply: &str) -> String {
    head(
        &format!("Q: {}\nA: {}", message.trim(), reply.trim()),
        MAX_MEMORY_BYTES,
    )
    .to_owned()
}

/// Remembers one exchange of a conversation held elsewhere (an HTTP
/// client's `POST /chat` with a workspace), as a conversation memory of
/// `session`.
pub async fn remember_exchange(
    memories: &Memories,
    workspace: &Path,
    message: &str,
    reply: &str,
    session: &str,
) -> Result<(), ContinuityError> {
    memories
        .remember(
            workspace,
            NewMemoryText {
                source: MemorySource::Conversation,
                source_ref: Some(session.to_owned()),
                content: exchange_text(message, reply),
            },
        )
        .await
        .map(|_| ())
}
