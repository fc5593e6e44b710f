//! What the scripted model reads from a conversation: the last thing the user
//! said (for echo replies) and how long the prompt was (for derived usage).
//!
//! Works on the raw JSON of any of the three wires: message content may be a
//! string, a list of typed parts (`{"type":"text","text":…}`), or Anthropic
//! `tool_result` blocks whose own `content` nests further.

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// The text of the last user message that has any text.
    pub(crate) last_user_text: String,
    /// Whitespace-separated words over the system prompt and all messages.
    pub(crate) words: u64,
}

impl Prompt {
    /// Reads `messages` and, for Anthropic, the top-level `system` field.
    pub(crate) fn read(system: Option<&Value>, messages: &[Value]) -> Prompt {
        let mut words = 0;
        let mut count = |text: &str| words += text.split_whitespace().count() as u64;
        if let Some(system) = system {
            visit_text(system, &mut count);
        }
        for message in messages {
            if let Some(content) = message.get("content") {
                visit_text(content, &mut count);
            }
        }
        let last_user_text = messages
            .iter()
            .rev()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .filter_map(|m| m.get("content"))
            .map(joined_text)
            .find(|text| !text.is_empty())
            .unwrap_or_default();
        Prompt {
            last_user_text,
            words,
        }
    }
}

fn joined_text(content: &Value) -> String {
    let mut text = String::new();
    visit_text(content, &mut |t| text.push_str(t));
    text
}

fn visit_text(content: &Value, f: &mut impl FnMut(&str)) {
    match content {
        Value::String(text) => f(text),
        Value::Array(parts) => {
            for part in parts {
                match part {
                    Value::String(text) => f(text),
                    Value::Object(block) => {
                        if let Some(Value::String(text)) = block.get("text") {
                            f(text);
                        } else if let Some(nested) = block.get("content") {
                            visit_text(nested, f);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_strings_and_parts() {
        let messages = json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [
                {"type": "text", "text": "look at "},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {"type": "text", "text": "this"}
            ]}
        ]);
        let prompt = Prompt::read(None, messages.as_array().unwrap());
        assert_eq!(prompt.last_user_text, "look at this");
        assert_eq!(prompt.words, 2 + 2 + 2 + 3);
    }

    #[test]
    fn reads_anthropic_system_and_tool_results() {
        let messages = json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "sunny"}]}]}
        ]);
        let prompt = Prompt::read(
            Some(&json!([{"type": "text", "text": "you forecast"}])),
            messages.as_array().unwrap(),
        );
        assert_eq!(prompt.last_user_text, "sunny");
        assert_eq!(prompt.words, 4);
    }

    #[test]
    fn skips_user_messages_without_text() {
        let messages = json!([
            {"role": "user", "content": "hello there"},
            {"role": "user", "content": []}
        ]);
        let prompt = Prompt::read(None, messages.as_array().unwrap());
        assert_eq!(prompt.last_user_text, "hello there");
    }
}
