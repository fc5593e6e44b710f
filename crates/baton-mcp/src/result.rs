//! Turning an MCP tool result into what an agent step can hold: text for the
//! model (binary content summarised, everything capped) plus the structured
//! value when the server sent one.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde::{Deserialize, Serialize};

/// Most bytes of result text (and, separately, of serialised structured
/// content) kept from one call; a tool that dumps megabytes would otherwise
/// fill the model's context.
pub const MAX_RESULT_BYTES: usize = 256 * 1024;

/// The outcome of one remote tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    /// Text content joined by newlines; images, audio and blobs appear as
    /// `[image/png 2 KiB]`; cut to [`MAX_RESULT_BYTES`] with a note.
    pub text: String,
    /// The server flagged the result as a tool error (`isError`): the call
    /// reached the tool, which failed; the model should see the text.
    pub is_error: bool,
    /// `structuredContent`, dropped (with a note in `text`) when over the limit.
    pub structured: Option<serde_json::Value>,
}

impl CallResult {
    /// Builds the result from the wire type, applying `limit` bytes to text
    /// and to structured content.
    pub(crate) fn from_wire(result: CallToolResult, limit: usize) -> Self {
        let mut parts: Vec<String> = result.content.iter().map(describe).collect();
        let mut structured = result.structured_content;
        let mut dropped_note = None;
        if let Some(value) = &structured {
            let size = serde_json::to_string(value).map_or(usize::MAX, |s| s.len());
            if size > limit {
                dropped_note = Some(format!(
                    "\n[structured content of {} dropped: over baton's {} limit]",
                    human_bytes(size),
                    human_bytes(limit)
                ));
                structured = None;
            } else if parts.is_empty() {
                parts.push(value.to_string());
            }
        }
        let mut text = truncate(parts.join("\n"), limit);
        text.extend(dropped_note);
        Self {
            text,
            is_error: result.is_error.unwrap_or(false),
            structured,
        }
    }
}

fn describe(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => {
            format!(
                "[{} {}]",
                image.mime_type,
                human_bytes(base64_len(&image.data))
            )
        }
        ContentBlock::Audio(audio) => {
            format!(
                "[{} {}]",
                audio.mime_type,
                human_bytes(base64_len(&audio.data))
            )
        }
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                format!("[resource {uri}]\n{text}")
            }
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "[resource {uri} {} {}]",
                mime_type.as_deref().unwrap_or("application/octet-stream"),
                human_bytes(base64_len(blob))
            ),
            _ => "[resource of an unknown kind]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource link {} ({})]", link.uri, link.name),
        _ => "[content of a kind baton does not know]".to_owned(),
    }
}

/// Decoded size of base64 data, without decoding it.
fn base64_len(data: &str) -> usize {
    let padding = data.bytes().rev().take_while(|b| *b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(padding)
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let total = text.len();
    let cut = baton_core::head(&text, limit).len();
    text.truncate(cut);
    text.push_str(&format!(
        "\n[truncated by baton: {} of {} omitted]",
        human_bytes(total - cut),
        human_bytes(total)
    ));
    text
}

/// `512 B`, `2 KiB`, `3.5 MiB`: sizes a person reads in a tool trace.
pub(crate) fn human_bytes(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    if bytes < KIB {
        format!("{bytes} B")
    } else if bytes < MIB {
        format!("{} KiB", bytes.div_ceil(KIB))
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::Resource;
    use serde_json::json;

    use super::*;

    fn wire(content: Vec<ContentBlock>) -> CallToolResult {
        CallToolResult::success(content)
    }

    #[test]
    fn text_is_joined_and_binaries_summarised() {
        let png = "A".repeat(2732); // 2049 bytes decoded
        let result = CallResult::from_wire(
            wire(vec![
                ContentBlock::text("first"),
                ContentBlock::image(png, "image/png"),
                ContentBlock::text("last"),
            ]),
            MAX_RESULT_BYTES,
        );
        assert_eq!(result.text, "first\n[image/png 3 KiB]\nlast");
        assert!(!result.is_error);
        assert_eq!(result.structured, None);
    }

    #[test]
    fn resources_are_described() {
        let result = CallResult::from_wire(
            wire(vec![
                ContentBlock::embedded_text("file:///a.txt", "hello"),
                ContentBlock::ResourceLink(Resource::new("file:///b", "b")),
            ]),
            MAX_RESULT_BYTES,
        );
        assert_eq!(
            result.text,
            "[resource file:///a.txt]\nhello\n[resource link file:///b (b)]"
        );
    }

    #[test]
    fn structured_only_results_get_text_and_errors_keep_their_flag() {
        let structured = CallResult::from_wire(
            CallToolResult::structured(json!({"sum": 3})),
            MAX_RESULT_BYTES,
        );
        assert_eq!(structured.structured, Some(json!({"sum": 3})));
        assert!(structured.text.contains("\"sum\":3"), "{}", structured.text);

        let failed = CallResult::from_wire(
            CallToolResult::error(vec![ContentBlock::text("boom")]),
            MAX_RESULT_BYTES,
        );
        assert!(failed.is_error);
        assert_eq!(failed.text, "boom");
    }

    #[test]
    fn oversized_text_and_structure_are_cut_with_a_note() {
        let result = CallResult::from_wire(wire(vec![ContentBlock::text("é".repeat(600))]), 1001);
        assert!(result.text.starts_with(&"é".repeat(500)), "{}", result.text);
        assert!(
            result
                .text
                .ends_with("[truncated by baton: 200 B of 2 KiB omitted]"),
            "{}",
            result.text
        );

        let big = CallToolResult::structured(json!({"data": "x".repeat(5000)}));
        let dropped = CallResult::from_wire(big, 1024);
        assert_eq!(dropped.structured, None);
        assert!(
            dropped.text.contains("structured content of 5 KiB dropped"),
            "{}",
            dropped.text
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
        assert_eq!(base64_len("aGk="), 2);
    }
}
