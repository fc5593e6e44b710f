//! The goal check: when the model stops calling tools, a second, short
//! call asks the model to judge its own work against the goal, so a run
//! ends `completed` because the goal is met, not merely because the model
//! went quiet.

use baton_core::{ChatRequest, Message};

/// What the judge said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub met: bool,
    pub reason: String,
}

const JUDGE: &str = "You check whether an agent's goal is met. You are given the goal, what the \
agent did and its final answer. Reply with one JSON object and nothing else: \
{\"met\": true or false, \"reason\": \"one sentence\"}. Say met only if the work shown achieves \
the goal.";

/// The request that asks the judge. `work` is one line per tool call.
pub fn request(model: &str, goal: &str, work: &[String], answer: &str) -> ChatRequest {
    let work = if work.is_empty() {
        "(no tool calls)".to_owned()
    } else {
        work.join("\n")
    };
    ChatRequest {
        model: model.to_owned(),
        messages: vec![
            Message::system(JUDGE),
            Message::user(format!(
                "Goal:\n{goal}\n\nWhat the agent did:\n{work}\n\nFinal answer:\n{answer}"
            )),
        ],
        temperature: Some(0.0),
        max_tokens: Some(300),
        ..ChatRequest::default()
    }
}

/// Reads the judge's reply. A reply that is not the JSON asked for counts
/// as "not met", with a reason saying so: an unclear check never completes
/// a run.
pub fn parse(reply: &str) -> Judgement {
    let json = reply
        .find('{')
        .zip(reply.rfind('}'))
        .filter(|(start, end)| start < end)
        .and_then(|(start, end)| {
            serde_json::from_str::<serde_json::Value>(&reply[start..=end]).ok()
        });
    match json
        .as_ref()
        .and_then(|v| v.get("met")?.as_bool().map(|m| (m, v)))
    {
        Some((met, value)) => Judgement {
            met,
            reason: value
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("no reason given")
                .to_owned(),
        },
        None => Judgement {
            met: false,
            reason: "the goal check's answer was not the JSON asked for".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_even_with_prose_around() {
        let j = parse("Sure.\n```json\n{\"met\": true, \"reason\": \"tests pass\"}\n```");
        assert_eq!(
            j,
            Judgement {
                met: true,
                reason: "tests pass".into()
            }
        );
    }

    #[test]
    fn anything_else_is_not_met() {
        assert!(!parse("yes, done").met);
        assert!(!parse("{\"met\": \"yes\"}").met);
        assert!(!parse("}{").met);
    }
}
