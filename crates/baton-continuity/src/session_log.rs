//! `SESSION_LOG.md`, the workspace's append-only journal (seed 001's fourth
//! tier), kept tamper-evident: every entry is also stored, hash-chained, so
//! [`verify`] can say which entry of the file was edited, moved, deleted or
//! added by hand, by position.
//!
//! An append holds an exclusive `flock` on the file while it records the
//! entry in the store and writes it, so concurrent appenders (sessions,
//! processes) never interleave inside an entry and the file's order is the
//! store's order. The store is written first: an entry that reached the
//! file is always recorded.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use baton_core::log_chain::{GENESIS, entry_hash};
use baton_core::{DeviceId, Hlc, wall_millis};
use baton_store::{LogEntry, NewLogEntry, Store};
use serde::Serialize;

use crate::error::ContinuityError;

/// The file's name in the workspace root.
pub const FILE_NAME: &str = "SESSION_LOG.md";

/// The largest entry accepted; a session's journal entry is a page or two.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

pub(crate) const HEADER: &str = "# Session Log\n\nAppend-only work journal: every baton session adds one \
entry below. Edit earlier entries only to fix facts.\n";

/// How the store keys a workspace's records (its log, document versions,
/// memories): its canonical path, so every spelling of it is one key.
pub fn workspace_key(workspace: &Path) -> Result<String, ContinuityError> {
    Ok(canonical(workspace)?.display().to_string())
}

fn canonical(workspace: &Path) -> Result<PathBuf, ContinuityError> {
    workspace
        .canonicalize()
        .map_err(|source| ContinuityError::Io {
            path: workspace.to_owned(),
            source,
        })
}

/// One workspace's session log.
#[derive(Debug, Clone)]
pub struct SessionLog {
    workspace: PathBuf,
    /// The workspace as the store keys it: its canonical path.
    key: String,
}

/// Something [`verify`](SessionLog::verify) found, with 1-based entry
/// positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The file's entry at `position` is not what was recorded there.
    Edited { position: usize },
    /// Recorded entry `recorded` now stands at `position`.
    Moved { recorded: usize, position: usize },
    /// Recorded entry `position` is missing from the file.
    Deleted { position: usize },
    /// The file's entry at `position` was never recorded (added by hand).
    NotRecorded { position: usize },
    /// The stored chain itself does not add up at `seq`: the store was
    /// changed outside baton.
    ChainBroken { seq: i64 },
}

/// What [`SessionLog::verify`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub file: String,
    /// Entries recorded in the store.
    pub recorded: usize,
    /// Entries found in the file.
    pub in_file: usize,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

impl SessionLog {
    /// The log of `workspace`, an existing directory.
    pub fn open(workspace: &Path) -> Result<SessionLog, ContinuityError> {
        let canonical = canonical(workspace)?;
        Ok(SessionLog {
            key: canonical.display().to_string(),
            workspace: canonical,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.workspace.join(FILE_NAME)
    }

    /// The workspace's canonical directory.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The workspace as the store keys its records.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Records `text` (one entry: a `## ` heading, then its body) in the
    /// store, chained to the previous entry, then appends it to the file
    /// (created with its header when missing) in one write.
    pub async fn append(
        &self,
        store: &Store,
        text: &str,
        device: &DeviceId,
        clock: &Hlc,
    ) -> Result<LogEntry, ContinuityError> {
        check_entry(text)?;
        let path = self.path();
        let to_lock = path.clone();
        let locked = blocking(&path, move || lock(&to_lock)).await?;
        let entry = store
            .append_log_entry(NewLogEntry {
                workspace: &self.key,
                text,
                device_id: device,
                hlc: clock.now(),
                created_ms: wall_millis() as i64,
            })
            .await?;
        let (to_write, text) = (path.clone(), text.to_owned());
        blocking(&path, move || write_entry(locked, &to_write, &text)).await?;
        Ok(entry)
    }

    /// Compares the file with the stored chain, entry by entry.
    pub async fn verify(&self, store: &Store) -> Result<Verification, ContinuityError> {
        let stored = store.log_entries(&self.key).await?;
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ContinuityError::Io { path, source }),
        };
        let in_file = split_entries(&text);
        let recorded: Vec<&str> = stored.iter().map(|e| e.text.trim_matches('\n')).collect();
        let mut problems = compare(&recorded, &in_file);
        let mut prev = GENESIS.to_owned();
        for entry in &stored {
            if entry.prev_hash != prev || entry.hash != entry_hash(&prev, &entry.text) {
                problems.push(Problem::ChainBroken { seq: entry.seq });
            }
            prev = entry.hash.clone();
        }
        Ok(Verification {
            file: path.display().to_string(),
            recorded: recorded.len(),
            in_file: in_file.len(),
            problems,
        })
    }
}

/// Runs file work on the blocking pool; a task that dies is reported as
/// an I/O failure on `path`.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, ContinuityError> + Send + 'static,
) -> Result<T, ContinuityError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ContinuityError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// An entry must be text a person can read and start with its heading.
fn check_entry(text: &str) -> Result<(), ContinuityError> {
    let invalid = |why: &str| Err(ContinuityError::InvalidEntry(why.to_owned()));
    if text.len() > MAX_ENTRY_BYTES {
        return invalid(&format!(
            "it is {} bytes, more than the {MAX_ENTRY_BYTES} allowed",
            text.len()
        ));
    }
    if text.contains('\0') {
        return invalid("it contains a NUL byte");
    }
    if !text.trim_start_matches('\n').starts_with("## ") {
        return invalid("it must start with a `## ` heading");
    }
    if text
        .trim_matches('\n')
        .lines()
        .skip(1)
        .any(|l| l.starts_with("## "))
    {
        return invalid("it holds more than one `## ` heading");
    }
    Ok(())
}

/// Opens the file for appending and takes its exclusive lock (blocking).
fn lock(path: &Path) -> Result<File, ContinuityError> {
    let io = |source| ContinuityError::Io {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    Ok(file)
}

/// Writes the header (for a new file) and the entry in one write; the lock
/// is released when `file` closes.
fn write_entry(mut file: File, path: &Path, text: &str) -> Result<(), ContinuityError> {
    let io = |source| ContinuityError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = String::new();
    if file.metadata().map_err(io)?.len() == 0 {
        out.push_str(HEADER);
    }
    if !text.starts_with('\n') {
        out.push('\n');
    }
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    file.write_all(out.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// The file's entries: each `## ` heading and what follows it up to the
/// next one, blank lines around it trimmed. The header is not an entry.
pub(crate) fn split_entries(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("## ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            text[start..end].trim_matches('\n')
        })
        .collect()
}

/// Position by position: what differs from the record, and how.
fn compare(recorded: &[&str], in_file: &[&str]) -> Vec<Problem> {
    let file_set: HashSet<&str> = in_file.iter().copied().collect();
    let mut problems = Vec::new();
    let mut edited = HashSet::new();
    for (at, text) in in_file.iter().enumerate() {
        if recorded.get(at) == Some(text) {
            continue;
        }
        if let Some(was) = recorded.iter().position(|r| r == text) {
            problems.push(Problem::Moved {
                recorded: was + 1,
                position: at + 1,
            });
        } else if at < recorded.len() && !file_set.contains(recorded[at]) {
            edited.insert(at);
            problems.push(Problem::Edited { position: at + 1 });
        } else {
            problems.push(Problem::NotRecorded { position: at + 1 });
        }
    }
    for (at, text) in recorded.iter().enumerate() {
        if !file_set.contains(text) && !edited.contains(&at) {
            problems.push(Problem::Deleted { position: at + 1 });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_at_their_headings() {
        let text =
            format!("{HEADER}\n## Session: a\nbody a\n\n## Session: b\n\n### Part\nbody b\n");
        assert_eq!(
            split_entries(&text),
            vec!["## Session: a\nbody a", "## Session: b\n\n### Part\nbody b"]
        );
        assert!(split_entries(HEADER).is_empty());
    }

    #[test]
    fn comparison_names_each_kind_of_change() {
        let recorded = ["## a", "## b", "## c"];
        assert!(compare(&recorded, &["## a", "## b", "## c"]).is_empty());
        assert_eq!(
            compare(&recorded, &["## a", "## B!", "## c"]),
            vec![Problem::Edited { position: 2 }]
        );
        assert_eq!(
            compare(&recorded, &["## a", "## c"]),
            vec![
                Problem::Moved {
                    recorded: 3,
                    position: 2
                },
                Problem::Deleted { position: 2 }
            ]
        );
        assert_eq!(
            compare(&recorded, &["## b", "## a", "## c"]),
            vec![
                Problem::Moved {
                    recorded: 2,
                    position: 1
                },
                Problem::Moved {
                    recorded: 1,
                    position: 2
                }
            ]
        );
        assert_eq!(
            compare(&recorded, &["## a", "## b", "## c", "## d"]),
            vec![Problem::NotRecorded { position: 4 }]
        );
    }

    #[test]
    fn entries_are_checked_before_anything_is_written() {
        assert!(check_entry("\n## Session: ok\nbody\n").is_ok());
        for bad in ["no heading", "## a\n## b\n", "## a\0"] {
            assert!(check_entry(bad).is_err(), "{bad:?}");
        }
        assert!(check_entry(&format!("## big\n{}", "x".repeat(MAX_ENTRY_BYTES))).is_err());
    }
}
