//! A circuit breaker per provider, so that a provider that keeps failing is
//! skipped for a while instead of costing every request a timeout.
//!
//! Closed: calls pass; consecutive retryable failures are counted. At the
//! threshold it opens: calls are refused until the cooldown ends. Then one
//! trial call is let through (half-open): success closes the breaker,
//! failure opens it for another cooldown.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a status page shows about a provider's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// The cooldown ended; the next call (or the one in flight) is a trial.
    HalfOpen,
}

impl BreakerState {
    /// The name status pages and logs use (`closed`, `open`, `half_open`).
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A trial call is in flight; others are refused until it settles.
    Trial,
}

/// One provider's breaker. Times are passed in, so the state machine is
/// tested without sleeping.
#[derive(Debug)]
pub(crate) struct Breaker {
    /// Consecutive failures that open the breaker; 0 never opens it.
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// Permission for one call. A trial permit dropped without an outcome (the
/// caller gave up) lets the next call try instead of blocking forever.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    trial: bool,
    settled: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is always valid, even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to make a call; `None` while the breaker refuses.
    pub(crate) fn admit(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now >= until => {
                *state = State::Trial;
                true
            }
            State::Open { .. } | State::Trial => return None,
        };
        Some(Permit {
            breaker: self,
            trial,
            settled: false,
        })
    }

    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::Trial => BreakerState::HalfOpen,
        }
    }

    fn succeeded(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// Counts a retryable failure: also used for a stream that breaks after
    /// its call was already counted as a success.
    pub(crate) fn failed(&self, now: Instant) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } => {
                let failures = failures + 1;
                if self.threshold > 0 && failures >= self.threshold {
                    State::Open {
                        until: now + self.cooldown,
                    }
                } else {
                    State::Closed { failures }
                }
            }
            State::Trial => State::Open {
                until: now + self.cooldown,
            },
            open @ State::Open { .. } => open,
        };
    }

    fn abandon_trial(&self, now: Instant) {
        let mut state = self.lock();
        if *state == State::Trial {
            *state = State::Open { until: now };
        }
    }
}

impl Permit<'_> {
    /// The provider answered (even with an error that is the caller's
    /// fault): it is alive.
    pub(crate) fn succeed(mut self) {
        self.settled = true;
        self.breaker.succeeded();
    }

    /// The provider failed in a way that counts against it.
    pub(crate) fn fail(mut self, now: Instant) {
        self.settled = true;
        self.breaker.failed(now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.trial && !self.settled {
            self.breaker.abandon_trial(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_consecutive_failures() {
        let b = Breaker::new(3, COOLDOWN);
        let t = Instant::now();
        for _ in 0..2 {
            b.admit(t).unwrap().fail(t);
        }
        assert_eq!(b.state(t), BreakerState::Closed);
        b.admit(t).unwrap().succeed();
        for _ in 0..2 {
            b.admit(t).unwrap().fail(t);
        }
        assert_eq!(b.state(t), BreakerState::Closed, "success reset the count");
        b.admit(t).unwrap().fail(t);
        assert_eq!(b.state(t), BreakerState::Open);
        assert_eq!(b.state(t).to_string(), "open");
        assert!(b.admit(t + Duration::from_secs(29)).is_none());
    }

    #[test]
    fn half_open_lets_one_trial_through() {
        let b = Breaker::new(1, COOLDOWN);
        let t = Instant::now();
        b.admit(t).unwrap().fail(t);
        let later = t + COOLDOWN;
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        let trial = b.admit(later).unwrap();
        assert!(b.admit(later).is_none(), "only one trial at a time");
        trial.succeed();
        assert_eq!(b.state(later), BreakerState::Closed);
        assert!(b.admit(later).is_some());
    }

    #[test]
    fn failed_trial_reopens_for_a_full_cooldown() {
        let b = Breaker::new(1, COOLDOWN);
        let t = Instant::now();
        b.admit(t).unwrap().fail(t);
        let later = t + COOLDOWN;
        b.admit(later).unwrap().fail(later);
        assert_eq!(b.state(later + Duration::from_secs(1)), BreakerState::Open);
        assert!(b.admit(later + COOLDOWN).is_some());
    }

    #[test]
    fn abandoned_trial_frees_the_next_call() {
        let b = Breaker::new(1, COOLDOWN);
        let t = Instant::now();
        b.admit(t).unwrap().fail(t);
        drop(b.admit(t + COOLDOWN).unwrap());
        assert!(b.admit(Instant::now() + COOLDOWN).is_some());
    }

    #[test]
    fn zero_threshold_never_opens() {
        let b = Breaker::new(0, COOLDOWN);
        let t = Instant::now();
        for _ in 0..10 {
            b.admit(t).unwrap().fail(t);
        }
        assert_eq!(b.state(t), BreakerState::Closed);
    }
}
