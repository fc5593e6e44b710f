//! What a sandboxed run produced.

use std::time::Duration;

use crate::isolation::Isolation;

/// How the child ended: its exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitState {
    /// Exited on its own with this code.
    Code(i32),
    /// Killed by this signal number (by a limit, the timeout, or anything else).
    Signal(i32),
}

impl ExitState {
    /// True only for a clean `exit(0)`, which is what tools treat as success.
    pub fn success(self) -> bool {
        self == ExitState::Code(0)
    }
}

/// The limit that ended a run, when it can be told apart from an ordinary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The wall-clock timeout expired and the process group was killed.
    WallTime,
    /// `RLIMIT_CPU` was reached (the kernel sent `SIGXCPU`, then `SIGKILL`).
    CpuTime,
    /// A write went past `RLIMIT_FSIZE` (the kernel sent `SIGXFSZ`).
    FileSize,
    /// stdout or stderr went past the output cap and the process group was killed.
    Output,
}

/// Everything the caller needs to report a run: status, captured output, and which limits and
/// isolation applied.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    /// How the child ended.
    pub status: ExitState,
    /// The child's process id, which is also its process-group id (it runs in its own session).
    pub pid: u32,
    /// Captured stdout, at most `max_output_bytes`.
    pub stdout: Vec<u8>,
    /// Captured stderr, at most `max_output_bytes`.
    pub stderr: Vec<u8>,
    /// stdout went past the cap; what is kept is its beginning.
    pub stdout_truncated: bool,
    /// stderr went past the cap; what is kept is its beginning.
    pub stderr_truncated: bool,
    /// The wall-clock timeout fired.
    pub timed_out: bool,
    /// The limit that ended the run, if one did and it can be told.
    pub killed_by: Option<Limit>,
    /// From spawn to the child being reaped.
    pub duration: Duration,
    /// The isolation the child actually ran under, as reported by the child itself after
    /// restricting itself.
    pub isolation: Isolation,
}
