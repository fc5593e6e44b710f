//! baton's tool policy: whether an agent's tool call is allowed, must be
//! asked, or is denied, and which rule from which source decided.
//!
//! ```
//! use baton_policy::{Decision, Effect, Mode, Policy, Rules, Scope};
//!
//! let mut policy = Policy::new(Mode::Ask);
//! policy.add(Rules::from_flags(&["read,search".to_owned()], &["rm".to_owned()]).unwrap());
//! assert_eq!(policy.check("read", Effect::Read, "src/lib.rs").decision, Decision::Allow);
//! let verdict = policy.check("shell", Effect::Execute, "git status && rm -rf ~");
//! assert_eq!(verdict.decision, Decision::Deny);
//! assert_eq!(verdict.rule.as_deref(), Some("shell(rm -rf /)"));
//! assert_eq!(policy.check("shell", Effect::Execute, "cargo test").decision, Decision::Ask);
//! let stored = policy.remember("shell", "cargo test", Scope::Always).unwrap();
//! assert_eq!(stored, ["shell(cargo test)"]);
//! assert_eq!(policy.check("shell", Effect::Execute, "cargo test").decision, Decision::Allow);
//! ```
//!
//! # Rules
//!
//! `TOOL` or `TOOL(PATTERN)`; TOOL is one of `search`, `read`, `write`,
//! `edit`, `list`, `run`, `shell`, `git`, `mcp`, and any other name is an
//! error. The pattern runs from the first `(` to the final `)`; `TOOL(*)`
//! means the same as `TOOL`: any call of that tool. The subject a pattern
//! is matched against comes from the tool:
//!
//! | tool | subject | pattern |
//! |---|---|---|
//! | `search`, `read`, `write`, `edit`, `list` | the workspace-relative path, normalised (`./`, `.`, `..` resolved) | a glob: `*` stays within a directory, `**` crosses directories, `{a,b}`, `[ab]`, `\` escapes: `write(src/**)` |
//! | `shell` | each simple command of the command line | words: `shell(cargo test *)` |
//! | `git` | the subcommand | words: `git(commit)` |
//! | `run` | the literal `python` | words: `run(python)` |
//! | `mcp` | `server.tool` | a glob: `mcp(github.*)` |
//!
//! Word patterns are split like a shell command, quotes included. An
//! unquoted `*` standing alone is a wildcard: last, it matches any
//! remaining words (none included); elsewhere exactly one word. Anything
//! else, `'*'` and `*.rs` included, matches only itself. A shell pattern
//! may end with redirections (`shell(make > build.log)`); they match
//! literally. A pattern holds one simple command: `;`, `&&`, `|` and the
//! like are refused, since each part of a compound command is checked on
//! its own.
//!
//! # How a shell command is read
//!
//! The command is split like a POSIX shell (and bash) splits it: quotes,
//! backslashes, `$'…'`, line continuations and comments are resolved, so
//! `'rm'`, `r\m` and `$'\x72m'` all read as `rm`. It is then cut into
//! simple commands at `;`, `&&`, `||`, `|`, `|&`, `&`, newlines, subshells,
//! braces and `if`/`while`/`for`/`case` bodies. Command and process
//! substitutions (`$(…)`, backticks, `<(…)`, `>(…)`, those in unquoted
//! here-documents) are commands of their own. Wrappers are seen through:
//! `command`, `builtin`, `exec`, `env` (and `env -S`), `nohup`, `nice`,
//! `ionice`, `time`, `timeout`, `stdbuf`, `setsid`, `busybox`, `coproc`,
//! `sudo`, `doas`, `pkexec`, `run0`, `xargs`, leading `VAR=value`; and so are
//! scripts given to `sh`/`bash`/`zsh`/… `-c`, here-documents and
//! here-strings fed to a shell, `eval`, `su -c`, `watch`, `alias` and
//! `trap`, and `find -exec` (with `{}` standing for find's roots).
//!
//! **Every** simple command must be allowed for the whole to be allowed:
//! one denied part denies the whole; else one asked part asks. Deny and
//! ask rules match the program as written and by its file name (`/bin/rm`
//! is `rm`); allow rules only as written, so `shell(git status)` never
//! allows `/tmp/evil/git status`.
//!
//! A redirection that writes a file (`>`, `>>`, `>|`, `&>`, `<>`, `>&file`;
//! not `/dev/null` or a descriptor) is judged as a `write` of its target:
//! a deny or ask `write` rule applies, and without an allow (a `write`
//! rule for the target, or the shell rule that allowed the command listing
//! that exact redirection) the command is asked, in `auto` mode too.
//!
//! **What cannot be decided before it runs is asked, never allowed
//! silently**: `eval`, `alias`, `trap`, `sh -c "$VAR"`, a program held in a
//! variable or picked by a glob or brace pattern (`$CMD`, `/???/r?`,
//! `{rm,-rf,/}`), `xargs` (its arguments come from input), a shell or
//! `source` reading commands from a pipe, shell functions defined in the
//! command, variables that change what runs (`PATH`, `LD_*`, `GIT_*`,
//! `BASH_ENV`, …), commands inside `$((…))` or `${…}`, text that does not
//! parse. The code given to interpreters (`python -c`, `perl -e`, a
//! script file) is not read; the sandbox is the backstop there.
//!
//! # Evaluation
//!
//! 1. The mode: `chat` denies every tool; `plan` denies every call whose
//!    effect is not [`Effect::Read`] (`shell`, `run`, `write` and `edit`
//!    never count as reads, whatever the caller says).
//! 2. Deny rules of every source (defaults, user, project, flags,
//!    sub-agent restrictions); the first match decides.
//! 3. Sub-agent restrictions: a call outside a restriction's allow list is
//!    denied.
//! 4. Remembered approvals, each naming one exact call.
//! 5. Ask rules, then shapes that cannot be decided statically.
//! 6. Allow rules.
//! 7. The mode's default: `auto` allows, `ask` allows reads and asks for
//!    the rest, `plan` allows (only reads reach it).
//!
//! Since every deny is checked before any ask or allow, a later layer can
//! add rules but never lift an earlier deny or ask (only a person's exact
//! approval lifts an ask, never a deny).
//!
//! # Sources
//!
//! [`Policy::new`] holds the built-in defaults; [`Policy::add`] layers
//! [`Rules`] on top, each remembering its [`Source`]: the user's `[policy]`
//! table ([`Rules::from_toml`]), the project's `.baton/policy.toml`
//! ([`Rules::load_project`]; it may tighten the mode but never loosen it),
//! and the command line ([`Rules::from_flags`]: `--allow search,read,run`
//! allows those tools for any subject, `--block rm,del,format` denies any
//! shell command whose program or any word is one of those words). A
//! table has the keys `mode`, `allow`, `ask` and `deny`:
//!
//! ```toml
//! mode = "ask"
//! allow = ["read", "search", "shell(cargo test *)", "write(src/**)"]
//! ask = ["shell(git push *)"]
//! deny = ["mcp(github.delete_*)"]
//! ```
//!
//! # Sub-agents and approvals
//!
//! [`Policy::child`] gives a sub-agent or workflow task its parent's policy
//! plus extra restrictions: their deny and ask rules are added, their
//! allow rules *confine* the child (anything outside them is denied, and
//! what is inside still goes through every parent rule), and the mode can
//! only stay or get stricter (`chat < plan < ask < auto`).
//!
//! [`Policy::remember`] turns an "always" answer into allow rules, source
//! [`Source::Approval`], for exactly that call (the exact path, name, or
//! each simple command exactly as written): never a wildcard, never over a
//! deny. The returned rule texts can be stored and given back with
//! [`Policy::restore_approval`].
//!
//! # Built-in rules
//!
//! Clearly destructive shapes are denied; risky ones with honest uses are
//! asked.
//!
//! | rule | decision | why |
//! |---|---|---|
//! | `shell(rm -rf /)` | deny | recursive `rm` of `/`, a top-level directory, `~`, `$HOME`, `*`, `.` or `..` (any flag spelling, `--no-preserve-root`) |
//! | `shell(mkfs*)` | deny | `mkfs*`, `mke2fs`, `mkswap`, `wipefs` erase file systems |
//! | `shell(dd of=/dev/*)` | deny | writes a raw device |
//! | `shell(format *)` | deny | formats a drive |
//! | `shell(shutdown)` | deny | `shutdown`, `reboot`, `halt`, `poweroff`, `init 0/6`, `systemctl poweroff/reboot/halt` |
//! | `shell(chmod -R 777 *)` | deny | makes a whole tree writable by everyone |
//! | `shell(curl … \| sh)` | deny | runs code fetched from the network (`curl`/`wget` piped or substituted into a shell or interpreter) |
//! | `shell(:(){ :\|:& };:)` | deny | a function piped into itself: a fork bomb |
//! | `shell(find / -delete)` | deny | `find -delete` from `/`, `~`, `..` and the like |
//! | `shell(… .git/ .baton/ ~/.ssh)` | deny | a file-changing program (`cp`, `mv`, `ln`, `tee`, `sed -i`, …) aimed at a protected path, or a `cd` into one, after which relative paths would reach it |
//! | `write({**/.git,**/.git/**})`, `write({**/.baton,**/.baton/**})`, `write(~/.ssh/**)` and the same for `edit` | deny | git internals (hooks run code), baton's own policy files, SSH keys; also applies to shell redirections |
//! | `*(outside the workspace)` | deny | a path tool given an absolute path, `~` or a `..` that climbs out |
//! | `shell(rm -r *)` | ask | any other recursive `rm` |
//! | `shell(dd of=*)` | ask | `dd` writing a file |
//! | `shell(del *)` | ask | `del`, `erase`, `rd /s`, `rmdir /s` |
//! | `shell(chown -R *)` | ask | recursive ownership change |
//! | `shell(find -delete)` | ask | deletes whatever it finds |
//! | `shell(git push --force)` | ask | force pushes, `--mirror`, deleting remote branches, `+refspec` |
//! | `shell(git reset --hard)` | ask | `git reset --hard` and `git clean -f` throw away uncommitted work |
//! | `shell(git config *)` | ask | `git config` changes and `git -c`: hooks paths, pagers and aliases run programs |
//! | `shell(curl …; sh …)` | ask | a shell or interpreter runs after a download on the same line |
//! | `shell(sudo *)` | ask | `sudo`, `su`, `doas`, `pkexec`, `run0` |
//! | `shell(<unresolved>)` | ask | a shape that cannot be decided statically: `eval`, `alias`, `trap`, `sh -c "$VAR"`, a program in a variable or chosen by a glob or brace pattern, `xargs`, shell functions, a shell reading commands from a pipe, `PATH=`/`LD_PRELOAD=`-style variables, commands inside `$((…))` or `${…}` |
//!
//! # Limits
//!
//! A command line is at most [`MAX_COMMAND_BYTES`] bytes and
//! [`MAX_COMMANDS`] simple commands (more is denied), nests at most
//! [`MAX_NESTING`] shells or substitutions deep (deeper is asked); a rule is
//! at most [`MAX_RULE_BYTES`] bytes, a key at most [`MAX_RULES_PER_KEY`]
//! rules, a policy file at most [`MAX_POLICY_FILE_BYTES`] bytes.
//!
//! The crate does no I/O beyond reading the policy files it is given.

mod defaults;
mod layer;
mod mode;
mod path;
mod policy;
mod rule;
mod shell;
mod tool;
mod verdict;
mod words;

pub use layer::{LayerError, MAX_POLICY_FILE_BYTES, MAX_RULES_PER_KEY, PROJECT_POLICY_FILE, Rules};
pub use mode::Mode;
pub use policy::{ApprovalError, Policy, Scope};
pub use rule::{MAX_RULE_BYTES, Rule, RuleError};
pub use shell::{MAX_COMMAND_BYTES, MAX_COMMANDS, MAX_NESTING, ShellError};
pub use tool::{Effect, Tool};
pub use verdict::{Decision, Source, Verdict};
