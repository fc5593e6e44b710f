//! baton's built-in rules (listed with their reasons in the crate
//! documentation) and the detectors that recognise dangerous calls beyond
//! what a word pattern can say: flag spellings, pipelines, paths.

use crate::path::normalise;
use crate::shell::{DOWNLOADERS, Part, Word};
use crate::verdict::Decision;

/// A built-in way of recognising a dangerous call, beyond what a word
/// pattern can say (flag spellings, pipelines, paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detector {
    RemoveRoot,
    RemoveRecursive,
    MakeFilesystem,
    DdDevice,
    DdFile,
    Format,
    WindowsDelete,
    Shutdown,
    ChmodWorldWritable,
    ChownRecursive,
    DownloadToShell,
    ForkBomb,
    FindDeleteRoot,
    FindDelete,
    ProtectedPathWrite,
    GitForcePush,
    GitDiscard,
    GitConfig,
    DownloadThenRun,
    Privilege,
    Unresolved,
    /// Path tools only: the path leaves the workspace.
    OutsideWorkspace,
    /// `--block WORD`: the command uses WORD as its program or any word.
    Blocked(String),
}

/// One built-in rule.
pub(crate) struct BuiltinRule {
    pub decision: Decision,
    pub text: &'static str,
    pub detector: Option<Detector>,
    /// Why a glob rule exists, for its reasons (detectors say their own).
    pub why: &'static str,
}

/// The built-in rules, deny first.
pub(crate) fn builtin_rules() -> Vec<BuiltinRule> {
    use Decision::{Ask, Deny};
    let detector = |decision, text, d| BuiltinRule {
        decision,
        text,
        detector: Some(d),
        why: "",
    };
    let glob = |decision, text, why| BuiltinRule {
        decision,
        text,
        detector: None,
        why,
    };
    const GIT: &str =
        "git internals are off limits: a hook written there runs later, outside any sandbox";
    const BATON: &str = "baton's own settings and policy files are off limits to agents";
    const SSH: &str = "SSH keys and settings are off limits";
    vec![
        detector(Deny, "shell(rm -rf /)", Detector::RemoveRoot),
        detector(Deny, "shell(mkfs*)", Detector::MakeFilesystem),
        detector(Deny, "shell(dd of=/dev/*)", Detector::DdDevice),
        detector(Deny, "shell(format *)", Detector::Format),
        detector(Deny, "shell(shutdown)", Detector::Shutdown),
        detector(Deny, "shell(chmod -R 777 *)", Detector::ChmodWorldWritable),
        detector(Deny, "shell(curl … | sh)", Detector::DownloadToShell),
        detector(Deny, "shell(:(){ :|:& };:)", Detector::ForkBomb),
        detector(Deny, "shell(find / -delete)", Detector::FindDeleteRoot),
        detector(
            Deny,
            "shell(… .git/ .baton/ ~/.ssh)",
            Detector::ProtectedPathWrite,
        ),
        glob(Deny, "write({**/.git,**/.git/**})", GIT),
        glob(Deny, "edit({**/.git,**/.git/**})", GIT),
        glob(Deny, "write({**/.baton,**/.baton/**})", BATON),
        glob(Deny, "edit({**/.baton,**/.baton/**})", BATON),
        glob(Deny, "write(~/.ssh/**)", SSH),
        glob(Deny, "edit(~/.ssh/**)", SSH),
        detector(Deny, "*(outside the workspace)", Detector::OutsideWorkspace),
        detector(Ask, "shell(rm -r *)", Detector::RemoveRecursive),
        detector(Ask, "shell(dd of=*)", Detector::DdFile),
        detector(Ask, "shell(del *)", Detector::WindowsDelete),
        detector(Ask, "shell(chown -R *)", Detector::ChownRecursive),
        detector(Ask, "shell(find -delete)", Detector::FindDelete),
        detector(Ask, "shell(git push --force)", Detector::GitForcePush),
        detector(Ask, "shell(git reset --hard)", Detector::GitDiscard),
        detector(Ask, "shell(git config *)", Detector::GitConfig),
        detector(Ask, "shell(curl …; sh …)", Detector::DownloadThenRun),
        detector(Ask, "shell(sudo *)", Detector::Privilege),
        detector(Ask, "shell(<unresolved>)", Detector::Unresolved),
    ]
}

const INTERPRETERS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "python", "python2",
    "python3", "perl", "ruby", "node", "php", "lua", "source", ".", "eval",
];

impl Detector {
    /// Whether the detector fires for a shell command; `Some` holds why.
    pub(crate) fn matches_part(&self, part: &Part) -> Option<String> {
        let program = part.program.as_str();
        let args = part.words.get(1..).unwrap_or_default();
        match self {
            Detector::RemoveRoot => {
                let (recursive, targets, no_preserve) = rm_shape(part)?;
                if no_preserve {
                    return Some("`rm --no-preserve-root` removes `/`".to_owned());
                }
                let target = targets.iter().find(|t| {
                    is_sweeping_target(t) && !(part.tree_operands && normalise(t).text.is_empty())
                })?;
                recursive.then(|| {
                    format!("a recursive rm of `{target}` would erase far more than the task")
                })
            }
            Detector::RemoveRecursive => {
                let (recursive, _, _) = rm_shape(part)?;
                recursive.then(|| "recursive rm deletes whole trees".to_owned())
            }
            Detector::MakeFilesystem => (program.starts_with("mkfs")
                || matches!(program, "mke2fs" | "mkswap" | "wipefs"))
            .then(|| format!("`{program}` erases a file system")),
            Detector::DdDevice => (program == "dd")
                .then(|| dd_output(args))
                .flatten()
                .filter(|of| of.starts_with("/dev/") && *of != "/dev/null")
                .map(|of| format!("dd writes the raw device `{of}`")),
            Detector::DdFile => (program == "dd")
                .then(|| dd_output(args))
                .flatten()
                .map(|of| format!("dd overwrites `{of}`")),
            Detector::Format => matches!(program, "format" | "format.com")
                .then(|| "`format` erases a drive".to_owned()),
            Detector::WindowsDelete => {
                let recursive_dir = matches!(program, "rd" | "rmdir")
                    && args.iter().any(|w| w.text.eq_ignore_ascii_case("/s"));
                (matches!(program, "del" | "erase") || recursive_dir)
                    .then(|| format!("`{program}` deletes files"))
            }
            Detector::Shutdown => {
                let first = args.first().map_or("", |w| w.text.as_str());
                let stops = matches!(program, "shutdown" | "reboot" | "halt" | "poweroff")
                    || (matches!(program, "init" | "telinit") && matches!(first, "0" | "6"))
                    || (program == "systemctl"
                        && args.iter().any(|w| {
                            matches!(
                                w.text.as_str(),
                                "poweroff" | "reboot" | "halt" | "kexec" | "emergency" | "rescue"
                            )
                        }));
                stops.then(|| "it stops or restarts the machine".to_owned())
            }
            Detector::ChmodWorldWritable => {
                let open = args.iter().any(|w| {
                    matches!(
                        w.text.as_str(),
                        "777" | "0777" | "a+rwx" | "ugo+rwx" | "o+rwx" | "a+w" | "o+w" | "go+w"
                    )
                });
                (program == "chmod" && has_flag(args, 'R', "--recursive") && open)
                    .then(|| "it makes a whole tree writable by everyone".to_owned())
            }
            Detector::ChownRecursive => (matches!(program, "chown" | "chgrp")
                && has_flag(args, 'R', "--recursive"))
            .then(|| "it changes the owner of a whole tree".to_owned()),
            Detector::DownloadToShell => {
                if !INTERPRETERS.contains(&program) {
                    return None;
                }
                let fetched = part
                    .upstream
                    .iter()
                    .chain(&part.substituted)
                    .find(|p| DOWNLOADERS.contains(&p.as_str()))?;
                Some(format!(
                    "it runs code fetched by `{fetched}` with `{program}` without showing it"
                ))
            }
            Detector::ForkBomb => part.self_piped_function.then(|| {
                "a function piped into itself multiplies until the machine stalls".to_owned()
            }),
            Detector::FindDeleteRoot => {
                let root = find_delete_roots(part)?
                    .into_iter()
                    .find(|r| is_sweeping_target(r) && !normalise(r).text.is_empty())?;
                Some(format!(
                    "`find {root} -delete` would erase far more than the task"
                ))
            }
            Detector::FindDelete => find_delete_roots(part)
                .map(|_| "`find -delete` deletes everything it matches".to_owned()),
            Detector::ProtectedPathWrite => protected_write(part),
            Detector::GitForcePush => {
                let (sub, rest) = git_subcommand(args)?;
                let forced = rest.iter().any(|w| {
                    let t = w.text.as_str();
                    matches!(t, "--force" | "--mirror" | "--delete" | "-d" | "--prune")
                        || t.starts_with("--force-with-lease")
                        || t.starts_with("--force-if-includes")
                        || (t.starts_with('-') && !t.starts_with("--") && t.contains('f'))
                        || (t.starts_with('+') && t.len() > 1)
                        || (t.starts_with(':') && t.len() > 1)
                });
                (program == "git" && sub == "push" && forced)
                    .then(|| "it rewrites or deletes history on the remote".to_owned())
            }
            Detector::GitDiscard => {
                let (sub, rest) = git_subcommand(args)?;
                let discards = match sub {
                    "reset" => rest.iter().any(|w| w.text == "--hard"),
                    "clean" => rest.iter().any(|w| {
                        w.text == "--force"
                            || (w.text.starts_with('-')
                                && !w.text.starts_with("--")
                                && w.text.contains('f'))
                    }),
                    _ => false,
                };
                (program == "git" && discards).then(|| "it throws away uncommitted work".to_owned())
            }
            Detector::GitConfig => {
                if program != "git" {
                    return None;
                }
                let overrides = args
                    .iter()
                    .take_while(|w| w.text.starts_with('-'))
                    .any(|w| w.text == "-c" || w.text.starts_with("--config-env"));
                let (sub, rest) = git_subcommand(args)?;
                let reads = rest.iter().any(|w| {
                    matches!(
                        w.text.as_str(),
                        "--get" | "--get-all" | "--get-regexp" | "--get-urlmatch" | "--list" | "-l"
                    ) || matches!(w.text.as_str(), "get" | "list")
                });
                (overrides || (sub == "config" && !reads)).then(|| {
                    "git configuration can make git run other programs (hooks, pagers, aliases)"
                        .to_owned()
                })
            }
            Detector::DownloadThenRun => (INTERPRETERS.contains(&program) && part.after_download)
                .then(|| {
                    format!("`{program}` runs after a download on the same line, maybe the downloaded code")
                }),
            Detector::Privilege => {
                let wrapper = part.privileged.as_deref().or_else(|| {
                    matches!(program, "sudo" | "su" | "doas" | "pkexec" | "run0").then_some(program)
                })?;
                Some(format!("`{wrapper}` runs the command with more privileges"))
            }
            Detector::Unresolved => part
                .unresolved
                .as_ref()
                .map(|why| format!("it cannot be checked before it runs: {why}")),
            Detector::OutsideWorkspace => None,
            Detector::Blocked(word) => {
                let used = program == word
                    || part.words.iter().any(|w| &w.text == word)
                    || part.literal.iter().any(|w| w == word);
                used.then(|| format!("the command uses `{word}`, which --block forbids"))
            }
        }
    }

    /// Whether the detector fires for a path tool's subject.
    pub(crate) fn matches_path(&self, outside: bool, path: &str) -> Option<String> {
        match self {
            Detector::OutsideWorkspace if outside => Some(format!(
                "`{path}` is outside the workspace, where no tool may act"
            )),
            _ => None,
        }
    }
}

/// `(recursive, targets, --no-preserve-root)` for an `rm` command.
fn rm_shape(part: &Part) -> Option<(bool, Vec<String>, bool)> {
    if part.program != "rm" {
        return None;
    }
    let mut recursive = false;
    let mut no_preserve = false;
    let mut targets = Vec::new();
    let mut options_done = false;
    for word in &part.words[1..] {
        let t = word.text.as_str();
        if options_done || !t.starts_with('-') || t == "-" {
            targets.push(t.to_owned());
        } else if t == "--" {
            options_done = true;
        } else if t == "--recursive" {
            recursive = true;
        } else if t == "--no-preserve-root" {
            no_preserve = true;
        } else if !t.starts_with("--") && (t.contains('r') || t.contains('R')) {
            recursive = true;
        }
    }
    Some((recursive || part.tree_operands, targets, no_preserve))
}

fn has_flag(args: &[Word], short: char, long: &str) -> bool {
    args.iter().any(|w| {
        let t = w.text.as_str();
        t == long || (t.starts_with('-') && !t.starts_with("--") && t.contains(short))
    })
}

/// Whether deleting `target` recursively would sweep far beyond one
/// project directory: `/`, a top-level directory, home, `*`, `.`, `..`.
fn is_sweeping_target(target: &str) -> bool {
    let mut text = normalise(target).text;
    for suffix in ["/*", "/.*"] {
        if let Some(stripped) = text.strip_suffix(suffix) {
            text = if stripped.is_empty() {
                "/".to_owned()
            } else {
                stripped.to_owned()
            };
        }
    }
    matches!(text.as_str(), "" | "/" | "~" | "*" | ".*" | "/*")
        || text.split('/').any(|c| c == "..")
        || text.starts_with("~") && !text.contains('/')
        || (text.starts_with('/') && text.matches('/').count() == 1)
}

fn dd_output(args: &[Word]) -> Option<&str> {
    args.iter().find_map(|w| w.text.strip_prefix("of="))
}

fn find_delete_roots(part: &Part) -> Option<Vec<String>> {
    if part.program != "find" || !part.words.iter().any(|w| w.text == "-delete") {
        return None;
    }
    let roots: Vec<String> = part.words[1..]
        .iter()
        .map(|w| w.text.clone())
        .take_while(|t| !t.starts_with('-') && t != "(" && t != "!")
        .collect();
    Some(if roots.is_empty() {
        vec![".".to_owned()]
    } else {
        roots
    })
}

/// The git subcommand after global options, and the words after it.
fn git_subcommand(args: &[Word]) -> Option<(&str, &[Word])> {
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let t = word.text.as_str();
        if matches!(t, "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace") {
            i += 2;
        } else if t.starts_with('-') {
            i += 1;
        } else {
            return Some((t, &args[i + 1..]));
        }
    }
    None
}

/// Whether a path is one baton protects from being changed.
fn is_protected(path: &str) -> bool {
    let normal = normalise(path).text;
    normal == "~/.ssh"
        || normal.starts_with("~/.ssh/")
        || normal.split('/').any(|c| c == ".git" || c == ".baton")
}

fn protected_write(part: &Part) -> Option<String> {
    let program = part.program.as_str();
    let args = part.words.get(1..).unwrap_or_default();
    let operands: Vec<&str> = args
        .iter()
        .map(|w| w.text.as_str())
        .filter(|t| !t.starts_with('-') || t.starts_with("--target-directory="))
        .map(|t| t.trim_start_matches("--target-directory="))
        .collect();
    let in_place = args
        .iter()
        .any(|w| w.text.starts_with("-i") || w.text == "--in-place");
    let targets: Vec<&str> = match program {
        "cp" | "install" | "rsync" => {
            let explicit = args
                .iter()
                .position(|w| w.text == "-t")
                .and_then(|i| args.get(i + 1))
                .map(|w| w.text.as_str());
            explicit
                .into_iter()
                .chain(operands.last().copied())
                .collect()
        }
        "tee" | "mv" | "ln" | "truncate" | "touch" | "rm" | "rmdir" | "unlink" | "shred"
        | "chmod" | "chown" | "chgrp" | "mkdir" | "cd" | "pushd" => operands,
        "dd" => dd_output(args).into_iter().collect(),
        "sed" | "perl" if in_place => operands,
        _ => return None,
    };
    let target = targets.into_iter().find(|t| is_protected(t))?;
    let action = match program {
        "cd" | "pushd" => "would work inside",
        "ln" => "would link to",
        _ => "would change",
    };
    Some(format!(
        "`{program}` {action} `{target}`: git internals, baton's policy files and SSH keys are protected"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::analyse;

    fn fired(command: &str) -> Vec<&'static str> {
        let parts = analyse(command).unwrap();
        builtin_rules()
            .into_iter()
            .filter(|r| {
                r.detector
                    .as_ref()
                    .is_some_and(|d| parts.iter().any(|p| d.matches_part(p).is_some()))
            })
            .map(|r| r.text)
            .collect()
    }

    #[test]
    fn recursive_rm_of_sweeping_targets() {
        for target in [
            "/", "/*", "~", "~/", "$HOME", "*", ".", "./", "..", "../x", "/etc", "//",
        ] {
            let rules = fired(&format!("rm -rf {target}"));
            assert!(rules.contains(&"shell(rm -rf /)"), "{target}: {rules:?}");
        }
        assert!(!fired("rm -rf target/debug").contains(&"shell(rm -rf /)"));
        assert!(fired("rm -rf target/debug").contains(&"shell(rm -r *)"));
        assert!(fired("rm x.txt").is_empty());
    }

    #[test]
    fn flag_spellings() {
        for command in [
            "rm -r -f /",
            "rm -fr /",
            "rm -R /",
            "rm --recursive --force /",
            "rm -rvf /",
        ] {
            assert!(fired(command).contains(&"shell(rm -rf /)"), "{command}");
        }
        assert!(fired("rm --no-preserve-root -r x").contains(&"shell(rm -rf /)"));
    }

    #[test]
    fn git_shapes() {
        assert!(fired("git push --force origin main").contains(&"shell(git push --force)"));
        assert!(fired("git -C repo push -f").contains(&"shell(git push --force)"));
        assert!(fired("git push origin +main").contains(&"shell(git push --force)"));
        assert!(fired("git push origin main").is_empty());
        assert!(fired("git reset --hard HEAD~1").contains(&"shell(git reset --hard)"));
        assert!(fired("git clean -fdx").contains(&"shell(git reset --hard)"));
    }

    #[test]
    fn protected_paths() {
        assert!(!fired("cp x .baton/policy.toml").is_empty());
        assert!(!fired("sed -i s/a/b/ .git/config").is_empty());
        assert!(fired("sed s/a/b/ .git/config").is_empty());
        assert!(fired("cp .baton/policy.toml backup.toml").is_empty());
        assert!(!fired("tee -a ~/.ssh/authorized_keys").is_empty());
    }

    #[test]
    fn sweeping_targets() {
        assert!(is_sweeping_target("/"));
        assert!(is_sweeping_target("/usr"));
        assert!(is_sweeping_target("${HOME}/*"));
        assert!(!is_sweeping_target("/tmp/build"));
        assert!(!is_sweeping_target("src"));
        assert!(!is_sweeping_target("~/project/x"));
    }
}
