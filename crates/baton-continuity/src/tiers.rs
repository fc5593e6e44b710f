//! The four tiers of seed 001's handoff, plain Markdown that people read and
//! edit: `PORTFOLIO_CONTEXT.md` (what exists and how projects relate),
//! `PROJECT_CONTEXT.md` (stack, decisions and why, constraints, known
//! issues), `SESSION_BRIEFING.md` (what is happening now; a 15-minute read)
//! and `SESSION_LOG.md` (the append-only journal, [`crate::SessionLog`]).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use baton_core::log_chain::content_hash;
use baton_core::{DeviceId, Hlc, wall_millis};
use baton_store::{NewDocumentVersion, Store};
use serde::Serialize;

use crate::error::ContinuityError;
use crate::session_log::{self, SessionLog};

/// One tier of the handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Portfolio,
    Project,
    Briefing,
    Log,
}

impl Tier {
    /// In reading order: the landscape first, the latest work last.
    pub const ALL: [Tier; 4] = [Tier::Portfolio, Tier::Project, Tier::Briefing, Tier::Log];

    pub fn file_name(self) -> &'static str {
        match self {
            Tier::Portfolio => "PORTFOLIO_CONTEXT.md",
            Tier::Project => "PROJECT_CONTEXT.md",
            Tier::Briefing => "SESSION_BRIEFING.md",
            Tier::Log => session_log::FILE_NAME,
        }
    }

    /// The tier a short name (`portfolio`, `project`, `briefing`, `log`)
    /// or a file name stands for.
    pub fn named(name: &str) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|tier| name.eq_ignore_ascii_case(tier.short_name()) || name == tier.file_name())
    }

    pub fn short_name(self) -> &'static str {
        match self {
            Tier::Portfolio => "portfolio",
            Tier::Project => "project",
            Tier::Briefing => "briefing",
            Tier::Log => "log",
        }
    }

    /// What a new file starts with: the seed's sections, to be filled in.
    fn template(self) -> &'static str {
        match self {
            Tier::Portfolio => PORTFOLIO,
            Tier::Project => PROJECT,
            Tier::Briefing => BRIEFING,
            Tier::Log => session_log::HEADER,
        }
    }
}

const PORTFOLIO: &str = "# Portfolio Context\n\n\
What exists, where it lives and how the projects relate: the landscape a \
fresh instance needs first.\n\n\
## Projects\n- (name: what it is, where it lives)\n\n\
## How They Relate\n- (none yet)\n";

const PROJECT: &str = "# Project Context\n\n\
How this project works and why it is built this way.\n\n\
## Stack\n- (none yet)\n\n\
## Why These Choices\n- (none yet)\n\n\
## Known Constraints\n- (none yet)\n\n\
## Known Issues\n- (none yet)\n";

const BRIEFING: &str = "# Session Briefing\n\n\
What is happening now, for the next instance: a 15-minute read. Bring \
it up to date at the end of each session.\n\n\
## What's Being Worked On\n- (none yet)\n\n\
## Recent Decisions\n- (none yet)\n\n\
## Immediate Blockers\n- (none yet)\n";

/// What [`init`] did with each tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitReport {
    pub created: Vec<PathBuf>,
    /// Files that were already there, left exactly as they were.
    pub kept: Vec<PathBuf>,
}

/// Creates the tiers that are missing from their templates: the project
/// tiers in `workspace`, the portfolio in `portfolio` (the workspace when
/// `None`). An existing file is never touched, even one created by someone
/// else a moment ago.
pub fn init(workspace: &Path, portfolio: Option<&Path>) -> Result<InitReport, ContinuityError> {
    let mut report = InitReport {
        created: Vec::new(),
        kept: Vec::new(),
    };
    for tier in Tier::ALL {
        let dir = match tier {
            Tier::Portfolio => portfolio.unwrap_or(workspace),
            _ => workspace,
        };
        let path = dir.join(tier.file_name());
        let io = |source| ContinuityError::Io {
            path: path.clone(),
            source,
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(tier.template().as_bytes()).map_err(io)?;
                file.sync_data().map_err(io)?;
                report.created.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => report.kept.push(path),
            Err(e) => return Err(io(e)),
        }
    }
    Ok(report)
}

/// The text of a tier of `workspace` (the portfolio from `portfolio` when
/// given), read up to [`crate::MAX_DOCUMENT_BYTES`]; a missing or binary
/// file is an error that says so.
pub fn read_tier(
    workspace: &Path,
    portfolio: Option<&Path>,
    tier: Tier,
) -> Result<String, ContinuityError> {
    let dir = match tier {
        Tier::Portfolio => portfolio.unwrap_or(workspace),
        _ => workspace,
    };
    let path = dir.join(tier.file_name());
    crate::context::read_document(&path)
        .map_err(|why| ContinuityError::InvalidDocument(format!("{}: {why}", path.display())))
}

/// Stores `content` as the next version of `tier` in the log's workspace,
/// unless it equals the latest; returns the version number stored.
pub async fn record_version(
    store: &Store,
    log: &SessionLog,
    tier: Tier,
    content: &str,
    device: &DeviceId,
    clock: &Hlc,
) -> Result<Option<i64>, ContinuityError> {
    let stored = store
        .record_document_version(NewDocumentVersion {
            workspace: log.key(),
            name: tier.file_name(),
            hash: &content_hash(content),
            content,
            device_id: device,
            hlc: clock.now(),
            created_ms: wall_millis() as i64,
        })
        .await?;
    Ok(stored.map(|version| version.version))
}

/// Stores the current text of the editable tiers (portfolio, project,
/// briefing) of the log's workspace where it changed since the last
/// version, so the store holds every version people and sessions left. A
/// missing or binary tier is skipped. Returns the tiers stored anew.
pub async fn record_tiers(
    store: &Store,
    log: &SessionLog,
    device: &DeviceId,
    clock: &Hlc,
) -> Result<Vec<Tier>, ContinuityError> {
    let mut stored = Vec::new();
    for tier in [Tier::Portfolio, Tier::Project, Tier::Briefing] {
        let path = log.workspace().join(tier.file_name());
        let bytes = match std::fs::read(&path) {
            Ok(bytes) if !bytes.contains(&0) => bytes,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ContinuityError::Io { path, source }),
        };
        let text = String::from_utf8_lossy(&bytes);
        if record_version(store, log, tier, &text, device, clock)
            .await?
            .is_some()
        {
            stored.push(tier);
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_what_is_missing_and_never_overwrites() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("app");
        std::fs::create_dir(&project).unwrap();
        std::fs::write(project.join("PROJECT_CONTEXT.md"), "mine\n").unwrap();

        let report = init(&project, Some(root.path())).unwrap();
        assert_eq!(report.kept, vec![project.join("PROJECT_CONTEXT.md")]);
        assert_eq!(report.created.len(), 3);
        assert_eq!(
            std::fs::read_to_string(project.join("PROJECT_CONTEXT.md")).unwrap(),
            "mine\n"
        );
        let portfolio = std::fs::read_to_string(root.path().join("PORTFOLIO_CONTEXT.md")).unwrap();
        assert!(portfolio.starts_with("# Portfolio Context"));
        let briefing = std::fs::read_to_string(project.join("SESSION_BRIEFING.md")).unwrap();
        assert!(briefing.contains("## Immediate Blockers"));
        let log = std::fs::read_to_string(project.join("SESSION_LOG.md")).unwrap();
        assert!(log.starts_with("# Session Log") && !log.contains("## "));

        let again = init(&project, Some(root.path())).unwrap();
        assert!(again.created.is_empty());
        assert_eq!(again.kept.len(), 4);
    }
}
