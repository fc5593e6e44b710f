//! `baton workflow run|ls|show|cancel|resume|events|approve|prune`: the workflow
//! engine from the command line, over the same `Engine` the HTTP API uses.
//!
//! `run` and `resume` start a worker in this process and follow the run's
//! event log (`Engine::watch`), so what is shown is exactly what is stored:
//! a second terminal running `baton workflow events ID --follow` sees the
//! same sequence. The worker is stopped when the run ends or on Ctrl-C;
//! the run itself lives in the store and can be resumed from anywhere.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use anyhow::{Context, anyhow};
use baton_core::{WorkflowId, one_line, rfc3339, wall_millis};
use baton_engine::plan::{Plan, PlanError};
use baton_engine::{EVENT_PAGE, Engine, WorkflowRequest, WorkflowView};
use baton_hub::Hub;
use baton_store::{TaskState, WorkflowEvent, WorkflowStatus, WorkflowTask};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::args::{Global, WorkflowCommand, WorkflowRunArgs};
use crate::boot::{self, Loaded};
use crate::interrupt::{Interrupt, interrupted};
use crate::style::{BOLD, DIM, ERROR};

/// Completed tasks in the final listing.
const GREEN: Style = AnsiColor::Green.on_default();

/// Exit status of a run that ended cancelled (1 is failed, 0 completed):
/// the same as `baton run` uses for a run that stopped short.
const CANCELLED: u8 = 3;
/// Plans with more tasks than this show a line only for the tasks that are
/// running or waiting, so the display fits a terminal.
const MAX_TASK_LINES: usize = 30;

pub async fn run(global: &Global, command: WorkflowCommand) -> anyhow::Result<ExitCode> {
    let loaded = boot::load(global, Vec::new())?;
    boot::init_tracing(&loaded.config, true);
    let hub = boot::hub(&loaded).await?;
    let result = dispatch(global, &loaded, &hub, command).await;
    hub.shutdown().await;
    result
}

async fn dispatch(
    global: &Global,
    loaded: &Loaded,
    hub: &Hub,
    command: WorkflowCommand,
) -> anyhow::Result<ExitCode> {
    // A bad plan file is reported before anything slower is set up.
    let request = match &command {
        WorkflowCommand::Run(args) => Some(request(args, &boot::workspace(global)?)?),
        _ => None,
    };
    // Only a command that runs tasks needs the agent (tools, MCP servers,
    // the sandbox probe); the others answer from the store.
    let runs_tasks = match &command {
        WorkflowCommand::Run(args) => !args.detach,
        WorkflowCommand::Resume { detach, .. } => !detach,
        _ => false,
    };
    let agent = if runs_tasks {
        Some(boot::agent(loaded, hub, global).await?)
    } else {
        None
    };
    let engine = boot::engine_with(
        loaded,
        hub,
        agent.as_ref(),
        global,
        boot::engine_config(loaded),
    )?;
    let json = global.json;
    let result = run_command(&engine, command, request, json).await;
    // A run cancelled or refused here is recorded in the background.
    engine.settle().await;
    result
}

async fn run_command(
    engine: &Engine,
    command: WorkflowCommand,
    request: Option<WorkflowRequest>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        WorkflowCommand::Run(args) => {
            let request = request.context("the request was prepared above")?;
            run_workflow(engine, request, args.detach, json).await
        }
        WorkflowCommand::Ls { limit } => list(engine, limit, json).await,
        WorkflowCommand::Show { id } => show(engine, parse_id(&id)?, json).await,
        WorkflowCommand::Cancel { id, reason } => {
            cancel(engine, parse_id(&id)?, reason.as_deref(), json).await
        }
        WorkflowCommand::Resume { id, detach } => {
            resume(engine, parse_id(&id)?, detach, json).await
        }
        WorkflowCommand::Events { id, after, follow } => {
            let after = i64::try_from(after).context("--after is too large")?;
            events(engine, parse_id(&id)?, after, follow, json).await
        }
        WorkflowCommand::Approve {
            id,
            task,
            reject,
            comment,
        } => approve(engine, parse_id(&id)?, &task, !reject, comment, json).await,
        WorkflowCommand::Prune { older_than } => prune(engine, older_than, json).await,
    }
}

fn parse_id(id: &str) -> anyhow::Result<WorkflowId> {
    id.trim().parse().map_err(|_| {
        anyhow!("{id:?} is not a workflow id (a UUID, as `baton workflow ls` prints it)")
    })
}

// ---------------------------------------------------------------- run

async fn run_workflow(
    engine: &Engine,
    request: WorkflowRequest,
    detach: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let planning = request.plan.is_none() && request.decompose != Some(false);
    let bars = std::io::stderr().is_terminal() && !json;
    if !detach {
        engine.listen().await?;
    }
    let spinner = if planning && bars {
        let spinner = ProgressBar::new_spinner().with_message("planning…");
        spinner.enable_steady_tick(Duration::from_millis(120));
        Some(spinner)
    } else {
        None
    };
    let submitted = tokio::select! {
        submitted = engine.submit(request) => submitted,
        signal = interrupted() => {
            if let Some(spinner) = &spinner {
                spinner.finish_and_clear();
            }
            writeln!(anstream::stderr(), "interrupted before the workflow was stored; nothing runs")?;
            return Ok(signal.code());
        }
    };
    if let Some(spinner) = &spinner {
        spinner.finish_and_clear();
    }
    let submitted = submitted?;
    let id = submitted.workflow_id;
    let mut err = anstream::stderr();
    let models = if submitted.assigned_models.is_empty() {
        String::new()
    } else {
        let mut unique = submitted.assigned_models.clone();
        unique.sort();
        unique.dedup();
        format!(", models {}", unique.join(", "))
    };
    writeln!(
        err,
        "{DIM}workflow {id}: {} tasks, planned by {}{models}{DIM:#}",
        submitted.total_steps, submitted.planned_by
    )?;
    if detach {
        let mut out = anstream::stdout();
        if json {
            writeln!(out, "{}", serde_json::to_string_pretty(&submitted)?)?;
        } else {
            writeln!(out, "{id}")?;
        }
        writeln!(
            err,
            "{DIM}stored; `baton serve` or `baton worker` runs it. Follow it with \
             `baton workflow events {id} --follow`{DIM:#}"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let created = engine.get(id).await?.run.created_ms;
    follow(engine, id, 0, created, json).await
}

/// The workflow request the flags describe. An argument naming an existing
/// `.json` or `.toml` file is a plan; anything else is a description.
fn request(args: &WorkflowRunArgs, workspace: &Path) -> anyhow::Result<WorkflowRequest> {
    let mut preferences = Map::new();
    if let Some(model) = &args.model {
        preferences.insert("default".into(), Value::String(model.clone()));
    }
    if let Some(planner) = &args.planner {
        preferences.insert("planner".into(), Value::String(planner.clone()));
    }
    let mut request = WorkflowRequest {
        kind: args.kind.clone().unwrap_or_else(|| "general".to_owned()),
        context_packs: args
            .context
            .iter()
            .map(|path| context_pack(path, workspace))
            .collect::<anyhow::Result<_>>()?,
        model_preferences: preferences,
        allow: args.allow.clone(),
        block: args.block.clone(),
        network: args.network.then_some(true),
        ..WorkflowRequest::default()
    };
    let path = Path::new(&args.request);
    let plan_file = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("toml"));
    if plan_file && path.is_file() {
        if args.no_plan {
            anyhow::bail!("--no-plan is for a description; a plan file runs as it is written");
        }
        let plan = Plan::from_file(path).map_err(|e| match e {
            // Parse errors name the file already.
            PlanError::Parse(_) => anyhow!(e),
            other => anyhow!("{}: {other}", path.display()),
        })?;
        if plan.name.is_none() {
            request.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        request.plan = Some(plan);
    } else if plan_file && !args.request.contains(char::is_whitespace) {
        // A one-word request that looks like a file name is a mistyped path
        // far more often than something to plan.
        anyhow::bail!(
            "there is no plan file {}; to have a model plan a request, describe it in words",
            path.display()
        );
    } else {
        request.description = args.request.clone();
        if args.no_plan {
            request.decompose = Some(false);
        }
    }
    Ok(request)
}

/// A `--context` path as the engine reads it: relative to the workspace
/// when it is inside (the engine refuses anything outside).
fn context_pack(path: &Path, workspace: &Path) -> anyhow::Result<String> {
    let absolute =
        std::path::absolute(path).with_context(|| format!("context file {}", path.display()))?;
    let absolute = absolute.canonicalize().unwrap_or(absolute);
    let root = workspace
        .canonicalize()
        .unwrap_or_else(|_| workspace.to_path_buf());
    Ok(match absolute.strip_prefix(&root) {
        Ok(inside) => inside.display().to_string(),
        Err(_) => absolute.display().to_string(),
    })
}

// ---------------------------------------------------------------- follow

/// How following a run ended.
enum Ended {
    Finished,
    Interrupted(Interrupt),
}

/// Runs a worker here and shows the run's events after `after` until the
/// run ends; the exit status says how it ended.
async fn follow(
    engine: &Engine,
    id: WorkflowId,
    after: i64,
    origin_ms: i64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let view = engine.get(id).await?;
    let mut board = Board::new(&view, origin_ms, std::io::stderr().is_terminal() && !json);
    // This run only: other runs in the store are for the workers that
    // serve them, and would be left half-done when this command ends.
    let worker = engine.spawn_worker_for(Some(id));
    let ended = watch(engine, id, after, &mut board).await;
    match ended {
        // The worker finishes recording the run (its session-log entry and
        // briefing) before it stops.
        Ok(Ended::Finished) => worker.stop().await,
        _ => worker.stop_within(Duration::ZERO).await,
    }
    let ended = match ended {
        Ok(ended) => ended,
        Err(error) => {
            board.close();
            return Err(error);
        }
    };
    if let Ended::Interrupted(signal) = ended {
        board.close();
        writeln!(
            anstream::stderr(),
            "{BOLD}interrupted{BOLD:#}: the worker stopped and gave back the tasks it was \
             running; workflow {id} waits where it was. Continue it with \
             `baton workflow resume {id}`, or leave it to `baton worker`."
        )?;
        return Ok(signal.code());
    }
    let view = engine.get(id).await?;
    board.finish(&view);
    let mut out = anstream::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
    } else {
        print_result(&mut out, view.run.result.as_ref())?;
    }
    Ok(exit_code(view.run.status))
}

fn exit_code(status: WorkflowStatus) -> ExitCode {
    match status {
        WorkflowStatus::Completed => ExitCode::SUCCESS,
        WorkflowStatus::Cancelled => ExitCode::from(CANCELLED),
        WorkflowStatus::Failed | WorkflowStatus::Running => ExitCode::FAILURE,
    }
}

/// Applies the run's events to the board until its final event, asking
/// for approvals on the way.
async fn watch(
    engine: &Engine,
    id: WorkflowId,
    after: i64,
    board: &mut Board,
) -> anyhow::Result<Ended> {
    let stream = engine.watch(id, after).await?;
    let mut stream = std::pin::pin!(stream);
    let signal = interrupted();
    let mut signal = std::pin::pin!(signal);
    let mut asker = Asker::new(std::io::stdin().is_terminal());
    for task in &board.tasks {
        if task.state == TaskState::Waiting {
            asker.want(&task.key);
        }
    }
    if !asker.interactive {
        for key in asker.queue.drain(..).collect::<Vec<_>>() {
            board.note(&approval_hint(id, &key));
        }
    }
    loop {
        if asker.asking.is_none() {
            asker.ask_next(board);
        }
        let asking = asker.asking.is_some();
        tokio::select! {
            signal = &mut signal => {
                board.show();
                return Ok(Ended::Interrupted(signal));
            }
            answer = asker.answer(), if asking => {
                let Some(key) = asker.asking.take() else { continue };
                board.show();
                match answer {
                    None => {
                        asker.closed();
                        board.note(&approval_hint(id, &key));
                    }
                    Some(line) => {
                        let approved = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
                        match engine.decide(id, &key, approved, &who(), None).await {
                            Ok(_) if approved => board.note(&format!("approved {key}")),
                            Ok(_) => board.note(&format!("rejected {key}; the workflow fails")),
                            Err(error) => board.note(&format!("could not decide {key}: {error}")),
                        }
                    }
                }
            }
            event = stream.next() => match event {
                None => return Ok(Ended::Finished),
                Some(Err(error)) => return Err(error.into()),
                Some(Ok(event)) => {
                    board.apply(&event);
                    if event.kind == "task_waiting"
                        && let Some(key) = &event.task
                    {
                        if asker.interactive {
                            asker.want(key);
                        } else {
                            board.note(&approval_hint(id, key));
                        }
                    }
                    if let Some(key) = asker.asking.clone()
                        && board.state(&key) != Some(TaskState::Waiting)
                    {
                        // Decided elsewhere (the API, another terminal) or
                        // the run ended: the question is moot.
                        asker.asking = None;
                        board.show();
                        board.note(&format!("{key} was decided elsewhere"));
                    }
                }
            }
        }
    }
}

fn approval_hint(id: WorkflowId, task: &str) -> String {
    format!(
        "{task} waits for approval: approve it with `baton workflow approve {id} {task}` \
         (or refuse it with --reject)"
    )
}

/// Who decided, as recorded with the decision.
fn who() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map(|user| format!("cli:{user}"))
        .unwrap_or_else(|_| "cli".to_owned())
}

/// Approvals asked on the terminal, one at a time.
struct Asker {
    interactive: bool,
    queue: VecDeque<String>,
    asking: Option<String>,
    lines: Option<mpsc::UnboundedReceiver<String>>,
}

impl Asker {
    fn new(interactive: bool) -> Asker {
        Asker {
            interactive,
            queue: VecDeque::new(),
            asking: None,
            lines: None,
        }
    }

    fn want(&mut self, key: &str) {
        if self.asking.as_deref() != Some(key) && !self.queue.iter().any(|k| k == key) {
            self.queue.push_back(key.to_owned());
        }
    }

    /// Puts the next question that is still open on the terminal.
    fn ask_next(&mut self, board: &mut Board) {
        if !self.interactive {
            return;
        }
        while let Some(key) = self.queue.pop_front() {
            if board.state(&key) != Some(TaskState::Waiting) {
                continue;
            }
            board.hide();
            let question = board.question(&key);
            let mut err = anstream::stderr();
            let _ = write!(
                err,
                "{BOLD}{key}{BOLD:#} asks: {question}\n{BOLD}approve?{BOLD:#} [y/N] "
            );
            let _ = err.flush();
            if self.lines.is_none() {
                self.lines = Some(stdin_lines());
            }
            self.asking = Some(key);
            return;
        }
    }

    /// The next line typed; `None` once standard input is closed.
    async fn answer(&mut self) -> Option<String> {
        match self.lines.as_mut() {
            Some(lines) => lines.recv().await,
            None => None,
        }
    }

    /// Standard input ended: stop asking; later approvals get the hint.
    fn closed(&mut self) {
        self.interactive = false;
        self.queue.clear();
    }
}

/// Lines of standard input, read on a thread of their own: a blocked read
/// must not hold up the runtime's shutdown when the run ends first.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

// ---------------------------------------------------------------- board

/// One task as the board shows it.
struct TaskLine {
    key: String,
    kind: String,
    model: Option<String>,
    state: TaskState,
    attempt: i64,
    question: String,
    note: String,
    started_ms: Option<i64>,
    finished_ms: Option<i64>,
    tokens: i64,
    cost_usd: f64,
    bar: Option<ProgressBar>,
}

impl TaskLine {
    fn of(task: &WorkflowTask) -> TaskLine {
        TaskLine {
            key: task.key.clone(),
            kind: task.kind.clone(),
            model: task
                .model
                .clone()
                .or_else(|| task.spec["model"].as_str().map(str::to_owned)),
            state: task.state,
            attempt: task.attempts,
            question: task.spec["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            note: task.error.clone().unwrap_or_default(),
            started_ms: task.started_ms,
            finished_ms: task.finished_ms,
            tokens: task.prompt_tokens + task.completion_tokens,
            cost_usd: task.cost_usd,
            bar: None,
        }
    }

    fn elapsed_ms(&self) -> Option<i64> {
        let start = self.started_ms?;
        Some(self.finished_ms.unwrap_or_else(|| wall_millis() as i64) - start)
    }

    /// What the line says after the task's key, kind and model.
    fn status(&self) -> String {
        let mut text = match self.state {
            TaskState::Blocked | TaskState::Ready if !self.note.is_empty() => {
                format!("retrying: {}", one_line(&self.note, 60))
            }
            TaskState::Blocked | TaskState::Ready => "pending".to_owned(),
            TaskState::Claimed if self.attempt > 1 => format!("running (attempt {})", self.attempt),
            TaskState::Claimed => "running".to_owned(),
            TaskState::Waiting => "waiting for approval".to_owned(),
            TaskState::Completed => "completed".to_owned(),
            TaskState::Failed => format!("failed: {}", one_line(&self.note, 80)),
            TaskState::Cancelled => "cancelled".to_owned(),
        };
        if matches!(self.state, TaskState::Completed | TaskState::Failed)
            && let Some(ms) = self.elapsed_ms()
        {
            text.push_str(&format!("  {}", duration(ms)));
        }
        if self.cost_usd > 0.0 || self.tokens > 0 {
            text.push_str(&format!("  {} tok  ${:.4}", self.tokens, self.cost_usd));
        }
        text
    }
}

/// The live display: a spinner line per task on a terminal, else one
/// plain line per event.
struct Board {
    run_id: WorkflowId,
    origin_ms: i64,
    tasks: Vec<TaskLine>,
    index: HashMap<String, usize>,
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    summary: ProgressBar,
    /// A line for every task, or (for large plans) only the active ones.
    every_task: bool,
    key_width: usize,
    model_width: usize,
    hidden: bool,
}

impl Board {
    fn new(view: &WorkflowView, origin_ms: i64, bars: bool) -> Board {
        let tasks: Vec<TaskLine> = view.tasks.iter().map(TaskLine::of).collect();
        let index = tasks
            .iter()
            .enumerate()
            .map(|(at, task)| (task.key.clone(), at))
            .collect();
        let mut board = Board {
            run_id: view.run.id,
            origin_ms,
            tasks,
            index,
            bars: None,
        };
        if bars {
            let multi = MultiProgress::new();
            let summary = multi.add(ProgressBar::new_spinner());
            summary.set_style(style("{spinner:.cyan} {prefix:.bold} {msg} {secs:.dim}"));
            summary.set_prefix(format!("workflow {}", view.run.id));
            summary.enable_steady_tick(Duration::from_millis(120));
            let width =
                |f: &dyn Fn(&TaskLine) -> usize| board.tasks.iter().map(f).max().unwrap_or(0);
            let key_width = width(&|t| t.key.chars().count()).min(24);
            let model_width = width(&|t| t.model.as_deref().unwrap_or("-").chars().count()).min(32);
            board.bars = Some(Bars {
                multi,
                summary,
                every_task: board.tasks.len() <= MAX_TASK_LINES,
                key_width,
                model_width,
                hidden: false,
            });
            for at in 0..board.tasks.len() {
                board.redraw(at);
            }
            board.redraw_summary();
        }
        board
    }

    fn state(&self, key: &str) -> Option<TaskState> {
        self.index.get(key).map(|&at| self.tasks[at].state)
    }

    fn question(&self, key: &str) -> String {
        self.index
            .get(key)
            .map(|&at| one_line(&self.tasks[at].question, 400))
            .unwrap_or_default()
    }

    /// Updates the board from one event of the run's log.
    fn apply(&mut self, event: &WorkflowEvent) {
        if self.bars.is_none() {
            let at = (event.created_ms - self.origin_ms).max(0);
            let line = format!("{DIM}{:>7}{DIM:#}  {}", duration(at), describe(event));
            let _ = writeln!(anstream::stderr(), "{line}");
        }
        let data = &event.data;
        let task = event
            .task
            .as_deref()
            .and_then(|key| self.index.get(key))
            .copied();
        match (event.kind.as_str(), task) {
            ("task_started", Some(at)) => {
                let line = &mut self.tasks[at];
                line.state = TaskState::Claimed;
                line.attempt = data["attempt"].as_i64().unwrap_or(line.attempt + 1);
                line.started_ms = line.started_ms.or(Some(event.created_ms));
                line.finished_ms = None;
                self.redraw(at);
            }
            ("task_completed", Some(at)) => {
                let line = &mut self.tasks[at];
                line.state = TaskState::Completed;
                line.finished_ms = Some(event.created_ms);
                line.note.clear();
                if let Some(model) = data["model"].as_str() {
                    line.model = Some(model.to_owned());
                }
                line.tokens = data["prompt_tokens"].as_i64().unwrap_or(0)
                    + data["completion_tokens"].as_i64().unwrap_or(0);
                line.cost_usd = data["cost_usd"].as_f64().unwrap_or(0.0);
                self.redraw(at);
            }
            ("task_retrying", Some(at)) => {
                let line = &mut self.tasks[at];
                line.state = TaskState::Ready;
                line.note = data["error"].as_str().unwrap_or("failed").to_owned();
                self.redraw(at);
            }
            ("task_failed", Some(at)) => {
                let line = &mut self.tasks[at];
                line.state = TaskState::Failed;
                line.finished_ms = Some(event.created_ms);
                line.note = data["error"].as_str().unwrap_or("failed").to_owned();
                self.redraw(at);
            }
            ("task_waiting", Some(at)) => {
                self.tasks[at].state = TaskState::Waiting;
                if let Some(question) = data["question"].as_str() {
                    self.tasks[at].question = question.to_owned();
                }
                self.redraw(at);
            }
            ("workflow_cancelled" | "workflow_failed" | "workflow_resumed", _) => {
                // Ending a run cancels its unfinished tasks; resuming it
                // puts every task that had not completed back in line.
                let cancelled = event.kind != "workflow_resumed";
                for at in 0..self.tasks.len() {
                    let line = &mut self.tasks[at];
                    if cancelled && !finished(line.state) {
                        line.state = TaskState::Cancelled;
                    } else if !cancelled && line.state != TaskState::Completed {
                        line.state = TaskState::Blocked;
                        line.note.clear();
                        line.finished_ms = None;
                    } else {
                        continue;
                    }
                    self.redraw(at);
                }
            }
            _ => {}
        }
        self.redraw_summary();
    }

    fn redraw(&mut self, at: usize) {
        let Some(bars) = self.bars.as_mut() else {
            return;
        };
        let line = &mut self.tasks[at];
        let active = matches!(line.state, TaskState::Claimed | TaskState::Waiting);
        if !bars.every_task && !active {
            if let Some(bar) = line.bar.take() {
                bars.multi.remove(&bar);
                if line.state == TaskState::Failed {
                    let _ = bars
                        .multi
                        .println(format!("✗ {} {}", line.key, line.status()));
                }
            }
            return;
        }
        // Bars are handles on shared state: the clone is the same line.
        let bar = line
            .bar
            .get_or_insert_with(|| {
                bars.multi
                    .insert_before(&bars.summary, ProgressBar::new_spinner())
            })
            .clone();
        let model = line.model.as_deref().unwrap_or("-");
        bar.set_prefix(format!(
            "{:<kw$} {:<8} {:<mw$}",
            line.key,
            line.kind,
            model,
            kw = bars.key_width,
            mw = bars.model_width
        ));
        let template = match line.state {
            TaskState::Claimed => "{spinner:.cyan} {prefix} {msg} {secs:.dim}",
            TaskState::Waiting => "{spinner:.yellow} {prefix} {msg:.yellow}",
            TaskState::Completed => "✓ {prefix:.green} {msg}",
            TaskState::Failed => "✗ {prefix:.red} {msg:.red}",
            TaskState::Cancelled | TaskState::Blocked | TaskState::Ready => {
                "  {prefix:.dim} {msg:.dim}"
            }
        };
        bar.set_style(style(template));
        if active {
            if let Some(started) = line.started_ms {
                let ms = (wall_millis() as i64 - started).max(0) as u64;
                bar.set_elapsed(Duration::from_millis(ms));
            }
            bar.enable_steady_tick(Duration::from_millis(120));
        } else {
            bar.disable_steady_tick();
        }
        bar.set_message(line.status());
    }

    fn redraw_summary(&self) {
        let Some(bars) = &self.bars else { return };
        let done = self
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Completed)
            .count();
        let (tokens, cost) = self.usage();
        bars.summary.set_message(format!(
            "{done}/{} done  {tokens} tok  ${cost:.4}",
            self.tasks.len()
        ));
    }

    fn usage(&self) -> (i64, f64) {
        self.tasks.iter().fold((0, 0.0), |(tokens, cost), task| {
            (tokens + task.tokens, cost + task.cost_usd)
        })
    }

    /// Prints a line between the bars (or on its own without them).
    fn note(&self, text: &str) {
        match &self.bars {
            Some(bars) if !bars.hidden => {
                let _ = bars.multi.println(text);
            }
            _ => {
                let _ = writeln!(anstream::stderr(), "{text}");
            }
        }
    }

    /// Takes the bars off the terminal while a question is asked on it.
    fn hide(&mut self) {
        if let Some(bars) = self.bars.as_mut()
            && !bars.hidden
        {
            let _ = bars.multi.clear();
            bars.multi.set_draw_target(ProgressDrawTarget::hidden());
            bars.hidden = true;
        }
    }

    fn show(&mut self) {
        if let Some(bars) = self.bars.as_mut()
            && bars.hidden
        {
            bars.multi.set_draw_target(ProgressDrawTarget::stderr());
            bars.hidden = false;
        }
    }

    /// Takes the bars down and prints the tasks as they last were, as
    /// plain lines: what stays in the scrollback after the command ends.
    fn close(&mut self) {
        let Some(bars) = self.bars.take() else {
            return;
        };
        bars.summary.disable_steady_tick();
        for task in &mut self.tasks {
            if let Some(bar) = task.bar.take() {
                bar.disable_steady_tick();
            }
        }
        let _ = bars.multi.clear();
        bars.multi.set_draw_target(ProgressDrawTarget::hidden());
        if !bars.every_task {
            return;
        }
        let mut err = anstream::stderr();
        for task in &self.tasks {
            let (glyph, style) = match task.state {
                TaskState::Completed => ("✓", GREEN),
                TaskState::Failed => ("✗", ERROR),
                TaskState::Claimed | TaskState::Waiting => ("…", Style::new()),
                _ => (" ", DIM),
            };
            let _ = writeln!(
                err,
                "{style}{glyph} {:<kw$} {:<8} {:<mw$}{style:#} {}",
                task.key,
                task.kind,
                task.model.as_deref().unwrap_or("-"),
                task.status(),
                kw = bars.key_width,
                mw = bars.model_width
            );
        }
    }

    /// The final picture and the summary line.
    fn finish(&mut self, view: &WorkflowView) {
        for task in &view.tasks {
            if let Some(&at) = self.index.get(&task.key) {
                let bar = self.tasks[at].bar.take();
                self.tasks[at] = TaskLine::of(task);
                self.tasks[at].bar = bar;
            }
        }
        self.close();
        let run = &view.run;
        let (tokens, cost) = self.usage();
        let elapsed = duration(run.finished_ms.unwrap_or(run.updated_ms) - run.created_ms);
        let mut err = anstream::stderr();
        let (style, word) = match run.status {
            WorkflowStatus::Completed => (BOLD, "completed"),
            status => (ERROR, status.as_str()),
        };
        let _ = writeln!(
            err,
            "{style}{word}{style:#} in {elapsed}: {}/{} tasks, {tokens} tokens, ${cost:.4}",
            run.done_tasks, run.total_tasks
        );
        if let Some(reason) = run.reason.as_deref().filter(|r| !r.is_empty()) {
            let _ = writeln!(err, "  {reason}");
        }
        if run.status != WorkflowStatus::Completed {
            let _ = writeln!(
                err,
                "{DIM}resume it with `baton workflow resume {}`{DIM:#}",
                self.run_id
            );
        }
    }
}

fn finished(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Completed | TaskState::Failed | TaskState::Cancelled
    )
}

/// A spinner style with `{secs}`, the bar's elapsed time to a tenth of a
/// second (indicatif's own `{elapsed}` rounds to whole seconds).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "secs",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}s", state.elapsed().as_secs_f64());
            },
        )
}

/// Prints the run's result: the outputs of the tasks nothing depends on.
/// One text output is printed as it is, several under their task ids.
fn print_result(out: &mut impl Write, result: Option<&Value>) -> std::io::Result<()> {
    let Some(Value::Object(sinks)) = result else {
        return Ok(());
    };
    let text = |value: &Value| match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => serde_json::to_string_pretty(other).ok(),
    };
    let shown: Vec<(&String, String)> = sinks
        .iter()
        .filter_map(|(key, value)| text(value).map(|t| (key, t)))
        .collect();
    if sinks.len() == 1 {
        for (_, text) in &shown {
            writeln!(out, "{text}")?;
        }
        return Ok(());
    }
    for (key, text) in &shown {
        writeln!(out, "{BOLD}## {key}{BOLD:#}\n{text}\n")?;
    }
    Ok(())
}

// ---------------------------------------------------------------- other verbs

async fn list(engine: &Engine, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let runs = engine.list(limit, None).await?;
    let mut out = anstream::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        writeln!(anstream::stderr(), "{DIM}no workflows yet{DIM:#}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.id.to_string(),
                run.status.as_str().to_owned(),
                format!("{}/{}", run.done_tasks, run.total_tasks),
                one_line(&run.name, 48),
                datetime(run.created_ms),
            ]
        })
        .collect();
    table(
        &mut out,
        &["ID", "STATUS", "DONE", "NAME", "CREATED (UTC)"],
        &rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn show(engine: &Engine, id: WorkflowId, json: bool) -> anyhow::Result<ExitCode> {
    let view = engine.get(id).await?;
    let mut out = anstream::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let run = &view.run;
    writeln!(out, "{BOLD}workflow {}{BOLD:#}  {}", run.id, run.name)?;
    let reason = run
        .reason
        .as_deref()
        .map(|r| format!(": {}", one_line(r, 200)))
        .unwrap_or_default();
    writeln!(
        out,
        "status     {}{reason} ({}/{} tasks done)",
        run.status.as_str(),
        run.done_tasks,
        run.total_tasks
    )?;
    writeln!(out, "workspace  {}", run.workspace)?;
    let ended = match run.finished_ms {
        Some(at) => format!(
            ", ended {} after {}",
            datetime(at),
            duration(at - run.created_ms)
        ),
        None => String::new(),
    };
    writeln!(out, "created    {}{ended}", datetime(run.created_ms))?;
    let (prompt, completion, cost) = view.tasks.iter().fold((0, 0, 0.0), |acc, t| {
        (
            acc.0 + t.prompt_tokens,
            acc.1 + t.completion_tokens,
            acc.2 + t.cost_usd,
        )
    });
    writeln!(
        out,
        "usage      {} tokens ({prompt} prompt + {completion} completion), ${cost:.4}",
        prompt + completion
    )?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = view
        .tasks
        .iter()
        .map(|task| {
            let line = TaskLine::of(task);
            let note = match task.state {
                TaskState::Failed => one_line(task.error.as_deref().unwrap_or(""), 60),
                TaskState::Waiting => one_line(&line.question, 60),
                TaskState::Completed => match &task.output {
                    Some(Value::String(text)) => one_line(text, 60),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => one_line(&other.to_string(), 60),
                },
                _ => String::new(),
            };
            vec![
                task.key.clone(),
                task.kind.clone(),
                task.state.as_str().to_owned(),
                format!("{}/{}", task.attempts, task.max_attempts),
                line.model.clone().unwrap_or_else(|| "-".to_owned()),
                line.elapsed_ms().map(duration).unwrap_or_default(),
                if task.cost_usd > 0.0 {
                    format!("${:.4}", task.cost_usd)
                } else {
                    String::new()
                },
                note,
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "TASK", "TYPE", "STATE", "TRIES", "MODEL", "TIME", "COST", "NOTE",
        ],
        &rows,
    )?;
    if run.status == WorkflowStatus::Completed {
        writeln!(out)?;
        print_result(&mut out, run.result.as_ref())?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn cancel(
    engine: &Engine,
    id: WorkflowId,
    reason: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let run = engine
        .cancel(id, reason.unwrap_or("cancelled from the command line"))
        .await?;
    let mut out = anstream::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&run)?)?;
    } else {
        writeln!(
            out,
            "cancelled {id} ({}/{} tasks had completed); `baton workflow resume {id}` starts it again",
            run.done_tasks, run.total_tasks
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn prune(engine: &Engine, days: u32, json: bool) -> anyhow::Result<ExitCode> {
    let pruned = engine
        .prune(Duration::from_secs(u64::from(days) * 86_400))
        .await?;
    let mut out = anstream::stdout();
    if json {
        writeln!(out, "{}", serde_json::json!({ "deleted": pruned }))?;
    } else {
        writeln!(
            out,
            "deleted {pruned} workflow{} that ended more than {days} day{} ago",
            if pruned == 1 { "" } else { "s" },
            if days == 1 { "" } else { "s" },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn resume(
    engine: &Engine,
    id: WorkflowId,
    detach: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let before = engine.get(id).await?.run;
    if !detach {
        engine.listen().await?;
    }
    let run = engine.resume(id).await?;
    let mut err = anstream::stderr();
    if before.status == WorkflowStatus::Running {
        writeln!(
            err,
            "{DIM}workflow {id} is running ({}/{} tasks done){DIM:#}",
            run.done_tasks, run.total_tasks
        )?;
    } else {
        writeln!(
            err,
            "{DIM}workflow {id} resumed after it {} ({}/{} tasks done){DIM:#}",
            before.status.as_str(),
            run.done_tasks,
            run.total_tasks
        )?;
    }
    if detach {
        if json {
            writeln!(
                anstream::stdout(),
                "{}",
                serde_json::to_string_pretty(&run)?
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    follow(engine, id, before.last_event, wall_millis() as i64, json).await
}

async fn events(
    engine: &Engine,
    id: WorkflowId,
    after: i64,
    follow: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = anstream::stdout();
    let mut print = |event: &WorkflowEvent| -> anyhow::Result<()> {
        if json {
            writeln!(out, "{}", serde_json::to_string(event)?)?;
        } else {
            writeln!(
                out,
                "{:>4}  {DIM}{}{DIM:#}  {}",
                event.seq,
                clock(event.created_ms),
                describe(event)
            )?;
        }
        Ok(())
    };
    if !follow {
        let mut after = after;
        loop {
            let page = engine.events(id, after).await?;
            for event in &page {
                print(event)?;
                after = event.seq;
            }
            if page.len() < EVENT_PAGE as usize {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    let run = engine.get(id).await?.run;
    if run.status.is_final() && after >= run.last_event {
        // Nothing more will come: a watch would wait for ever.
        return Ok(ExitCode::SUCCESS);
    }
    let stream = engine.watch(id, after).await?;
    let mut stream = std::pin::pin!(stream);
    let signal = interrupted();
    let mut signal = std::pin::pin!(signal);
    loop {
        tokio::select! {
            signal = &mut signal => return Ok(signal.code()),
            event = stream.next() => match event {
                None => return Ok(ExitCode::SUCCESS),
                Some(event) => print(&event?)?,
            }
        }
    }
}

async fn approve(
    engine: &Engine,
    id: WorkflowId,
    task: &str,
    approved: bool,
    comment: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let run = engine
        .decide(id, task, approved, &who(), comment.as_deref())
        .await?;
    let mut out = anstream::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&run)?)?;
    } else {
        let verb = if approved { "approved" } else { "rejected" };
        writeln!(
            out,
            "{verb} {task} of workflow {id}, which is now {} ({}/{} tasks done)",
            run.status.as_str(),
            run.done_tasks,
            run.total_tasks
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- text

/// One event in words.
fn describe(event: &WorkflowEvent) -> String {
    let data = &event.data;
    let task = event.task.as_deref().unwrap_or("?");
    let text = |key: &str, max: usize| one_line(data[key].as_str().unwrap_or(""), max);
    match event.kind.as_str() {
        "workflow_started" => format!(
            "workflow started: {} ({} tasks)",
            text("name", 80),
            data["total_tasks"]
        ),
        "task_started" => format!(
            "{task} started (attempt {}, worker {})",
            data["attempt"],
            text("worker", 80)
        ),
        "task_completed" => match data["model"].as_str() {
            Some(model) => format!(
                "{task} completed by {model}: {} + {} tokens, ${:.4}",
                data["prompt_tokens"].as_i64().unwrap_or(0),
                data["completion_tokens"].as_i64().unwrap_or(0),
                data["cost_usd"].as_f64().unwrap_or(0.0)
            ),
            None => format!("{task} completed"),
        },
        "task_retrying" => {
            let wait = data["retry_at_ms"]
                .as_i64()
                .map(|at| format!(" in {}", duration(at - event.created_ms)))
                .unwrap_or_default();
            format!(
                "{task} attempt {} failed, retrying{wait}: {}",
                data["attempt"],
                text("error", 200)
            )
        }
        "task_failed" => match data["attempt"].as_i64() {
            Some(attempt) => format!("{task} failed (attempt {attempt}): {}", text("error", 200)),
            None => format!("{task} failed: {}", text("error", 200)),
        },
        "task_waiting" => format!("{task} waits for approval: {}", text("question", 200)),
        "workflow_completed" => "workflow completed".to_owned(),
        "workflow_failed" => format!("workflow failed: {}", text("reason", 200)),
        "workflow_cancelled" => format!("workflow cancelled: {}", text("reason", 200)),
        "workflow_resumed" => format!("workflow resumed (it had {})", text("from", 20)),
        other => {
            let task = event
                .task
                .as_deref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            format!("{other}{task} {}", one_line(&data.to_string(), 200))
        }
    }
}

/// `1.2s`, `3m04s`, `2h05m`.
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000)
    }
}

/// `2025-01-02 13:04:05` (UTC).
fn datetime(ms: i64) -> String {
    let text = rfc3339(ms);
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => text,
    }
}

/// `13:04:05.123` (UTC).
fn clock(ms: i64) -> String {
    let day = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600_000,
        day % 3_600_000 / 60_000,
        day % 60_000 / 1000,
        day % 1000
    )
}

/// Columns padded to their widest cell; the last one is not padded.
fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (at, cell) in row.iter().enumerate() {
            widths[at] = widths[at].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(at, cell)| {
                if at == last {
                    (*cell).to_owned()
                } else {
                    format!("{cell:<w$}", w = widths[at])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{BOLD}{}{BOLD:#}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0), "0.0s");
        assert_eq!(duration(1_250), "1.2s");
        assert_eq!(duration(125_000), "2m05s");
        assert_eq!(duration(7_500_000), "2h05m");
        assert_eq!(clock(1_000 * 3_661 + 5), "01:01:01.005");
    }

    #[test]
    fn one_text_sink_prints_as_it_is_and_several_under_their_ids() {
        let mut out = Vec::new();
        let one = serde_json::json!({"answer": "forty-two"});
        print_result(&mut out, Some(&one)).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "forty-two\n");
        let mut out = Vec::new();
        let two = serde_json::json!({"a": "x", "b": null, "c": {"k": 1}});
        print_result(&mut out, Some(&two)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("## a") && text.contains("## c") && !text.contains("## b"));
    }
}
