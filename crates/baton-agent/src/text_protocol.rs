//! The seed's text protocol, for models without native tool calling: the
//! model writes a tool line (`search: …`, `read: …`, `list: …`, `shell: …`,
//! `run:` or `write: path` followed by a fenced block) and baton parses the
//! calls out of its reply.
//!
//! A tool line must start a line outside any code block, so code the model
//! merely shows is never run. Call ids are derived from the step and the
//! call's position, so parsing a stored reply again after a crash yields the
//! same ids, and the store's once-per-id rule holds for text calls too.

use baton_core::ToolCall;
use serde_json::{Value, json};

/// The tools the protocol can name.
pub const TOOLS: [&str; 6] = ["search", "read", "list", "shell", "run", "write"];

/// What to tell a model that will use the protocol.
pub fn instructions() -> &'static str {
    "You can act on the workspace by writing tool lines. Each tool line starts a line of its own:\n\
     search: <regex>            search file contents\n\
     read: <path>               read a file\n\
     list: <path>               list a directory\n\
     shell: <command line>      run a shell command\n\
     run:                       run Python; put the code in a fenced block right after\n\
     write: <path>              write a file; put the whole content in a fenced block right after\n\
     Paths are relative to the workspace. Write tool lines only when you want them run; you will \
     get each result back. When the goal is done, answer without any tool line."
}

/// The calls found in a reply, and what could not be understood.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub calls: Vec<ToolCall>,
    /// One sentence per tool line that was malformed, to tell the model.
    pub problems: Vec<String>,
}

/// Parses the tool lines of `reply`, made at `step`.
pub fn parse(reply: &str, step: u64) -> Parsed {
    let lines: Vec<&str> = reply.lines().collect();
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(fence) = Fence::open(line) {
            // A block nobody asked for: skip it whole.
            i = fence.skip(&lines, i + 1);
            continue;
        }
        let Some((tool, rest)) = tool_line(line) else {
            i += 1;
            continue;
        };
        i += 1;
        let block = block_after(&lines, &mut i);
        let arguments = match (tool, rest, block) {
            ("search", pattern, _) if !pattern.is_empty() => Ok(json!({"pattern": pattern})),
            ("read", path, _) if !path.is_empty() => Ok(json!({"path": path})),
            ("list", path, _) => Ok(json!({"path": if path.is_empty() { "." } else { path }})),
            ("shell", _, Some(body)) => Ok(json!({"command": body})),
            ("shell", command, None) if !command.is_empty() => Ok(json!({"command": command})),
            ("run", _, Some(code)) => Ok(json!({"code": code})),
            ("run", code, None) if !code.is_empty() => Ok(json!({"code": code})),
            ("write", path, Some(content)) if !path.is_empty() => {
                Ok(json!({"path": path, "content": content}))
            }
            ("write", _, _) => Err(
                "`write:` needs a path on its line and the content in a fenced block right after"
                    .to_owned(),
            ),
            ("run", _, None) => {
                Err("`run:` needs code on its line or in a fenced block right after".to_owned())
            }
            (tool, _, _) => Err(format!("`{tool}:` needs an argument on its line")),
        };
        match arguments {
            Ok(arguments) => {
                let id = format!("text-{step}-{}", parsed.calls.len() + 1);
                parsed.calls.push(call(id, tool, arguments));
            }
            Err(problem) => parsed.problems.push(problem),
        }
    }
    parsed
}

fn call(id: String, tool: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id,
        name: tool.to_owned(),
        arguments: arguments.to_string(),
    }
}

/// `tool: rest` when the line is a tool line; the rest trimmed and
/// stripped of one pair of backticks or quotes.
fn tool_line(line: &str) -> Option<(&'static str, &str)> {
    let trimmed = line.trim_start();
    let (name, rest) = trimmed.split_once(':')?;
    let tool = TOOLS.into_iter().find(|t| name.eq_ignore_ascii_case(t))?;
    Some((tool, unwrap_inline(rest.trim())))
}

fn unwrap_inline(text: &str) -> &str {
    for (open, close) in [("`", "`"), ("\"", "\""), ("'", "'")] {
        if text.len() >= 2
            && let Some(inner) = text.strip_prefix(open).and_then(|t| t.strip_suffix(close))
            && !inner.contains(open)
        {
            return inner;
        }
    }
    text
}

/// The fenced block that follows a tool line (blank lines between allowed),
/// advancing `i` past it. `None` (and `i` unchanged) when the next
/// non-blank line does not open a fence.
fn block_after(lines: &[&str], i: &mut usize) -> Option<String> {
    let mut j = *i;
    while j < lines.len() && lines[j].trim().is_empty() {
        j += 1;
    }
    let fence = Fence::open(lines.get(j)?)?;
    let end = fence.skip(lines, j + 1);
    let closed = end <= lines.len() && end > j + 1 && fence.closes(lines[end - 1]);
    let body_end = if closed { end - 1 } else { end };
    let mut body = lines[j + 1..body_end].join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    *i = end;
    Some(body)
}

/// An opening code fence: its character and length.
#[derive(Debug, Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

impl Fence {
    fn open(line: &str) -> Option<Fence> {
        let trimmed = line.trim_start();
        let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = trimmed.chars().take_while(|c| *c == ch).count();
        (len >= 3).then_some(Fence { ch, len })
    }

    fn closes(&self, line: &str) -> bool {
        let trimmed = line.trim();
        trimmed.chars().take_while(|c| *c == self.ch).count() >= self.len
            && trimmed.chars().all(|c| c == self.ch)
    }

    /// The index after the closing fence (or the end of the text when the
    /// block never closes).
    fn skip(&self, lines: &[&str], from: usize) -> usize {
        (from..lines.len())
            .find(|&k| self.closes(lines[k]))
            .map_or(lines.len(), |k| k + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(call: &ToolCall) -> Value {
        serde_json::from_str(&call.arguments).unwrap()
    }

    #[test]
    fn one_line_tools() {
        let reply =
            "Let me look.\nsearch: fn main\nread: `src/lib.rs`\nshell: cargo test -q\nlist:\n";
        let parsed = parse(reply, 3);
        let names: Vec<_> = parsed.calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["search", "read", "shell", "list"]);
        assert_eq!(args(&parsed.calls[0]), json!({"pattern": "fn main"}));
        assert_eq!(args(&parsed.calls[1]), json!({"path": "src/lib.rs"}));
        assert_eq!(args(&parsed.calls[2]), json!({"command": "cargo test -q"}));
        assert_eq!(args(&parsed.calls[3]), json!({"path": "."}));
        assert_eq!(parsed.calls[0].id, "text-3-1");
        assert_eq!(parsed.calls[3].id, "text-3-4");
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn blocks_carry_code_and_content() {
        let reply = "write: notes/todo.md\n\n```markdown\n# Todo\n- one\n```\nrun:\n~~~python\nprint(1)\n~~~\n";
        let parsed = parse(reply, 1);
        assert_eq!(
            args(&parsed.calls[0]),
            json!({"path": "notes/todo.md", "content": "# Todo\n- one\n"})
        );
        assert_eq!(args(&parsed.calls[1]), json!({"code": "print(1)\n"}));
    }

    #[test]
    fn code_that_is_only_shown_is_never_run() {
        let reply = "Here is how you would do it:\n```sh\nshell: rm -rf /\n```\nI will not.";
        assert_eq!(parse(reply, 1), Parsed::default());
    }

    #[test]
    fn a_longer_fence_holds_a_shorter_one() {
        let reply = "write: README.md\n````\n```rust\nfn x() {}\n```\n````\n";
        let parsed = parse(reply, 1);
        assert_eq!(
            args(&parsed.calls[0])["content"],
            "```rust\nfn x() {}\n```\n"
        );
    }

    #[test]
    fn malformed_lines_are_reported() {
        let parsed = parse("write: a.txt\nno block here\nsearch:\nrun:\n", 1);
        assert!(parsed.calls.is_empty());
        assert_eq!(parsed.problems.len(), 3, "{:?}", parsed.problems);
    }

    #[test]
    fn prose_with_colons_is_not_a_tool() {
        let parsed = parse("Note: searching is next.\nResearch: done\n", 1);
        assert!(parsed.calls.is_empty());
    }

    #[test]
    fn an_unclosed_block_runs_to_the_end() {
        let parsed = parse("run:\n```\nprint(2)", 1);
        assert_eq!(args(&parsed.calls[0]), json!({"code": "print(2)\n"}));
    }

    #[test]
    fn same_reply_same_ids() {
        let reply = "search: a\nsearch: b";
        assert_eq!(parse(reply, 7), parse(reply, 7));
    }
}
