//! The Landlock ruleset for one run, built in the parent before the fork.
//!
//! Everything that allocates or opens paths (the ruleset fd, one `O_PATH` fd per rule) happens
//! here, in the parent. The child, between fork and exec, only calls
//! `RulesetCreated::restrict_self`, which in landlock 0.4 is two `prctl`s and the
//! `landlock_restrict_self` syscall with no allocation on either outcome, so it is
//! async-signal-safe in practice. Raw syscalls on the crate's fd would be as safe but would lose
//! the crate's best-effort bookkeeping (`RulesetStatus`), which is what the run reports.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::error::SandboxError;
use crate::isolation::{Enforcement, Isolation};
use crate::spec::ExecSpec;

/// The ABI whose access rights are requested; kept equal to `isolation::TARGET_LANDLOCK_ABI`.
const TARGET: ABI = ABI::V10;

/// Device files a sandboxed shell may always write: sinks that reach nothing.
const WRITABLE_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// The kernel's Landlock ABI version, 0 when Landlock is absent or disabled.
pub(crate) fn kernel_abi() -> u32 {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attr and size 0 only queries the
    // version; it creates nothing.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    u32::try_from(version).unwrap_or(0)
}

/// Builds the ruleset for `spec`: read and execute under `readable`, everything under
/// `writable`, TCP denied unless `network`, signals and abstract UNIX sockets scoped to the
/// sandbox.
pub(crate) fn build(spec: &ExecSpec) -> Result<RulesetCreated, SandboxError> {
    let ruleset_error = |e: landlock::RulesetError| SandboxError::Ruleset(e.to_string());
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET))
        .map_err(ruleset_error)?
        .scope(Scope::from_all(TARGET))
        .map_err(ruleset_error)?;
    if !spec.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET))
            .map_err(ruleset_error)?;
    }
    let mut created = ruleset.create().map_err(ruleset_error)?;
    for path in &spec.readable {
        created = created
            .add_rule(PathBeneath::new(open(path)?, AccessFs::from_read(TARGET)))
            .map_err(ruleset_error)?;
    }
    for path in &spec.writable {
        created = created
            .add_rule(PathBeneath::new(open(path)?, AccessFs::from_all(TARGET)))
            .map_err(ruleset_error)?;
    }
    for device in WRITABLE_DEVICES {
        let path = Path::new(device);
        if path.exists() {
            created = created
                .add_rule(PathBeneath::new(open(path)?, AccessFs::from_file(TARGET)))
                .map_err(ruleset_error)?;
        }
    }
    Ok(created)
}

fn open(path: &Path) -> Result<PathFd, SandboxError> {
    PathFd::new(path).map_err(|e| SandboxError::RulePath {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// One byte the child sends the parent to say what `restrict_self` enforced.
pub(crate) fn status_byte(status: &RulesetStatus) -> u8 {
    match status {
        RulesetStatus::NotEnforced => 0,
        RulesetStatus::PartiallyEnforced => 1,
        RulesetStatus::FullyEnforced => 2,
    }
}

/// The isolation the child reported, read back from [`status_byte`].
pub(crate) fn isolation_from_byte(byte: u8, abi: u32, network: bool) -> Isolation {
    let enforcement = match byte {
        2 => Enforcement::Full,
        1 => Enforcement::Partial,
        _ => {
            return Isolation::None {
                reason: format!("the kernel (Landlock ABI {abi}) did not enforce the ruleset"),
            };
        }
    };
    Isolation::Landlock {
        abi,
        network: !network && abi >= crate::isolation::NETWORK_LANDLOCK_ABI,
        enforcement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_matches_the_advertised_abi() {
        assert_eq!(TARGET as u32, crate::isolation::TARGET_LANDLOCK_ABI);
    }

    #[test]
    fn status_round_trips() {
        let full = isolation_from_byte(status_byte(&RulesetStatus::FullyEnforced), 10, false);
        assert_eq!(
            full,
            Isolation::Landlock {
                abi: 10,
                network: true,
                enforcement: Enforcement::Full
            }
        );
        let partial = isolation_from_byte(status_byte(&RulesetStatus::PartiallyEnforced), 7, true);
        assert_eq!(
            partial,
            Isolation::Landlock {
                abi: 7,
                network: false,
                enforcement: Enforcement::Partial
            }
        );
        assert!(!isolation_from_byte(0, 7, false).is_isolated());
    }

    #[test]
    fn a_missing_rule_path_is_named() {
        let mut spec = ExecSpec::new("/bin/true", "/");
        spec.readable = vec!["/no/such/baton/path".into()];
        let error = build(&spec).unwrap_err().to_string();
        assert!(error.contains("/no/such/baton/path"), "{error}");
    }
}
