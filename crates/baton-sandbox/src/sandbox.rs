//! `Sandbox`: the probed isolation, and running one command under it.

use std::fmt;
use std::io::{self, PipeReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep_until};

#[cfg(target_os = "linux")]
use crate::cgroup::{PidsCgroupParent, RunCgroup};
use crate::child::ChildSetup;
use crate::error::SandboxError;
use crate::isolation::{Isolation, ProcessCap};
use crate::outcome::{ExecOutcome, ExitState, Limit};
use crate::spec::ExecSpec;

/// After the child exits (or is killed), how long output is still read from processes that
/// kept its pipes open; they have been sent SIGKILL, so only a process that escaped both the
/// process group and the cgroup can hold a pipe this long.
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How long to wait, after killing, for the run's cgroup to empty before removing it.
#[cfg(target_os = "linux")]
const CGROUP_EMPTY_WAIT: Duration = Duration::from_secs(1);
#[cfg(target_os = "linux")]
const CGROUP_EMPTY_POLL: Duration = Duration::from_millis(1);
/// Read buffer per output stream.
const READ_CHUNK: usize = 64 * 1024;

/// Runs commands under the strongest isolation this OS offers. Probe once and share it.
#[derive(Debug, Clone)]
pub struct Sandbox {
    isolation: Isolation,
    process_cap: ProcessCap,
    #[cfg(target_os = "linux")]
    cgroups: Option<PidsCgroupParent>,
}

impl Sandbox {
    /// What this kernel offers: the Landlock ABI (and with it network rules) and a writable
    /// pids cgroup. Probed once per process; later calls return the cached answer.
    pub fn probe() -> Sandbox {
        static PROBED: OnceLock<Sandbox> = OnceLock::new();
        PROBED.get_or_init(Sandbox::probe_now).clone()
    }

    /// Also makes this process non-dumpable (as ssh-agent does): its `/proc` entries then belong
    /// to root, so a sandboxed child, which keeps no capability, cannot read its environment
    /// or memory, where provider keys live. Core dumps of baton are off as a consequence.
    #[cfg(target_os = "linux")]
    fn probe_now() -> Sandbox {
        // SAFETY: a prctl on this process's own flag.
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
        let cgroups = PidsCgroupParent::find();
        let process_cap = if cgroups.is_some() {
            ProcessCap::PidsCgroup
        } else if running_as_root() {
            ProcessCap::None
        } else {
            ProcessCap::Rlimit
        };
        Sandbox {
            isolation: Isolation::from_abi(crate::landlock_rules::kernel_abi()),
            process_cap,
            cgroups,
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn probe_now() -> Sandbox {
        Sandbox {
            isolation: Isolation::None {
                reason: "baton's sandbox uses Landlock, which only Linux has".to_owned(),
            },
            process_cap: if running_as_root() {
                ProcessCap::None
            } else {
                ProcessCap::Rlimit
            },
        }
    }

    /// The isolation a run gets on this system.
    pub fn isolation(&self) -> Isolation {
        self.isolation.clone()
    }

    /// What caps the processes of a run on this system.
    pub fn process_cap(&self) -> ProcessCap {
        self.process_cap.clone()
    }

    /// Runs `spec` to completion (or to a limit) and reports what happened. A command that
    /// fails or is killed by a limit is an `Ok` outcome; an `Err` means it could not be run.
    /// Dropping the future kills the whole run.
    pub async fn run(&self, spec: ExecSpec) -> Result<ExecOutcome, SandboxError> {
        spec.validate()?;
        if spec.isolation_required && !self.isolation.is_isolated() {
            return Err(SandboxError::Unavailable {
                reason: self.isolation.to_string(),
            });
        }
        let run = self.prepare(&spec)?;
        let Prepared {
            mut command,
            report,
            #[cfg(target_os = "linux")]
            cgroup,
        } = run;
        let started = Instant::now();
        let spawned = command.spawn();
        // Dropping the command closes the parent's copies of the ruleset, cgroup and report
        // descriptors, so the report pipe reaches end-of-file once the child has exec'd.
        drop(command);
        let enforced = read_report(report);
        let mut child = match spawned {
            Ok(child) => child,
            Err(source) if spec.isolation_required && enforced == Some(0) => {
                return Err(SandboxError::Unavailable {
                    reason: format!("the child could not confine itself: {source}"),
                });
            }
            Err(source) => {
                return Err(SandboxError::Spawn {
                    program: spec.program,
                    source,
                });
            }
        };
        let pid = child.id().ok_or_else(|| {
            io::Error::other("the child exited and was reaped before its pid was read")
        })?;
        let guard = RunGuard {
            pgid: libc::pid_t::try_from(pid).map_err(io::Error::other)?,
            #[cfg(target_os = "linux")]
            cgroup,
        };
        let isolation = self.isolation_of(enforced, spec.network);
        let supervised = supervise(&mut child, &spec, &guard, started).await?;
        guard.finish().await;
        Ok(ExecOutcome {
            status: exit_state(supervised.status),
            pid,
            killed_by: supervised
                .killed_by
                .or_else(|| limit_from_signal(supervised.status)),
            stdout: supervised.stdout.bytes,
            stderr: supervised.stderr.bytes,
            stdout_truncated: supervised.stdout.truncated,
            stderr_truncated: supervised.stderr.truncated,
            timed_out: supervised.timed_out,
            duration: started.elapsed(),
            isolation,
        })
    }

    fn prepare(&self, spec: &ExecSpec) -> Result<Prepared, SandboxError> {
        #[cfg(target_os = "linux")]
        let cgroup = match &self.cgroups {
            Some(parent) => Some(parent.create(spec.limits.max_processes)?),
            None => None,
        };
        #[cfg(target_os = "linux")]
        let cgroup_procs = cgroup.as_ref().map_or(-1, RunCgroup::procs_fd);
        #[cfg(not(target_os = "linux"))]
        let cgroup_procs = -1;
        let mut setup = ChildSetup::new(&spec.limits, cgroup_procs, spec.isolation_required);
        #[cfg(target_os = "linux")]
        if self.isolation.is_isolated() {
            setup.ruleset = Some(crate::landlock_rules::build(spec)?);
            setup.deny_network = !spec.network;
        }
        // Close-on-exec on every platform: the child writes its Landlock status before exec.
        let (report_read, report_write) = io::pipe()?;
        setup.report = Some(report_write.into());

        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(if spec.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: `ChildSetup::apply` makes only async-signal-safe calls (see `crate::child`).
        unsafe {
            command.pre_exec(move || setup.apply());
        }
        Ok(Prepared {
            command,
            report: report_read,
            #[cfg(target_os = "linux")]
            cgroup,
        })
    }

    #[cfg(target_os = "linux")]
    fn isolation_of(&self, enforced: Option<u8>, network: bool) -> Isolation {
        match (&self.isolation, enforced) {
            (Isolation::Landlock { abi, .. }, Some(byte)) => {
                crate::landlock_rules::isolation_from_byte(byte, *abi, network)
            }
            (Isolation::Landlock { .. }, None) => Isolation::None {
                reason: "the child did not report its Landlock status".to_owned(),
            },
            (none, _) => none.clone(),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn isolation_of(&self, _enforced: Option<u8>, _network: bool) -> Isolation {
        self.isolation.clone()
    }
}

impl fmt::Display for Sandbox {
    /// One line for `baton doctor`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.isolation, self.process_cap)
    }
}

struct Prepared {
    command: Command,
    report: PipeReader,
    #[cfg(target_os = "linux")]
    cgroup: Option<RunCgroup>,
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The child's status byte, or `None` if it never wrote one (it failed before Landlock).
fn read_report(mut report: PipeReader) -> Option<u8> {
    let mut byte = [0u8; 1];
    match report.read(&mut byte) {
        Ok(1) => Some(byte[0]),
        _ => None,
    }
}

/// Kills the whole run when dropped: the process group, and every member of the run's cgroup
/// (which also holds processes that called `setsid`). Cancelling `Sandbox::run` drops it.
struct RunGuard {
    pgid: libc::pid_t,
    #[cfg(target_os = "linux")]
    cgroup: Option<RunCgroup>,
}

impl RunGuard {
    fn kill(&self) {
        // SAFETY: killpg with the group this run created. The kernel keeps a group's id
        // allocated while any member lives, so this reaches only this run's processes; once
        // all are gone it fails with ESRCH (reuse would need the pid space to wrap first).
        unsafe { libc::killpg(self.pgid, libc::SIGKILL) };
        #[cfg(target_os = "linux")]
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill_all();
        }
    }

    /// Kills what is left and waits (briefly) for the cgroup to empty, so it can be removed.
    async fn finish(self) {
        self.kill();
        #[cfg(target_os = "linux")]
        if let Some(cgroup) = &self.cgroup {
            let until = Instant::now() + CGROUP_EMPTY_WAIT;
            while !cgroup.is_empty() && Instant::now() < until {
                tokio::time::sleep(CGROUP_EMPTY_POLL).await;
            }
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Default)]
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
    open: bool,
}

impl Capture {
    /// Keeps what fits under `cap`; returns true when the chunk went past it.
    fn take(&mut self, chunk: &[u8], cap: usize) -> bool {
        let room = cap.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            self.truncated = true;
            self.open = false;
        }
        self.truncated
    }
}

struct Supervised {
    status: ExitStatus,
    stdout: Capture,
    stderr: Capture,
    timed_out: bool,
    killed_by: Option<Limit>,
}

/// Feeds stdin, reads both outputs, waits for the exit, and enforces the wall-clock and
/// output limits, all concurrently.
async fn supervise(
    child: &mut Child,
    spec: &ExecSpec,
    guard: &RunGuard,
    started: Instant,
) -> io::Result<Supervised> {
    let cap = spec.limits.max_output_bytes;
    let deadline = started + spec.limits.wall_time;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let stdin = child.stdin.take();
    let input = spec.stdin.clone().unwrap_or_default();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A child that exits without reading all of stdin is not an error of the run.
            let _ = stdin.write_all(&input).await;
        }
    };
    tokio::pin!(feed);
    let mut fed = false;
    let mut out = Capture {
        open: stdout.is_some(),
        ..Capture::default()
    };
    let mut err = Capture {
        open: stderr.is_some(),
        ..Capture::default()
    };
    let (mut out_buf, mut err_buf) = (vec![0u8; READ_CHUNK], vec![0u8; READ_CHUNK]);
    let mut status = None;
    let mut timed_out = false;
    let mut killed_by = None;
    let mut drain_until: Option<Instant> = None;
    while status.is_none() || out.open || err.open {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buf), if out.open => {
                let n = read?;
                if n == 0 {
                    out.open = false;
                } else if out.take(&out_buf[..n], cap) {
                    killed_by.get_or_insert(Limit::Output);
                    guard.kill();
                }
            }
            read = read_some(&mut stderr, &mut err_buf), if err.open => {
                let n = read?;
                if n == 0 {
                    err.open = false;
                } else if err.take(&err_buf[..n], cap) {
                    killed_by.get_or_insert(Limit::Output);
                    guard.kill();
                }
            }
            exited = child.wait(), if status.is_none() => {
                status = Some(exited?);
                // Background processes die with the command that started them.
                guard.kill();
                drain_until.get_or_insert(Instant::now() + DRAIN_GRACE);
            }
            () = &mut feed, if !fed => fed = true,
            () = sleep_until(deadline), if !timed_out && status.is_none() => {
                timed_out = true;
                killed_by.get_or_insert(Limit::WallTime);
                guard.kill();
            }
            () = sleep_until(drain_until.unwrap_or(deadline)), if drain_until.is_some() => {
                out.open = false;
                err.open = false;
            }
        }
    }
    let status = status.ok_or_else(|| io::Error::other("the supervision loop ended early"))?;
    Ok(Supervised {
        status,
        stdout: out,
        stderr: err,
        timed_out,
        killed_by,
    })
}

async fn read_some<R: AsyncRead + Unpin>(
    stream: &mut Option<R>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match stream {
        Some(stream) => stream.read(buf).await,
        None => Ok(0),
    }
}

fn exit_state(status: ExitStatus) -> ExitState {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitState::Code(code),
        (None, Some(signal)) => ExitState::Signal(signal),
        (None, None) => ExitState::Code(-1),
    }
}

/// The limit a kernel signal stands for: `SIGXCPU` for CPU time, `SIGXFSZ` for file size.
fn limit_from_signal(status: ExitStatus) -> Option<Limit> {
    match status.signal() {
        Some(libc::SIGXCPU) => Some(Limit::CpuTime),
        Some(libc::SIGXFSZ) => Some(Limit::FileSize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_beginning_and_flags_the_rest() {
        let mut capture = Capture {
            open: true,
            ..Capture::default()
        };
        assert!(!capture.take(b"abc", 5));
        assert!(capture.take(b"defg", 5));
        assert_eq!(capture.bytes, b"abcde");
        assert!(capture.truncated);
        assert!(!capture.open);
    }

    #[test]
    fn signals_map_to_limits() {
        assert_eq!(
            limit_from_signal(ExitStatus::from_raw(libc::SIGXCPU)),
            Some(Limit::CpuTime)
        );
        assert_eq!(
            limit_from_signal(ExitStatus::from_raw(libc::SIGXFSZ)),
            Some(Limit::FileSize)
        );
        assert_eq!(limit_from_signal(ExitStatus::from_raw(0)), None);
        assert_eq!(exit_state(ExitStatus::from_raw(3 << 8)), ExitState::Code(3));
        assert_eq!(
            exit_state(ExitStatus::from_raw(libc::SIGKILL)),
            ExitState::Signal(libc::SIGKILL)
        );
    }
}
