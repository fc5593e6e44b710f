//! Function names the model sees for remote tools.
//!
//! OpenAI-style function names allow only `[A-Za-z0-9_-]{1,64}`, so the
//! natural `server.tool` cannot be used. A remote tool is exposed as
//! `server__tool`. Server names never contain `__` nor end with `_`
//! (enforced by [`crate::McpServerConfig::validate`]), so the first `__` of
//! a function name always ends the server part: [`split_function_name`]
//! recovers the server without any table.
//!
//! A tool name that is itself outside that alphabet (MCP also allows `.`) or
//! too long becomes `server__<sanitised prefix>_<8 hex digits of its hash>`;
//! such names are mapped back through the client's tool list
//! ([`crate::McpClient::find_function`]), which is why every listed
//! [`crate::RemoteTool`] carries its `function` name.

/// Longest function name OpenAI-compatible APIs accept.
pub const MAX_FUNCTION_NAME_LEN: usize = 64;
/// Separator between the server and the tool in a function name.
pub const SEPARATOR: &str = "__";

/// The function name of `tool` on `server`; `server` must be a validated name.
pub fn function_name(server: &str, tool: &str) -> String {
    let plain = format!("{server}{SEPARATOR}{tool}");
    if !tool.is_empty()
        && tool.chars().all(is_function_char)
        && plain.len() <= MAX_FUNCTION_NAME_LEN
    {
        return plain;
    }
    let suffix = format!("_{:08x}", fnv1a(tool.as_bytes()));
    let room = MAX_FUNCTION_NAME_LEN - server.len() - SEPARATOR.len() - suffix.len();
    let sanitised: String = tool
        .chars()
        .map(|c| if is_function_char(c) { c } else { '_' })
        .take(room)
        .collect();
    format!("{server}{SEPARATOR}{sanitised}{suffix}")
}

/// Splits a function name into `(server, tool part)` at its first `__`;
/// `None` when it holds no separator, i.e. it is not an MCP function name.
/// The tool part is the remote tool's name unless the name had to be hashed.
pub fn split_function_name(function: &str) -> Option<(&str, &str)> {
    let (server, tool) = function.split_once(SEPARATOR)?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

fn is_function_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// 32-bit FNV-1a: stable across releases and platforms, which a function name
/// stored in a conversation needs; collisions are caught when listing.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_round_trip() {
        let name = function_name("github", "create_issue");
        assert_eq!(name, "github__create_issue");
        assert_eq!(split_function_name(&name), Some(("github", "create_issue")));
        let dashed = function_name("my-srv", "__private");
        assert_eq!(split_function_name(&dashed), Some(("my-srv", "__private")));
    }

    #[test]
    fn odd_and_long_names_are_hashed_within_the_limit() {
        let dotted = function_name("fs", "files.read");
        assert!(dotted.starts_with("fs__files_read_"), "{dotted}");
        assert_ne!(dotted, function_name("fs", "files_read"));
        let server = "s".repeat(32);
        let long = function_name(&server, &"t".repeat(100));
        assert_eq!(long.len(), MAX_FUNCTION_NAME_LEN);
        assert_eq!(
            split_function_name(&long).map(|(s, _)| s),
            Some(server.as_str())
        );
        assert_ne!(long, function_name(&server, &"t".repeat(101)));
        assert!(function_name("a", "é").chars().all(is_function_char));
    }

    #[test]
    fn names_without_separator_are_not_mcp_functions() {
        assert_eq!(split_function_name("search"), None);
        assert_eq!(split_function_name("__x"), None);
        assert_eq!(split_function_name("x__"), None);
    }
}
