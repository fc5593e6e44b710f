//! Just enough of Server-Sent Events to time an OpenAI chat stream: when the
//! first content delta arrives and when `data: [DONE]` does.
//!
//! A full SSE parser would cost the generator CPU that the servers under
//! test need on a small machine, so this one only decodes JSON until it has
//! seen the first content, and after that only looks for `[DONE]`.

use serde_json::Value;

/// Incremental scanner over the bytes of an SSE body, fed chunk by chunk
/// exactly as they come off the socket.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Bytes after the last complete line.
    partial: Vec<u8>,
    saw_content: bool,
    done: bool,
}

/// What a chunk revealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// This chunk completed the first event carrying non-empty content.
    pub first_content: bool,
    /// This chunk completed `data: [DONE]`.
    pub done: bool,
}

impl Scanner {
    /// Consumes one chunk. Events may straddle chunks; only complete lines
    /// are judged.
    pub fn feed(&mut self, chunk: &[u8]) -> Progress {
        let mut progress = Progress::default();
        if self.done {
            return progress;
        }
        self.partial.extend_from_slice(chunk);
        let mut consumed = 0;
        while let Some(newline) = self.partial[consumed..].iter().position(|&b| b == b'\n') {
            let line = &self.partial[consumed..consumed + newline];
            consumed += newline + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                self.done = true;
                progress.done = true;
                break;
            }
            if !self.saw_content && has_content(data) {
                self.saw_content = true;
                progress.first_content = true;
            }
        }
        self.partial.drain(..consumed);
        progress
    }
}

/// `choices[0].delta.content` is a non-empty string: the first visible token,
/// not the role-only chunk some servers send first.
fn has_content(data: &[u8]) -> bool {
    serde_json::from_slice::<Value>(data).is_ok_and(|event| {
        event
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .is_some_and(|content| !content.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str =
        r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#;
    const TOKEN: &str = r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;

    #[test]
    fn role_chunk_is_not_content_but_a_token_is() {
        let mut scanner = Scanner::default();
        assert_eq!(
            scanner.feed(format!("{ROLE}\n\n").as_bytes()),
            Progress::default()
        );
        let progress = scanner.feed(format!("{TOKEN}\n\n").as_bytes());
        assert!(progress.first_content && !progress.done);
        let progress = scanner.feed(format!("{TOKEN}\n\n").as_bytes());
        assert!(!progress.first_content, "only the first content counts");
        assert!(scanner.feed(b"data: [DONE]\n\n").done);
        assert_eq!(
            scanner.feed(TOKEN.as_bytes()),
            Progress::default(),
            "nothing after [DONE]"
        );
    }

    #[test]
    fn events_split_across_chunks_and_crlf_lines_are_understood() {
        let body = format!("{TOKEN}\r\n\r\ndata: [DONE]\r\n\r\n");
        let (head, tail) = body.as_bytes().split_at(17);
        let mut scanner = Scanner::default();
        assert_eq!(scanner.feed(head), Progress::default());
        let progress = scanner.feed(tail);
        assert!(progress.first_content && progress.done);
    }

    #[test]
    fn a_body_without_done_never_reports_done() {
        let mut scanner = Scanner::default();
        let progress = scanner.feed(format!("{TOKEN}\n\ndata: [DO").as_bytes());
        assert!(progress.first_content && !progress.done);
    }
}
