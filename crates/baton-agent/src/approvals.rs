//! Questions to people: a call the policy marks "ask" waits here until
//! someone answers through the CLI prompt or `POST /approvals/{id}`, or the
//! wait times out. Approvals are stored, so `GET /approvals` shows what is
//! pending from any face, and the first answer wins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use baton_core::{ApprovalId, wall_millis};
use baton_store::{Approval, ApprovalAnswer, ApprovalScope, ApprovalStatus, Store, StoreError};
use tokio::sync::watch;

/// How long a run waits for an answer unless told otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);

/// How often a waiting run looks in the store for an answer given by
/// another process.
const STORE_POLL: Duration = Duration::from_millis(250);

/// The answer a waiting run gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answered(ApprovalAnswer),
    /// Nobody answered in time; the call is refused.
    TimedOut(Duration),
}

/// Pending approvals and their waiters; clones share them.
#[derive(Clone)]
pub struct Approvals {
    store: Store,
    waiters: Arc<Mutex<HashMap<ApprovalId, watch::Sender<Option<ApprovalAnswer>>>>>,
}

impl Approvals {
    pub fn new(store: Store) -> Approvals {
        Approvals {
            store,
            waiters: Arc::default(),
        }
    }

    /// Stores `approval` as pending and waits up to `wait` for an answer.
    /// A timeout cancels the approval, so a late answer is refused.
    pub async fn ask(&self, approval: &Approval, wait: Duration) -> Result<Outcome, StoreError> {
        let (tx, mut rx) = watch::channel(None);
        self.lock().insert(approval.id, tx);
        let waited = async {
            self.store.create_approval(approval).await?;
            let answered = tokio::time::timeout(wait, async {
                loop {
                    if let Some(answer) = rx.borrow_and_update().clone() {
                        return Ok(answer);
                    }
                    // Another process (a server beside this CLI) may answer
                    // straight into the store.
                    tokio::select! {
                        _ = rx.changed() => {}
                        _ = tokio::time::sleep(STORE_POLL) => {
                            if let Some(stored) = self.store.approval(approval.id).await?
                                && stored.status != ApprovalStatus::Pending
                            {
                                return Ok(answer_of(&stored));
                            }
                        }
                    }
                }
            })
            .await;
            match answered {
                Ok(Ok(answer)) => Ok(Outcome::Answered(answer)),
                Ok(Err(error)) => Err(error),
                Err(_) => {
                    self.store
                        .cancel_pending_approvals(approval.run_id, wall_millis() as i64)
                        .await?;
                    // An answer may have landed just before the cancel.
                    match self.store.approval(approval.id).await? {
                        Some(stored) if stored.status != ApprovalStatus::Cancelled => {
                            Ok(Outcome::Answered(answer_of(&stored)))
                        }
                        _ => Ok(Outcome::TimedOut(wait)),
                    }
                }
            }
        }
        .await;
        self.lock().remove(&approval.id);
        waited
    }

    /// Answers an approval (first answer wins) and wakes the run waiting
    /// for it, if it is in this process.
    pub async fn decide(
        &self,
        id: ApprovalId,
        allowed: bool,
        scope: ApprovalScope,
        decided_by: &str,
    ) -> Result<Approval, StoreError> {
        let answer = ApprovalAnswer {
            allowed,
            scope,
            decided_by: decided_by.to_owned(),
            decided_ms: wall_millis() as i64,
        };
        let stored = self.store.decide_approval(id, &answer).await?;
        if let Some(waiter) = self.lock().get(&id) {
            waiter.send_replace(Some(answer));
        }
        Ok(stored)
    }

    /// Approvals waiting for an answer, oldest first.
    pub async fn pending(&self, limit: u32) -> Result<Vec<Approval>, StoreError> {
        self.store
            .approvals(Some(ApprovalStatus::Pending), None, limit)
            .await
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ApprovalId, watch::Sender<Option<ApprovalAnswer>>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn answer_of(stored: &Approval) -> ApprovalAnswer {
    ApprovalAnswer {
        allowed: stored.status == ApprovalStatus::Allowed,
        scope: stored.scope.unwrap_or(ApprovalScope::Once),
        decided_by: stored.decided_by.clone().unwrap_or_default(),
        decided_ms: stored.decided_ms.unwrap_or_default(),
    }
}
