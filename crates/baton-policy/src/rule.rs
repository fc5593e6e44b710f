//! One rule: a tool and what it applies to.
//!
//! Grammar: `TOOL` or `TOOL(PATTERN)`, TOOL one of `search`, `read`,
//! `write`, `edit`, `list`, `run`, `shell`, `git`, `mcp`. The pattern runs
//! from the first `(` to the final `)`; `TOOL(*)` is the same as `TOOL`.
//! - path tools (`search`, `read`, `write`, `edit`, `list`): a glob over
//!   the workspace-relative path; `*` stays within one directory, `**`
//!   crosses directories, `{a,b}` and `[ab]` work, `\` escapes;
//! - `shell`, `git`, `run`: a word pattern (see `words.rs`): `shell(cargo
//!   test *)`, `git(commit)`, `run(python)`; shell patterns may end with
//!   literal redirections, `shell(make > build.log)`;
//! - `mcp`: a glob over `server.tool`: `mcp(github.*)`.

use globset::{GlobBuilder, GlobMatcher};

use crate::defaults::Detector;
use crate::path::PathSubject;
use crate::shell::{Part, Redirect, writes_file};
use crate::tool::{SubjectKind, Tool};
use crate::words::{WordPattern, quote};

/// The longest rule text accepted.
pub const MAX_RULE_BYTES: usize = 4096;

/// Why a rule text was refused; the message quotes the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule `{rule}` {problem}")]
pub struct RuleError {
    pub rule: String,
    pub problem: String,
}

/// A parsed rule.
#[derive(Debug, Clone)]
pub struct Rule {
    tool: Option<Tool>,
    matcher: Matcher,
    text: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Any,
    Glob(GlobMatcher),
    Words(WordPattern),
    Builtin(Detector),
}

/// What a call is about, prepared for matching.
pub(crate) enum Subject<'a> {
    /// A path tool's path.
    Path(&'a PathSubject),
    /// The target of a shell redirection, judged as a `write`.
    Redirect(&'a PathSubject),
    /// One simple command of a shell call.
    Part(&'a Part),
    /// The words of a git or run call.
    Words(&'a [&'a str]),
    /// An MCP tool's `server.tool`.
    Name(&'a str),
}

impl Rule {
    /// Parses a rule text.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let fail = |problem: String| RuleError {
            rule: text.to_owned(),
            problem,
        };
        if text.len() > MAX_RULE_BYTES {
            return Err(RuleError {
                rule: format!("{}…", text.chars().take(40).collect::<String>()),
                problem: format!(
                    "is {} bytes, over the {MAX_RULE_BYTES}-byte limit",
                    text.len()
                ),
            });
        }
        let trimmed = text.trim();
        let (name, pattern) = match trimmed.find('(') {
            None if trimmed.contains(')') => {
                return Err(fail("has a `)` without a `(`".to_owned()));
            }
            None => (trimmed, None),
            Some(open) => {
                let Some(inner) = trimmed[open + 1..].strip_suffix(')') else {
                    return Err(fail("is missing `)`".to_owned()));
                };
                (&trimmed[..open], Some(inner))
            }
        };
        if name.is_empty() {
            return Err(fail("has no tool name".to_owned()));
        }
        let Some(tool) = Tool::from_name(name) else {
            let known: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
            return Err(fail(format!(
                "names unknown tool `{name}`; the tools are {}",
                known.join(", ")
            )));
        };
        let matcher = match pattern.map(str::trim) {
            None | Some("*") => Matcher::Any,
            Some("") => {
                return Err(fail(
                    "has an empty pattern; write `{name}` for any call".replace("{name}", name),
                ));
            }
            Some(pattern) => match tool.subject_kind() {
                SubjectKind::Path => {
                    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
                    Matcher::Glob(glob(pattern, true).map_err(fail)?)
                }
                SubjectKind::Name => Matcher::Glob(glob(pattern, false).map_err(fail)?),
                SubjectKind::Command => {
                    Matcher::Words(WordPattern::parse(pattern, true).map_err(fail)?)
                }
                SubjectKind::Words => {
                    Matcher::Words(WordPattern::parse(pattern, false).map_err(fail)?)
                }
            },
        };
        Ok(Rule {
            tool: Some(tool),
            matcher,
            text: trimmed.to_owned(),
        })
    }

    /// A built-in rule recognised by a detector; `tool` is `None` for one
    /// that applies to every path tool.
    pub(crate) fn builtin(tool: Option<Tool>, text: &str, detector: Detector) -> Rule {
        Rule {
            tool,
            matcher: Matcher::Builtin(detector),
            text: text.to_owned(),
        }
    }

    /// The rule as text, for logs, traces and storing approvals.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The tool the rule is about (`None` for a built-in rule that covers
    /// every path tool).
    pub fn tool(&self) -> Option<Tool> {
        self.tool
    }

    /// Whether the rule names exactly one subject (no wildcard), as a
    /// remembered approval must.
    pub fn is_exact(&self) -> bool {
        match &self.matcher {
            Matcher::Any | Matcher::Builtin(_) => false,
            Matcher::Words(pattern) => pattern.is_exact(),
            Matcher::Glob(glob) => !has_glob_meta(glob.glob().glob()),
        }
    }

    /// Matches a subject of a call to `tool`. `for_allow` selects the
    /// strict reading used by allow rules: the program as written, never
    /// its file name. `Some` holds a detail for the reason (empty for
    /// user rules).
    pub(crate) fn matches(
        &self,
        tool: Tool,
        subject: &Subject<'_>,
        for_allow: bool,
    ) -> Option<String> {
        let tool_fits = match (self.tool, subject) {
            (Some(t), Subject::Redirect(_)) => t == Tool::Write,
            (Some(t), _) => t == tool,
            // Tool-less built-ins (outside the workspace) judge every path,
            // a redirection's target included.
            (None, Subject::Path(_) | Subject::Redirect(_)) => true,
            (None, _) => false,
        };
        if !tool_fits {
            return None;
        }
        match (&self.matcher, subject) {
            (Matcher::Any, _) => Some(String::new()),
            (Matcher::Glob(glob), Subject::Path(path) | Subject::Redirect(path)) => {
                glob.is_match(&path.text).then(String::new)
            }
            (Matcher::Glob(glob), Subject::Name(name)) => glob.is_match(name).then(String::new),
            (Matcher::Words(pattern), Subject::Part(part)) => {
                let texts = part.texts();
                if !pattern.redirects.iter().all(|r| has_redirect(part, r)) {
                    return None;
                }
                if pattern.matches(&texts) {
                    return Some(String::new());
                }
                if for_allow || texts.is_empty() || texts[0] == part.program {
                    return None;
                }
                let mut by_name = texts.clone();
                by_name[0] = &part.program;
                pattern.matches(&by_name).then(String::new)
            }
            (Matcher::Words(pattern), Subject::Words(words)) => {
                pattern.matches(words).then(String::new)
            }
            (Matcher::Builtin(detector), Subject::Part(part)) => detector.matches_part(part),
            (Matcher::Builtin(detector), Subject::Path(path) | Subject::Redirect(path)) => {
                detector.matches_path(path.outside, &path.text)
            }
            _ => None,
        }
    }

    /// For a remembered approval: whether the rule names exactly this
    /// simple command as written, with exactly its file-writing
    /// redirections (inputs and here-documents write nothing).
    pub(crate) fn matches_literally(&self, part: &Part) -> bool {
        let Matcher::Words(pattern) = &self.matcher else {
            return false;
        };
        let literal: Vec<&str> = part.literal.iter().map(String::as_str).collect();
        let redirects: Vec<(String, String)> = part
            .redirects
            .iter()
            .filter(|r| writes_file(r))
            .map(|r| (r.operator.clone(), r.target.text.clone()))
            .collect();
        self.tool == Some(Tool::Shell)
            && pattern.is_exact()
            && pattern.matches(&literal)
            && pattern.redirects == redirects
    }

    /// Whether the rule's pattern lists this redirection explicitly.
    pub(crate) fn lists_redirect(&self, redirect: &Redirect) -> bool {
        match &self.matcher {
            Matcher::Words(pattern) => pattern
                .redirects
                .iter()
                .any(|(op, target)| *op == redirect.operator && *target == redirect.target.text),
            _ => false,
        }
    }

    /// The exact rule for one shell command as written.
    pub(crate) fn exact_shell(part: &Part) -> String {
        let mut words: Vec<String> = part.literal.iter().map(|w| quote(w)).collect();
        for r in part.redirects.iter().filter(|r| writes_file(r)) {
            words.push(format!("{}{}", r.operator, quote(&r.target.text)));
        }
        format!("shell({})", words.join(" "))
    }

    /// The exact rule for a path, name or word subject.
    pub(crate) fn exact(tool: Tool, subject: &str) -> String {
        let pattern = match tool.subject_kind() {
            SubjectKind::Path | SubjectKind::Name => escape_glob(subject),
            SubjectKind::Words | SubjectKind::Command => subject
                .split_whitespace()
                .map(quote)
                .collect::<Vec<_>>()
                .join(" "),
        };
        format!("{}({pattern})", tool.name())
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn has_redirect(part: &Part, (op, target): &(String, String)) -> bool {
    part.redirects
        .iter()
        .any(|r| r.operator == *op && r.target.text == *target)
}

fn glob(pattern: &str, literal_separator: bool) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("has an invalid glob: {}", e.kind()))
}

const GLOB_META: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if GLOB_META.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn has_glob_meta(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if GLOB_META.contains(&c) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::normalise;
    use crate::shell::analyse;

    fn path_match(rule: &str, path: &str) -> bool {
        let rule = Rule::parse(rule).unwrap();
        let tool = rule.tool().unwrap();
        rule.matches(tool, &Subject::Path(&normalise(path)), true)
            .is_some()
    }

    fn shell_match(rule: &str, command: &str, for_allow: bool) -> bool {
        let rule = Rule::parse(rule).unwrap();
        let parts = analyse(command).unwrap();
        rule.matches(Tool::Shell, &Subject::Part(&parts[0]), for_allow)
            .is_some()
    }

    #[test]
    fn parse_errors_are_clear() {
        let err = Rule::parse("shell(git status").unwrap_err();
        assert_eq!(err.to_string(), "rule `shell(git status` is missing `)`");
        let err = Rule::parse("bash(ls)").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("rule `bash(ls)` names unknown tool `bash`")
        );
        assert!(Rule::parse("(ls)").is_err());
        assert!(Rule::parse("shell()").is_err());
        assert!(Rule::parse("write(src/[)").is_err());
        assert!(Rule::parse("shell(ls && rm x)").is_err());
        assert!(Rule::parse(&format!("shell({})", "a".repeat(MAX_RULE_BYTES))).is_err());
    }

    #[test]
    fn path_globs() {
        assert!(path_match("write(src/**)", "src/a/b.rs"));
        assert!(path_match("write(src/**)", "./src/../src/x.rs"));
        assert!(!path_match("write(src/**)", "src/../.git/config"));
        assert!(path_match("write(src/*.rs)", "src/x.rs"));
        assert!(!path_match("write(src/*.rs)", "src/a/x.rs"));
        assert!(path_match("read(*)", "deep/down/file"));
        assert!(path_match("read", "anything"));
    }

    #[test]
    fn mcp_names() {
        let rule = Rule::parse("mcp(github.*)").unwrap();
        assert!(
            rule.matches(Tool::Mcp, &Subject::Name("github.create_issue"), true)
                .is_some()
        );
        assert!(
            rule.matches(Tool::Mcp, &Subject::Name("gitlab.create_issue"), true)
                .is_none()
        );
    }

    #[test]
    fn shell_program_forms() {
        assert!(shell_match("shell(rm *)", "/bin/rm -rf x", false));
        assert!(!shell_match("shell(rm *)", "/bin/rm -rf x", true));
        assert!(shell_match("shell(git status)", "git status", true));
        assert!(!shell_match(
            "shell(git status)",
            "/tmp/evil/git status",
            true
        ));
    }

    #[test]
    fn exact_rules_round_trip() {
        let parts = analyse("echo 'a b' * > out.txt").unwrap();
        let text = Rule::exact_shell(&parts[0]);
        assert_eq!(text, "shell(echo 'a b' '*' >out.txt)");
        let rule = Rule::parse(&text).unwrap();
        assert!(rule.is_exact());
        assert!(rule.matches_literally(&parts[0]));
        let other = analyse("echo 'a b' x > out.txt").unwrap();
        assert!(!rule.matches_literally(&other[0]));
        let path = Rule::exact(Tool::Write, "src/[x]*.rs");
        assert_eq!(path, r"write(src/\[x\]\*.rs)");
        let rule = Rule::parse(&path).unwrap();
        assert!(rule.is_exact());
        assert!(path_match(&path, "src/[x]*.rs"));
        assert!(!path_match(&path, "src/x1.rs"));
        assert!(!Rule::parse("write(src/*)").unwrap().is_exact());
        assert!(!Rule::parse("shell(ls *)").unwrap().is_exact());
    }
}
