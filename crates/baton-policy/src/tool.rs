//! The tools a rule can name and the effects a call can have.

use serde::{Deserialize, Serialize};

/// A tool the policy knows. Rules for any other name are refused, so a typo
/// in a rule never silently matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Search,
    Read,
    Write,
    Edit,
    List,
    Run,
    Shell,
    Git,
    Mcp,
}

/// How a tool's subject is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectKind {
    /// A workspace-relative path, matched with globs.
    Path,
    /// A shell command line, matched word by word per simple command.
    Command,
    /// A short list of words (the git subcommand, `python` for run).
    Words,
    /// A `server.tool` name, matched with a glob.
    Name,
}

impl Tool {
    /// Every tool, in the order the documentation lists them.
    pub const ALL: [Tool; 9] = [
        Tool::Search,
        Tool::Read,
        Tool::Write,
        Tool::Edit,
        Tool::List,
        Tool::Run,
        Tool::Shell,
        Tool::Git,
        Tool::Mcp,
    ];

    /// The tool named `name`, if baton has one.
    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name rules and tool calls use.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Search => "search",
            Tool::Read => "read",
            Tool::Write => "write",
            Tool::Edit => "edit",
            Tool::List => "list",
            Tool::Run => "run",
            Tool::Shell => "shell",
            Tool::Git => "git",
            Tool::Mcp => "mcp",
        }
    }

    pub(crate) fn subject_kind(self) -> SubjectKind {
        match self {
            Tool::Search | Tool::Read | Tool::Write | Tool::Edit | Tool::List => SubjectKind::Path,
            Tool::Shell => SubjectKind::Command,
            Tool::Run | Tool::Git => SubjectKind::Words,
            Tool::Mcp => SubjectKind::Name,
        }
    }

    /// Tools that change or run things whatever effect a caller claims:
    /// they are never treated as read-only, so a wrong caller cannot open
    /// `plan` mode to them.
    pub(crate) fn never_read_only(self) -> bool {
        matches!(self, Tool::Write | Tool::Edit | Tool::Run | Tool::Shell)
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a call does to the world. The tools crate maps each call to one
/// (a git `status` reads, a git `commit` writes; an MCP tool is `External`
/// unless its server marks it read-only). Only `Read` matters to the modes:
/// `plan` allows nothing else and `ask` lets reads through unasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Only looks: search, read, list, `git status`.
    Read,
    /// Changes files in the workspace.
    Write,
    /// Runs code: shell, run.
    Execute,
    /// Acts beyond the machine: an MCP tool, a network call.
    External,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(tool));
        }
        assert_eq!(Tool::from_name("bash"), None);
    }

    #[test]
    fn executing_tools_are_never_read_only() {
        assert!(Tool::Shell.never_read_only());
        assert!(Tool::Write.never_read_only());
        assert!(!Tool::Read.never_read_only());
        assert!(!Tool::Git.never_read_only());
    }
}
