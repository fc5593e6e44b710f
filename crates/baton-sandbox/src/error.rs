//! What can go wrong when running a command in the sandbox.

use std::io;
use std::path::PathBuf;

/// Why [`crate::Sandbox::run`] could not run a command (a command that ran and failed is an
/// [`crate::ExecOutcome`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The caller asked for isolation and this system cannot provide it.
    #[error("sandbox isolation is required but unavailable: {reason}")]
    Unavailable { reason: String },
    /// The spec is malformed (a limit out of range, a path that does not exist, ...).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// A path listed as readable or writable could not be opened to build the Landlock rules.
    #[error("cannot open {path} for a sandbox rule: {source}")]
    RulePath { path: PathBuf, source: io::Error },
    /// Building the Landlock ruleset failed.
    #[error("cannot build the Landlock ruleset: {0}")]
    Ruleset(String),
    /// The per-run pids cgroup could not be set up.
    #[error("cannot set up the pids cgroup at {path}: {source}")]
    Cgroup { path: PathBuf, source: io::Error },
    /// The program could not be started (not found, not executable, refused by the sandbox).
    #[error("cannot start {program}: {source}")]
    Spawn { program: PathBuf, source: io::Error },
    /// Reading the child's output or waiting for it failed.
    #[error("lost track of the child process: {0}")]
    Io(#[from] io::Error),
}
