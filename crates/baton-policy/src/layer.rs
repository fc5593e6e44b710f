//! One layer of rules from one source: the user's `[policy]` table, a
//! project's `.baton/policy.toml`, the `--allow`/`--block` flags, or a
//! parent's restrictions on a sub-agent.
//!
//! A table has four keys, all optional:
//! ```toml
//! mode = "ask"                      # chat | plan | ask | auto
//! allow = ["read", "shell(cargo test *)", "write(src/**)"]
//! ask = ["shell(git push *)"]
//! deny = ["mcp(github.delete_*)"]
//! ```

use std::path::{Path, PathBuf};

use crate::defaults::Detector;
use crate::mode::Mode;
use crate::rule::{Rule, RuleError};
use crate::verdict::{Decision, Source};

/// The largest policy file read.
pub const MAX_POLICY_FILE_BYTES: u64 = 256 * 1024;
/// The most rules one key of one layer may hold.
pub const MAX_RULES_PER_KEY: usize = 1000;
/// Where a project keeps its policy, relative to the workspace.
pub const PROJECT_POLICY_FILE: &str = ".baton/policy.toml";

/// Why a layer could not be built. Every message names where the problem
/// is: the file or flag, the key, and the rule.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{origin}: `{key}[{index}]`: {error}")]
    Rule {
        origin: String,
        key: String,
        index: usize,
        error: RuleError,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("cannot read {}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("{} is {size} bytes, over the {MAX_POLICY_FILE_BYTES}-byte limit for a policy file", path.display())]
    FileTooLarge { path: PathBuf, size: u64 },
}

/// Rules from one source, parsed and checked.
#[derive(Debug, Clone)]
pub struct Rules {
    pub(crate) mode: Option<Mode>,
    pub(crate) entries: Vec<(Decision, Rule)>,
    pub(crate) source: Source,
}

impl Rules {
    /// An empty layer.
    pub fn new(source: Source) -> Rules {
        Rules {
            mode: None,
            entries: Vec::new(),
            source,
        }
    }

    /// Sets the layer's mode.
    pub fn with_mode(mut self, mode: Mode) -> Rules {
        self.mode = Some(mode);
        self
    }

    /// Adds a rule.
    pub fn with_rule(mut self, decision: Decision, rule: Rule) -> Rules {
        self.entries.push((decision, rule));
        self
    }

    /// The layer's mode, if it sets one.
    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    /// Where the layer came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The layer's rules with their decisions.
    pub fn entries(&self) -> impl Iterator<Item = (Decision, &Rule)> {
        self.entries.iter().map(|(d, r)| (*d, r))
    }

    /// Reads a `[policy]` table (or a whole project file's top level).
    /// `origin` names it in errors (`"user config [policy]"`).
    pub fn from_toml(
        value: &toml::Value,
        source: Source,
        origin: &str,
    ) -> Result<Rules, LayerError> {
        let invalid = |message: String| LayerError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let Some(table) = value.as_table() else {
            return Err(invalid(format!(
                "the policy must be a table, not a {}",
                value.type_str()
            )));
        };
        let mut rules = Rules::new(source);
        for (key, value) in table {
            match key.as_str() {
                "mode" => {
                    let name = value.as_str().ok_or_else(|| {
                        invalid(format!(
                            "`mode` must be a string, not a {}",
                            value.type_str()
                        ))
                    })?;
                    rules.mode = Some(Mode::from_name(name).ok_or_else(|| {
                        invalid(format!(
                            "`mode` is \"{name}\"; it must be \"chat\", \"plan\", \"ask\" or \"auto\""
                        ))
                    })?);
                }
                "allow" | "ask" | "deny" => {
                    let decision = match key.as_str() {
                        "allow" => Decision::Allow,
                        "ask" => Decision::Ask,
                        _ => Decision::Deny,
                    };
                    let list = value.as_array().ok_or_else(|| {
                        invalid(format!(
                            "`{key}` must be a list of rules, not a {}",
                            value.type_str()
                        ))
                    })?;
                    if list.len() > MAX_RULES_PER_KEY {
                        return Err(invalid(format!(
                            "`{key}` has {} rules, over the limit of {MAX_RULES_PER_KEY}",
                            list.len()
                        )));
                    }
                    for (index, item) in list.iter().enumerate() {
                        let text = item.as_str().ok_or_else(|| {
                            invalid(format!(
                                "`{key}[{index}]` must be a string such as \"shell(git status)\", not a {}",
                                item.type_str()
                            ))
                        })?;
                        let rule = Rule::parse(text).map_err(|error| LayerError::Rule {
                            origin: origin.to_owned(),
                            key: key.clone(),
                            index,
                            error,
                        })?;
                        rules.entries.push((decision, rule));
                    }
                }
                other => {
                    return Err(invalid(format!(
                        "unknown key `{other}`; a policy has `mode`, `allow`, `ask` and `deny`"
                    )));
                }
            }
        }
        Ok(rules)
    }

    /// Reads a policy file (top-level keys `mode`, `allow`, `ask`, `deny`).
    pub fn load_file(path: &Path, source: Source) -> Result<Rules, LayerError> {
        let unreadable = |e: std::io::Error| LayerError::Unreadable {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let size = std::fs::metadata(path).map_err(unreadable)?.len();
        if size > MAX_POLICY_FILE_BYTES {
            return Err(LayerError::FileTooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let origin = path.display().to_string();
        let value: toml::Value = toml::from_str(&text).map_err(|e| LayerError::Invalid {
            origin: origin.clone(),
            message: match e.span() {
                Some(span) => format!(
                    "line {}: {}",
                    text[..span.start].matches('\n').count() + 1,
                    e.message()
                ),
                None => e.message().to_owned(),
            },
        })?;
        Rules::from_toml(&value, source, &origin)
    }

    /// Reads `<workspace>/.baton/policy.toml` if there is one.
    pub fn load_project(workspace: &Path) -> Result<Option<Rules>, LayerError> {
        let path = workspace.join(PROJECT_POLICY_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Rules::load_file(&path, Source::Project(path.clone())).map(Some)
    }

    /// The `--allow` and `--block` flags. Each flag value is a
    /// comma-separated list: `--allow search,read,shell(cargo test *)`
    /// allows those tools (or rules); `--block rm,del,format` denies any
    /// shell command whose program or any word is one of those words.
    pub fn from_flags(allow: &[String], block: &[String]) -> Result<Rules, LayerError> {
        let mut rules = Rules::new(Source::Flag);
        for (index, text) in allow.iter().flat_map(|v| split_list(v)).enumerate() {
            let rule = Rule::parse(&text).map_err(|error| LayerError::Rule {
                origin: "command line".to_owned(),
                key: "--allow".to_owned(),
                index,
                error,
            })?;
            rules.entries.push((Decision::Allow, rule));
        }
        for word in block.iter().flat_map(|v| split_list(v)) {
            let plain = !word.is_empty()
                && !word
                    .chars()
                    .any(|c| c.is_whitespace() || "()'\"\\;|&<>$`".contains(c));
            if !plain {
                return Err(LayerError::Invalid {
                    origin: "command line".to_owned(),
                    message: format!(
                        "`--block {word}`: --block takes words such as `rm`, separated by commas"
                    ),
                });
            }
            let text = format!("--block {word}");
            rules.entries.push((
                Decision::Deny,
                Rule::builtin(
                    Some(crate::tool::Tool::Shell),
                    &text,
                    Detector::Blocked(word),
                ),
            ));
        }
        if rules.entries.len() > MAX_RULES_PER_KEY {
            return Err(LayerError::Invalid {
                origin: "command line".to_owned(),
                message: format!(
                    "{} rules from --allow/--block, over the limit of {MAX_RULES_PER_KEY}",
                    rules.entries.len()
                ),
            });
        }
        Ok(rules)
    }
}

/// Splits `a,b,shell(x, y)` at the commas outside parentheses.
fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut current).trim().to_owned());
        } else {
            current.push(c);
        }
    }
    items.push(current.trim().to_owned());
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Rules, LayerError> {
        let value: toml::Value = toml::from_str(text).unwrap();
        Rules::from_toml(&value, Source::User, "user config [policy]")
    }

    #[test]
    fn reads_a_table() {
        let rules = table(
            r#"
            mode = "auto"
            allow = ["read", "shell(cargo test *)"]
            deny = ["mcp(github.*)"]
            "#,
        )
        .unwrap();
        assert_eq!(rules.mode(), Some(Mode::Auto));
        assert_eq!(rules.entries().count(), 3);
    }

    #[test]
    fn errors_name_the_key() {
        let err = table(r#"deny = ["read", "shell(git status"]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user config [policy]: `deny[1]`: rule `shell(git status` is missing `)`"
        );
        let err = table(r#"mode = "yolo""#).unwrap_err();
        assert!(err.to_string().contains("`mode` is \"yolo\""), "{err}");
        let err = table(r#"alow = ["read"]"#).unwrap_err();
        assert!(err.to_string().contains("unknown key `alow`"), "{err}");
        let err = table(r#"allow = "read""#).unwrap_err();
        assert!(err.to_string().contains("`allow` must be a list"), "{err}");
        let err = table(r#"allow = [1]"#).unwrap_err();
        assert!(
            err.to_string().contains("`allow[0]` must be a string"),
            "{err}"
        );
    }

    #[test]
    fn flags() {
        let rules = Rules::from_flags(
            &["search,read".to_owned(), "shell(git diff, x)".to_owned()],
            &["rm,del".to_owned()],
        )
        .unwrap();
        let texts: Vec<&str> = rules.entries().map(|(_, r)| r.text()).collect();
        assert_eq!(
            texts,
            [
                "search",
                "read",
                "shell(git diff, x)",
                "--block rm",
                "--block del"
            ]
        );
        let err = Rules::from_flags(&["serch".to_owned()], &[]).unwrap_err();
        assert!(err.to_string().contains("`--allow[0]`"), "{err}");
        assert!(Rules::from_flags(&[], &["rm -rf".to_owned()]).is_err());
        assert!(Rules::from_flags(&[], &["rm,".to_owned()]).is_err());
    }

    #[test]
    fn too_many_rules() {
        let list: Vec<String> = (0..=MAX_RULES_PER_KEY)
            .map(|_| "\"read\"".to_owned())
            .collect();
        let err = table(&format!("allow = [{}]", list.join(","))).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
    }
}
