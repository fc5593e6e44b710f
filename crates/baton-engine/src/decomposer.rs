//! The decomposer: a model turns a request into a [`Plan`].
//!
//! Models get plans wrong in ways a validator can name (a dependency on a
//! task they forgot, a cycle), and they fix such mistakes well when told
//! exactly what is wrong. So the decomposer checks every answer with the
//! same validation a plan file gets and sends the problems back, for a
//! bounded number of rounds, instead of trusting the first answer or
//! failing on it.

use baton_core::{ChatRequest, ChatResponse, Message};
use baton_llm::{Gateway, GatewayError, Routed};
use serde::Serialize;
use serde_json::{Map, json};
use tracing::{debug, info};

use crate::plan::{Plan, PlanError};

/// Rounds a decomposition gets by default: most models fix a named problem
/// in one more round, and a third catches a fix that broke something else.
pub const DEFAULT_ROUNDS: u32 = 3;
/// The most rounds a caller may ask for: a model that has not produced a
/// valid plan after ten rounds will not, and each round costs a call.
pub const MAX_ROUNDS: u32 = 10;

/// Asks one model for plans.
#[derive(Clone)]
pub struct Decomposer<'a> {
    gateway: &'a Gateway,
    model: String,
    rounds: u32,
}

/// A valid plan and what it took to get it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decomposition {
    pub plan: Plan,
    /// Model calls made, 1 when the first answer was valid.
    pub rounds: u32,
    /// The model that wrote the accepted plan, as `provider/model`.
    pub model: String,
    /// Summed over every round, the rejected ones included.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// From the answering models' prices; zero for local models.
    pub cost_usd: f64,
}

/// Why no plan came out.
#[derive(Debug, thiserror::Error)]
pub enum DecomposeError {
    /// The caller gave nothing to plan.
    #[error("the request to plan is empty")]
    EmptyRequest,
    /// No model could be asked, or none answered.
    #[error(transparent)]
    Model(#[from] GatewayError),
    /// The model kept answering with plans that do not validate.
    #[error(
        "the model's plan was still invalid after {rounds} round{}: {last}",
        if *rounds == 1 { "" } else { "s" }
    )]
    Rejected { rounds: u32, last: PlanError },
}

impl DecomposeError {
    /// The HTTP status a face should answer with: 4xx when the caller can
    /// fix it, 5xx when the model is at fault.
    pub fn status(&self) -> u16 {
        match self {
            DecomposeError::EmptyRequest => 400,
            DecomposeError::Model(e) => e.status(),
            DecomposeError::Rejected { .. } => 502,
        }
    }

    /// A stable machine-readable code for `{"error": {"code": …}}`.
    pub fn code(&self) -> &'static str {
        match self {
            DecomposeError::EmptyRequest => "invalid_request",
            DecomposeError::Model(e) => e.code(),
            DecomposeError::Rejected { .. } => "plan_rejected",
        }
    }
}

impl<'a> Decomposer<'a> {
    /// `model` is any name the gateway resolves: `provider/model`, a bare
    /// name, or `auto`.
    pub fn new(gateway: &'a Gateway, model: impl Into<String>) -> Decomposer<'a> {
        Decomposer {
            gateway,
            model: model.into(),
            rounds: DEFAULT_ROUNDS,
        }
    }

    /// At most `rounds` model calls in all, held to `1..=MAX_ROUNDS`.
    pub fn with_rounds(mut self, rounds: u32) -> Decomposer<'a> {
        self.rounds = rounds.clamp(1, MAX_ROUNDS);
        self
    }

    /// A valid plan for `request`. `context` is what the model should know
    /// to plan well (the project briefing, say) without it being part of
    /// the request.
    pub async fn decompose(
        &self,
        request: &str,
        context: Option<&str>,
    ) -> Result<Decomposition, DecomposeError> {
        if request.trim().is_empty() {
            return Err(DecomposeError::EmptyRequest);
        }
        let user = match context.map(str::trim).filter(|c| !c.is_empty()) {
            Some(context) => format!("{request}\n\nContext for planning:\n{context}"),
            None => request.to_owned(),
        };
        let mut messages = vec![Message::system(instructions()), Message::user(user)];
        let mut tuned = true;
        let (mut prompt_tokens, mut completion_tokens, mut cost_usd) = (0, 0, 0.0);
        let mut round = 0;
        loop {
            round += 1;
            let routed = self.ask(&messages, &mut tuned).await?;
            let usage = routed.value.usage;
            prompt_tokens += usage.prompt_tokens;
            completion_tokens += usage.completion_tokens;
            cost_usd += routed.model.pricing.cost(&usage);
            let reply = routed.value.message.text();
            let parsed = extract_json(&reply)
                .ok_or_else(|| PlanError::Parse("the reply holds no JSON object".to_owned()))
                .and_then(Plan::from_json);
            match parsed {
                Ok(plan) => {
                    let model = routed.model.id.to_string();
                    info!(%model, round, tasks = plan.tasks.len(), "plan accepted");
                    return Ok(Decomposition {
                        plan,
                        rounds: round,
                        model,
                        prompt_tokens,
                        completion_tokens,
                        cost_usd,
                    });
                }
                Err(error) => {
                    debug!(model = %routed.model.id, round, %error, "plan rejected");
                    if round >= self.rounds {
                        return Err(DecomposeError::Rejected {
                            rounds: round,
                            last: error,
                        });
                    }
                    messages.push(Message::assistant(reply));
                    messages.push(Message::user(feedback(&error)));
                }
            }
        }
    }

    /// One model call, asking for JSON output at temperature 0 while
    /// `tuned`. Servers that refuse either option (some OpenAI-compatible
    /// servers know no `json_object`, reasoning models take no temperature)
    /// reject the whole request, so after such a rejection this round and
    /// the later ones ask plainly: the validator still catches what the
    /// options would have prevented.
    async fn ask(
        &self,
        messages: &[Message],
        tuned: &mut bool,
    ) -> Result<Routed<ChatResponse>, GatewayError> {
        if *tuned {
            let mut extra = Map::new();
            extra.insert("response_format".into(), json!({"type": "json_object"}));
            let request = ChatRequest {
                model: self.model.clone(),
                messages: messages.to_vec(),
                temperature: Some(0.0),
                extra,
                ..ChatRequest::default()
            };
            match self.gateway.chat(&request).await {
                Err(GatewayError::UpstreamBadRequest { message, .. }) => {
                    debug!(%message, "JSON mode refused; asking without it");
                    *tuned = false;
                }
                answered => return answered,
            }
        }
        let request = ChatRequest {
            model: self.model.clone(),
            messages: messages.to_vec(),
            ..ChatRequest::default()
        };
        self.gateway.chat(&request).await
    }
}

/// The system message: the job, the task types and the schema.
fn instructions() -> String {
    let schema = serde_json::to_string_pretty(&Plan::schema()).unwrap_or_default();
    format!(
        "You plan work for baton, an AI orchestrator. Decompose the user's request into a \
small DAG of tasks. Workers run each task as soon as every task it depends on has finished, \
and tasks without a dependency between them run in parallel.

Task types:
- agent: a model with tools works toward a goal (reading and editing files, searching, running \
commands). description: the goal, with everything the agent must know. tools: the tools it \
needs, such as search, read, write, edit, list, git, shell, run.
- model: one model call without tools that writes text (an analysis, a summary, a review, a \
draft). description: the prompt.
- approval: a person must approve before the tasks after it run. description: the question \
to ask.

Rules:
- List in depends_on the ids of the tasks whose results a task needs.
- Keep the plan small: only the tasks the request needs. A request that is one step is a plan \
with exactly one task.
- Ids are short names such as \"research\" or \"write-tests\".
- Set validation_required when a result must be checked before it is used.
- Reply with only the JSON object of the plan: no prose, no code fence.

The plan is a JSON object matching this JSON Schema:
{schema}"
    )
}

/// The user message after a rejected answer: every problem, and what to do.
fn feedback(error: &PlanError) -> String {
    let problems = match error {
        PlanError::Invalid(issues) => {
            let lines: Vec<String> = issues.iter().map(|i| format!("- {i}")).collect();
            format!("Your plan is invalid:\n{}", lines.join("\n"))
        }
        PlanError::Parse(message) => {
            format!("Your reply is not a plan in the schema's shape: {message}")
        }
        PlanError::TooLarge { bytes, limit } => format!(
            "Your plan is {bytes} bytes, more than the limit of {limit}; make it much smaller."
        ),
    };
    format!("{problems}\n\nReply with the corrected JSON plan only.")
}

/// The JSON object in a reply: inside a code fence if there is one (prose
/// around it may hold braces), else the first balanced `{…}` span. An
/// unbalanced object is returned to its end so the parser names the fault.
fn extract_json(reply: &str) -> Option<&str> {
    let fenced = fence(reply).filter(|inner| inner.contains('{'));
    let text = fenced.unwrap_or(reply);
    let start = text.find('{')?;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[start..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..=start + i]);
                }
            }
            _ => {}
        }
    }
    Some(text[start..].trim_end())
}

/// The body of the first Markdown code fence: after the opening line
/// (which may name a language), up to the closing fence or the end.
fn fence(reply: &str) -> Option<&str> {
    let open = reply.find("```")?;
    let after = &reply[open + 3..];
    let body = &after[after.find('\n')? + 1..];
    Some(body.find("```").map_or(body, |close| &body[..close]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_bare_fenced_or_among_prose() {
        let plan = r#"{"tasks": [{"id": "a", "type": "model", "description": "say {hi} \"}\""}]}"#;
        assert_eq!(extract_json(plan), Some(plan));
        assert_eq!(extract_json(&format!("  {plan}\n")), Some(plan));
        assert_eq!(
            extract_json(&format!(
                "Here it is {{sort of}}:\n```json\n{plan}\n```\nDone."
            )),
            Some(plan)
        );
        assert_eq!(extract_json(&format!("```\n{plan}\n```")), Some(plan));
        assert_eq!(
            extract_json(&format!("The plan: {plan} Hope that helps {{}}")),
            Some(plan)
        );
        assert_eq!(extract_json("{\"tasks\": [ "), Some("{\"tasks\": ["));
        assert_eq!(extract_json("no plan here"), None);
        assert_eq!(
            extract_json("```json\nnot json\n```\n{\"a\": 1}"),
            Some("{\"a\": 1}")
        );
    }

    #[test]
    fn feedback_lists_every_issue_and_asks_for_json() {
        let error =
            Plan::from_json(r#"{"tasks": [{"id": "a", "type": "model", "depends_on": ["b"]}]}"#)
                .unwrap_err();
        let text = feedback(&error);
        assert!(
            text.starts_with("Your plan is invalid:\n- tasks[0].description"),
            "{text}"
        );
        assert!(
            text.contains("\n- tasks[0].depends_on[0]: no task has the id \"b\""),
            "{text}"
        );
        assert!(
            text.ends_with("Reply with the corrected JSON plan only."),
            "{text}"
        );
    }

    #[test]
    fn the_instructions_carry_the_schema() {
        let text = instructions();
        assert!(text.contains("\"depends_on\""), "{text}");
        assert!(text.contains("\"additionalProperties\": false"), "{text}");
        assert!(
            text.contains("one step is a plan with exactly one task"),
            "{text}"
        );
    }
}
