//! Plans: what a workflow run does, as a DAG of tasks.
//!
//! One shape serves the model (which writes it as JSON against
//! [`Plan::schema`]), people (who write JSON or TOML files) and the engine
//! (which stores it). Everything that would make a run fail for a reason
//! known in advance (a cycle, a dependency on a task that does not exist, a
//! sleep without a duration) is caught here before anything runs, and all
//! of it at once, so that one repair round by the model or one edit by a
//! person fixes every problem.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

/// The most tasks one plan may hold: far beyond what a model should plan,
/// enough for generated plans, and small enough that validating and storing
/// one stays cheap.
pub const MAX_TASKS: usize = 10_000;
/// The largest plan text accepted, checked before parsing so that a runaway
/// model or a wrong file cannot make baton parse gigabytes.
pub const MAX_PLAN_BYTES: usize = 4 * 1024 * 1024;
/// The largest description: a goal or prompt, not a document to attach.
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;
/// The most dependencies one task may have: a join over hundreds of leaves
/// must fit.
pub const MAX_DEPENDENCIES: usize = 1_000;
/// The longest task (and queue) id: ids appear in logs, events and URLs.
pub const MAX_ID_CHARS: usize = 64;
/// Priorities run from `-MAX_PRIORITY` to `MAX_PRIORITY`, a range wide
/// enough to order anything and narrow enough to store anywhere.
pub const MAX_PRIORITY: i32 = 1_000;
/// The most attempts a task may ask for: more means a task that should be
/// fixed rather than retried.
pub const MAX_ATTEMPTS: u32 = 100;
/// The longest a task may run: one day.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;
/// The longest a sleep task may wait: one day.
pub const MAX_SLEEP_MS: u64 = 86_400_000;

const MAX_NAME_BYTES: usize = 256;
const MAX_TOOLS: usize = 64;
const MAX_TOOL_NAME_BYTES: usize = 128;
const MAX_MODEL_BYTES: usize = 256;
/// How many issues an error shows; the rest are counted, so that a
/// generated plan with thousands of bad tasks still gives a readable error.
const SHOWN_ISSUES: usize = 100;
/// How many ids of a long cycle are named before the rest are counted.
const SHOWN_CYCLE: usize = 12;

/// A DAG of tasks: a workflow's work before it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// A short title for people; runs are listed under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub tasks: Vec<PlanTask>,
}

/// One node of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanTask {
    /// Unique within the plan; 1 to 64 of `A-Z a-z 0-9 _ . -`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: TaskKind,
    /// The goal (agent), the prompt (model) or the question (approval).
    #[serde(default)]
    pub description: String,
    /// Ids of the tasks whose results this one needs; it runs after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The tools an agent task may use: its allow list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Whether the result must be checked before dependents may use it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub validation_required: bool,
    /// The model to use instead of the router's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Higher runs first among ready tasks.
    #[serde(default)]
    pub priority: i32,
    /// The queue whose workers may claim the task (same charset as ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// How long a sleep task waits; required for it and refused elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_ms: Option<u64>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What a task does when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A model with tools works toward a goal.
    Agent,
    /// One model call without tools.
    Model,
    /// A person answers a question before dependents run.
    Approval,
    /// Does nothing and produces nothing: a join point, and a task for tests and
    /// benchmarks that costs nothing.
    Noop,
    /// Waits `sleep_ms`: pacing, and a task of known length for tests.
    Sleep,
}

impl TaskKind {
    /// Every kind, in the order error messages and the schema list them.
    pub const ALL: [TaskKind; 5] = [
        TaskKind::Agent,
        TaskKind::Model,
        TaskKind::Approval,
        TaskKind::Noop,
        TaskKind::Sleep,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Agent => "agent",
            TaskKind::Model => "model",
            TaskKind::Approval => "approval",
            TaskKind::Noop => "noop",
            TaskKind::Sleep => "sleep",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// Whether the task means nothing without a description.
    fn needs_description(self) -> bool {
        matches!(self, TaskKind::Agent | TaskKind::Model | TaskKind::Approval)
    }

    fn calls_model(self) -> bool {
        matches!(self, TaskKind::Agent | TaskKind::Model)
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// By hand so that a typo in a plan file names the known types, where
/// serde's own message would speak of "variants".
impl<'de> Deserialize<'de> for TaskKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        TaskKind::parse(&name).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown task type {name:?}; the known types are {}",
                known_types()
            ))
        })
    }
}

fn known_types() -> String {
    TaskKind::ALL.map(TaskKind::as_str).join(", ")
}

/// One problem in a plan, located so that a person or a model can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanIssue {
    /// Where, in the plan's own terms: `tasks[3].depends_on[0]`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PlanIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a plan cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The text is not JSON or TOML, or not in the plan's shape.
    #[error("cannot read the plan: {0}")]
    Parse(String),
    #[error("the plan is {bytes} bytes, more than the limit of {limit}")]
    TooLarge { bytes: usize, limit: usize },
    /// Every problem found, so that all can be fixed at once.
    #[error("{}", describe_issues(.0))]
    Invalid(Vec<PlanIssue>),
}

fn describe_issues(issues: &[PlanIssue]) -> String {
    let plural = if issues.len() == 1 { "" } else { "s" };
    let mut text = format!("the plan has {} problem{plural}:", issues.len());
    for issue in issues.iter().take(SHOWN_ISSUES) {
        text.push_str(&format!("\n- {issue}"));
    }
    if issues.len() > SHOWN_ISSUES {
        text.push_str(&format!("\n- … and {} more", issues.len() - SHOWN_ISSUES));
    }
    text
}

/// Collects issues with their paths.
#[derive(Default)]
struct Issues(Vec<PlanIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(PlanIssue {
            path: path.into(),
            message: message.into(),
        });
    }
}

impl Plan {
    /// Reads a plan a model or a person wrote as JSON; only a valid plan
    /// comes back.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        check_size(text)?;
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| PlanError::Parse(format!("JSON: {e}")))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Reads a plan file in TOML: an optional `name = "…"` and one
    /// `[[tasks]]` table per task. Only a valid plan comes back.
    pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
        check_size(text)?;
        let plan: Plan = toml::from_str(text).map_err(|e| PlanError::Parse(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Reads a plan file: `.json` as JSON, `.toml` as TOML, anything else by
    /// its first character (a JSON plan starts with `{`, a TOML one cannot).
    /// Read and parse errors name the file.
    pub fn from_file(path: &Path) -> Result<Plan, PlanError> {
        let shown = path.display();
        let io = |e: std::io::Error| PlanError::Parse(format!("{shown}: {e}"));
        let file = std::fs::File::open(path).map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        if bytes > MAX_PLAN_BYTES as u64 {
            return Err(PlanError::TooLarge {
                bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
                limit: MAX_PLAN_BYTES,
            });
        }
        let mut text = String::new();
        // The file may grow after the size check; the limit still holds.
        file.take(MAX_PLAN_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let json = match extension.as_deref() {
            Some("json") => true,
            Some("toml") => false,
            _ => text.trim_start().starts_with('{'),
        };
        let plan = if json {
            Plan::from_json(text)
        } else {
            Plan::from_toml(text)
        };
        plan.map_err(|e| match e {
            PlanError::Parse(message) => PlanError::Parse(format!("{shown}: {message}")),
            other => other,
        })
    }

    /// Checks everything that can be known before the plan runs and reports
    /// every problem found, not just the first.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut issues = Issues::default();
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                issues.add("name", "must not be empty when given");
            } else if name.len() > MAX_NAME_BYTES {
                issues.add(
                    "name",
                    format!(
                        "is {} bytes long; the limit is {MAX_NAME_BYTES}",
                        name.len()
                    ),
                );
            }
        }
        if self.tasks.is_empty() {
            issues.add("tasks", "a plan needs at least one task");
        } else if self.tasks.len() > MAX_TASKS {
            issues.add(
                "tasks",
                format!(
                    "{} tasks is more than the limit of {MAX_TASKS}",
                    self.tasks.len()
                ),
            );
        }

        let index = self.index();
        for (i, task) in self.tasks.iter().enumerate() {
            let at = format!("tasks[{i}]");
            if let Some(first) = index.get(task.id.as_str()).filter(|&&first| first != i) {
                issues.add(
                    format!("{at}.id"),
                    format!("duplicate id {:?}, also used by tasks[{first}]", task.id),
                );
            }
            check_task(&at, task, &index, &mut issues);
        }

        for (task, dependency, cycle) in self.cycles(&index) {
            issues.add(
                format!("tasks[{task}].depends_on[{dependency}]"),
                format!(
                    "dependency cycle {} (each task waits for the one before it, so none of them can start)",
                    self.name_cycle(&cycle)
                ),
            );
        }

        if issues.0.is_empty() {
            Ok(())
        } else {
            Err(PlanError::Invalid(issues.0))
        }
    }

    /// "A plain request is a one-node DAG": the plan of a request that needs
    /// no decomposition. For [`TaskKind::Sleep`] set `sleep_ms` before use.
    pub fn single(kind: TaskKind, description: &str) -> Plan {
        Plan {
            name: None,
            tasks: vec![PlanTask {
                id: "task".to_owned(),
                kind,
                description: description.to_owned(),
                depends_on: Vec::new(),
                tools: Vec::new(),
                validation_required: false,
                model: None,
                priority: 0,
                queue: None,
                max_attempts: None,
                timeout_secs: None,
                sleep_ms: None,
            }],
        }
    }

    /// Task indices with every task after the tasks it depends on; among
    /// tasks free to go in either order, input order decides, so the same
    /// plan always gives the same order. Tasks on or behind a cycle (only an
    /// invalid plan has them) are left out.
    pub fn topological_order(&self) -> Vec<usize> {
        let edges = self.edges(&self.index());
        let mut waiting: Vec<usize> = edges.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); self.tasks.len()];
        for (task, deps) in edges.iter().enumerate() {
            for &(_, dependency) in deps {
                dependents[dependency].push(task);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = waiting
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == 0)
            .map(|(i, _)| Reverse(i))
            .collect();
        let mut order = Vec::with_capacity(self.tasks.len());
        while let Some(Reverse(task)) = ready.pop() {
            order.push(task);
            for &dependent in &dependents[task] {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push(Reverse(dependent));
                }
            }
        }
        order
    }

    /// The JSON Schema of a plan, as the decomposer shows it to the model.
    /// Written by hand so that it can carry the limits and the advice a
    /// model needs; a test holds it to the serde shape.
    pub fn schema() -> Value {
        let id = json!({
            "type": "string",
            "pattern": format!("^[A-Za-z0-9_.-]{{1,{MAX_ID_CHARS}}}$"),
        });
        let kinds: Vec<&str> = TaskKind::ALL.iter().map(|k| k.as_str()).collect();
        let task = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "type"],
            "properties": {
                "id": id.clone(),
                "type": {
                    "enum": kinds,
                    "description": "agent: a model with tools works toward a goal; model: one model call without tools; approval: a person must approve; noop: a join point that does nothing; sleep: waits sleep_ms",
                },
                "description": {
                    "type": "string",
                    "maxLength": MAX_DESCRIPTION_BYTES,
                    "description": "The goal (agent), the prompt (model) or the question (approval); required for those three",
                },
                "depends_on": {
                    "type": "array",
                    "items": id.clone(),
                    "uniqueItems": true,
                    "maxItems": MAX_DEPENDENCIES,
                    "description": "Ids of the tasks whose results this task needs; it runs after them",
                },
                "tools": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TOOL_NAME_BYTES},
                    "uniqueItems": true,
                    "maxItems": MAX_TOOLS,
                    "description": "Agent tasks only: the tools the agent needs",
                },
                "validation_required": {
                    "type": "boolean",
                    "description": "Whether the result must be checked before dependents use it",
                },
                "model": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_MODEL_BYTES,
                    "description": "Agent and model tasks only: a model id to use instead of the router's choice",
                },
                "priority": {
                    "type": "integer",
                    "minimum": -MAX_PRIORITY,
                    "maximum": MAX_PRIORITY,
                    "description": "Higher runs first among ready tasks",
                },
                "queue": id,
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
                "timeout_secs": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECS},
                "sleep_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_SLEEP_MS,
                    "description": "Sleep tasks only, and required there",
                },
            },
            "if": {"properties": {"type": {"const": "sleep"}}},
            "then": {"required": ["sleep_ms"]},
        });
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "baton plan",
            "type": "object",
            "additionalProperties": false,
            "required": ["tasks"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_BYTES},
                "tasks": {
                    "type": "array",
                    "items": task,
                    "minItems": 1,
                    "maxItems": MAX_TASKS,
                },
            },
        })
    }

    /// Each id's first task; later duplicates are reported, not indexed.
    fn index(&self) -> HashMap<&str, usize> {
        let mut index = HashMap::with_capacity(self.tasks.len());
        for (i, task) in self.tasks.iter().enumerate() {
            index.entry(task.id.as_str()).or_insert(i);
        }
        index
    }

    /// Per task, the dependencies that can order anything, as
    /// `(position in depends_on, task index)`: known, not itself, each once.
    fn edges(&self, index: &HashMap<&str, usize>) -> Vec<Vec<(usize, usize)>> {
        self.tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let mut seen = HashSet::new();
                task.depends_on
                    .iter()
                    .enumerate()
                    .filter_map(|(position, dependency)| {
                        let target = *index.get(dependency.as_str())?;
                        (target != i && seen.insert(target)).then_some((position, target))
                    })
                    .collect()
            })
            .collect()
    }

    /// One cycle per dependency that closes one, found by a depth-first
    /// walk along `depends_on`: `(task, position in its depends_on, the
    /// tasks on the cycle, each depending on the next, the last on the
    /// first)`. Iterative, so that a 10,000-task chain cannot overflow the
    /// stack.
    fn cycles(&self, index: &HashMap<&str, usize>) -> Vec<(usize, usize, Vec<usize>)> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open(usize),
            Done,
        }
        let edges = self.edges(index);
        let mut marks = vec![Mark::New; self.tasks.len()];
        let mut found = Vec::new();
        for start in 0..self.tasks.len() {
            if marks[start] != Mark::New {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            marks[start] = Mark::Open(0);
            while let Some(top) = stack.last_mut() {
                let task = top.0;
                let Some(&(position, dependency)) = edges[task].get(top.1) else {
                    marks[task] = Mark::Done;
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                match marks[dependency] {
                    Mark::New => {
                        marks[dependency] = Mark::Open(stack.len());
                        stack.push((dependency, 0));
                    }
                    Mark::Open(depth) => {
                        let cycle = stack[depth..].iter().map(|&(t, _)| t).collect();
                        found.push((task, position, cycle));
                    }
                    Mark::Done => {}
                }
            }
        }
        found
    }

    /// `a → b → c → a` in the order the tasks would have to run, starting
    /// at the cycle's first task in the plan, so the same cycle always reads
    /// the same.
    fn name_cycle(&self, cycle: &[usize]) -> String {
        let mut order: Vec<usize> = cycle.iter().rev().copied().collect();
        let first = (0..order.len()).min_by_key(|&i| order[i]).unwrap_or(0);
        order.rotate_left(first);
        let shown = order.len().min(SHOWN_CYCLE);
        let mut names: Vec<String> = order[..shown]
            .iter()
            .map(|&i| self.tasks[i].id.clone())
            .collect();
        if order.len() > shown {
            names.push(format!("… {} more …", order.len() - shown));
        }
        names.push(self.tasks[order[0]].id.clone());
        names.join(" → ")
    }
}

fn check_size(text: &str) -> Result<(), PlanError> {
    if text.len() > MAX_PLAN_BYTES {
        return Err(PlanError::TooLarge {
            bytes: text.len(),
            limit: MAX_PLAN_BYTES,
        });
    }
    Ok(())
}

/// Why `id` cannot name a task or a queue, if it cannot.
fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Some(format!(
            "{id:?} may hold only letters, digits, '_', '.' and '-'"
        ));
    }
    if id.len() > MAX_ID_CHARS {
        return Some(format!(
            "is {} characters long; the limit is {MAX_ID_CHARS}",
            id.len()
        ));
    }
    None
}

/// Everything about one task that needs no other task, and its
/// dependencies' names.
fn check_task(at: &str, task: &PlanTask, index: &HashMap<&str, usize>, issues: &mut Issues) {
    let kind = task.kind;
    if let Some(problem) = id_problem(&task.id) {
        issues.add(format!("{at}.id"), problem);
    }

    if kind.needs_description() && task.description.trim().is_empty() {
        let what = match kind {
            TaskKind::Agent => "its goal",
            TaskKind::Model => "its prompt",
            _ => "the question to ask",
        };
        issues.add(
            format!("{at}.description"),
            format!("{kind} tasks need a description: {what}"),
        );
    }
    if task.description.len() > MAX_DESCRIPTION_BYTES {
        issues.add(
            format!("{at}.description"),
            format!(
                "is {} bytes long; the limit is {MAX_DESCRIPTION_BYTES}",
                task.description.len()
            ),
        );
    }

    if task.depends_on.len() > MAX_DEPENDENCIES {
        issues.add(
            format!("{at}.depends_on"),
            format!(
                "{} dependencies is more than the limit of {MAX_DEPENDENCIES}",
                task.depends_on.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    for (j, dependency) in task.depends_on.iter().enumerate() {
        let path = format!("{at}.depends_on[{j}]");
        if *dependency == task.id {
            issues.add(path, "a task cannot depend on itself");
        } else if !index.contains_key(dependency.as_str()) {
            issues.add(path, format!("no task has the id {dependency:?}"));
        } else if !seen.insert(dependency.as_str()) {
            issues.add(path, format!("{dependency:?} is listed more than once"));
        }
    }

    if !task.tools.is_empty() && kind != TaskKind::Agent {
        issues.add(
            format!("{at}.tools"),
            format!("only agent tasks use tools, not {kind} tasks"),
        );
    }
    if task.tools.len() > MAX_TOOLS {
        issues.add(
            format!("{at}.tools"),
            format!(
                "{} tools is more than the limit of {MAX_TOOLS}",
                task.tools.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    for (j, tool) in task.tools.iter().enumerate() {
        let path = format!("{at}.tools[{j}]");
        if let Some(problem) = name_problem(tool, MAX_TOOL_NAME_BYTES) {
            issues.add(path, problem);
        } else if !seen.insert(tool.as_str()) {
            issues.add(path, format!("{tool:?} is listed more than once"));
        }
    }

    if let Some(model) = &task.model {
        let path = format!("{at}.model");
        if !kind.calls_model() {
            issues.add(
                path,
                format!("only agent and model tasks call a model, not {kind} tasks"),
            );
        } else if let Some(problem) = name_problem(model, MAX_MODEL_BYTES) {
            issues.add(path, problem);
        }
    }

    if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&task.priority) {
        issues.add(
            format!("{at}.priority"),
            format!(
                "{} is outside -{MAX_PRIORITY}..={MAX_PRIORITY}",
                task.priority
            ),
        );
    }
    if let Some(problem) = task.queue.as_deref().and_then(id_problem) {
        issues.add(format!("{at}.queue"), problem);
    }
    if let Some(n) = task
        .max_attempts
        .filter(|n| !(1..=MAX_ATTEMPTS).contains(n))
    {
        issues.add(
            format!("{at}.max_attempts"),
            format!("{n} is outside 1..={MAX_ATTEMPTS}"),
        );
    }
    if let Some(secs) = task
        .timeout_secs
        .filter(|s| !(1..=MAX_TIMEOUT_SECS).contains(s))
    {
        issues.add(
            format!("{at}.timeout_secs"),
            format!("{secs} is outside 1..={MAX_TIMEOUT_SECS} (one day)"),
        );
    }
    match (kind, task.sleep_ms) {
        (TaskKind::Sleep, None) => issues.add(
            format!("{at}.sleep_ms"),
            "sleep tasks need sleep_ms: how long to wait",
        ),
        (TaskKind::Sleep, Some(ms)) if ms > MAX_SLEEP_MS => issues.add(
            format!("{at}.sleep_ms"),
            format!("{ms} is more than the limit of {MAX_SLEEP_MS} (one day)"),
        ),
        (TaskKind::Sleep, Some(_)) | (_, None) => {}
        (_, Some(_)) => issues.add(
            format!("{at}.sleep_ms"),
            format!("only sleep tasks wait, not {kind} tasks"),
        ),
    }
}

/// Why `name` cannot name a tool or a model, if it cannot.
fn name_problem(name: &str, limit: usize) -> Option<String> {
    if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some(format!(
            "{name:?} must not contain spaces or control characters"
        ))
    } else if name.len() > limit {
        Some(format!(
            "is {} bytes long; the limit is {limit}",
            name.len()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn task(id: &str, kind: TaskKind, deps: &[&str]) -> PlanTask {
        let mut task = Plan::single(kind, &format!("do {id}")).tasks.remove(0);
        task.id = id.to_owned();
        task.depends_on = deps.iter().map(|d| d.to_string()).collect();
        if kind == TaskKind::Sleep {
            task.sleep_ms = Some(10);
        }
        task
    }

    fn plan(tasks: Vec<PlanTask>) -> Plan {
        Plan { name: None, tasks }
    }

    fn issues(plan: &Plan) -> Vec<String> {
        match plan.validate() {
            Err(PlanError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected issues, got {other:?}"),
        }
    }

    fn full() -> Plan {
        let mut research = task("research", TaskKind::Agent, &[]);
        research.tools = vec!["search".into(), "read".into()];
        research.validation_required = true;
        research.model = Some("openai/gpt-4o".into());
        research.priority = -5;
        research.queue = Some("gpu.large".into());
        research.max_attempts = Some(3);
        research.timeout_secs = Some(600);
        let mut pause = task("pause", TaskKind::Sleep, &["research"]);
        pause.sleep_ms = Some(250);
        pause.description = String::new();
        Plan {
            name: Some("release notes".into()),
            tasks: vec![
                research,
                pause,
                task("draft", TaskKind::Model, &["research", "pause"]),
                task("ok", TaskKind::Approval, &["draft"]),
                task("join", TaskKind::Noop, &["ok"]),
            ],
        }
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let plan = full();
        plan.validate().unwrap();
        let text = serde_json::to_string_pretty(&plan).unwrap();
        assert_eq!(Plan::from_json(&text).unwrap(), plan);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["tasks"][0]["type"], "agent");
        assert!(
            value["tasks"][4].get("tools").is_none(),
            "empty lists and unset options are left out"
        );
    }

    #[test]
    fn toml_round_trip_keeps_every_field() {
        let plan = full();
        let text = toml::to_string(&plan).unwrap();
        assert!(text.contains("[[tasks]]"), "{text}");
        assert_eq!(Plan::from_toml(&text).unwrap(), plan);
    }

    #[test]
    fn a_hand_written_toml_plan_reads_with_defaults() {
        let plan = Plan::from_toml(
            r#"
name = "two steps"

[[tasks]]
id = "a"
type = "model"
description = "Say hello"

[[tasks]]
id = "b"
type = "agent"
description = "Write it to hello.txt"
depends_on = ["a"]
tools = ["write"]
"#,
        )
        .unwrap();
        assert_eq!(plan.name.as_deref(), Some("two steps"));
        assert_eq!(plan.tasks[1].depends_on, ["a"]);
        assert_eq!(plan.tasks[1].priority, 0);
        assert!(!plan.tasks[0].validation_required);
    }

    #[test]
    fn unknown_fields_are_typos_and_refused() {
        let err = Plan::from_json(
            r#"{"tasks": [{"id": "a", "type": "model", "description": "x",
                "dependson": []}]}"#,
        )
        .unwrap_err();
        let PlanError::Parse(message) = &err else {
            panic!("{err:?}")
        };
        assert!(message.contains("unknown field `dependson`"), "{message}");
        assert!(message.contains("line 2"), "{message}");

        let err =
            Plan::from_toml("nmae = \"x\"\n[[tasks]]\nid = \"a\"\ntype = \"noop\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `nmae`"), "{err}");
    }

    #[test]
    fn unknown_task_types_name_the_known_ones() {
        let err = Plan::from_json(r#"{"tasks": [{"id": "a", "type": "agnet"}]}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown task type \"agnet\""), "{text}");
        assert!(
            text.contains("agent, model, approval, noop, sleep"),
            "{text}"
        );
        let err = Plan::from_toml("[[tasks]]\nid = \"a\"\ntype = \"shell\"\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown task type \"shell\""),
            "{err}"
        );
    }

    #[test]
    fn kinds_parse_what_they_print() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(TaskKind::parse("Agent"), None);
    }

    #[test]
    fn an_empty_plan_is_refused() {
        assert_eq!(
            issues(&plan(vec![])),
            ["tasks: a plan needs at least one task"]
        );
        let err = Plan::from_json(r#"{"name": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `tasks`"), "{err}");
    }

    #[test]
    fn ids_must_be_well_formed_and_unique() {
        let found = issues(&plan(vec![
            task("a", TaskKind::Noop, &[]),
            task("", TaskKind::Noop, &[]),
            task("has space", TaskKind::Noop, &[]),
            task(&"x".repeat(65), TaskKind::Noop, &[]),
            task("a", TaskKind::Noop, &[]),
        ]));
        assert_eq!(
            found,
            [
                "tasks[1].id: must not be empty",
                "tasks[2].id: \"has space\" may hold only letters, digits, '_', '.' and '-'",
                "tasks[3].id: is 65 characters long; the limit is 64",
                "tasks[4].id: duplicate id \"a\", also used by tasks[0]",
            ]
        );
        plan(vec![task(&"x".repeat(64), TaskKind::Noop, &[])])
            .validate()
            .unwrap();
    }

    #[test]
    fn dependencies_must_name_other_tasks_once() {
        let found = issues(&plan(vec![
            task("a", TaskKind::Noop, &[]),
            task("b", TaskKind::Noop, &["a", "ghost", "b", "a"]),
        ]));
        assert_eq!(
            found,
            [
                "tasks[1].depends_on[1]: no task has the id \"ghost\"",
                "tasks[1].depends_on[2]: a task cannot depend on itself",
                "tasks[1].depends_on[3]: \"a\" is listed more than once",
            ]
        );
    }

    #[test]
    fn a_cycle_is_named_in_running_order() {
        let found = issues(&plan(vec![
            task("a", TaskKind::Noop, &["c"]),
            task("b", TaskKind::Noop, &["a"]),
            task("c", TaskKind::Noop, &["b"]),
            task("d", TaskKind::Noop, &["c"]),
        ]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("tasks[1].depends_on[0]: dependency cycle a → b → c → a"),
            "{found:?}"
        );
        assert_eq!(
            plan(vec![
                task("a", TaskKind::Noop, &["c"]),
                task("b", TaskKind::Noop, &["a"]),
                task("c", TaskKind::Noop, &["b"]),
            ])
            .topological_order(),
            Vec::<usize>::new(),
            "nothing on a cycle can be ordered"
        );
    }

    #[test]
    fn every_cycle_is_reported() {
        let found = issues(&plan(vec![
            task("x", TaskKind::Noop, &["y"]),
            task("y", TaskKind::Noop, &["x"]),
            task("p", TaskKind::Noop, &["q"]),
            task("q", TaskKind::Noop, &["p"]),
        ]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("x → y → x"), "{found:?}");
        assert!(found[1].contains("p → q → p"), "{found:?}");
    }

    #[test]
    fn a_long_cycle_is_shortened_and_a_long_chain_does_not_overflow() {
        let n = MAX_TASKS;
        let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        let mut tasks: Vec<PlanTask> = (0..n)
            .map(|i| task(&ids[i], TaskKind::Noop, &[ids[(i + 1) % n].as_str()]))
            .collect();
        let found = issues(&plan(tasks.clone()));
        assert_eq!(found.len(), 1, "{found:?}");
        let more = n - SHOWN_CYCLE;
        assert!(found[0].contains("t0 → t9999 → t9998 → "), "{found:?}");
        assert!(
            found[0].contains(&format!(" → … {more} more … → t0 ")),
            "{found:?}"
        );
        tasks[n - 1].depends_on.clear();
        let chain = plan(tasks);
        chain.validate().unwrap();
        let order = chain.topological_order();
        assert_eq!(order.first(), Some(&(n - 1)));
        assert_eq!(order.last(), Some(&0));
    }

    #[test]
    fn field_limits_are_checked_and_all_reported() {
        let mut agent = task("a", TaskKind::Agent, &[]);
        agent.description = " ".into();
        agent.tools = vec!["read".into(), "".into(), "two words".into(), "read".into()];
        agent.model = Some("m x".into());
        agent.priority = 1_001;
        agent.queue = Some("q/1".into());
        agent.max_attempts = Some(0);
        agent.timeout_secs = Some(86_401);
        agent.sleep_ms = Some(5);
        let mut model = task("m", TaskKind::Model, &[]);
        model.description = "x".repeat(MAX_DESCRIPTION_BYTES + 1);
        model.tools = vec!["search".into()];
        model.max_attempts = Some(101);
        model.timeout_secs = Some(0);
        model.priority = -1_001;
        let mut approval = task("ok", TaskKind::Approval, &[]);
        approval.description.clear();
        approval.model = Some("openai/gpt-4o".into());
        let mut sleep = task("s", TaskKind::Sleep, &[]);
        sleep.sleep_ms = None;
        let mut long_sleep = task("s2", TaskKind::Sleep, &[]);
        long_sleep.sleep_ms = Some(MAX_SLEEP_MS + 1);
        let mut named = plan(vec![agent, model, approval, sleep, long_sleep]);
        named.name = Some(" ".into());
        assert_eq!(
            issues(&named),
            [
                "name: must not be empty when given",
                "tasks[0].description: agent tasks need a description: its goal",
                "tasks[0].tools[1]: must not be empty",
                "tasks[0].tools[2]: \"two words\" must not contain spaces or control characters",
                "tasks[0].tools[3]: \"read\" is listed more than once",
                "tasks[0].model: \"m x\" must not contain spaces or control characters",
                "tasks[0].priority: 1001 is outside -1000..=1000",
                "tasks[0].queue: \"q/1\" may hold only letters, digits, '_', '.' and '-'",
                "tasks[0].max_attempts: 0 is outside 1..=100",
                "tasks[0].timeout_secs: 86401 is outside 1..=86400 (one day)",
                "tasks[0].sleep_ms: only sleep tasks wait, not agent tasks",
                "tasks[1].description: is 16385 bytes long; the limit is 16384",
                "tasks[1].tools: only agent tasks use tools, not model tasks",
                "tasks[1].priority: -1001 is outside -1000..=1000",
                "tasks[1].max_attempts: 101 is outside 1..=100",
                "tasks[1].timeout_secs: 0 is outside 1..=86400 (one day)",
                "tasks[2].description: approval tasks need a description: the question to ask",
                "tasks[2].model: only agent and model tasks call a model, not approval tasks",
                "tasks[3].sleep_ms: sleep tasks need sleep_ms: how long to wait",
                "tasks[4].sleep_ms: 86400001 is more than the limit of 86400000 (one day)",
            ]
        );
    }

    #[test]
    fn noop_and_sleep_tasks_need_no_description() {
        let mut sleep = task("s", TaskKind::Sleep, &[]);
        sleep.description.clear();
        let mut noop = task("n", TaskKind::Noop, &["s"]);
        noop.description.clear();
        plan(vec![sleep, noop]).validate().unwrap();
    }

    #[test]
    fn oversized_plans_are_refused_by_bytes_and_by_task_count() {
        let text = format!(
            r#"{{"tasks": [{{"id": "a", "type": "noop", "description": "{}"}}]}}"#,
            "x".repeat(MAX_PLAN_BYTES)
        );
        assert_eq!(
            Plan::from_json(&text).unwrap_err(),
            PlanError::TooLarge {
                bytes: text.len(),
                limit: MAX_PLAN_BYTES
            }
        );
        assert!(matches!(
            Plan::from_toml(&text),
            Err(PlanError::TooLarge { .. })
        ));

        let many = plan(
            (0..=MAX_TASKS)
                .map(|i| task(&format!("t{i}"), TaskKind::Noop, &[]))
                .collect(),
        );
        let text = serde_json::to_string(&many).unwrap();
        assert!(text.len() < MAX_PLAN_BYTES);
        let err = Plan::from_json(&text).unwrap_err();
        assert_eq!(
            err,
            PlanError::Invalid(vec![PlanIssue {
                path: "tasks".into(),
                message: "10001 tasks is more than the limit of 10000".into(),
            }])
        );
        assert_eq!(
            err.to_string(),
            "the plan has 1 problem:\n- tasks: 10001 tasks is more than the limit of 10000"
        );
    }

    #[test]
    fn a_wide_join_fits_and_a_wider_one_is_refused() {
        let mut tasks: Vec<PlanTask> = (0..MAX_DEPENDENCIES)
            .map(|i| task(&format!("leaf{i}"), TaskKind::Noop, &[]))
            .collect();
        let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        tasks.push(task("join", TaskKind::Noop, &refs));
        plan(tasks.clone()).validate().unwrap();
        tasks.insert(0, task("extra", TaskKind::Noop, &[]));
        tasks.last_mut().unwrap().depends_on.push("extra".into());
        assert_eq!(
            issues(&plan(tasks)),
            [format!(
                "tasks[{}].depends_on: 1001 dependencies is more than the limit of 1000",
                MAX_DEPENDENCIES + 1
            )]
        );
    }

    #[test]
    fn errors_show_a_bounded_number_of_issues() {
        let tasks = (0..150).map(|_| task("", TaskKind::Noop, &[])).collect();
        let text = plan(tasks).validate().unwrap_err().to_string();
        assert!(text.starts_with("the plan has 299 problems:\n"), "{text}");
        assert_eq!(text.lines().count(), 1 + SHOWN_ISSUES + 1);
        assert!(text.ends_with("\n- … and 199 more"), "{text}");
    }

    #[test]
    fn topological_order_puts_dependencies_first_in_input_order() {
        let diamond = plan(vec![
            task("report", TaskKind::Model, &["left", "right"]),
            task("right", TaskKind::Model, &["root"]),
            task("left", TaskKind::Model, &["root"]),
            task("root", TaskKind::Model, &[]),
            task("alone", TaskKind::Model, &[]),
        ]);
        diamond.validate().unwrap();
        assert_eq!(diamond.topological_order(), [3, 1, 2, 0, 4]);
        let independent = plan(vec![
            task("c", TaskKind::Noop, &[]),
            task("a", TaskKind::Noop, &[]),
            task("b", TaskKind::Noop, &[]),
        ]);
        assert_eq!(independent.topological_order(), [0, 1, 2]);
    }

    #[test]
    fn single_is_a_one_node_plan() {
        let plan = Plan::single(TaskKind::Agent, "Fix the failing test");
        plan.validate().unwrap();
        assert_eq!(plan.tasks.len(), 1);
        assert_eq!(plan.tasks[0].id, "task");
        assert_eq!(plan.tasks[0].kind, TaskKind::Agent);
        assert_eq!(plan.tasks[0].description, "Fix the failing test");
        assert_eq!(plan.topological_order(), [0]);
        assert_eq!(
            serde_json::to_value(&plan).unwrap(),
            json!({"tasks": [{"id": "task", "type": "agent", "description": "Fix the failing test", "priority": 0}]})
        );
    }

    #[test]
    fn files_are_read_by_extension_or_first_character() {
        let dir = tempfile::tempdir().unwrap();
        let json = serde_json::to_string(&full()).unwrap();
        let toml_text = toml::to_string(&full()).unwrap();
        for (name, text) in [
            ("plan.json", json.as_str()),
            ("plan.TOML", toml_text.as_str()),
            ("plan.txt", json.as_str()),
            ("plan", toml_text.as_str()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("\u{feff}{text}")).unwrap();
            assert_eq!(Plan::from_file(&path).unwrap(), full(), "{name}");
        }

        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[[tasks]]\nid = \"a\"\ntype = \"noop\"\nwhen = 1\n").unwrap();
        let err = Plan::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("line 4"), "{err}");

        let missing = dir.path().join("missing.toml");
        let err = Plan::from_file(&missing).unwrap_err();
        assert!(
            matches!(&err, PlanError::Parse(m) if m.contains("missing.toml")),
            "{err}"
        );

        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_PLAN_BYTES + 1]).unwrap();
        assert_eq!(
            Plan::from_file(&big).unwrap_err(),
            PlanError::TooLarge {
                bytes: MAX_PLAN_BYTES + 1,
                limit: MAX_PLAN_BYTES
            }
        );
    }

    #[test]
    fn the_schema_matches_the_serde_shape() {
        let schema = Plan::schema();
        let keys = |values: &[&Value]| -> BTreeSet<String> {
            values
                .iter()
                .flat_map(|v| v.as_object().unwrap().keys().cloned())
                .collect()
        };
        let plan = serde_json::to_value(full()).unwrap();
        assert_eq!(keys(&[&schema["properties"]]), keys(&[&plan]));
        let task = &schema["properties"]["tasks"]["items"];
        let tasks: Vec<&Value> = plan["tasks"].as_array().unwrap().iter().collect();
        assert_eq!(keys(&[&task["properties"]]), keys(&tasks));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(task["additionalProperties"], false);
        let kinds: Vec<&str> = TaskKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(task["properties"]["type"]["enum"], json!(kinds));

        // Exactly the fields without a serde default are required.
        let err = Plan::from_json(r#"{"tasks": [{"type": "noop"}]}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `id`"), "{err}");
        let err = Plan::from_json(r#"{"tasks": [{"id": "a"}]}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `type`"), "{err}");
        assert_eq!(task["required"], json!(["id", "type"]));
        assert_eq!(schema["required"], json!(["tasks"]));
        Plan::from_json(r#"{"tasks": [{"id": "a", "type": "noop"}]}"#).unwrap();
    }
}
