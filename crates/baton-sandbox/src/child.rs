//! What the child does to itself between fork and exec.
//!
//! This code runs in the forked child of a multi-threaded process, so it may only make
//! async-signal-safe calls: raw syscalls on values prepared by the parent, no allocation, no
//! locks. Everything it needs (rlimit values, the cgroup's open `cgroup.procs`, the Landlock
//! ruleset, the status pipe) is built before the fork.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, not only the process: spawning
//! from a tokio worker is right (workers live as long as the runtime); spawning from a thread
//! that ends before the command would kill the command with it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::spec::ExecLimits;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

/// The values the child applies to itself, prepared by the parent.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    /// `cgroup.procs` of the run's pids cgroup, or -1.
    pub(crate) cgroup_procs: RawFd,
    pub(crate) cpu_seconds: u64,
    pub(crate) address_space_bytes: u64,
    pub(crate) nproc: u64,
    pub(crate) file_size_bytes: u64,
    /// baton's pid: if the child's parent is already someone else, baton died before
    /// `PR_SET_PDEATHSIG` was armed and the child must not run.
    #[cfg(target_os = "linux")]
    pub(crate) parent_pid: libc::pid_t,
    #[cfg(target_os = "linux")]
    pub(crate) ruleset: Option<landlock::RulesetCreated>,
    /// Write end of the pipe that tells the parent what Landlock enforced (one byte).
    pub(crate) report: Option<OwnedFd>,
    pub(crate) isolation_required: bool,
    /// Refuse IP and packet sockets (the run has no network).
    pub(crate) deny_network: bool,
}

impl ChildSetup {
    /// Limits for a run. `RLIMIT_NPROC` is counted by the kernel over every task of the real
    /// user id, not per run, so it is set to the tasks running now plus `max_processes`: the run
    /// can always start that many, and a fork bomb stops the whole user at most that many tasks
    /// later. Root is exempt from `RLIMIT_NPROC`; the pids cgroup is what caps a run there.
    pub(crate) fn new(limits: &ExecLimits, cgroup_procs: RawFd, isolation_required: bool) -> Self {
        ChildSetup {
            cgroup_procs,
            cpu_seconds: limits.cpu_seconds(),
            address_space_bytes: limits.address_space_bytes,
            nproc: running_tasks().saturating_add(u64::from(limits.max_processes)),
            file_size_bytes: limits.max_file_size_bytes,
            // SAFETY: getpid has no preconditions.
            #[cfg(target_os = "linux")]
            parent_pid: unsafe { libc::getpid() },
            #[cfg(target_os = "linux")]
            ruleset: None,
            report: None,
            isolation_required,
            deny_network: false,
        }
    }

    /// Applies everything, in the child, in this order: join the pids cgroup (so nothing
    /// forked later escapes it), new session (its own process group, no controlling
    /// terminal), rlimits, parent-death signal, no-new-privs, Landlock. Async-signal-safe.
    pub(crate) fn apply(&mut self) -> io::Result<()> {
        if self.cgroup_procs >= 0 {
            write_all(self.cgroup_procs, b"0")?;
        }
        // SAFETY: each call below is a plain syscall on values owned by this struct.
        unsafe {
            check(libc::setsid())?;
            set_limit(libc::RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + 1)?;
            set_limit(
                libc::RLIMIT_AS,
                self.address_space_bytes,
                self.address_space_bytes,
            )?;
            set_limit(libc::RLIMIT_NPROC, self.nproc, self.nproc)?;
            set_limit(
                libc::RLIMIT_FSIZE,
                self.file_size_bytes,
                self.file_size_bytes,
            )?;
            set_limit(libc::RLIMIT_CORE, 0, 0)?;
            #[cfg(target_os = "linux")]
            {
                check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
                if libc::getppid() != self.parent_pid {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
                drop_capabilities()?;
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                if self.deny_network {
                    crate::seccomp::deny_network_sockets()?;
                }
            }
        }
        let enforced = self.restrict()?;
        if let Some(report) = self.report.take() {
            write_all(report.as_raw_fd(), &[enforced])?;
        }
        if enforced == 0 && self.isolation_required {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }

    /// Applies the Landlock ruleset; the status byte of `landlock_rules::status_byte`.
    #[cfg(target_os = "linux")]
    fn restrict(&mut self) -> io::Result<u8> {
        let Some(ruleset) = self.ruleset.take() else {
            return Ok(0);
        };
        match ruleset.restrict_self() {
            Ok(status) => Ok(crate::landlock_rules::status_byte(&status.ruleset)),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn restrict(&mut self) -> io::Result<u8> {
        Ok(0)
    }
}

/// Leaves the child no capability, now or after exec, even when baton runs as root:
/// `CAP_SYS_PTRACE` would let it read baton's memory and environment (the provider keys)
/// through `/proc`, `CAP_DAC_OVERRIDE` any file whatever its mode. Emptying the bounding set
/// keeps exec from granting root its capabilities again. Async-signal-safe: raw syscalls only.
#[cfg(target_os = "linux")]
fn drop_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    /// `_LINUX_CAPABILITY_VERSION_3`: two `Data` words, 64 capabilities.
    const VERSION_3: u32 = 0x2008_0522;
    // SAFETY: prctl and capset on this process, with pointers to live, correctly laid-out
    // structs.
    unsafe {
        for cap in 0..64 {
            // EINVAL past the kernel's last capability, EPERM without CAP_SETPCAP (a process
            // that never had capabilities): both leave nothing to drop.
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let data = [
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
            Data {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            },
        ];
        check(libc::syscall(libc::SYS_capset, &header, data.as_ptr()))?;
    }
    Ok(())
}

/// Tasks (processes and threads) on the system now, from `/proc/loadavg`; 0 where unknown.
fn running_tasks() -> u64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let field = l.split_whitespace().nth(3)?;
            field.split_once('/')?.1.parse().ok()
        })
        .unwrap_or(0)
}

fn check<T: Into<i64> + Copy>(result: T) -> io::Result<T> {
    if result.into() < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// `write(2)` until done; no allocation.
fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice to a descriptor this struct keeps open.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if written < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[written.unsigned_abs()..];
    }
    Ok(())
}

/// # Safety
/// A plain `setrlimit(2)`; safe to call between fork and exec.
unsafe fn set_limit(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    check(unsafe { libc::setrlimit(resource, &limit) }).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nproc_leaves_room_above_running_tasks() {
        let limits = ExecLimits {
            max_processes: 7,
            ..ExecLimits::default()
        };
        let setup = ChildSetup::new(&limits, -1, true);
        assert!(setup.nproc >= 7);
        if cfg!(target_os = "linux") {
            assert!(
                setup.nproc > 7,
                "/proc/loadavg lists at least this test's own task"
            );
        }
    }
}
