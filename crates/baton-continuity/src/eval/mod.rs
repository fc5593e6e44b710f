//! `baton eval continuity`: how much the handoff changes what a fresh
//! session does (seed 001's consistency, autonomy and adaptation). Each
//! task runs twice against the same model, in two fresh sessions: once with
//! the task's handoff documents assembled into the system prompt (exactly
//! as a session's context is built) and once without. An answer passes
//! when it contains every expected phrase and no rejected one. The report
//! gives, per metric, the passes with and without the handoff.

use std::collections::BTreeMap;
use std::path::Path;

use baton_core::{ChatRequest, Message};
use baton_llm::Gateway;
use serde::{Deserialize, Serialize};

use crate::error::ContinuityError;
use crate::get_context::{ContextRequest, get_context};
use crate::tiers::Tier;
use crate::tokens::TokenCounter;

/// The built-in suite.
pub const BUILTIN_SUITE: &str = include_str!("suite.toml");

/// The most tasks a suite may hold.
pub const MAX_TASKS: usize = 200;

/// Tokens of handoff context each task's session gets.
const CONTEXT_BUDGET: usize = 4_000;

/// Tokens a task's answer may take.
const ANSWER_TOKENS: u32 = 400;

const SYSTEM: &str = "You are a model instance starting a fresh session on a software project. \
Answer the user's question directly and briefly.";

/// What a suite measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Keeping to what earlier sessions decided.
    Consistency,
    /// Carrying on without asking what to do.
    Autonomy,
    /// Following what changed.
    Adaptation,
}

/// A suite of tasks, as its TOML file spells it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    #[serde(rename = "task")]
    pub tasks: Vec<Task>,
}

/// One task: the documents an earlier session left, a prompt, and what a
/// good answer says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub name: String,
    pub metric: Metric,
    pub prompt: String,
    /// Phrases a passing answer contains (case-insensitive).
    pub expect: Vec<String>,
    /// Phrases a passing answer does not contain.
    #[serde(default)]
    pub reject: Vec<String>,
    /// Tier texts by short name: `portfolio`, `project`, `briefing`, `log`.
    pub tiers: BTreeMap<String, String>,
}

impl Suite {
    /// Parses and checks a suite: names unique, each task with a prompt,
    /// at least one expected phrase, and known tiers.
    pub fn parse(text: &str) -> Result<Suite, ContinuityError> {
        let bad =
            |why: String| ContinuityError::InvalidDocument(format!("evaluation suite: {why}"));
        let suite: Suite = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if suite.tasks.is_empty() || suite.tasks.len() > MAX_TASKS {
            return Err(bad(format!("it must hold 1 to {MAX_TASKS} tasks")));
        }
        let mut names = std::collections::HashSet::new();
        for task in &suite.tasks {
            if !names.insert(task.name.as_str()) {
                return Err(bad(format!("task {:?} appears twice", task.name)));
            }
            if task.prompt.trim().is_empty() || task.expect.iter().all(|e| e.trim().is_empty()) {
                return Err(bad(format!(
                    "task {:?} needs a prompt and at least one expected phrase",
                    task.name
                )));
            }
            if let Some(unknown) = task.tiers.keys().find(|k| Tier::named(k).is_none()) {
                return Err(bad(format!(
                    "task {:?} names an unknown tier {unknown:?} (portfolio, project, briefing or log)",
                    task.name
                )));
            }
        }
        Ok(suite)
    }
}

/// One answer and whether it passed.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub passed: bool,
    pub text: String,
    /// Expected phrases missing and rejected phrases present.
    pub misses: Vec<String>,
}

/// One task's two sessions.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub name: String,
    pub metric: Metric,
    pub with_handoff: Answer,
    pub without_handoff: Answer,
}

/// Passes per metric.
#[derive(Debug, Clone, Serialize)]
pub struct MetricScore {
    pub metric: Metric,
    pub tasks: usize,
    pub with_handoff: usize,
    pub without_handoff: usize,
}

/// What `baton eval continuity` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub metrics: Vec<MetricScore>,
    pub tasks: Vec<TaskResult>,
}

/// Runs every task of `suite` twice against `model`. A model call that
/// fails stops the evaluation with its error: a half-run suite would
/// report a difference that is not there.
pub async fn evaluate(
    suite: &Suite,
    gateway: &Gateway,
    model: &str,
) -> Result<Report, ContinuityError> {
    let resolved = gateway
        .resolve(model)
        .map_err(|e| ContinuityError::Model(e.to_string()))?;
    let model = resolved.id.to_string();
    let mut tasks = Vec::with_capacity(suite.tasks.len());
    for task in &suite.tasks {
        let dir = tempfile::tempdir().map_err(|source| ContinuityError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        write_tiers(dir.path(), task)?;
        let context = get_context(
            ContextRequest {
                workspace: dir.path().to_owned(),
                portfolio: None,
                query: None,
                budget_tokens: CONTEXT_BUDGET,
                counter: TokenCounter::for_model(&model),
                memories: 0,
            },
            None,
        )
        .await?;
        let with_context = format!(
            "{SYSTEM}\n\nWhat earlier sessions left in this workspace's handoff documents:\n\n{}",
            context.text()
        );
        let with_handoff = ask(gateway, &model, &with_context, task).await?;
        let without_handoff = ask(gateway, &model, SYSTEM, task).await?;
        tasks.push(TaskResult {
            name: task.name.clone(),
            metric: task.metric,
            with_handoff,
            without_handoff,
        });
    }
    Ok(Report {
        model,
        metrics: score(&tasks),
        tasks,
    })
}

/// Writes the task's tiers into a fresh workspace.
fn write_tiers(dir: &Path, task: &Task) -> Result<(), ContinuityError> {
    for (name, text) in &task.tiers {
        let tier = Tier::named(name).expect("checked by Suite::parse");
        let path = dir.join(tier.file_name());
        let text = if tier == Tier::Log {
            format!("# Session Log\n{text}")
        } else {
            text.clone()
        };
        std::fs::write(&path, text).map_err(|source| ContinuityError::Io { path, source })?;
    }
    Ok(())
}

async fn ask(
    gateway: &Gateway,
    model: &str,
    system: &str,
    task: &Task,
) -> Result<Answer, ContinuityError> {
    let request = ChatRequest {
        model: model.to_owned(),
        messages: vec![Message::system(system), Message::user(task.prompt.clone())],
        temperature: Some(0.0),
        max_tokens: Some(ANSWER_TOKENS),
        ..ChatRequest::default()
    };
    let answer = gateway
        .chat(&request)
        .await
        .map_err(|e| ContinuityError::Model(format!("task {:?}: {e}", task.name)))?;
    Ok(judge(task, &answer.value.message.text()))
}

/// Passes when every expected phrase is there and no rejected one.
fn judge(task: &Task, text: &str) -> Answer {
    let lower = text.to_lowercase();
    let mut misses: Vec<String> = task
        .expect
        .iter()
        .filter(|e| !lower.contains(&e.to_lowercase()))
        .map(|e| format!("missing {e:?}"))
        .collect();
    misses.extend(
        task.reject
            .iter()
            .filter(|r| lower.contains(&r.to_lowercase()))
            .map(|r| format!("contains {r:?}")),
    );
    Answer {
        passed: misses.is_empty(),
        text: text.to_owned(),
        misses,
    }
}

fn score(tasks: &[TaskResult]) -> Vec<MetricScore> {
    let mut by_metric: BTreeMap<Metric, MetricScore> = BTreeMap::new();
    for task in tasks {
        let entry = by_metric.entry(task.metric).or_insert(MetricScore {
            metric: task.metric,
            tasks: 0,
            with_handoff: 0,
            without_handoff: 0,
        });
        entry.tasks += 1;
        entry.with_handoff += usize::from(task.with_handoff.passed);
        entry.without_handoff += usize::from(task.without_handoff.passed);
    }
    by_metric.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_suite_parses_and_covers_every_metric() {
        let suite = Suite::parse(BUILTIN_SUITE).unwrap();
        for metric in [Metric::Consistency, Metric::Autonomy, Metric::Adaptation] {
            assert!(suite.tasks.iter().filter(|t| t.metric == metric).count() >= 2);
        }
    }

    #[test]
    fn bad_suites_are_named() {
        for (text, wanted) in [
            ("", "missing field"),
            ("task = []", "1 to 200"),
            (
                "[[task]]\nname='a'\nmetric='autonomy'\nprompt='p'\nexpect=['x']\ntiers={}\n[[task]]\nname='a'\nmetric='autonomy'\nprompt='p'\nexpect=['x']\ntiers={}",
                "twice",
            ),
            (
                "[[task]]\nname='a'\nmetric='autonomy'\nprompt='p'\nexpect=[]\ntiers={}",
                "expected phrase",
            ),
            (
                "[[task]]\nname='a'\nmetric='autonomy'\nprompt='p'\nexpect=['x']\ntiers={notes='x'}",
                "unknown tier",
            ),
            (
                "[[task]]\nname='a'\nmetric='speed'\nprompt='p'\nexpect=['x']\ntiers={}",
                "unknown variant",
            ),
        ] {
            let error = Suite::parse(text).unwrap_err().to_string();
            assert!(error.contains(wanted), "{text}: {error}");
        }
    }

    #[test]
    fn answers_pass_with_every_expected_and_no_rejected_phrase() {
        let task = Suite::parse(BUILTIN_SUITE).unwrap().tasks.remove(0);
        assert!(judge(&task, "Use PostgreSQL, like every service.").passed);
        let mixed = judge(&task, "PostgreSQL or MongoDB");
        assert!(!mixed.passed);
        assert_eq!(mixed.misses, ["contains \"mongo\""]);
        assert_eq!(judge(&task, "SQLite").misses, ["missing \"postgres\""]);
    }
}
