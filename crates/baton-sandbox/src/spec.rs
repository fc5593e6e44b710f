//! What to run and under which limits.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::SandboxError;

const MIB: u64 = 1024 * 1024;
/// The longest wall-clock timeout a spec may ask for.
pub const MAX_WALL_TIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The smallest address-space limit: below it even a shell fails to start.
pub const MIN_ADDRESS_SPACE_BYTES: u64 = 16 * MIB;
/// The most processes a spec may allow.
pub const MAX_PROCESSES: u32 = 65_536;
/// The largest output cap per stream: captured output is held in memory.
pub const MAX_OUTPUT_BYTES: usize = 256 * MIB as usize;
/// The largest stdin a spec may carry: it is held in memory.
pub const MAX_STDIN_BYTES: usize = 64 * MIB as usize;

/// Resource limits for one run. Each is enforced by the kernel (rlimits, cgroup) or by the
/// supervisor (wall time, output), never by trusting the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLimits {
    /// Wall-clock time from spawn; then the whole process group is killed.
    pub wall_time: Duration,
    /// CPU time (`RLIMIT_CPU`, whole seconds, rounded up) per process.
    pub cpu_time: Duration,
    /// Virtual address space per process (`RLIMIT_AS`): allocations beyond it fail.
    pub address_space_bytes: u64,
    /// Processes (and threads) the run may have at once: exact with a pids cgroup; with
    /// `RLIMIT_NPROC` alone it is added to the tasks already running, see `crate::child`.
    pub max_processes: u32,
    /// Largest file the child may write (`RLIMIT_FSIZE`).
    pub max_file_size_bytes: u64,
    /// Output kept per stream (stdout and stderr each); past it the run is killed.
    pub max_output_bytes: usize,
}

impl Default for ExecLimits {
    /// Generous for builds and test runs, small enough to stop a runaway command.
    fn default() -> Self {
        ExecLimits {
            wall_time: Duration::from_secs(120),
            cpu_time: Duration::from_secs(120),
            address_space_bytes: 4096 * MIB,
            max_processes: 256,
            max_file_size_bytes: 1024 * MIB,
            max_output_bytes: MIB as usize,
        }
    }
}

impl ExecLimits {
    /// Checks every limit is in range, naming the first that is not.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |what: String| Err(SandboxError::InvalidSpec(what));
        if self.wall_time.is_zero() || self.wall_time > MAX_WALL_TIME {
            return bad(format!(
                "wall_time must be between 1 ns and {}s, got {:?}",
                MAX_WALL_TIME.as_secs(),
                self.wall_time
            ));
        }
        if self.cpu_time.is_zero() || self.cpu_time > MAX_WALL_TIME {
            return bad(format!(
                "cpu_time must be between 1 ns and {}s, got {:?}",
                MAX_WALL_TIME.as_secs(),
                self.cpu_time
            ));
        }
        if self.address_space_bytes < MIN_ADDRESS_SPACE_BYTES {
            return bad(format!(
                "address_space_bytes must be at least {MIN_ADDRESS_SPACE_BYTES}, got {}",
                self.address_space_bytes
            ));
        }
        if self.max_processes == 0 || self.max_processes > MAX_PROCESSES {
            return bad(format!(
                "max_processes must be between 1 and {MAX_PROCESSES}, got {}",
                self.max_processes
            ));
        }
        if self.max_file_size_bytes == 0 {
            return bad("max_file_size_bytes must be at least 1".to_owned());
        }
        if self.max_output_bytes == 0 || self.max_output_bytes > MAX_OUTPUT_BYTES {
            return bad(format!(
                "max_output_bytes must be between 1 and {MAX_OUTPUT_BYTES}, got {}",
                self.max_output_bytes
            ));
        }
        Ok(())
    }

    /// `RLIMIT_CPU` counts whole seconds; a partial second rounds up so a limit never shrinks.
    pub(crate) fn cpu_seconds(&self) -> u64 {
        self.cpu_time.as_secs() + u64::from(self.cpu_time.subsec_nanos() > 0)
    }
}

/// One command to run in the sandbox.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// The program: an absolute path, or a name looked up in the `PATH` of `env`.
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
    /// Working directory (absolute, an existing directory).
    pub cwd: PathBuf,
    /// The child's whole environment: nothing is inherited from baton.
    pub env: Vec<(OsString, OsString)>,
    /// Bytes fed to stdin, then closed; `None` connects stdin to `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// Trees the child may write, create and delete in (the workspace and a per-call temp dir).
    pub writable: Vec<PathBuf>,
    /// Trees the child may read and execute from besides `writable`: [`system_readable`] by
    /// default, so that programs find their libraries, interpreters and packages while the
    /// rest of the machine (home directories with their keys, other projects, `/root`, `/var`,
    /// `/run`) stays out of reach.
    pub readable: Vec<PathBuf>,
    /// Allow TCP bind and connect; `false` denies them (Landlock ABI >= 4).
    pub network: bool,
    /// Resource limits.
    pub limits: ExecLimits,
    /// Refuse to run (with [`SandboxError::Unavailable`]) rather than run unconfined.
    pub isolation_required: bool,
}

impl ExecSpec {
    /// A spec with the safe defaults: empty environment, no stdin, nothing writable, the system
    /// trees readable, no network, default limits, isolation required.
    pub fn new(program: impl Into<PathBuf>, cwd: impl Into<PathBuf>) -> ExecSpec {
        ExecSpec {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Vec::new(),
            stdin: None,
            writable: Vec::new(),
            readable: system_readable(),
            network: false,
            limits: ExecLimits::default(),
            isolation_required: true,
        }
    }

    /// Checks the spec before anything is spawned, naming what is wrong.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |what: String| Err(SandboxError::InvalidSpec(what));
        if self.program.as_os_str().is_empty() {
            return bad("program is empty".to_owned());
        }
        if !self.cwd.is_absolute() {
            return bad(format!("cwd must be absolute, got {}", self.cwd.display()));
        }
        if !self.cwd.is_dir() {
            return bad(format!("cwd {} is not a directory", self.cwd.display()));
        }
        for (key, value) in &self.env {
            let key_bytes = key.as_bytes();
            if key_bytes.is_empty() || key_bytes.contains(&b'=') || key_bytes.contains(&0) {
                return bad(format!(
                    "environment variable name {key:?} must be non-empty without '=' or NUL"
                ));
            }
            if value.as_bytes().contains(&0) {
                return bad(format!("environment variable {key:?} contains a NUL byte"));
            }
        }
        if let Some(stdin) = &self.stdin
            && stdin.len() > MAX_STDIN_BYTES
        {
            return bad(format!(
                "stdin is {} bytes, more than the {MAX_STDIN_BYTES} allowed",
                stdin.len()
            ));
        }
        check_paths("writable", &self.writable)?;
        check_paths("readable", &self.readable)?;
        self.limits.validate()
    }
}

/// Programs, libraries and interpreters with their packages.
const SYSTEM_TREES: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/sys/devices/system/cpu",
];

/// The few device files and `/etc` entries programs read: the loader's cache, users and groups
/// for `id` and `ls -l`, name resolution, time zone, certificates, git's and Python's system
/// configuration. Not the rest of `/etc` (`shadow`, service configuration) nor `/dev` (disks).
const SYSTEM_FILES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/protocols",
    "/etc/services",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/gitconfig",
    "/etc/mime.types",
    "/etc/magic",
    "/etc/os-release",
    "/etc/terminfo",
    "/etc/inputrc",
    "/etc/locale.alias",
    "/etc/bash.bashrc",
    "/etc/profile",
];

/// What a sandboxed program may read by default: [`SYSTEM_TREES`], [`SYSTEM_FILES`] and
/// Python's `/etc/python3*`, those of them that exist here (looked up once per process).
pub fn system_readable() -> Vec<PathBuf> {
    static FOUND: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    FOUND.get_or_init(find_system_readable).clone()
}

fn find_system_readable() -> Vec<PathBuf> {
    let python = std::fs::read_dir("/etc")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python3"))
        });
    SYSTEM_TREES
        .iter()
        .chain(SYSTEM_FILES)
        .map(PathBuf::from)
        .chain(python)
        .filter(|path| path.exists())
        .collect()
}

fn check_paths(kind: &str, paths: &[PathBuf]) -> Result<(), SandboxError> {
    for path in paths {
        if !path.is_absolute() {
            return Err(SandboxError::InvalidSpec(format!(
                "{kind} path {} must be absolute",
                path.display()
            )));
        }
        if !Path::new(path).exists() {
            return Err(SandboxError::InvalidSpec(format!(
                "{kind} path {} does not exist",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ExecSpec {
        ExecSpec::new("/bin/true", "/")
    }

    fn message(spec: &ExecSpec) -> String {
        spec.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        spec().validate().unwrap();
    }

    #[test]
    fn relative_cwd_is_refused() {
        let mut s = spec();
        s.cwd = PathBuf::from("work");
        assert!(message(&s).contains("cwd must be absolute"));
    }

    #[test]
    fn missing_writable_path_is_named() {
        let mut s = spec();
        s.writable.push(PathBuf::from("/no/such/dir/for/baton"));
        assert!(message(&s).contains("writable path /no/such/dir/for/baton does not exist"));
    }

    #[test]
    fn bad_env_name_is_refused() {
        let mut s = spec();
        s.env.push(("A=B".into(), "x".into()));
        assert!(message(&s).contains("environment variable name"));
    }

    #[test]
    fn zero_limits_are_refused() {
        let mut s = spec();
        s.limits.wall_time = Duration::ZERO;
        assert!(message(&s).contains("wall_time"));
        let mut s = spec();
        s.limits.max_processes = 0;
        assert!(message(&s).contains("max_processes"));
        let mut s = spec();
        s.limits.max_output_bytes = 0;
        assert!(message(&s).contains("max_output_bytes"));
        let mut s = spec();
        s.limits.address_space_bytes = 1;
        assert!(message(&s).contains("address_space_bytes"));
    }

    #[test]
    fn cpu_seconds_round_up() {
        let limits = ExecLimits {
            cpu_time: Duration::from_millis(1500),
            ..ExecLimits::default()
        };
        assert_eq!(limits.cpu_seconds(), 2);
    }
}
