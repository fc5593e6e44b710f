//! Group commit: the gateway's hot path hands messages to a background task
//! and goes on streaming, while the task commits whatever has queued up in
//! one transaction. Under load, one fsync then covers many requests; when
//! idle, a submission is committed at once (nothing waits to fill a batch).
//!
//! A submitter that must know its messages are durable (before it
//! acknowledges them to a client) awaits the returned [`Committed`]; one
//! that need not, drops it.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::records::{Batch, MessageRecord};
use crate::store::Store;

/// How a [`RecordWriter`] queues and groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Submissions that may wait in the queue; past that, `submit` waits
    /// (backpressure instead of unbounded memory). At least 1.
    pub capacity: usize,
    /// Records committed together at most. A submission is never split, so
    /// one larger than this is committed alone. At least 1.
    pub max_batch: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            capacity: 1024,
            max_batch: 512,
        }
    }
}

type Outcome = Result<(), StoreError>;

/// One submission and the submitter's answer channel.
struct Job {
    batch: Batch,
    done: oneshot::Sender<Outcome>,
}

impl Job {
    /// What the job weighs against `max_batch`.
    fn size(&self) -> usize {
        self.batch.sessions.len() + self.batch.messages.len()
    }
}

/// A handle to the background writer; clones share it.
#[derive(Clone)]
pub struct RecordWriter {
    shared: Arc<Shared>,
}

struct Shared {
    /// The queue's only long-lived sender; taken on close, so the task ends
    /// once the queue is drained.
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

/// Resolves when a submission is committed (or failed). Dropping it does
/// not cancel the write.
#[derive(Debug)]
pub struct Committed {
    done: oneshot::Receiver<Outcome>,
}

impl Future for Committed {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        Pin::new(&mut self.done).poll(cx).map(|answer| {
            answer.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the record writer stopped before committing".into(),
                ))
            })
        })
    }
}

impl RecordWriter {
    pub(crate) fn spawn(store: Store, options: WriterOptions) -> RecordWriter {
        let (sender, queue) = mpsc::channel(options.capacity.max(1));
        let task = tokio::spawn(run(store, queue, options.max_batch.max(1)));
        RecordWriter {
            shared: Arc::new(Shared {
                sender: Mutex::new(Some(sender)),
                task: tokio::sync::Mutex::new(Some(task)),
            }),
        }
    }

    /// Queues messages to be appended in one transaction (see
    /// [`Store::append_messages`]). Waits only while the queue is full.
    /// Fails with [`StoreError::Unavailable`] once the writer is closed.
    pub async fn submit(&self, records: Vec<MessageRecord>) -> Result<Committed, StoreError> {
        self.submit_batch(records.into()).await
    }

    /// Like [`submit`](Self::submit), creating the batch's sessions in the
    /// same transaction (see [`Store::append`]).
    pub async fn submit_batch(&self, batch: Batch) -> Result<Committed, StoreError> {
        let (done, answer) = oneshot::channel();
        if batch.sessions.is_empty() && batch.messages.is_empty() {
            // Nothing to make durable; ignoring a dropped receiver is fine.
            let _ = done.send(Ok(()));
            return Ok(Committed { done: answer });
        }
        let sender = self
            .shared
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed)?;
        sender
            .send(Job { batch, done })
            .await
            .map_err(|_| closed())?;
        Ok(Committed { done: answer })
    }

    /// Stops taking submissions, commits everything already queued, and
    /// returns when the writer task has finished. Every clone is closed;
    /// calling it again (from any clone) waits for the same end.
    pub async fn close(&self) {
        drop(
            self.shared
                .sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let mut task = self.shared.task.lock().await;
        if let Some(handle) = task.take()
            && let Err(error) = handle.await
        {
            tracing::error!(%error, "record writer task failed");
        }
    }

    /// [`close`](Self::close), for an owner that is done with the handle.
    pub async fn shutdown(self) {
        self.close().await;
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the record writer is closed".into())
}

/// The writer task: takes the next submission, adds whatever else is
/// already queued up to `max_batch` records, commits, repeats; ends when
/// the queue is closed and empty.
async fn run(store: Store, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let mut size = first.size();
        let mut group = vec![first];
        while size < max_batch {
            let Ok(job) = queue.try_recv() else { break };
            if size + job.size() > max_batch {
                carried = Some(job);
                break;
            }
            size += job.size();
            group.push(job);
        }
        commit(&store, group).await;
    }
}

/// Commits a group in one transaction and answers every submitter. If the
/// group fails for a reason one submission may have caused (an unknown
/// session, bad input), each submission is retried alone so the others
/// still land; if the database is unreachable, all fail at once.
async fn commit(store: &Store, group: Vec<Job>) {
    let mut sessions = Vec::new();
    let mut records = Vec::with_capacity(group.iter().map(|job| job.batch.messages.len()).sum());
    let mut waiters: Vec<(Range<usize>, Range<usize>, oneshot::Sender<Outcome>)> =
        Vec::with_capacity(group.len());
    for job in group {
        let (session_start, start) = (sessions.len(), records.len());
        sessions.extend(job.batch.sessions);
        records.extend(job.batch.messages);
        waiters.push((
            session_start..sessions.len(),
            start..records.len(),
            job.done,
        ));
    }
    let error = match store.append_parts(&sessions, &records).await {
        Ok(()) => {
            for (_, _, done) in waiters {
                let _ = done.send(Ok(()));
            }
            return;
        }
        Err(error) => error,
    };
    if let StoreError::Database(cause) = &error
        && is_unreachable(cause)
    {
        tracing::error!(%error, records = records.len(), "record writer could not commit");
        let reason = error.to_string();
        for (_, _, done) in waiters {
            let _ = done.send(Err(StoreError::Unavailable(reason.clone())));
        }
        return;
    }
    if waiters.len() == 1 {
        tracing::error!(%error, records = records.len(), "record writer could not commit");
        if let Some((_, _, done)) = waiters.pop() {
            let _ = done.send(Err(error));
        }
        return;
    }
    tracing::warn!(
        %error,
        submissions = waiters.len(),
        "group commit failed; committing submissions one by one"
    );
    for (session_range, range, done) in waiters {
        let outcome = store
            .append_parts(&sessions[session_range], &records[range.clone()])
            .await;
        if let Err(error) = &outcome {
            tracing::error!(%error, records = range.len(), "record writer could not commit");
        }
        let _ = done.send(outcome);
    }
}

/// Whether an error means the database could not be reached at all, so
/// retrying submission by submission would only fail slower.
fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}
