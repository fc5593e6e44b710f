//! The isolation a run gets, in words `baton doctor` can print.

use std::fmt;

/// The Landlock ABI whose restrictions baton asks for. Kernels with an older ABI enforce what
/// they know (best effort) and the run reports [`Enforcement::Partial`].
pub const TARGET_LANDLOCK_ABI: u32 = 10;

/// The first Landlock ABI that can deny TCP bind and connect.
pub const NETWORK_LANDLOCK_ABI: u32 = 4;

/// How much of the requested Landlock ruleset the kernel enforces (the `landlock` crate's
/// `RulesetStatus`, minus "not enforced", which is [`Isolation::None`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Every restriction baton asks for is enforced.
    Full,
    /// The kernel's ABI is older than [`TARGET_LANDLOCK_ABI`]: what it knows is enforced, newer
    /// restrictions (pathname UNIX sockets from ABI 9, UDP from ABI 10, ...) are not.
    Partial,
}

/// The isolation a child runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Landlock confines the child's filesystem access (and its network when `network`).
    Landlock {
        /// The kernel's Landlock ABI version.
        abi: u32,
        /// TCP bind and connect are denied (probe: can be denied on this kernel).
        network: bool,
        /// Whether the whole requested ruleset is enforced.
        enforcement: Enforcement,
    },
    /// Nothing confines the child beyond resource limits.
    None {
        /// Why, in words a person can act on.
        reason: String,
    },
}

impl Isolation {
    /// The isolation a run gets from a kernel with this Landlock ABI (0: none).
    #[cfg(any(target_os = "linux", test))]
    pub(crate) fn from_abi(abi: u32) -> Isolation {
        if abi == 0 {
            return Isolation::None {
                reason: "Landlock is not available in this kernel (not built in, or missing from the `lsm=` boot parameter)".to_owned(),
            };
        }
        Isolation::Landlock {
            abi,
            network: abi >= NETWORK_LANDLOCK_ABI,
            enforcement: if abi >= TARGET_LANDLOCK_ABI {
                Enforcement::Full
            } else {
                Enforcement::Partial
            },
        }
    }

    /// True when Landlock confines the child.
    pub fn is_isolated(&self) -> bool {
        matches!(self, Isolation::Landlock { .. })
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Isolation::Landlock {
                abi,
                network,
                enforcement,
            } => {
                let scope = if *network {
                    "filesystem + network"
                } else {
                    "filesystem only"
                };
                write!(f, "Landlock ABI {abi} ({scope}")?;
                if *enforcement == Enforcement::Partial {
                    write!(
                        f,
                        "; partial: restrictions of ABI {TARGET_LANDLOCK_ABI} this kernel lacks are not enforced"
                    )?;
                }
                write!(f, ")")
            }
            Isolation::None { reason } => write!(f, "no isolation: {reason}"),
        }
    }
}

/// What caps the number of processes a run can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessCap {
    /// A pids cgroup per run: exact, and it also lets baton kill children that left the
    /// process group.
    PidsCgroup,
    /// `RLIMIT_NPROC` only, which the kernel counts per user, not per run.
    Rlimit,
    /// Nothing: baton runs as root, which `RLIMIT_NPROC` does not bind, and no pids cgroup is
    /// writable. Only the wall-clock timeout stops a fork bomb.
    None,
}

impl fmt::Display for ProcessCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProcessCap::PidsCgroup => "processes capped per run by a pids cgroup",
            ProcessCap::Rlimit => "processes capped per user by RLIMIT_NPROC",
            ProcessCap::None => {
                "processes not capped (root ignores RLIMIT_NPROC and no pids cgroup is writable)"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_zero_means_no_isolation() {
        assert!(!Isolation::from_abi(0).is_isolated());
        assert!(
            Isolation::from_abi(0)
                .to_string()
                .starts_with("no isolation")
        );
    }

    #[test]
    fn network_rules_need_abi_4() {
        let three = Isolation::from_abi(3);
        let five = Isolation::from_abi(5);
        assert_eq!(
            three.to_string(),
            format!(
                "Landlock ABI 3 (filesystem only; partial: restrictions of ABI {TARGET_LANDLOCK_ABI} this kernel lacks are not enforced)"
            )
        );
        assert!(
            five.to_string()
                .starts_with("Landlock ABI 5 (filesystem + network")
        );
    }

    #[test]
    fn target_abi_is_full() {
        assert_eq!(
            Isolation::from_abi(TARGET_LANDLOCK_ABI).to_string(),
            format!("Landlock ABI {TARGET_LANDLOCK_ABI} (filesystem + network)")
        );
    }
}
