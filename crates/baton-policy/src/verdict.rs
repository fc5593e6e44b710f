//! What a check answers: the decision, the rule and source behind it, and a
//! sentence a person can read in the trace or the log.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Whether a call may go ahead. Also the action a rule carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

impl Decision {
    /// The verb used in reasons: "allowed", "asked", "denied".
    pub fn past_tense(self) -> &'static str {
        match self {
            Decision::Allow => "allowed",
            Decision::Ask => "asked",
            Decision::Deny => "denied",
        }
    }
}

/// Where a rule came from, so every decision can be traced to a file, a
/// flag, a person's answer or baton itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum Source {
    /// baton's built-in rules.
    Default,
    /// The `[policy]` table of the user's configuration.
    User,
    /// A project's `.baton/policy.toml`.
    Project(PathBuf),
    /// `--allow` / `--block` on the command line.
    Flag,
    /// An "always" answer a person gave to an approval prompt.
    Approval,
    /// Extra restrictions a parent put on a sub-agent or workflow task.
    Restriction,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::User => f.write_str("user config"),
            Source::Project(path) => write!(f, "project file {}", path.display()),
            Source::Flag => f.write_str("command-line flag"),
            Source::Approval => f.write_str("remembered approval"),
            Source::Restriction => f.write_str("sub-agent restriction"),
        }
    }
}

/// The answer to one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// The text of the rule that decided, if a rule did (not the mode).
    pub rule: Option<String>,
    /// Where that rule came from.
    pub source: Option<Source>,
    /// A sentence for the person and the log, e.g. "denied by default rule
    /// `shell(rm -rf /)`: …".
    pub reason: String,
}

impl Verdict {
    pub(crate) fn by_rule(
        decision: Decision,
        rule: &str,
        source: &Source,
        detail: &str,
    ) -> Verdict {
        let origin = match source {
            Source::Default => "default rule".to_owned(),
            Source::User => "user rule".to_owned(),
            Source::Project(path) => format!("project rule (from {})", path.display()),
            Source::Flag => "command-line rule".to_owned(),
            Source::Approval => "remembered approval".to_owned(),
            Source::Restriction => "sub-agent restriction".to_owned(),
        };
        let mut reason = format!("{} by {origin} `{rule}`", decision.past_tense());
        if !detail.is_empty() {
            reason.push_str(": ");
            reason.push_str(detail);
        }
        Verdict {
            decision,
            rule: Some(rule.to_owned()),
            source: Some(source.clone()),
            reason,
        }
    }

    pub(crate) fn without_rule(decision: Decision, reason: impl Into<String>) -> Verdict {
        Verdict {
            decision,
            rule: None,
            source: None,
            reason: reason.into(),
        }
    }

    /// Whether the call may run without asking.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_rule_and_source() {
        let v = Verdict::by_rule(
            Decision::Deny,
            "shell(rm -rf /)",
            &Source::Default,
            "it would erase the system",
        );
        assert_eq!(
            v.reason,
            "denied by default rule `shell(rm -rf /)`: it would erase the system"
        );
        let v = Verdict::by_rule(
            Decision::Allow,
            "write(src/**)",
            &Source::Project(PathBuf::from("/w/.baton/policy.toml")),
            "",
        );
        assert_eq!(
            v.reason,
            "allowed by project rule (from /w/.baton/policy.toml) `write(src/**)`"
        );
    }

    #[test]
    fn serializes_for_the_log() {
        let v = Verdict::by_rule(Decision::Ask, "shell(sudo *)", &Source::Default, "");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["decision"], "ask");
        assert_eq!(json["source"]["kind"], "default");
    }
}
