//! Group commit: the gateway's hot path hands messages to a background task
//! and goes on streaming, while the task commits whatever has queued up in
//! one transaction. Under load, one fsync then covers many requests; when
//! idle, a submission is committed at once (nothing waits to fill a batch).
//!
//! A submitter that must know its messages are durable (before it
//! acknowledges them to a client) awaits the returned [`Committed`]; one
//! that need not, drops it. A submitter that will not wait at all says so
//! with [`RecordWriter::defer_batch`]: the writer may then hold its records
//! for up to [`WriterOptions::linger`] so that one commit (one fsync, one
//! round of statements) covers several requests even at moderate rates.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

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
    /// How long a group made only of deferred submissions may wait for
    /// more before it is committed. Zero commits at once. A submission
    /// someone waits for ends the wait as soon as it is queued.
    pub linger: Duration,
}

impl Default for WriterOptions {
    /// Five milliseconds of linger: at 1,000 turns/s a commit holds about
    /// five of them instead of one, which cuts the writer's statements,
    /// fsyncs and thread wake-ups about five-fold, and costs no caller any
    /// latency because nobody waits on a deferred submission.
    fn default() -> Self {
        WriterOptions {
            capacity: 1024,
            max_batch: 512,
            linger: Duration::from_millis(5),
        }
    }
}

type Outcome = Result<(), StoreError>;

/// One submission and the submitter's answer channel.
struct Job {
    batch: Batch,
    done: oneshot::Sender<Outcome>,
    /// Whether someone waits for this commit, so no group holding it may
    /// linger.
    urgent: bool,
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
        let task = tokio::spawn(run(store, queue, options));
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
        self.enqueue(batch, true).await
    }

    /// Like [`submit_batch`](Self::submit_batch), for a submitter that
    /// will not wait for the commit (the records are not acknowledged to
    /// anyone): the writer may hold them for up to
    /// [`WriterOptions::linger`] to commit them together with others.
    pub async fn defer_batch(&self, batch: Batch) -> Result<Committed, StoreError> {
        self.enqueue(batch, false).await
    }

    async fn enqueue(&self, batch: Batch, urgent: bool) -> Result<Committed, StoreError> {
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
            .send(Job {
                batch,
                done,
                urgent,
            })
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
/// already queued up to `max_batch` records, lingers for more while nobody
/// in the group is waiting, commits, repeats; ends when the queue is closed
/// and empty.
async fn run(store: Store, mut queue: mpsc::Receiver<Job>, options: WriterOptions) {
    let max_batch = options.max_batch.max(1);
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let mut group = Group::new(first);
        while group.size < max_batch {
            let Ok(job) = queue.try_recv() else { break };
            if let Some(extra) = group.add(job, max_batch) {
                carried = Some(extra);
                break;
            }
        }
        if carried.is_none() && !group.urgent && !options.linger.is_zero() {
            let deadline = tokio::time::Instant::now() + options.linger;
            while group.size < max_batch && !group.urgent {
                let Ok(Some(job)) = tokio::time::timeout_at(deadline, queue.recv()).await else {
                    break;
                };
                if let Some(extra) = group.add(job, max_batch) {
                    carried = Some(extra);
                    break;
                }
            }
        }
        commit(&store, group.jobs).await;
    }
}

/// The submissions one commit will hold.
struct Group {
    jobs: Vec<Job>,
    size: usize,
    urgent: bool,
}

impl Group {
    fn new(first: Job) -> Group {
        Group {
            size: first.size(),
            urgent: first.urgent,
            jobs: vec![first],
        }
    }

    /// Adds `job` unless it would take the group past `max_batch`, in
    /// which case it is handed back for the next group.
    fn add(&mut self, job: Job, max_batch: usize) -> Option<Job> {
        if self.size + job.size() > max_batch {
            return Some(job);
        }
        self.size += job.size();
        self.urgent |= job.urgent;
        self.jobs.push(job);
        None
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
