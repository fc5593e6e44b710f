//! A pids cgroup per run: an exact cap on the processes a run may have, which also binds root
//! (unlike `RLIMIT_NPROC`), and a way to kill every process of a run, even one that left the
//! process group with `setsid`.
//!
//! baton creates the run's cgroup as a child of its own cgroup in the hierarchy that has the
//! pids controller (cgroup v1 `pids`, or v2 where the pids controller is enabled for children).
//! The child joins it between fork and exec by writing `0` to `cgroup.procs` through a file
//! descriptor opened beforehand.

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::SandboxError;

/// Kill passes over a cgroup's members before giving up: each pass kills every member, and the
/// pids cap bounds how many can appear between passes.
const KILL_PASSES: usize = 1000;
/// How long a background thread keeps trying to remove a cancelled run's cgroup.
const REMOVE_RETRY_FOR: Duration = Duration::from_secs(5);
const REMOVE_RETRY_EVERY: Duration = Duration::from_millis(10);

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where per-run cgroups are created: a directory in a pids-enabled hierarchy that baton can
/// write.
#[derive(Debug, Clone)]
pub(crate) struct PidsCgroupParent {
    dir: PathBuf,
}

impl PidsCgroupParent {
    /// Finds a writable place for per-run pids cgroups, trying one out; `None` when there is
    /// none (no pids controller, or not delegated to this user).
    pub(crate) fn find() -> Option<PidsCgroupParent> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
        candidates(&mountinfo, &membership)
            .into_iter()
            .map(|dir| PidsCgroupParent { dir })
            .find(PidsCgroupParent::works)
    }

    fn works(&self) -> bool {
        match self.create(1) {
            Ok(run) => {
                drop(run);
                true
            }
            Err(_) => false,
        }
    }

    /// Creates the cgroup of one run, capped at `max_processes`.
    pub(crate) fn create(&self, max_processes: u32) -> Result<RunCgroup, SandboxError> {
        let name = format!(
            "baton-sandbox-{}-{}",
            std::process::id(),
            RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.dir.join(name);
        let error = |source: io::Error| SandboxError::Cgroup {
            path: dir.clone(),
            source,
        };
        fs::create_dir(&dir).map_err(error)?;
        // From here on, dropping `run` removes the directory again if a step fails.
        let mut run = RunCgroup {
            procs: None,
            dir: dir.clone(),
        };
        fs::write(dir.join("pids.max"), max_processes.to_string()).map_err(error)?;
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .map_err(error)?;
        run.procs = Some(procs.into());
        Ok(run)
    }
}

/// The directories where a child cgroup of this process would get a `pids.max`.
fn candidates(mountinfo: &str, membership: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(mount_root), Some(mount_point), Some(fstype), Some(options)) =
            (left.get(3), left.get(4), right.first(), right.get(2))
        else {
            continue;
        };
        let own_path = match *fstype {
            "cgroup2" => membership
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .filter(|path| {
                    let dir = under_mount(mount_point, mount_root, path);
                    fs::read_to_string(dir.join("cgroup.subtree_control"))
                        .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids"))
                }),
            "cgroup" if options.split(',').any(|o| o == "pids") => {
                membership.lines().find_map(|l| {
                    let (_, rest) = l.split_once(':')?;
                    let (controllers, path) = rest.split_once(':')?;
                    controllers.split(',').any(|c| c == "pids").then_some(path)
                })
            }
            _ => None,
        };
        if let Some(path) = own_path {
            found.push(under_mount(mount_point, mount_root, path));
        }
    }
    found
}

fn under_mount(mount_point: &str, mount_root: &str, path: &str) -> PathBuf {
    let relative = path
        .strip_prefix(mount_root)
        .unwrap_or(path)
        .trim_start_matches('/');
    Path::new(mount_point).join(relative)
}

/// The cgroup of one run. Dropping it kills every member and removes the directory.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    dir: PathBuf,
    procs: Option<OwnedFd>,
}

impl RunCgroup {
    /// The open `cgroup.procs` the child writes `0` to, joining the cgroup before exec.
    pub(crate) fn procs_fd(&self) -> RawFd {
        self.procs.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Whether no process is left in the cgroup.
    pub(crate) fn is_empty(&self) -> bool {
        fs::read_to_string(self.dir.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
    }

    /// Sends SIGKILL to every member, over and over until none is left (or the pass budget is
    /// spent, which only a broken kernel would cause).
    pub(crate) fn kill_all(&self) {
        if fs::write(self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..KILL_PASSES {
            let Ok(members) = fs::read_to_string(self.dir.join("cgroup.procs")) else {
                return;
            };
            let pids: Vec<libc::pid_t> = members
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: kill(2) with a pid read from this run's cgroup; no memory involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.procs = None;
        self.kill_all();
        match fs::remove_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(_) => {
                // Killed members take a moment to leave; do not hold up the caller for it.
                let dir = std::mem::take(&mut self.dir);
                std::thread::spawn(move || remove_when_empty(&dir));
            }
        }
    }
}

fn remove_when_empty(dir: &Path) {
    let until = Instant::now() + REMOVE_RETRY_FOR;
    while Instant::now() < until {
        if fs::remove_dir(dir).is_ok() {
            return;
        }
        std::thread::sleep(REMOVE_RETRY_EVERY);
    }
    tracing::warn!(cgroup = %dir.display(), "could not remove a sandbox run's pids cgroup");
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
25 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 30 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_pids_hierarchy_is_found() {
        let membership = "8:pids:/jobs/one\n4:memory:/x\n0::/\n";
        assert_eq!(
            candidates(MOUNTINFO, membership),
            vec![PathBuf::from("/sys/fs/cgroup/pids/jobs/one")]
        );
    }

    #[test]
    fn no_pids_hierarchy_means_no_candidate() {
        let mountinfo = "25 1 254:0 / / rw - ext4 /dev/vda rw\n";
        assert!(candidates(mountinfo, "0::/\n").is_empty());
    }

    #[test]
    fn mount_root_is_stripped() {
        assert_eq!(
            under_mount("/sys/fs/cgroup", "/user.slice", "/user.slice/app"),
            PathBuf::from("/sys/fs/cgroup/app")
        );
    }
}
