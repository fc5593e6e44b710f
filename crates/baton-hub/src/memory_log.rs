//! `memory_log.jsonl`: the seed's append-only record of every message, one
//! JSON object a line, in the data directory.
//!
//! One background task owns the file, so lines never interleave; each batch
//! is written with a single `write` on a file opened for appending, so other
//! processes appending to the same file do not tear lines either. Callers
//! never wait on the disk.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::{mpsc, oneshot};

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryLogEntry {
    /// RFC 3339 UTC time the message was recorded.
    pub timestamp: String,
    pub message_id: String,
    pub session_id: String,
    pub device_id: String,
    pub role: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<baton_core::ToolCall>,
}

enum Command {
    Append(Vec<MemoryLogEntry>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the log's writer task; clones share it.
#[derive(Clone)]
pub struct MemoryLog {
    tx: Option<mpsc::UnboundedSender<Command>>,
    path: PathBuf,
}

impl MemoryLog {
    /// Opens (creating if needed) `memory_log.jsonl` in `dir` and starts the
    /// writer task. Must be called inside a tokio runtime.
    pub fn open(dir: &Path) -> std::io::Result<MemoryLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("memory_log.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task_path = path.clone();
        tokio::task::spawn_blocking(move || write_loop(file, rx, &task_path));
        Ok(MemoryLog { tx: Some(tx), path })
    }

    /// A log that records nothing (`chat.memory_log = false`).
    pub fn disabled() -> MemoryLog {
        MemoryLog {
            tx: None,
            path: PathBuf::new(),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.tx.as_ref().map(|_| self.path.as_path())
    }

    /// Queues entries; returns at once.
    pub fn append(&self, entries: Vec<MemoryLogEntry>) {
        if let Some(tx) = &self.tx
            && !entries.is_empty()
        {
            let _ = tx.send(Command::Append(entries));
        }
    }

    /// Waits until everything queued so far is written and synced to disk.
    pub async fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (done, wait) = oneshot::channel();
            if tx.send(Command::Flush(done)).is_ok() {
                let _ = wait.await;
            }
        }
    }
}

fn write_loop(mut file: std::fs::File, mut rx: mpsc::UnboundedReceiver<Command>, path: &Path) {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.blocking_recv() {
        let mut waiters = Vec::new();
        let mut next = Some(first);
        while let Some(cmd) = next {
            match cmd {
                Command::Append(entries) => {
                    for e in entries {
                        if serde_json::to_writer(&mut buf, &e).is_ok() {
                            buf.push(b'\n');
                        }
                    }
                }
                Command::Flush(done) => waiters.push(done),
            }
            next = rx.try_recv().ok();
        }
        if !buf.is_empty() {
            if let Err(e) = file.write_all(&buf) {
                tracing::error!(path = %path.display(), error = %e, "cannot append to memory log");
            }
            buf.clear();
        }
        if !waiters.is_empty() {
            if let Err(e) = file.sync_data() {
                tracing::error!(path = %path.display(), error = %e, "cannot sync memory log");
            }
            for w in waiters {
                let _ = w.send(());
            }
        }
    }
    let _ = file.sync_data();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> MemoryLogEntry {
        MemoryLogEntry {
            timestamp: "2026-01-01T00:00:00Z".into(),
            message_id: format!("m{i}"),
            session_id: "s".into(),
            device_id: "d".into(),
            role: "user".into(),
            content: format!("line {i}\nwith a newline"),
            model: None,
            tool_calls: vec![],
        }
    }

    #[tokio::test]
    async fn appends_whole_lines_from_many_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    log.append(vec![entry(t * 100 + i)]);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        log.flush().await;
        let text = std::fs::read_to_string(dir.path().join("memory_log.jsonl")).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 400);
        for l in lines {
            let e: MemoryLogEntry = serde_json::from_str(l).unwrap();
            assert!(e.content.contains('\n'));
        }
    }

    #[tokio::test]
    async fn reopening_appends() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let log = MemoryLog::open(dir.path()).unwrap();
            log.append(vec![entry(1)]);
            log.flush().await;
        }
        let text = std::fs::read_to_string(dir.path().join("memory_log.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
