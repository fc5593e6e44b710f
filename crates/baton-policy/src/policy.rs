//! The policy: layered rules, a mode, restrictions inherited by
//! sub-agents, and remembered approvals.
//!
//! A call is judged in this order; the first step that decides wins:
//! 1. the mode: `chat` denies every tool, `plan` denies anything that is
//!    not a read;
//! 2. deny rules from every source (defaults, user, project, flags,
//!    restrictions), in that order;
//! 3. restrictions a parent put on this sub-agent: a call outside what
//!    they allow is denied;
//! 4. remembered approvals, which name one exact call;
//! 5. ask rules, then anything that cannot be decided statically;
//! 6. allow rules;
//! 7. the mode's default: `auto` allows, `ask` allows reads and asks the
//!    rest, `plan` allows (only reads get here).
//!
//! A shell command is split into its simple commands, and each is judged
//! alone: one denied part denies the whole, else one asked part asks, else
//! it is allowed. A redirection that writes a file (`>`, `>>`, `&>`) is
//! judged as a `write` of its target and asks unless a `write` rule or the
//! shell rule that allowed the command lists it.

use crate::defaults::{Detector, builtin_rules};
use crate::layer::Rules;
use crate::mode::Mode;
use crate::path::{PathSubject, normalise};
use crate::rule::{Rule, RuleError, Subject};
use crate::shell::{Part, Redirect, ShellError, analyse, writes_file};
use crate::tool::{Effect, SubjectKind, Tool};
use crate::verdict::{Decision, Source, Verdict};

/// How long a person's "allow" lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// This call only; nothing is remembered.
    Once,
    /// This exact call from now on: remembered as an allow rule.
    Always,
}

/// Why an approval could not be remembered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("`{0}` is not a tool baton knows")]
    UnknownTool(String),
    #[error("cannot remember an approval for `{subject}`: it is {reason}")]
    Denied { subject: String, reason: String },
    #[error("cannot remember an approval for `{subject}`: {error}")]
    Unreadable { subject: String, error: ShellError },
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("approval rule `{0}` must name one exact call, without wildcards")]
    NotExact(String),
}

#[derive(Debug, Clone)]
struct Entry {
    decision: Decision,
    rule: Rule,
    source: Source,
    /// Why a built-in rule exists; empty for other rules.
    why: &'static str,
}

/// Decides whether an agent's tool call is allowed, asked or denied.
#[derive(Debug, Clone)]
pub struct Policy {
    mode: Mode,
    entries: Vec<Entry>,
    /// Allow lists of the restrictions each ancestor put on this policy;
    /// a call must fit every one of them.
    confines: Vec<Vec<Rule>>,
}

impl Policy {
    /// A policy with baton's built-in rules and `mode`.
    pub fn new(mode: Mode) -> Policy {
        let entries = builtin_rules()
            .into_iter()
            .map(|b| {
                let rule = match b.detector {
                    Some(Detector::OutsideWorkspace) => {
                        Rule::builtin(None, b.text, Detector::OutsideWorkspace)
                    }
                    Some(detector) => Rule::builtin(Some(Tool::Shell), b.text, detector),
                    None => Rule::parse(b.text).expect("built-in glob rules are valid"),
                };
                Entry {
                    decision: b.decision,
                    rule,
                    source: Source::Default,
                    why: b.why,
                }
            })
            .collect();
        Policy {
            mode,
            entries,
            confines: Vec::new(),
        }
    }

    /// Adds a layer. The user config and flags set the mode; a project
    /// file or an approval layer can only make it stricter. Their rules are
    /// appended; since every deny is checked before any allow, no later
    /// layer can lift an earlier deny. A [`Source::Restriction`] layer is
    /// applied as [`Policy::child`] applies it, so its allow rules confine
    /// rather than allow. Approvals are best restored one by one with
    /// [`Policy::restore_approval`], which checks that each is exact.
    pub fn add(&mut self, layer: Rules) {
        if layer.source == Source::Restriction {
            *self = self.child(Some(&layer));
            return;
        }
        if let Some(mode) = layer.mode {
            self.mode = match layer.source {
                Source::Default | Source::User | Source::Flag => mode,
                Source::Project(_) | Source::Restriction | Source::Approval => {
                    self.mode.stricter(mode)
                }
            };
        }
        let source = layer.source;
        self.entries
            .extend(layer.entries.into_iter().map(|(decision, rule)| Entry {
                decision,
                rule,
                source: source.clone(),
                why: "",
            }));
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Every rule with its decision and source, in evaluation order within
    /// each decision.
    pub fn rules(&self) -> impl Iterator<Item = (Decision, &Rule, &Source)> {
        self.entries
            .iter()
            .map(|e| (e.decision, &e.rule, &e.source))
    }

    /// Judges one call. `subject` is what the tool acts on: the command
    /// line for `shell`, a workspace-relative path for path tools, the
    /// subcommand for `git`, `server.tool` for `mcp`, `python` for `run`.
    pub fn check(&self, tool: &str, effect: Effect, subject: &str) -> Verdict {
        let Some(tool) = Tool::from_name(tool) else {
            return Verdict::without_rule(
                Decision::Deny,
                format!("denied: `{tool}` is not a tool baton knows"),
            );
        };
        let read_only = effect == Effect::Read && !tool.never_read_only();
        match self.mode {
            Mode::Chat => {
                return Verdict::without_rule(Decision::Deny, "denied: chat mode allows no tools");
            }
            Mode::Plan if !read_only => {
                return Verdict::without_rule(
                    Decision::Deny,
                    format!(
                        "denied: plan mode allows only calls that read, and this `{tool}` call does more"
                    ),
                );
            }
            _ => {}
        }
        self.evaluate(tool, subject, read_only)
    }

    fn evaluate(&self, tool: Tool, subject: &str, read_only: bool) -> Verdict {
        match tool.subject_kind() {
            SubjectKind::Path => {
                let path = normalise(subject);
                self.decide(tool, &Subject::Path(&path), read_only)
            }
            SubjectKind::Words => {
                let words: Vec<&str> = subject.split_whitespace().collect();
                if words.is_empty() {
                    return Verdict::without_rule(
                        Decision::Deny,
                        format!("denied: the `{tool}` call names nothing to do"),
                    );
                }
                self.decide(tool, &Subject::Words(&words), read_only)
            }
            SubjectKind::Name => self.decide(tool, &Subject::Name(subject), read_only),
            SubjectKind::Command => self.check_shell(subject),
        }
    }

    fn check_shell(&self, command: &str) -> Verdict {
        let parts = match analyse(command) {
            Ok(parts) => parts,
            Err(error) if error.is_limit() => {
                return Verdict::without_rule(Decision::Deny, format!("denied: {error}"));
            }
            Err(error) => return self.check_unparsable(command, &error),
        };
        if parts.is_empty() {
            return Verdict::without_rule(Decision::Deny, "denied: the command is empty");
        }
        let verdicts: Vec<Verdict> = parts.iter().map(|p| self.decide_part(p)).collect();
        for decision in [Decision::Deny, Decision::Ask] {
            if let Some(i) = verdicts.iter().position(|v| v.decision == decision) {
                let mut verdict = verdicts[i].clone();
                if parts.len() > 1 {
                    verdict.reason = format!("{} (in `{}`)", verdict.reason, parts[i].display());
                }
                return verdict;
            }
        }
        if parts.len() == 1 {
            return verdicts.into_iter().next().unwrap_or_else(|| {
                Verdict::without_rule(Decision::Deny, "denied: the command is empty")
            });
        }
        let each: Vec<String> = parts
            .iter()
            .zip(&verdicts)
            .map(|(p, v)| format!("`{}` {}", p.display(), v.reason))
            .collect();
        Verdict::without_rule(
            Decision::Allow,
            format!(
                "allowed: each of its {} commands is allowed: {}",
                parts.len(),
                each.join("; ")
            ),
        )
    }

    /// A command that does not parse as a whole is asked; but a shell runs
    /// the lines before a broken one, so each line that parses on its own
    /// is still checked and a denied line denies.
    fn check_unparsable(&self, command: &str, error: &ShellError) -> Verdict {
        let denied = command
            .lines()
            .filter(|line| analyse(line).is_ok())
            .map(|line| self.check_shell(line))
            .find(|v| v.decision == Decision::Deny);
        denied.unwrap_or_else(|| {
            Verdict::without_rule(
                Decision::Ask,
                format!("asked: {error}, so it cannot be checked before it runs"),
            )
        })
    }

    fn first(&self, decision: Decision, tool: Tool, subject: &Subject<'_>) -> Option<Verdict> {
        let for_allow = decision == Decision::Allow;
        self.entries
            .iter()
            .filter(|e| e.decision == decision)
            .find_map(|e| {
                e.rule.matches(tool, subject, for_allow).map(|detail| {
                    let detail = if detail.is_empty() { e.why } else { &detail };
                    Verdict::by_rule(decision, e.rule.text(), &e.source, detail)
                })
            })
    }

    fn approved(&self, tool: Tool, subject: &Subject<'_>) -> Option<Verdict> {
        self.entries
            .iter()
            .filter(|e| e.decision == Decision::Allow && e.source == Source::Approval)
            .find(|e| match subject {
                Subject::Part(part) => e.rule.matches_literally(part),
                _ => e.rule.is_exact() && e.rule.matches(tool, subject, true).is_some(),
            })
            .map(|e| Verdict::by_rule(Decision::Allow, e.rule.text(), &e.source, ""))
    }

    fn outside_confines(&self, tool: Tool, subject: &Subject<'_>) -> Option<Verdict> {
        self.confines
            .iter()
            .find(|rules| {
                !rules
                    .iter()
                    .any(|r| r.matches(tool, subject, true).is_some())
            })
            .map(|confine| restriction_verdict(confine))
    }

    fn mode_default(&self, tool: Tool, read_only: bool) -> Verdict {
        match self.mode {
            Mode::Auto => Verdict::without_rule(
                Decision::Allow,
                "allowed: auto mode allows what no rule denies or asks",
            ),
            Mode::Ask if read_only => Verdict::without_rule(
                Decision::Allow,
                format!("allowed: this `{tool}` call only reads, which ask mode allows"),
            ),
            Mode::Ask => Verdict::without_rule(
                Decision::Ask,
                format!("asked: ask mode asks before `{tool}` acts when no rule allows it"),
            ),
            Mode::Plan => Verdict::without_rule(
                Decision::Allow,
                format!("allowed: this `{tool}` call only reads, which plan mode allows"),
            ),
            Mode::Chat => {
                Verdict::without_rule(Decision::Deny, "denied: chat mode allows no tools")
            }
        }
    }

    fn decide(&self, tool: Tool, subject: &Subject<'_>, read_only: bool) -> Verdict {
        self.first(Decision::Deny, tool, subject)
            .or_else(|| self.outside_confines(tool, subject))
            .or_else(|| self.approved(tool, subject))
            .or_else(|| self.first(Decision::Ask, tool, subject))
            .or_else(|| self.first(Decision::Allow, tool, subject))
            .unwrap_or_else(|| self.mode_default(tool, read_only))
    }

    fn decide_part(&self, part: &Part) -> Verdict {
        let tool = Tool::Shell;
        let subject = Subject::Part(part);
        let writes: Vec<(&Redirect, PathSubject)> = part
            .redirects
            .iter()
            .filter(|r| writes_file(r))
            .map(|r| (r, normalise(&r.target.text)))
            .collect();
        let denied = self.first(Decision::Deny, tool, &subject).or_else(|| {
            writes
                .iter()
                .find_map(|(_, p)| self.first(Decision::Deny, Tool::Write, &Subject::Redirect(p)))
        });
        if let Some(verdict) = denied {
            return verdict;
        }
        if let Some(verdict) = self.part_outside_confines(part, &writes) {
            return verdict;
        }
        if let Some(verdict) = self.approved(tool, &subject) {
            return verdict;
        }
        let asked = self.first(Decision::Ask, tool, &subject).or_else(|| {
            writes
                .iter()
                .find_map(|(_, p)| self.first(Decision::Ask, Tool::Write, &Subject::Redirect(p)))
        });
        if let Some(verdict) = asked {
            return verdict;
        }
        let allowing = self
            .entries
            .iter()
            .filter(|e| e.decision == Decision::Allow)
            .find(|e| e.rule.matches(tool, &subject, true).is_some());
        let uncovered = writes.iter().find(|(r, p)| {
            !allowing.is_some_and(|e| e.rule.lists_redirect(r))
                && self
                    .first(Decision::Allow, Tool::Write, &Subject::Redirect(p))
                    .is_none()
        });
        let verdict = match allowing {
            Some(e) => Verdict::by_rule(Decision::Allow, e.rule.text(), &e.source, ""),
            None => self.mode_default(tool, false),
        };
        match uncovered {
            Some((r, _)) if verdict.decision == Decision::Allow => Verdict::without_rule(
                Decision::Ask,
                format!(
                    "asked: `{}{}` writes a file through a redirection, and no rule allows that write",
                    r.operator, r.target.text
                ),
            ),
            _ => verdict,
        }
    }

    fn part_outside_confines(
        &self,
        part: &Part,
        writes: &[(&Redirect, PathSubject)],
    ) -> Option<Verdict> {
        let subject = Subject::Part(part);
        for confine in &self.confines {
            let rule = confine
                .iter()
                .find(|r| r.matches(Tool::Shell, &subject, true).is_some());
            let fits = rule.is_some_and(|rule| {
                writes.iter().all(|(r, p)| {
                    rule.lists_redirect(r)
                        || confine.iter().any(|c| {
                            c.matches(Tool::Write, &Subject::Redirect(p), true)
                                .is_some()
                        })
                })
            });
            if !fits {
                return Some(restriction_verdict(confine));
            }
        }
        None
    }

    /// The policy for a sub-agent or workflow task: everything the parent
    /// has, plus `narrower`'s deny and ask rules. If `narrower` lists allow
    /// rules, they confine the child: a call none of them matches is
    /// denied, and one they match still goes through every parent rule, so
    /// nothing the child is given can turn a parent's deny or ask into an
    /// allow. The mode is the stricter of the parent's and `narrower`'s.
    pub fn child(&self, narrower: Option<&Rules>) -> Policy {
        let mut child = self.clone();
        let Some(narrower) = narrower else {
            return child;
        };
        if let Some(mode) = narrower.mode {
            child.mode = child.mode.stricter(mode);
        }
        let mut confine = Vec::new();
        for (decision, rule) in &narrower.entries {
            match decision {
                Decision::Allow => confine.push(rule.clone()),
                Decision::Ask | Decision::Deny => child.entries.push(Entry {
                    decision: *decision,
                    rule: rule.clone(),
                    source: Source::Restriction,
                    why: "",
                }),
            }
        }
        if !confine.is_empty() {
            child.confines.push(confine);
        }
        child
    }

    /// Records a person's answer. `Once` remembers nothing. `Always`
    /// adds allow rules, source [`Source::Approval`], naming exactly this
    /// call: the exact path or name, or for a shell command each of its
    /// simple commands exactly as written, redirections included; never a
    /// wildcard. A call a deny rule or a restriction refuses cannot be
    /// approved. Returns the rule texts added, for the caller to store and
    /// later give back to [`Policy::restore_approval`].
    pub fn remember(
        &mut self,
        tool: &str,
        subject: &str,
        scope: Scope,
    ) -> Result<Vec<String>, ApprovalError> {
        let Some(known) = Tool::from_name(tool) else {
            return Err(ApprovalError::UnknownTool(tool.to_owned()));
        };
        let verdict = self.evaluate(known, subject, false);
        if verdict.decision == Decision::Deny {
            return Err(ApprovalError::Denied {
                subject: subject.to_owned(),
                reason: verdict.reason,
            });
        }
        if scope == Scope::Once {
            return Ok(Vec::new());
        }
        let mut texts: Vec<String> = match known.subject_kind() {
            SubjectKind::Path => vec![Rule::exact(known, &normalise(subject).text)],
            SubjectKind::Words | SubjectKind::Name => vec![Rule::exact(known, subject)],
            SubjectKind::Command => analyse(subject)
                .map_err(|error| ApprovalError::Unreadable {
                    subject: subject.to_owned(),
                    error,
                })?
                .iter()
                .map(Rule::exact_shell)
                .collect(),
        };
        let mut seen = std::collections::HashSet::new();
        texts.retain(|t| seen.insert(t.clone()));
        for text in &texts {
            self.restore_approval(text)?;
        }
        Ok(texts)
    }

    /// Adds a stored approval rule back (from [`Policy::remember`]'s
    /// texts). It must name one exact call.
    pub fn restore_approval(&mut self, text: &str) -> Result<(), ApprovalError> {
        let rule = Rule::parse(text)?;
        if !rule.is_exact() {
            return Err(ApprovalError::NotExact(text.to_owned()));
        }
        let known = self
            .entries
            .iter()
            .any(|e| e.source == Source::Approval && e.rule.text() == rule.text());
        if !known {
            self.entries.push(Entry {
                decision: Decision::Allow,
                rule,
                source: Source::Approval,
                why: "",
            });
        }
        Ok(())
    }
}

/// The denial for a call outside a sub-agent's allow list.
fn restriction_verdict(confine: &[Rule]) -> Verdict {
    let allowed: Vec<&str> = confine.iter().map(Rule::text).collect();
    Verdict {
        decision: Decision::Deny,
        rule: None,
        source: Some(Source::Restriction),
        reason: format!(
            "denied by sub-agent restriction: this task may only use `{}`",
            allowed.join("`, `")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_rules_all_load() {
        let policy = Policy::new(Mode::Ask);
        assert_eq!(policy.rules().count(), builtin_rules().len());
    }

    #[test]
    fn policies_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Policy>();
    }

    #[test]
    fn a_restriction_layer_confines_when_added() {
        let mut policy = Policy::new(Mode::Auto);
        policy.add(
            Rules::new(Source::Restriction)
                .with_rule(Decision::Allow, Rule::parse("read").unwrap()),
        );
        assert_eq!(
            policy.check("shell", Effect::Execute, "ls").decision,
            Decision::Deny
        );
        assert_eq!(
            policy.check("read", Effect::Read, "a").decision,
            Decision::Allow
        );
    }

    #[test]
    fn unknown_tool_is_denied() {
        let v = Policy::new(Mode::Auto).check("bash", Effect::Execute, "ls");
        assert_eq!(v.decision, Decision::Deny);
        assert!(v.reason.contains("`bash` is not a tool"), "{}", v.reason);
    }

    #[test]
    fn redirection_asks_unless_allowed() {
        let mut policy = Policy::new(Mode::Auto);
        assert_eq!(
            policy.check("shell", Effect::Execute, "echo hi").decision,
            Decision::Allow
        );
        let v = policy.check("shell", Effect::Execute, "echo hi > out.txt");
        assert_eq!(v.decision, Decision::Ask, "{}", v.reason);
        assert_eq!(
            policy
                .check("shell", Effect::Execute, "echo hi > /dev/null 2>&1")
                .decision,
            Decision::Allow
        );
        policy.add(
            Rules::new(Source::User)
                .with_rule(Decision::Allow, Rule::parse("write(out/**)").unwrap())
                .with_rule(
                    Decision::Allow,
                    Rule::parse("shell(make > build.log)").unwrap(),
                ),
        );
        assert_eq!(
            policy
                .check("shell", Effect::Execute, "echo hi > out/x.txt")
                .decision,
            Decision::Allow
        );
        assert_eq!(
            policy
                .check("shell", Effect::Execute, "make > build.log")
                .decision,
            Decision::Allow
        );
        assert_eq!(
            policy
                .check("shell", Effect::Execute, "make > other.log")
                .decision,
            Decision::Ask
        );
    }

    #[test]
    fn syntax_errors_ask_and_limits_deny() {
        let policy = Policy::new(Mode::Auto);
        let v = policy.check("shell", Effect::Execute, "echo 'unclosed");
        assert_eq!(v.decision, Decision::Ask);
        let long = "a".repeat(crate::shell::MAX_COMMAND_BYTES + 1);
        let v = policy.check("shell", Effect::Execute, &long);
        assert_eq!(v.decision, Decision::Deny);
        assert!(v.reason.contains("limit"), "{}", v.reason);
        assert_eq!(
            policy
                .check("shell", Effect::Execute, "  # nothing")
                .decision,
            Decision::Deny
        );
    }
}
