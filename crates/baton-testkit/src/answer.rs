//! Turns a script step and the request it answers into a wire-neutral answer:
//! the text or tool calls cut into stream chunks, the token counts, and the
//! timing and fault to apply. Each wire module only formats an [`Answer`].

use std::time::Duration;

use serde_json::Value;

use crate::prompt::Prompt;
use crate::script::{Fault, Reply, Step};

/// Tool-call arguments are streamed in this many pieces unless a step says
/// otherwise, so that clients must join fragments.
const DEFAULT_ARGUMENT_PIECES: usize = 3;

/// What a step leaves unsaid: the server's own reply and pacing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Defaults {
    pub(crate) reply: Reply,
    pub(crate) chunks: Option<usize>,
    pub(crate) token_delay: Duration,
}

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) output: Output,
    pub(crate) usage: Usage,
    pub(crate) delay: Duration,
    pub(crate) token_delay: Duration,
    pub(crate) fault: Option<Fault>,
}

#[derive(Debug)]
pub(crate) enum Output {
    Text(Pieces),
    ToolCalls(Vec<PlannedCall>),
}

#[derive(Debug)]
pub(crate) struct PlannedCall {
    /// The scripted wire id, if the test fixed one.
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) arguments: Value,
    /// The arguments as JSON text, cut for streaming.
    pub(crate) json: Pieces,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) prompt: u64,
    pub(crate) completion: u64,
}

impl Answer {
    pub(crate) fn new(step: Option<Step>, defaults: &Defaults, prompt: &Prompt) -> Answer {
        let step = step.unwrap_or_default();
        let chunks = step.chunks.or(defaults.chunks);
        let reply = step.reply.as_ref().unwrap_or(&defaults.reply);
        let output = match reply {
            Reply::Text(text) => Output::Text(Pieces::split(text.clone(), chunks)),
            Reply::Echo => Output::Text(Pieces::split(
                format!("echo: {}", prompt.last_user_text),
                chunks,
            )),
            Reply::ToolCalls(calls) => Output::ToolCalls(
                calls
                    .iter()
                    .map(|call| PlannedCall {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        arguments: call.arguments.clone(),
                        json: Pieces::even(
                            call.arguments.to_string(),
                            chunks.unwrap_or(DEFAULT_ARGUMENT_PIECES),
                        ),
                    })
                    .collect(),
            ),
        };
        let (prompt_tokens, completion) = step
            .usage
            .unwrap_or((prompt.words, output.chunk_count() as u64));
        Answer {
            output,
            usage: Usage {
                prompt: prompt_tokens,
                completion,
            },
            delay: step.delay,
            token_delay: step.token_delay.unwrap_or(defaults.token_delay),
            fault: step.fault,
        }
    }

    /// How long generating the whole answer takes at the scripted pace.
    pub(crate) fn generation_time(&self) -> Duration {
        let chunks = u32::try_from(self.output.chunk_count()).unwrap_or(u32::MAX);
        self.token_delay.saturating_mul(chunks)
    }
}

impl Output {
    /// Content chunks a stream of this output carries.
    pub(crate) fn chunk_count(&self) -> usize {
        match self {
            Output::Text(pieces) => pieces.len(),
            Output::ToolCalls(calls) => calls.iter().map(|c| c.json.len()).sum(),
        }
    }
}

/// A string and the places where it is cut into stream chunks; joining the
/// pieces gives back the string exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pieces {
    text: String,
    ends: Vec<usize>,
}

impl Pieces {
    /// Into `n` near-equal pieces, or one piece per word when `n` is `None`.
    fn split(text: String, n: Option<usize>) -> Pieces {
        match n {
            Some(n) => Pieces::even(text, n),
            None => Pieces::words(text),
        }
    }

    /// One piece per word, each carrying the whitespace before it.
    fn words(text: String) -> Pieces {
        let mut ends = Vec::new();
        let mut seen_word = false;
        let mut gap_start = None;
        for (i, c) in text.char_indices() {
            if c.is_whitespace() {
                if seen_word && gap_start.is_none() {
                    gap_start = Some(i);
                }
            } else {
                if let Some(start) = gap_start.take() {
                    ends.push(start);
                }
                seen_word = true;
            }
        }
        if !text.is_empty() {
            ends.push(text.len());
        }
        Pieces { text, ends }
    }

    /// Into `n` pieces of near-equal character count (fewer for short text).
    fn even(text: String, n: usize) -> Pieces {
        let chars = text.chars().count();
        let n = n.clamp(1, chars.max(1));
        let mut ends = Vec::with_capacity(n);
        let mut next = 1;
        for (index, (byte, _)) in text.char_indices().enumerate() {
            if next < n && index == next * chars / n {
                ends.push(byte);
                next += 1;
            }
        }
        if !text.is_empty() {
            ends.push(text.len());
        }
        Pieces { text, ends }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pieces(p: &Pieces) -> Vec<&str> {
        p.iter().collect()
    }

    #[test]
    fn words_keep_their_leading_whitespace() {
        let p = Pieces::words("  Hello big\n world ".into());
        assert_eq!(pieces(&p), ["  Hello", " big", "\n world "]);
        assert_eq!(pieces(&Pieces::words(String::new())), Vec::<&str>::new());
        assert_eq!(pieces(&Pieces::words("   ".into())), ["   "]);
    }

    #[test]
    fn even_pieces_respect_char_boundaries() {
        assert_eq!(
            pieces(&Pieces::even("abcdef".into(), 3)),
            ["ab", "cd", "ef"]
        );
        assert_eq!(pieces(&Pieces::even("héllo".into(), 2)), ["hé", "llo"]);
        assert_eq!(pieces(&Pieces::even("ab".into(), 5)), ["a", "b"]);
        assert_eq!(pieces(&Pieces::even(String::new(), 2)).len(), 0);
    }

    #[test]
    fn echo_and_derived_usage() {
        let prompt = Prompt {
            last_user_text: "ping me".into(),
            words: 4,
        };
        let answer = Answer::new(None, &Defaults::default(), &prompt);
        let Output::Text(text) = &answer.output else {
            panic!("echo is text")
        };
        assert_eq!(text.as_str(), "echo: ping me");
        assert_eq!(
            answer.usage,
            Usage {
                prompt: 4,
                completion: 3
            }
        );
    }

    #[test]
    fn step_settings_override_defaults() {
        let defaults = Defaults {
            reply: Reply::Text("default".into()),
            chunks: Some(1),
            token_delay: Duration::from_millis(5),
        };
        let step = Step::tool_call("f", json!({"query": "rust"}))
            .chunks(2)
            .usage(1, 2)
            .token_delay(Duration::ZERO);
        let answer = Answer::new(Some(step), &defaults, &Prompt::default());
        let Output::ToolCalls(calls) = &answer.output else {
            panic!("a tool call")
        };
        assert_eq!(pieces(&calls[0].json).concat(), r#"{"query":"rust"}"#);
        assert_eq!(calls[0].json.len(), 2);
        assert_eq!(
            answer.usage,
            Usage {
                prompt: 1,
                completion: 2
            }
        );
        assert_eq!(answer.generation_time(), Duration::ZERO);
    }
}
