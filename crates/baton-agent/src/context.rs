//! Keeping a run's conversation inside the model's context window.
//!
//! Token counts are estimated from bytes, starting pessimistic (3 bytes a
//! token where English text is about 4) and then calibrated on what the
//! provider itself reports for each prompt, so the estimate follows the
//! real tokenizer of whatever model is in use rather than one vendor's. The
//! window leaves room for the answer and a headroom on top, because an
//! estimate is still an estimate.
//!
//! When the conversation does not fit, the oldest tool outputs are elided
//! first (the model keeps the calls it made and what they were about), then
//! whole old steps are dropped; the system prompt and the goal are never
//! touched.

use baton_core::{Content, Message, Role};

/// The share of the window kept free on top of the answer's room.
pub const HEADROOM: f64 = 0.10;
/// Tokens counted for each message's framing (role, separators).
const MESSAGE_OVERHEAD: u64 = 4;
/// Never assume more bytes per token than this (a smaller ratio could only
/// come from a bogus usage report).
const MAX_BYTES_PER_TOKEN: f64 = 6.0;
/// Steps at the end of the conversation whose outputs are never elided.
const RECENT_STEPS_KEPT: usize = 2;

/// Estimates a run's transcript tokens from bytes, calibrated against the
/// provider's reported usage as the run goes (the handoff context a run
/// starts from is counted per model family by
/// [`baton_continuity::TokenCounter`]).
#[derive(Debug, Clone)]
pub struct CalibratedCounter {
    bytes_per_token: f64,
}

impl Default for CalibratedCounter {
    fn default() -> Self {
        CalibratedCounter {
            bytes_per_token: 3.0,
        }
    }
}

impl CalibratedCounter {
    pub fn message(&self, message: &Message) -> u64 {
        let bytes = message_bytes(message) as f64;
        (bytes / self.bytes_per_token).ceil() as u64 + MESSAGE_OVERHEAD
    }

    pub fn messages(&self, messages: &[Message]) -> u64 {
        messages.iter().map(|m| self.message(m)).sum()
    }

    /// Learns from a provider's count of the prompt it was sent: adopts the
    /// bytes-per-token ratio the report shows, kept within 1 to
    /// [`MAX_BYTES_PER_TOKEN`] so that a bogus report cannot make baton
    /// believe in a window larger than any real tokenizer gives.
    pub fn calibrate(&mut self, sent: &[Message], reported_prompt_tokens: u64) {
        let framing = MESSAGE_OVERHEAD * sent.len() as u64;
        let Some(content_tokens) = reported_prompt_tokens.checked_sub(framing) else {
            return;
        };
        let bytes: usize = sent.iter().map(message_bytes).sum();
        if content_tokens == 0 || bytes == 0 {
            return;
        }
        let observed = bytes as f64 / content_tokens as f64;
        self.bytes_per_token = observed.clamp(1.0, MAX_BYTES_PER_TOKEN);
    }

    pub fn bytes_per_token(&self) -> f64 {
        self.bytes_per_token
    }
}

fn message_bytes(message: &Message) -> usize {
    let content = match &message.content {
        Some(Content::Text(text)) => text.len(),
        Some(content) => content.text().len(),
        None => 0,
    };
    content
        + message
            .tool_calls
            .iter()
            .map(|c| c.name.len() + c.arguments.len() + c.id.len())
            .sum::<usize>()
}

/// The room a prompt may take in a model's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The whole window, prompt plus answer.
    pub context_tokens: u32,
    /// Kept for the answer.
    pub answer_tokens: u32,
}

impl Window {
    /// The window for a model of `context_tokens` (what the user declared,
    /// else the catalogue: `baton-llm` resolves that), keeping `max_output`
    /// tokens or a quarter of the window for the answer.
    pub fn new(context_tokens: u32, max_output: Option<u32>) -> Window {
        let answer_tokens = max_output
            .unwrap_or(u32::MAX)
            .min(context_tokens / 4)
            .max(1);
        Window {
            context_tokens,
            answer_tokens,
        }
    }

    /// Tokens the prompt may use.
    pub fn prompt_budget(&self) -> u64 {
        let window = u64::from(self.context_tokens);
        let headroom = (window as f64 * HEADROOM).ceil() as u64;
        window.saturating_sub(u64::from(self.answer_tokens) + headroom)
    }
}

/// What fitting did to the conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fitted {
    /// Tool outputs replaced by a note.
    pub elided: usize,
    /// Messages dropped from the middle.
    pub dropped: usize,
    /// The estimate after fitting.
    pub tokens: u64,
}

/// The conversation cannot fit even with everything optional removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the system prompt, the goal and the latest step need about {needed} tokens, \
     more than the {budget} the model's window leaves for a prompt"
)]
pub struct TooLarge {
    pub needed: u64,
    pub budget: u64,
}

/// Shrinks `messages` until the estimate is within `budget`. The leading
/// system messages and the first user message (the goal) are kept whole.
pub fn fit(
    messages: &mut Vec<Message>,
    budget: u64,
    counter: &CalibratedCounter,
) -> Result<Fitted, TooLarge> {
    let mut fitted = Fitted {
        tokens: counter.messages(messages),
        ..Fitted::default()
    };
    if fitted.tokens <= budget {
        return Ok(fitted);
    }
    let pinned = pinned_prefix(messages);
    let recent = recent_start(messages, pinned);

    for message in &mut messages[pinned..recent] {
        if fitted.tokens <= budget {
            return Ok(fitted);
        }
        if message.role == Role::Tool && !is_elided(message) {
            elide(message, counter, &mut fitted);
        }
    }

    // Drop whole steps (an assistant message and the tool answers after
    // it), oldest first, so no tool answer is left without its call.
    let mut end = pinned;
    while fitted.tokens > budget && end < recent {
        let step_end = step_end(messages, end).min(recent);
        fitted.tokens -= counter.messages(&messages[end..step_end]);
        fitted.dropped += step_end - end;
        end = step_end;
    }
    if fitted.dropped > 0 {
        let note = Message::user(format!(
            "[{} earlier messages were omitted to fit the context window]",
            fitted.dropped
        ));
        fitted.tokens += counter.message(&note);
        messages.splice(pinned..end, [note]);
    }

    // Still too large: the recent steps themselves hold big outputs. Elide
    // all but the newest, then cut the newest down to what fits, keeping
    // its head and tail, so one huge output never ends a run.
    let outputs: Vec<usize> = (pinned..messages.len())
        .filter(|&i| messages[i].role == Role::Tool && !is_elided(&messages[i]))
        .collect();
    if let Some((&newest, older)) = outputs.split_last() {
        for &i in older {
            if fitted.tokens <= budget {
                break;
            }
            elide(&mut messages[i], counter, &mut fitted);
        }
        if fitted.tokens > budget {
            let before = counter.message(&messages[newest]);
            let others = fitted.tokens - before;
            let room_tokens = budget.saturating_sub(others + MESSAGE_OVERHEAD + 32);
            let room = (room_tokens as f64 * counter.bytes_per_token()) as usize;
            let text = messages[newest].text();
            messages[newest].content = Some(Content::Text(cut_middle(&text, room)));
            fitted.tokens = others + counter.message(&messages[newest]);
            fitted.elided += 1;
        }
    }
    if fitted.tokens > budget {
        return Err(TooLarge {
            needed: fitted.tokens,
            budget,
        });
    }
    Ok(fitted)
}

/// Replaces a tool output by a note of its size, keeping the estimate.
fn elide(message: &mut Message, counter: &CalibratedCounter, fitted: &mut Fitted) {
    let before = counter.message(message);
    let bytes = message_bytes(message);
    message.content = Some(Content::Text(format!(
        "[earlier output elided to fit the context window: {bytes} bytes]"
    )));
    fitted.tokens = fitted.tokens - before + counter.message(message);
    fitted.elided += 1;
}

/// The head and tail of `text` within `room` bytes, with a note of what
/// was left out between them.
fn cut_middle(text: &str, room: usize) -> String {
    const NOTE_BYTES: usize = 80;
    if text.len() <= room {
        return text.to_owned();
    }
    let keep = room.saturating_sub(NOTE_BYTES);
    let head_end = baton_core::head(text, keep / 2).len();
    let tail_start = ceil_char_boundary(text, text.len() - (keep - keep / 2));
    format!(
        "{}\n[… {} bytes cut to fit the context window …]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn is_elided(message: &Message) -> bool {
    message
        .content
        .as_ref()
        .is_some_and(|c| c.text().starts_with("[earlier output elided"))
}

/// System messages at the start, then the first user message.
fn pinned_prefix(messages: &[Message]) -> usize {
    let systems = messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    match messages.get(systems) {
        Some(m) if m.role == Role::User => systems + 1,
        _ => systems,
    }
}

/// Where the last [`RECENT_STEPS_KEPT`] steps begin (each step starts at an
/// assistant message).
fn recent_start(messages: &[Message], pinned: usize) -> usize {
    let mut seen = 0;
    for i in (pinned..messages.len()).rev() {
        if messages[i].role == Role::Assistant {
            seen += 1;
            if seen == RECENT_STEPS_KEPT {
                return i;
            }
        }
    }
    pinned
}

/// The index after the step starting at `start`.
fn step_end(messages: &[Message], start: usize) -> usize {
    let mut i = start + 1;
    while i < messages.len() && messages[i].role == Role::Tool {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::ToolCall;

    fn tool_answer(id: &str, text: &str) -> Message {
        Message {
            tool_call_id: Some(id.into()),
            ..Message::new(Role::Tool, text)
        }
    }

    fn step(n: usize, output: &str) -> [Message; 2] {
        let id = format!("call_{n}");
        let call = Message {
            content: None,
            tool_calls: vec![ToolCall {
                id: id.clone(),
                name: "read".into(),
                arguments: format!(r#"{{"path":"f{n}.rs"}}"#),
            }],
            ..Message::assistant("")
        };
        [call, tool_answer(&id, output)]
    }

    fn conversation(steps: usize, output_bytes: usize) -> Vec<Message> {
        let mut messages = vec![
            Message::system("You are baton's agent."),
            Message::user("Fix the failing test."),
        ];
        for n in 0..steps {
            messages.extend(step(n, &"x".repeat(output_bytes)));
        }
        messages
    }

    #[test]
    fn answers_keep_room_and_a_headroom_stays_free() {
        let w = Window::new(8_000, Some(16_000));
        assert_eq!(w.context_tokens, 8_000);
        assert_eq!(w.answer_tokens, 2_000);
        assert_eq!(w.prompt_budget(), 8_000 - 2_000 - 800);
        let large = Window::new(128_000, Some(4_096));
        assert_eq!(large.answer_tokens, 4_096);
    }

    #[test]
    fn calibration_follows_the_provider() {
        let mut counter = CalibratedCounter::default();
        let sent = vec![Message::user("a".repeat(4_000))];
        counter.calibrate(&sent, 1_000 + MESSAGE_OVERHEAD);
        assert!((counter.bytes_per_token() - 4.0).abs() < 1e-9);
        counter.calibrate(&sent, 1);
        assert!((counter.bytes_per_token() - 4.0).abs() < 1e-9, "ignored");
        counter.calibrate(&sent, 100);
        assert_eq!(counter.bytes_per_token(), MAX_BYTES_PER_TOKEN);
    }

    #[test]
    fn fitting_conversations_are_left_alone() {
        let mut messages = conversation(3, 100);
        let before = messages.clone();
        let fitted = fit(&mut messages, 100_000, &CalibratedCounter::default()).unwrap();
        assert_eq!(messages, before);
        assert_eq!(fitted.elided + fitted.dropped, 0);
    }

    #[test]
    fn old_outputs_are_elided_before_anything_is_dropped() {
        let counter = CalibratedCounter::default();
        let mut messages = conversation(6, 3_000);
        let budget = counter.messages(&messages) - 2_000;
        let fitted = fit(&mut messages, budget, &counter).unwrap();
        assert!(fitted.elided >= 1 && fitted.dropped == 0, "{fitted:?}");
        assert!(fitted.tokens <= budget);
        assert!(messages.last().unwrap().text().starts_with("xxx"));
        assert_eq!(messages[1].text(), "Fix the failing test.");
    }

    #[test]
    fn whole_steps_go_when_eliding_is_not_enough() {
        let counter = CalibratedCounter::default();
        let mut messages = conversation(40, 30);
        let budget = 300;
        let fitted = fit(&mut messages, budget, &counter).unwrap();
        assert!(fitted.dropped > 0);
        assert!(fitted.tokens <= budget);
        assert!(messages[2].text().contains("omitted"));
        // No tool answer lost its call.
        for (i, m) in messages.iter().enumerate() {
            if m.role == Role::Tool {
                let prev = &messages[i - 1];
                assert!(prev.role == Role::Tool || !prev.tool_calls.is_empty());
            }
        }
    }

    #[test]
    fn one_huge_recent_output_is_cut_not_fatal() {
        let counter = CalibratedCounter::default();
        let mut messages = conversation(2, 100);
        messages.extend(step(9, &format!("HEAD{}TAIL", "é".repeat(30_000))));
        let budget = 2_000;
        let fitted = fit(&mut messages, budget, &counter).unwrap();
        assert!(fitted.tokens <= budget, "{fitted:?}");
        let last = messages.last().unwrap().text();
        assert!(last.starts_with("HEAD") && last.ends_with("TAIL"), "{last}");
        assert!(last.contains("bytes cut to fit"));
    }

    #[test]
    fn too_large_is_an_error_not_a_silent_cut() {
        let counter = CalibratedCounter::default();
        let mut messages = vec![Message::system("s"), Message::user("g".repeat(10_000))];
        let err = fit(&mut messages, 100, &counter).unwrap_err();
        assert!(err.needed > err.budget);
    }
}
