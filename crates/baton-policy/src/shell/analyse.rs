//! Turns a command line into the simple commands that will really run,
//! each a [`Part`] the rules judge on its own.
//!
//! Wrappers that run another command (`command`, `env`, `exec`, `nohup`,
//! `nice`, `timeout`, `sudo`, `xargs`, `busybox`, …) are stripped; scripts
//! given to `sh -c`, `bash -lc`, `eval`, `su -c`, `watch` and command
//! substitutions are parsed as commands of their own; `find -exec` commands
//! are checked with `{}` standing for find's roots. What cannot be known
//! before running (a program name held in a variable, `eval`, `xargs`
//! arguments, `sh -c "$VAR"`, a shell function, a risky variable such as
//! `PATH=` or `LD_PRELOAD=`) is marked `unresolved`, which asks at least.

use super::lexer::{RedirectKind, Word};
use super::parse::{Command, Redirect, parse};
use super::{MAX_COMMAND_BYTES, MAX_COMMANDS, MAX_NESTING, ShellError};

/// One simple command as the rules see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Part {
    /// The command after wrappers and assignments are stripped, the
    /// program as written (`/bin/rm`).
    pub words: Vec<Word>,
    /// The program's file name (`rm` for `/bin/rm`); empty without one.
    pub program: String,
    /// The simple command exactly as written, before any stripping:
    /// remembered approvals match this.
    pub literal: Vec<String>,
    /// Redirections of the simple command.
    pub redirects: Vec<Redirect>,
    /// The privilege wrapper (`sudo`, `doas`, `su`, …) if one was used.
    pub privileged: Option<String>,
    /// Why the command cannot be checked statically, if so.
    pub unresolved: Option<String>,
    /// Programs of the pipeline stages that feed this one.
    pub upstream: Vec<String>,
    /// Programs run by substitutions inside this command's words.
    pub substituted: Vec<String>,
    /// The command calls a function of the same script that is also piped
    /// into itself (the fork-bomb shape).
    pub self_piped_function: bool,
    /// A command earlier on the same line fetches from the network.
    pub after_download: bool,
    /// The operands stand for whole trees (`find / -exec rm {} +`).
    pub tree_operands: bool,
}

impl Part {
    /// The words' texts.
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.words.iter().map(|w| w.text.as_str()).collect()
    }

    /// The command as written, for messages.
    pub(crate) fn display(&self) -> String {
        let mut text = self.literal.join(" ");
        for r in &self.redirects {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&r.operator);
            text.push_str(&r.target.text);
        }
        text
    }
}

/// Reads a command line into the simple commands it runs.
pub(crate) fn analyse(command: &str) -> Result<Vec<Part>, ShellError> {
    if command.len() > MAX_COMMAND_BYTES {
        return Err(ShellError::TooLong { len: command.len() });
    }
    let mut parts = Vec::new();
    analyse_at(command, 0, &mut parts)?;
    let mut downloaded = false;
    for part in &mut parts {
        part.after_download = downloaded;
        downloaded |= DOWNLOADERS.contains(&part.program.as_str());
    }
    Ok(parts)
}

/// Programs that fetch data from the network.
pub(crate) const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "http",
    "https",
    "lwp-request",
    "nc",
    "ncat",
];

fn analyse_at(text: &str, depth: usize, parts: &mut Vec<Part>) -> Result<(), ShellError> {
    if depth > MAX_NESTING {
        return Err(ShellError::TooDeep);
    }
    let script = parse(text)?;
    for reason in &script.unresolved {
        parts.push(Part {
            literal: vec![text.to_owned()],
            unresolved: Some((*reason).to_owned()),
            ..Part::default()
        });
    }
    for sub in &script.loose_substitutions {
        analyse_at(sub, depth + 1, parts)?;
    }
    for pipeline in &script.pipelines {
        let stages: Vec<String> = pipeline
            .commands
            .iter()
            .map(|c| outer_program(&c.words))
            .collect();
        for (i, command) in pipeline.commands.iter().enumerate() {
            let program = &stages[i];
            let context = Context {
                upstream: stages[..i].to_vec(),
                self_piped_function: script.functions.contains(program)
                    && stages.iter().filter(|s| *s == program).count() > 1,
                defined_function: script.functions.contains(program),
            };
            expand(command, depth, &context, parts)?;
            let words = command
                .words
                .iter()
                .chain(command.redirects.iter().map(|r| &r.target));
            for word in words {
                for sub in &word.substitutions {
                    let first_new = parts.len();
                    analyse_at(sub, depth + 1, parts)?;
                    if word.text.starts_with(">(") {
                        for part in &mut parts[first_new..] {
                            part.upstream.push(program.clone());
                        }
                    }
                }
            }
        }
    }
    if parts.len() > MAX_COMMANDS {
        return Err(ShellError::TooManyCommands);
    }
    Ok(())
}

struct Context {
    upstream: Vec<String>,
    self_piped_function: bool,
    defined_function: bool,
}

/// The file name of a program path: `/bin/rm` → `rm`.
pub(crate) fn basename(program: &str) -> &str {
    program
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or(program)
}

/// The program of a pipeline stage once privilege and environment wrappers
/// are stripped, for pipeline-shaped rules such as `curl … | sh`.
fn outer_program(words: &[Word]) -> String {
    let mut rest = words;
    loop {
        while rest.first().is_some_and(is_assignment) {
            rest = &rest[1..];
        }
        let Some(first) = rest.first() else {
            return String::new();
        };
        let program = basename(&first.text);
        match wrapper_options(program) {
            Some(options) if program != "xargs" => match skip_options(&rest[1..], options) {
                Some(inner) if !inner.is_empty() => rest = inner,
                _ => return program.to_owned(),
            },
            _ => return program.to_owned(),
        }
    }
}

/// Options that take a separate argument, per wrapper that runs the
/// command following its options. `None`: not such a wrapper.
fn wrapper_options(program: &str) -> Option<&'static [&'static str]> {
    Some(match program {
        "builtin" | "nohup" | "setsid" | "unbuffer" | "busybox" | "command" | "coproc" => &[],
        "exec" => &["-a"],
        "time" => &["-f", "-o", "--format", "--output"],
        "stdbuf" => &["-i", "-o", "-e"],
        "nice" => &["-n"],
        "ionice" => &["-c", "-n", "-p"],
        "timeout" => &["-s", "-k", "--signal", "--kill-after"],
        "env" => &["-u", "--unset", "-C", "--chdir"],
        "sudo" => &[
            "-u",
            "-g",
            "-C",
            "-D",
            "-h",
            "-p",
            "-r",
            "-t",
            "-U",
            "-T",
            "--user",
            "--group",
            "--chdir",
            "--prompt",
            "--role",
            "--type",
            "--host",
            "--close-from",
            "--other-user",
            "--command-timeout",
        ],
        "doas" => &["-u", "-C"],
        "pkexec" => &["--user"],
        "run0" => &["-u", "--user", "-g", "--group", "-D", "--chdir"],
        "xargs" => &[
            "-I",
            "-L",
            "-n",
            "-P",
            "-s",
            "-d",
            "-E",
            "-a",
            "--max-args",
            "--max-lines",
            "--max-procs",
            "--max-chars",
            "--delimiter",
            "--arg-file",
        ],
        _ => return None,
    })
}

/// Skips a wrapper's options; returns the words of the wrapped command.
fn skip_options<'a>(words: &'a [Word], with_argument: &[&str]) -> Option<&'a [Word]> {
    let mut i = 0;
    while let Some(word) = words.get(i) {
        let text = word.text.as_str();
        if text == "--" {
            return Some(&words[i + 1..]);
        }
        if !text.starts_with('-') || text == "-" {
            break;
        }
        i += if with_argument.contains(&text) { 2 } else { 1 };
    }
    words.get(i..)
}

fn is_assignment(word: &Word) -> bool {
    match word.text.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                })
        }
        None => false,
    }
}

/// Variables that change which program runs or what it loads.
fn is_risky_variable(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "IFS",
        "ENV",
        "BASH_ENV",
        "PS4",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
        "EDITOR",
        "VISUAL",
        "PAGER",
        "RUSTC",
        "RUSTC_WRAPPER",
        "NODE_OPTIONS",
        "HOME",
    ];
    const PREFIXES: &[&str] = &["LD_", "DYLD_", "GIT_", "PYTHON", "PERL", "RUBY"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash",
];

/// What a simple command turns out to be once its wrappers are read.
enum Inner<'a> {
    /// A command to judge as it is.
    Plain(&'a [Word]),
    /// A script text to parse (the argument of `sh -c`, `eval`, …).
    Script(String),
}

struct Unwrapped<'a> {
    inner: Inner<'a>,
    privileged: Option<String>,
    unresolved: Option<String>,
}

fn unwrap_command(words: &[Word]) -> Unwrapped<'_> {
    let mut rest = words;
    let mut privileged = None;
    let mut unresolved = words.iter().find_map(|w| w.unresolved.map(str::to_owned));
    loop {
        while let Some(first) = rest.first().filter(|w| is_assignment(w)) {
            let name = first.text.split_once('=').map_or("", |(n, _)| n);
            if is_risky_variable(name) {
                unresolved.get_or_insert_with(|| {
                    format!("it sets `{name}`, which changes what the command runs")
                });
            }
            rest = &rest[1..];
        }
        let done = |inner, privileged, unresolved| Unwrapped {
            inner,
            privileged,
            unresolved,
        };
        let Some(first) = rest.first() else {
            return done(Inner::Plain(rest), privileged, unresolved);
        };
        if first.dynamic || first.expands {
            unresolved.get_or_insert_with(|| {
                format!("the program `{}` is only known at run time", first.text)
            });
            return done(Inner::Plain(rest), privileged, unresolved);
        }
        let program = basename(&first.text);
        let args = &rest[1..];
        if program == "command" && args.iter().any(|w| w.text == "-v" || w.text == "-V") {
            return done(Inner::Plain(rest), privileged, unresolved);
        }
        if matches!(program, "sudo" | "doas" | "pkexec" | "run0" | "su") {
            privileged.get_or_insert_with(|| program.to_owned());
        }
        if matches!(
            program,
            "export" | "declare" | "typeset" | "readonly" | "local"
        ) {
            let risky = args.iter().filter(|w| is_assignment(w)).find_map(|w| {
                let name = w.text.split_once('=').map_or("", |(n, _)| n);
                is_risky_variable(name).then_some(name)
            });
            if let Some(name) = risky {
                unresolved.get_or_insert_with(|| {
                    format!("it sets `{name}`, which changes what later commands run")
                });
            }
        }
        if program == "xargs" {
            unresolved.get_or_insert_with(|| {
                "xargs adds arguments that are only known at run time".to_owned()
            });
        }
        if let Some(script) = env_split_string(args).filter(|_| program == "env") {
            return done(Inner::Script(script), privileged, unresolved);
        }
        if program == "alias" || program == "trap" {
            unresolved.get_or_insert_with(|| format!("`{program}` sets a command that runs later"));
            let bodies: Vec<&str> = if program == "alias" {
                args.iter()
                    .filter_map(|w| w.text.split_once('=').map(|(_, v)| v))
                    .collect()
            } else {
                args.iter()
                    .map(|w| w.text.as_str())
                    .find(|t| !t.starts_with('-'))
                    .into_iter()
                    .collect()
            };
            return done(Inner::Script(bodies.join("\n")), privileged, unresolved);
        }
        if let Some(options) = wrapper_options(program) {
            match skip_options(args, options) {
                Some(inner) if !inner.is_empty() => {
                    rest = if program == "timeout" {
                        &inner[1..]
                    } else {
                        inner
                    };
                    if rest.is_empty() {
                        return done(Inner::Plain(inner), privileged, unresolved);
                    }
                    continue;
                }
                _ => return done(Inner::Plain(rest), privileged, unresolved),
            }
        }
        if SHELLS.contains(&program) {
            return match shell_script(args) {
                ShellScript::File | ShellScript::Stdin => {
                    done(Inner::Plain(rest), privileged, unresolved)
                }
                ShellScript::Text(word) if word.dynamic => {
                    unresolved.get_or_insert_with(|| {
                        format!(
                            "`{program} -c` runs `{}`, which is only known at run time",
                            word.text
                        )
                    });
                    done(Inner::Plain(rest), privileged, unresolved)
                }
                ShellScript::Text(word) => {
                    done(Inner::Script(word.text.clone()), privileged, unresolved)
                }
                ShellScript::Missing => {
                    unresolved.get_or_insert_with(|| format!("`{program} -c` has no script"));
                    done(Inner::Plain(rest), privileged, unresolved)
                }
            };
        }
        if program == "su" {
            let script = args
                .iter()
                .position(|w| w.text == "-c" || w.text == "--command")
                .and_then(|i| args.get(i + 1));
            return match script {
                Some(word) if !word.dynamic => {
                    done(Inner::Script(word.text.clone()), privileged, unresolved)
                }
                _ => done(Inner::Plain(rest), privileged, unresolved),
            };
        }
        if program == "eval" || program == "watch" {
            if program == "eval" {
                unresolved.get_or_insert_with(|| {
                    "eval runs a string as a new command, which is checked but still asked"
                        .to_owned()
                });
            }
            let body = match skip_options(args, &["-n", "--interval", "-d"]) {
                Some(body) if program == "watch" => body,
                _ => args,
            };
            if body.iter().any(|w| w.dynamic) {
                unresolved.get_or_insert_with(|| {
                    format!("`{program}` runs a string that is only known at run time")
                });
            }
            let script = body
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            return done(Inner::Script(script), privileged, unresolved);
        }
        return done(Inner::Plain(rest), privileged, unresolved);
    }
}

enum ShellScript<'a> {
    /// No `-c`: the shell runs a script file.
    File,
    /// No `-c` and no file (or `-s`): the shell runs what it reads from
    /// its input.
    Stdin,
    /// `-c` without a script.
    Missing,
    /// The script given to `-c`.
    Text(&'a Word),
}

fn shell_script(args: &[Word]) -> ShellScript<'_> {
    let mut has_c = false;
    let mut has_s = false;
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let text = word.text.as_str();
        if text == "--" {
            i += 1;
            break;
        }
        if text.starts_with("--") {
            i += if matches!(text, "--rcfile" | "--init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if (text.starts_with('-') || text.starts_with('+')) && text.len() > 1 {
            if matches!(text, "-o" | "+o" | "-O" | "+O") {
                i += 2;
                continue;
            }
            if text.starts_with('-') && text.contains('c') {
                has_c = true;
            }
            if text.starts_with('-') && text.contains('s') {
                has_s = true;
            }
            i += 1;
            continue;
        }
        break;
    }
    match (has_c, args.get(i)) {
        (false, Some(_)) if !has_s => ShellScript::File,
        (false, _) => ShellScript::Stdin,
        (true, None) => ShellScript::Missing,
        (true, Some(word)) => ShellScript::Text(word),
    }
}

fn expand(
    command: &Command,
    depth: usize,
    context: &Context,
    parts: &mut Vec<Part>,
) -> Result<(), ShellError> {
    let literal: Vec<String> = command.words.iter().map(|w| w.text.clone()).collect();
    let unwrapped = unwrap_command(&command.words);
    let substituted = command
        .words
        .iter()
        .flat_map(|w| &w.substitutions)
        .filter_map(|s| {
            parse(s).ok().map(|script| {
                script
                    .pipelines
                    .iter()
                    .flat_map(|p| p.commands.iter().map(|c| outer_program(&c.words)))
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect();
    let make = |words: &[Word], unresolved: Option<String>| {
        let program = words
            .first()
            .map(|w| basename(&w.text).to_owned())
            .unwrap_or_default();
        let unresolved = unresolved.or_else(|| {
            (context.defined_function && !program.is_empty())
                .then(|| format!("`{program}` is a shell function defined in the command"))
        });
        Part {
            words: words.to_vec(),
            program,
            literal: literal.clone(),
            redirects: command.redirects.clone(),
            privileged: unwrapped.privileged.clone(),
            unresolved,
            upstream: context.upstream.clone(),
            substituted: Vec::new(),
            self_piped_function: context.self_piped_function,
            after_download: false,
            tree_operands: false,
        }
    };
    match &unwrapped.inner {
        Inner::Plain(words) => {
            let mut part = make(words, unwrapped.unresolved.clone());
            part.substituted = substituted;
            if part.program == "find" {
                find_exec_parts(&part, depth, context, parts)?;
            }
            let fed = stdin_script(&part, context);
            if let StdinScript::Unknown(why) = &fed {
                part.unresolved.get_or_insert_with(|| why.clone());
            }
            parts.push(part);
            if let StdinScript::Text(script) = fed {
                analyse_at(&script, depth + 1, parts)?;
            }
        }
        Inner::Script(script) => {
            let carrier = unwrapped.privileged.is_some()
                || unwrapped.unresolved.is_some()
                || !command.redirects.is_empty()
                || !substituted.is_empty();
            if carrier {
                let mut part = make(&command.words, unwrapped.unresolved.clone());
                part.substituted = substituted;
                parts.push(part);
            }
            analyse_at(script, depth + 1, parts)?;
        }
    }
    Ok(())
}

/// Checks the commands of `find … -exec CMD {} ;` with `{}` standing for
/// find's roots, so `find / -exec rm -rf {} +` reads as `rm -rf /`.
fn find_exec_parts(
    find: &Part,
    depth: usize,
    context: &Context,
    parts: &mut Vec<Part>,
) -> Result<(), ShellError> {
    let args = &find.words[1..];
    let roots: Vec<&str> = args
        .iter()
        .map(|w| w.text.as_str())
        .take_while(|t| !t.starts_with('-') && *t != "(" && *t != "!")
        .collect();
    let root = roots.first().copied().unwrap_or(".");
    let mut i = 0;
    while i < args.len() {
        if matches!(
            args[i].text.as_str(),
            "-exec" | "-execdir" | "-ok" | "-okdir"
        ) {
            let start = i + 1;
            let mut end = start;
            while end < args.len() && !matches!(args[end].text.as_str(), ";" | "+") {
                end += 1;
            }
            let words: Vec<Word> = args[start..end]
                .iter()
                .map(|w| Word {
                    text: w.text.replace("{}", root),
                    ..w.clone()
                })
                .collect();
            if !words.is_empty() {
                let inner = Command {
                    words,
                    redirects: Vec::new(),
                };
                let first_new = parts.len();
                expand(&inner, depth + 1, context, parts)?;
                for part in &mut parts[first_new..] {
                    part.literal = find.literal.clone();
                    part.tree_operands = true;
                }
            }
            i = end;
        }
        i += 1;
    }
    Ok(())
}

/// What a shell reading its standard input will run.
enum StdinScript {
    /// Not a shell reading its input.
    None,
    /// A here-document or here-string whose text is known.
    Text(String),
    /// Input from a pipe or a value only known at run time.
    Unknown(String),
}

fn stdin_script(part: &Part, context: &Context) -> StdinScript {
    let program = part.program.as_str();
    let args = part.words.get(1..).unwrap_or_default();
    let reads_stdin = (SHELLS.contains(&program)
        && matches!(shell_script(args), ShellScript::Stdin))
        || matches!(program, "source" | ".");
    if !reads_stdin {
        return StdinScript::None;
    }
    let fed =
        part.redirects.iter().rev().find(|r| {
            r.body.is_some() || (r.kind == RedirectKind::Input && r.operator.ends_with('<'))
        });
    match fed {
        Some(r) if r.target.dynamic && r.operator.ends_with("<<<") => {
            StdinScript::Unknown(format!(
                "`{program}` runs `{}`, which is only known at run time",
                r.target.text
            ))
        }
        Some(Redirect {
            body: Some(body), ..
        }) => StdinScript::Text(body.clone()),
        Some(_) => StdinScript::None,
        None if !context.upstream.is_empty() => StdinScript::Unknown(format!(
            "`{program}` runs commands it reads from `{}`",
            context.upstream.join(" | ")
        )),
        None => StdinScript::None,
    }
}

/// The script `env -S` / `env --split-string` runs, attached or not.
fn env_split_string(args: &[Word]) -> Option<String> {
    let i = args
        .iter()
        .position(|w| w.text.starts_with("-S") || w.text.starts_with("--split-string"))?;
    let flag = args[i].text.as_str();
    let attached = flag
        .strip_prefix("--split-string=")
        .or_else(|| flag.strip_prefix("-S").filter(|v| !v.is_empty()));
    let rest = args[i + 1..].iter().map(|w| w.text.as_str());
    Some(
        attached
            .into_iter()
            .chain(rest)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Whether a redirection writes a file (not a descriptor duplicate, not
/// `/dev/null` or a standard stream).
pub(crate) fn writes_file(redirect: &Redirect) -> bool {
    match redirect.kind {
        RedirectKind::Input | RedirectKind::HereDoc => false,
        RedirectKind::Duplicate => {
            let t = redirect.target.text.as_str();
            !(t == "-" || t.chars().all(|c| c.is_ascii_digit()) || redirect.operator.contains('<'))
        }
        RedirectKind::Write | RedirectKind::Append => {
            !matches!(
                redirect.target.text.as_str(),
                "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty"
            ) && !redirect.target.text.starts_with("/dev/fd/")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(command: &str) -> Vec<String> {
        analyse(command)
            .unwrap()
            .into_iter()
            .map(|p| p.texts().join(" "))
            .collect()
    }

    #[test]
    fn strips_wrappers() {
        assert_eq!(programs("command rm -rf /"), ["rm -rf /"]);
        assert_eq!(programs("env -i FOO=1 rm x"), ["rm x"]);
        assert_eq!(programs("nice -n 5 timeout 10 nohup rm x"), ["rm x"]);
        assert_eq!(programs("sudo -u root rm x"), ["rm x"]);
        assert_eq!(programs("command -v rm"), ["command -v rm"]);
    }

    #[test]
    fn reads_shell_scripts() {
        assert_eq!(programs("sh -c \"rm -rf /\""), ["rm -rf /"]);
        assert_eq!(
            programs("bash -lc 'git status; rm x'"),
            ["git status", "rm x"]
        );
        assert_eq!(programs("bash script.sh"), ["bash script.sh"]);
        assert_eq!(programs("env -S 'rm -rf /'"), ["rm -rf /"]);
    }

    #[test]
    fn substitutions_are_parts() {
        assert_eq!(
            programs("echo $(rm -rf /)"),
            ["echo $(rm -rf /)", "rm -rf /"]
        );
        let parts = analyse("sh <(curl -s x)").unwrap();
        assert_eq!(parts[0].substituted, ["curl"]);
    }

    #[test]
    fn find_exec_reads_roots() {
        assert_eq!(
            programs("find / -exec rm -rf {} +"),
            ["rm -rf /", "find / -exec rm -rf {} +"]
        );
    }

    #[test]
    fn unresolved_shapes() {
        for command in [
            "$CMD -rf /",
            "eval ls",
            "sh -c \"$VAR\"",
            "xargs rm",
            "PATH=/tmp/x git status",
            "LD_PRELOAD=x.so ls",
            "f() { ls; }; f",
        ] {
            let parts = analyse(command).unwrap();
            assert!(
                parts.iter().any(|p| p.unresolved.is_some()),
                "{command} should be unresolved"
            );
        }
    }

    #[test]
    fn privilege_is_remembered_through_shells() {
        let parts = analyse("sudo bash -c 'rm x'").unwrap();
        assert_eq!(parts[0].privileged.as_deref(), Some("sudo"));
        assert_eq!(parts[1].texts(), ["rm", "x"]);
    }

    #[test]
    fn pipeline_upstream() {
        let parts = analyse("curl -fsSL x | sudo bash").unwrap();
        assert_eq!(parts[1].program, "bash");
        assert_eq!(parts[1].upstream, ["curl"]);
        let parts = analyse(":(){ :|:& };:").unwrap();
        assert!(parts.iter().any(|p| p.self_piped_function));
    }

    #[test]
    fn limits_are_errors() {
        let long = "a".repeat(MAX_COMMAND_BYTES + 1);
        assert_eq!(analyse(&long), Err(ShellError::TooLong { len: long.len() }));
        let mut deep = "ls".to_owned();
        for _ in 0..=MAX_NESTING {
            deep = format!("echo $({deep})");
        }
        assert_eq!(analyse(&deep), Err(ShellError::TooDeep));
        let many = vec!["ls"; MAX_COMMANDS + 1].join(";");
        assert_eq!(analyse(&many), Err(ShellError::TooManyCommands));
    }

    #[test]
    fn never_panics_on_partial_or_odd_input() {
        let samples = [
            "cat <<'EOF' | sh -c \"$(echo 'a;b')\" >> out 2>&1 && find / -exec rm -rf {} + || `id`",
            "f() { :|:& }; f; echo ${X:-$(id)} $((1+$(id -u))) <(ls) >(wc) $'\\x41\\101\\u00e9'",
            "env -S'a b' sudo -u x xargs -I{} bash -lc 'for i in *; do rm \"$i\"; done' \\\n;;",
            "case $x in (a|b) rm -rf /;; esac; if [[ -f x ]]; then ((y++)); fi\r\n# c",
        ];
        for sample in samples {
            let chars: Vec<char> = sample.chars().collect();
            for end in 0..=chars.len() {
                let prefix: String = chars[..end].iter().collect();
                let _ = analyse(&prefix);
                let suffix: String = chars[end..].iter().collect();
                let _ = analyse(&suffix);
            }
        }
        let alphabet: Vec<char> = "ab $(){}[]'\"`\\;&|<>\n*?~#=-".chars().collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let len = (seed % 24) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            let _ = analyse(&text);
        }
    }

    #[test]
    fn file_writing_redirections() {
        let parts = analyse("a > out 2>&1 >/dev/null < in >> log").unwrap();
        let writes: Vec<&str> = parts[0]
            .redirects
            .iter()
            .filter(|r| writes_file(r))
            .map(|r| r.target.text.as_str())
            .collect();
        assert_eq!(writes, ["out", "log"]);
    }
}
