//! `git`: status, diff, log, add, commit and branch through the `git`
//! binary. The argument list is fixed per subcommand, model text never lands
//! where git would read it as an option (`--` before paths, validated branch
//! names), paths pass the jail, and git runs without a pager, prompts,
//! system config, hooks or external diff programs, under a time limit and
//! with its output capped.

use std::ffi::OsString;
use std::sync::Arc;

use baton_sandbox::{ExecLimits, ExecSpec, Limit, Sandbox, SandboxError};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use crate::error::ToolError;
use crate::tool::{
    CallInfo, Effect, IDEMPOTENCY_ENV, Tool, ToolContext, ToolOutput, cut_to_limit, parse_args,
};
use crate::workspace::Workspace;

const NAME: &str = "git";
/// Most commits `log` shows.
pub const MAX_LOG_COUNT: usize = 100;
const DEFAULT_LOG_COUNT: usize = 20;
/// Most paths one `add` names.
pub const MAX_ADD_PATHS: usize = 100;
/// Longest commit message, in bytes.
pub const MAX_COMMIT_MESSAGE_BYTES: usize = 64 * 1024;
/// Longest branch name, in bytes.
pub const MAX_BRANCH_NAME_BYTES: usize = 255;
/// How much of git's error output is kept for the message.
const MAX_STDERR_BYTES: usize = 16 * 1024;

/// Uses git in the workspace's repository, in the sandbox.
#[derive(Clone)]
pub struct GitTool {
    sandbox: Arc<Sandbox>,
}

impl GitTool {
    pub fn new(sandbox: Arc<Sandbox>) -> GitTool {
        GitTool { sandbox }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
enum GitArgs {
    Status {},
    Diff {
        #[serde(default)]
        staged: bool,
        path: Option<String>,
    },
    Log {
        max_count: Option<usize>,
        path: Option<String>,
    },
    Add {
        paths: Vec<String>,
    },
    Commit {
        message: String,
    },
    Branch {
        create: Option<String>,
    },
}

impl GitArgs {
    fn command(&self) -> &'static str {
        match self {
            GitArgs::Status {} => "status",
            GitArgs::Diff { .. } => "diff",
            GitArgs::Log { .. } => "log",
            GitArgs::Add { .. } => "add",
            GitArgs::Commit { .. } => "commit",
            GitArgs::Branch { .. } => "branch",
        }
    }
}

/// Checks `name` as `git check-ref-format --branch` would, so it can be
/// passed to `git branch` without being mistaken for an option.
pub fn check_branch_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{name}` is not a valid branch name: {why}"));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_BRANCH_NAME_BYTES {
        return bad("it is longer than 255 bytes");
    }
    if name.starts_with('-') {
        return bad("it starts with `-`");
    }
    if name == "@" || name == "HEAD" {
        return bad("it is reserved");
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_ascii_control() || " ~^:?*[\\".contains(*c))
    {
        return bad(&format!("it contains {c:?}"));
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return bad("it contains `..`, `@{` or `//`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return bad("it starts or ends with `/`, or ends with `.`");
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return bad("a part starts with `.` or ends with `.lock`");
    }
    Ok(())
}

/// A path argument for git: through the jail, workspace-relative, never in `.git`.
fn jailed_path(ws: &Workspace, raw: &str) -> Result<OsString, ToolError> {
    let relative = match ws.resolve_existing(raw) {
        Ok(canonical) => canonical
            .strip_prefix(ws.root())
            .map(|p| p.to_path_buf())
            .unwrap_or_default(),
        // A deleted file can still be added (to stage its removal).
        Err(ToolError::NotFound { .. }) => ws.resolve_for_write(raw)?.relative,
        Err(e) => return Err(e),
    };
    if relative.iter().any(|c| c.eq_ignore_ascii_case(".git")) {
        return Err(ToolError::OutsideWorkspace {
            path: raw.to_owned(),
            reason: "paths inside `.git/` are not allowed".into(),
        });
    }
    Ok(if relative.as_os_str().is_empty() {
        OsString::from(".")
    } else {
        relative.into_os_string()
    })
}

/// The fixed argument list for one call.
fn git_argv(args: &GitArgs, ws: &Workspace) -> Result<Vec<OsString>, ToolError> {
    let mut argv: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| argv.extend(items.iter().map(OsString::from));
    match args {
        GitArgs::Status {} => push(&["status", "--short", "--branch", "--untracked-files=normal"]),
        GitArgs::Diff { staged, path } => {
            push(&[
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "--stat",
                "--patch",
            ]);
            if *staged {
                push(&["--staged"]);
            }
            if let Some(path) = path {
                let path = jailed_path(ws, path)?;
                argv.push("--".into());
                argv.push(path);
            }
        }
        GitArgs::Log { max_count, path } => {
            let count = max_count.unwrap_or(DEFAULT_LOG_COUNT);
            if !(1..=MAX_LOG_COUNT).contains(&count) {
                return Err(ToolError::invalid(
                    NAME,
                    format!("max_count must be 1 to {MAX_LOG_COUNT}, not {count}"),
                ));
            }
            push(&[
                "log",
                "--no-color",
                "--date=short",
                "--format=%h %ad %an: %s",
            ]);
            argv.push(format!("--max-count={count}").into());
            if let Some(path) = path {
                let path = jailed_path(ws, path)?;
                argv.push("--".into());
                argv.push(path);
            }
        }
        GitArgs::Add { paths } => {
            if paths.is_empty() {
                return Err(ToolError::invalid(NAME, "add needs at least one path"));
            }
            if paths.len() > MAX_ADD_PATHS {
                return Err(ToolError::invalid(
                    NAME,
                    format!(
                        "add takes at most {MAX_ADD_PATHS} paths, not {}",
                        paths.len()
                    ),
                ));
            }
            let jailed = paths
                .iter()
                .map(|p| jailed_path(ws, p))
                .collect::<Result<Vec<_>, _>>()?;
            push(&["add", "--"]);
            argv.extend(jailed);
        }
        GitArgs::Commit { message } => {
            if message.trim().is_empty() {
                return Err(ToolError::invalid(NAME, "the commit message is empty"));
            }
            if message.len() > MAX_COMMIT_MESSAGE_BYTES {
                return Err(ToolError::invalid(
                    NAME,
                    format!("the commit message is longer than {MAX_COMMIT_MESSAGE_BYTES} bytes"),
                ));
            }
            push(&["commit", "--no-edit", "--cleanup=strip"]);
            // `--message=` keeps a message starting with `-` a value, not an option.
            argv.push(format!("--message={message}").into());
        }
        GitArgs::Branch { create: None } => push(&["branch", "--list", "--no-color"]),
        GitArgs::Branch { create: Some(name) } => {
            check_branch_name(name).map_err(|message| ToolError::invalid(NAME, message))?;
            push(&["branch", name]);
        }
    }
    Ok(argv)
}

/// What a finished git process printed.
struct GitRun {
    success: bool,
    stdout: String,
    stdout_cut: bool,
    stderr: String,
}

/// The environment git runs with: nothing of baton's own but `PATH` and
/// `HOME` (for the user's `~/.gitconfig`: name, email), no prompts, no
/// system config, no pager or editor. The call's idempotency key too, as
/// for `shell`: hooks are off, but a clean or smudge filter the
/// repository's config names is the project's own program, and sees what
/// a `shell` command would.
fn git_environment(call: &CallInfo) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = ["PATH", "HOME"]
        .into_iter()
        .filter_map(|k| std::env::var_os(k).map(|v| (k.into(), v)))
        .collect();
    for (key, value) in [
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_PAGER", "cat"),
        ("GIT_OPTIONAL_LOCKS", "0"),
        ("GIT_EDITOR", "true"),
        ("LC_ALL", "C"),
        (IDEMPOTENCY_ENV, call.idempotency_key()),
    ] {
        env.push((key.into(), value.into()));
    }
    env
}

/// The person's own git configuration (name, e-mail, aliases) where it
/// exists, readable in the sandbox beside the system trees: git refuses to
/// run when a configuration file it finds cannot be read. Credentials
/// (`~/.git-credentials`) stay out of reach.
fn user_git_config() -> Vec<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    [
        home.map(|h| h.join(".gitconfig")),
        xdg.map(|x| x.join("git")),
    ]
    .into_iter()
    .flatten()
    .filter(|path| path.is_absolute() && path.exists())
    .collect()
}

/// Runs git in the sandbox: it may write only in the workspace (its
/// repository included), reaches no network, and a filter or program that
/// a repository's config names is confined the same way.
async fn run_git(
    sandbox: &Sandbox,
    argv: Vec<OsString>,
    ctx: &ToolContext,
    call: &CallInfo,
) -> Result<GitRun, ToolError> {
    let timeout = ctx.limits.timeout;
    if timeout.is_zero() {
        return Err(ToolError::Timeout { after: timeout });
    }
    let root = ctx.workspace.root();
    let mut spec = ExecSpec::new("git", root);
    spec.args = [
        "--no-pager",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "color.ui=false",
        "-c",
        "core.quotePath=false",
    ]
    .into_iter()
    .map(OsString::from)
    .chain(argv)
    .collect();
    spec.env = git_environment(call);
    spec.writable = vec![root.to_path_buf()];
    spec.readable.extend(user_git_config());
    spec.isolation_required = !ctx.allow_unsandboxed;
    spec.limits = ExecLimits {
        wall_time: timeout,
        cpu_time: timeout,
        max_output_bytes: ctx.limits.max_output_bytes.max(MAX_STDERR_BYTES),
        ..ExecLimits::default()
    };
    let outcome = sandbox.run(spec).await.map_err(|e| match e {
        SandboxError::Spawn { .. } => {
            ToolError::Failed("the `git` program is not installed or not on PATH".into())
        }
        other => ToolError::Failed(format!("could not run git: {other}")),
    })?;
    if outcome.killed_by == Some(Limit::WallTime) {
        return Err(ToolError::Timeout { after: timeout });
    }
    let (stdout, stdout_cut) = cut_to_limit(
        String::from_utf8_lossy(&outcome.stdout).into_owned(),
        ctx.limits.max_output_bytes,
    );
    let mut stderr = String::from_utf8_lossy(&outcome.stderr).into_owned();
    let end = baton_core::head(&stderr, MAX_STDERR_BYTES).len();
    stderr.truncate(end);
    // Output past the cap stops git (the sandbox kills it there); what was
    // kept is a complete answer as far as it goes, marked cut.
    let capped = outcome.killed_by == Some(Limit::Output);
    Ok(GitRun {
        success: outcome.status.success() || capped,
        stdout,
        stdout_cut: stdout_cut || outcome.stdout_truncated,
        stderr,
    })
}

async fn git(
    sandbox: &Sandbox,
    args: GitArgs,
    ctx: &ToolContext,
    call: &CallInfo,
) -> Result<ToolOutput, ToolError> {
    let command = args.command();
    let argv = git_argv(&args, &ctx.workspace)?;
    let run = run_git(sandbox, argv, ctx, call).await?;
    if !run.success {
        if run.stderr.contains("not a git repository") {
            return Err(ToolError::Failed(format!(
                "the workspace `{}` is not inside a git repository",
                ctx.workspace.root().display()
            )));
        }
        let said = [run.stderr.trim(), run.stdout.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        return Err(ToolError::Failed(format!("git {command} failed: {said}")));
    }
    let mut text = run.stdout;
    if run.stdout_cut {
        // Already cut to the output limit while reading; only the note is added.
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "[git output cut at {} bytes]\n",
            ctx.limits.max_output_bytes
        ));
    }
    let summary = match &args {
        GitArgs::Status {} => format!(
            "git status: {} changed paths",
            text.lines().filter(|l| !l.starts_with("##")).count()
        ),
        GitArgs::Diff { .. } if text.trim().is_empty() => "git diff: no changes".to_owned(),
        GitArgs::Diff { .. } => format!("git diff: {} lines", text.lines().count()),
        GitArgs::Log { .. } => format!("git log: {} commits", text.lines().count()),
        GitArgs::Add { paths } => format!("git add: {} paths", paths.len()),
        GitArgs::Commit { .. } => format!("git commit: {}", text.lines().next().unwrap_or("done")),
        GitArgs::Branch { create: None } => {
            format!("git branch: {} branches", text.lines().count())
        }
        GitArgs::Branch { create: Some(name) } => format!("git branch: created {name}"),
    };
    if text.trim().is_empty() {
        text = format!("{summary}\n");
    }
    if run.stdout_cut {
        return Ok(ToolOutput {
            text,
            summary,
            truncated: true,
        });
    }
    Ok(ToolOutput::new(
        text,
        summary,
        false,
        ctx.limits.max_output_bytes,
    ))
}

impl Tool for GitTool {
    fn spec(&self) -> baton_core::ToolSpec {
        baton_core::ToolSpec {
            name: NAME.into(),
            description: Some(
                "Use git in the workspace repository. `command` is one of: status; diff (staged, \
                 path); log (max_count up to 100, path); add (paths); commit (message); branch \
                 (lists branches, or creates `create`)."
                    .into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "enum": ["status", "diff", "log", "add", "commit", "branch"]},
                    "staged": {"type": "boolean", "description": "diff: show staged changes (default false)."},
                    "path": {"type": "string", "description": "diff, log: limit to this path."},
                    "max_count": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_COUNT, "description": "log: how many commits (default 20)."},
                    "paths": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_ADD_PATHS, "description": "add: paths to stage."},
                    "message": {"type": "string", "description": "commit: the commit message."},
                    "create": {"type": "string", "description": "branch: name of a branch to create at HEAD."}
                },
                "required": ["command"],
                "additionalProperties": false
            }),
        }
    }

    fn effect(&self, args: &serde_json::Value) -> Effect {
        match parse_args::<GitArgs>(NAME, args.clone()) {
            Ok(
                GitArgs::Status {}
                | GitArgs::Diff { .. }
                | GitArgs::Log { .. }
                | GitArgs::Branch { create: None },
            ) => Effect::Read,
            _ => Effect::Write,
        }
    }

    fn subject(&self, args: &serde_json::Value) -> Result<String, ToolError> {
        Ok(parse_args::<GitArgs>(NAME, args.clone())?
            .command()
            .to_owned())
    }

    fn call<'a>(
        &'a self,
        args: serde_json::Value,
        ctx: &'a ToolContext,
        call: &'a CallInfo,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        async move { git(&self.sandbox, parse_args(NAME, args)?, ctx, call).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_check_ref_format() {
        for good in ["main", "feature/x", "fix-1.2", "a.b/c_d"] {
            assert!(check_branch_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "-f", "--force", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "/a",
            "a/", "a.", "a//b", ".a", "a/.b", "a.lock", "a@{b", "@", "HEAD", "a\u{7f}",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn args_are_tagged_by_command_and_strict() {
        let args: GitArgs = parse_args(NAME, json!({"command": "diff", "staged": true})).unwrap();
        assert!(matches!(
            args,
            GitArgs::Diff {
                staged: true,
                path: None
            }
        ));
        let err =
            parse_args::<GitArgs>(NAME, json!({"command": "status", "force": true})).unwrap_err();
        assert!(err.to_string().contains("unknown field `force`"), "{err}");
        let err = parse_args::<GitArgs>(NAME, json!({"command": "push"})).unwrap_err();
        assert!(err.to_string().contains("unknown variant `push`"), "{err}");
        let err = parse_args::<GitArgs>(NAME, json!({})).unwrap_err();
        assert!(err.to_string().contains("missing field `command`"), "{err}");
    }
}
