//! The script: the replies a test queues up, and the queue that hands them out.
//!
//! One definition serves both the Rust builder API and the JSON control plane
//! (`POST /__testkit/steps`), so tests in any language script the same things.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What the scripted model answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Reply {
    /// Plain assistant text.
    Text(String),
    /// One or more tool calls and no text.
    ToolCalls(Vec<ScriptedToolCall>),
    /// `echo: <text of the last user message>`, so a test sees what reached
    /// the model without scripting anything.
    #[default]
    Echo,
}

/// A function call the scripted model makes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    pub name: String,
    /// The arguments object; each wire encodes it its own way (a JSON string
    /// for OpenAI, an object for Anthropic and Ollama).
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// The call's id on the wire; unset, the server makes a unique one. A
    /// test sets it to replay an id a client has already seen.
    #[serde(default)]
    pub id: Option<String>,
}

impl ScriptedToolCall {
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        ScriptedToolCall {
            name: name.into(),
            arguments,
            id: None,
        }
    }

    /// The same call with a fixed wire id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A way for the scripted model to misbehave, so clients' error paths are
/// tested against the failures real upstreams produce.
///
/// In JSON: `{"status":500,"message":"x"}`, `{"rate_limited":{"retry_after_secs":2}}`,
/// `{"cut_mid_stream":{"after_chunks":1}}`, `"malformed_sse"`,
/// `{"slow_first_token_ms":1500}` or `"hang"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// An HTTP error with a body in the wire's own error format.
    Status { status: u16, message: String },
    /// `429 Too Many Requests` with a `Retry-After` header.
    RateLimited { retry_after_secs: u64 },
    /// Sends the first `after_chunks` content chunks, then drops the
    /// connection without the stream's terminator (`[DONE]`, `message_stop`,
    /// `done: true`). A non-streamed answer is cut halfway through its body.
    CutMidStream { after_chunks: usize },
    /// A stream whose content events are not valid JSON (a non-streamed
    /// answer gets a body that is not valid JSON).
    MalformedSse,
    /// Headers at once, the first body byte only after the duration.
    SlowFirstToken(Duration),
    /// Accepts the request and never answers.
    Hang,
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct StatusSpec {
            status: u16,
            #[serde(default = "default_fault_message")]
            message: String,
        }

        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case", deny_unknown_fields)]
        enum NamedFault {
            RateLimited { retry_after_secs: u64 },
            CutMidStream { after_chunks: usize },
            MalformedSse,
            SlowFirstTokenMs(u64),
            Hang,
        }

        let value = Value::deserialize(deserializer)?;
        if value.get("status").is_some() {
            let spec = StatusSpec::deserialize(value).map_err(D::Error::custom)?;
            if !(400..=599).contains(&spec.status) {
                return Err(D::Error::custom(format!(
                    "fault status {} is not an HTTP error status (400-599)",
                    spec.status
                )));
            }
            return Ok(Fault::Status {
                status: spec.status,
                message: spec.message,
            });
        }
        Ok(
            match NamedFault::deserialize(value).map_err(D::Error::custom)? {
                NamedFault::RateLimited { retry_after_secs } => {
                    Fault::RateLimited { retry_after_secs }
                }
                NamedFault::CutMidStream { after_chunks } => Fault::CutMidStream { after_chunks },
                NamedFault::MalformedSse => Fault::MalformedSse,
                NamedFault::SlowFirstTokenMs(ms) => {
                    Fault::SlowFirstToken(Duration::from_millis(ms))
                }
                NamedFault::Hang => Fault::Hang,
            },
        )
    }
}

fn default_fault_message() -> String {
    "scripted failure".to_owned()
}

/// One scripted answer: what to say, to whom, how fast and how badly.
///
/// Built with the constructors and chained setters, or deserialized from the
/// control plane's JSON: at most one of `text` (a string), `tool_calls`
/// (`[{"name":…,"arguments":{…}}]`) and `echo: true` (none: the server's
/// default reply), plus any of `for_model`, `usage` (`{"prompt":N,"completion":N}`),
/// `delay_ms`, `token_delay_ms`, `chunks` and `fault` (see [`Fault`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// `None` answers with the server's default reply.
    pub(crate) reply: Option<Reply>,
    pub(crate) model: Option<String>,
    pub(crate) usage: Option<(u64, u64)>,
    pub(crate) delay: Duration,
    pub(crate) token_delay: Option<Duration>,
    pub(crate) chunks: Option<usize>,
    pub(crate) fault: Option<Fault>,
}

impl Step {
    /// Answers with plain text.
    pub fn text(text: impl Into<String>) -> Step {
        Step::reply(Reply::Text(text.into()))
    }

    /// Answers with a single tool call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Step {
        Step::reply(Reply::ToolCalls(vec![ScriptedToolCall::new(
            name, arguments,
        )]))
    }

    pub fn reply(reply: Reply) -> Step {
        Step {
            reply: Some(reply),
            ..Step::default()
        }
    }

    /// Answers with the server's default reply, spoiled by `fault`; for steps
    /// where only the failure matters.
    pub fn failure(fault: Fault) -> Step {
        Step::default().fault(fault)
    }

    /// Only a request for `model` takes this step; other requests pass over it.
    pub fn for_model(mut self, model: &str) -> Step {
        self.model = Some(model.to_owned());
        self
    }

    /// Reports these token counts instead of the derived ones (prompt = words
    /// in the request's messages, completion = chunks sent).
    pub fn usage(mut self, prompt: u64, completion: u64) -> Step {
        self.usage = Some((prompt, completion));
        self
    }

    /// Waits this long before sending response headers.
    pub fn delay(mut self, delay: Duration) -> Step {
        self.delay = delay;
        self
    }

    /// Waits this long before each content chunk; a non-streamed answer waits
    /// for all of its chunks before answering.
    pub fn token_delay(mut self, delay: Duration) -> Step {
        self.token_delay = Some(delay);
        self
    }

    /// Splits text into `n` chunks of near-equal length (at least 1), and tool
    /// call arguments into `n` pieces. Without it text goes one word a chunk
    /// and arguments in three pieces.
    pub fn chunks(mut self, n: usize) -> Step {
        self.chunks = Some(n.max(1));
        self
    }

    pub fn fault(mut self, fault: Fault) -> Step {
        self.fault = Some(fault);
        self
    }

    fn accepts(&self, model: &str) -> bool {
        self.model.as_deref().is_none_or(|m| m == model)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct StepSpec {
            text: Option<String>,
            tool_calls: Option<Vec<ScriptedToolCall>>,
            #[serde(default)]
            echo: bool,
            for_model: Option<String>,
            usage: Option<UsageSpec>,
            #[serde(default)]
            delay_ms: u64,
            token_delay_ms: Option<u64>,
            chunks: Option<usize>,
            fault: Option<Fault>,
        }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct UsageSpec {
            #[serde(alias = "prompt_tokens")]
            prompt: u64,
            #[serde(alias = "completion_tokens")]
            completion: u64,
        }

        let spec = StepSpec::deserialize(deserializer)?;
        let reply = match (spec.text, spec.tool_calls, spec.echo) {
            (Some(text), None, false) => Some(Reply::Text(text)),
            (None, Some(calls), false) if calls.is_empty() => {
                return Err(D::Error::custom("`tool_calls` must name at least one call"));
            }
            (None, Some(calls), false) => Some(Reply::ToolCalls(calls)),
            (None, None, true) => Some(Reply::Echo),
            (None, None, false) => None,
            _ => {
                return Err(D::Error::custom(
                    "a step takes at most one of `text`, `tool_calls` and `echo`",
                ));
            }
        };
        if spec.chunks == Some(0) {
            return Err(D::Error::custom("`chunks` must be at least 1"));
        }
        Ok(Step {
            reply,
            model: spec.for_model,
            usage: spec.usage.map(|u| (u.prompt, u.completion)),
            delay: Duration::from_millis(spec.delay_ms),
            token_delay: spec.token_delay_ms.map(Duration::from_millis),
            chunks: spec.chunks,
            fault: spec.fault,
        })
    }
}

/// The queue of pending steps, shared by every connection.
///
/// The lock is held only to scan and remove, never across an await.
#[derive(Debug, Default)]
pub(crate) struct Script {
    steps: Mutex<VecDeque<Step>>,
}

impl Script {
    pub(crate) fn push(&self, step: Step) {
        self.lock().push_back(step);
    }

    /// Removes and returns the first step that a request for `model` may take.
    pub(crate) fn take(&self, model: &str) -> Option<Step> {
        let mut steps = self.lock();
        let position = steps.iter().position(|s| s.accepts(model))?;
        steps.remove(position)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Step>> {
        self.steps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(value: Value) -> Result<Step, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn json_steps_match_the_builder() {
        assert_eq!(step(json!({"text": "hi"})).unwrap(), Step::text("hi"));
        assert_eq!(
            step(json!({"tool_calls": [{"name": "f", "arguments": {"a": 1}}]})).unwrap(),
            Step::tool_call("f", json!({"a": 1}))
        );
        assert_eq!(
            step(json!({
                "echo": true, "for_model": "m", "delay_ms": 5, "token_delay_ms": 2,
                "chunks": 3, "usage": {"prompt": 7, "completion": 9}
            }))
            .unwrap(),
            Step::reply(Reply::Echo)
                .for_model("m")
                .delay(Duration::from_millis(5))
                .token_delay(Duration::from_millis(2))
                .chunks(3)
                .usage(7, 9)
        );
        assert_eq!(
            step(json!({"fault": {"status": 503, "message": "busy"}})).unwrap(),
            Step::failure(Fault::Status {
                status: 503,
                message: "busy".into()
            })
        );
    }

    #[test]
    fn every_fault_has_a_json_form() {
        let cases = [
            (
                json!({"rate_limited": {"retry_after_secs": 2}}),
                Fault::RateLimited {
                    retry_after_secs: 2,
                },
            ),
            (
                json!({"cut_mid_stream": {"after_chunks": 1}}),
                Fault::CutMidStream { after_chunks: 1 },
            ),
            (json!("malformed_sse"), Fault::MalformedSse),
            (
                json!({"slow_first_token_ms": 30}),
                Fault::SlowFirstToken(Duration::from_millis(30)),
            ),
            (json!("hang"), Fault::Hang),
        ];
        for (value, fault) in cases {
            assert_eq!(serde_json::from_value::<Fault>(value).unwrap(), fault);
        }
    }

    #[test]
    fn bad_steps_are_rejected_with_a_reason() {
        let both = step(json!({"text": "a", "echo": true})).unwrap_err();
        assert!(both.to_string().contains("at most one"), "{both}");
        assert!(step(json!({"txt": "a"})).is_err());
        assert!(step(json!({"chunks": 0})).is_err());
        assert!(step(json!({"tool_calls": []})).is_err());
        assert!(step(json!({"fault": {"status": 200}})).is_err());
        assert!(step(json!({"fault": "explode"})).is_err());
    }

    #[test]
    fn take_skips_steps_for_other_models() {
        let script = Script::default();
        script.push(Step::text("large").for_model("large"));
        script.push(Step::text("any"));
        assert_eq!(script.take("small"), Some(Step::text("any")));
        assert_eq!(script.take("small"), None);
        assert_eq!(script.len(), 1);
        assert_eq!(
            script.take("large"),
            Some(Step::text("large").for_model("large"))
        );
    }
}
