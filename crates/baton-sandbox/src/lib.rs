//! baton's sandbox: runs one command under the strongest isolation the OS offers, with limits.
//!
//! On Linux the child confines itself between fork and exec: its own session and process
//! group, a per-run pids cgroup where one is writable, rlimits (CPU, address space, processes,
//! file size, no core dumps), `PR_SET_PDEATHSIG`, `PR_SET_NO_NEW_PRIVS`, then a Landlock
//! ruleset (plus a seccomp filter refusing IP and packet sockets when the run has no network):
//! read and execute only where `readable` says (the system trees by default, not home
//! directories), write only under `writable`, TCP denied
//! unless the spec allows network, signals and abstract UNIX sockets scoped to the sandbox.
//! The parent enforces the wall-clock and output limits and kills the whole run (process group
//! and cgroup) when either is hit, when the command exits, or when the future is dropped.
//! No external tool (bubblewrap, firejail) is needed.

#[cfg(target_os = "linux")]
mod cgroup;
mod child;
mod error;
mod isolation;
#[cfg(target_os = "linux")]
mod landlock_rules;
mod outcome;
mod sandbox;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod seccomp;
mod spec;

pub use error::SandboxError;
pub use isolation::{
    Enforcement, Isolation, NETWORK_LANDLOCK_ABI, ProcessCap, TARGET_LANDLOCK_ABI,
};
pub use outcome::{ExecOutcome, ExitState, Limit};
pub use sandbox::Sandbox;
pub use spec::{
    ExecLimits, ExecSpec, MAX_OUTPUT_BYTES, MAX_PROCESSES, MAX_STDIN_BYTES, MAX_WALL_TIME,
    MIN_ADDRESS_SPACE_BYTES, system_readable,
};
