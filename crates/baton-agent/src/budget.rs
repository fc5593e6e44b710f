//! What a run may spend: steps, tokens, dollars and time. Every budget is
//! explicit; a run checks them before each model call, so it stops before
//! it overspends, never after.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Model calls, each with whatever tool calls it asked for.
    pub max_steps: u32,
    /// Prompt plus completion tokens over the whole run.
    pub max_tokens: u64,
    /// US dollars over the whole run, priced as the calls were made.
    pub max_cost_usd: f64,
    /// Wall-clock time, across restarts.
    #[serde(with = "seconds")]
    pub max_duration: Duration,
}

impl Budgets {
    /// Each limit no larger than `outer`'s: a sub-run never gets more than
    /// the run it works for.
    pub fn within(self, outer: &Budgets) -> Budgets {
        Budgets {
            max_steps: self.max_steps.min(outer.max_steps),
            max_tokens: self.max_tokens.min(outer.max_tokens),
            max_cost_usd: self.max_cost_usd.min(outer.max_cost_usd),
            max_duration: self.max_duration.min(outer.max_duration),
        }
    }

    /// The most steps any run may ask for.
    pub const STEPS_CEILING: u32 = 1_000;
}

impl Default for Budgets {
    /// Ten steps, as the seed's autonomous mode; generous token, cost and
    /// time ceilings that still stop a runaway loop within minutes.
    fn default() -> Self {
        Budgets {
            max_steps: 10,
            max_tokens: 2_000_000,
            max_cost_usd: 5.0,
            max_duration: Duration::from_secs(30 * 60),
        }
    }
}

mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// What a run has spent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub steps: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub elapsed: Duration,
}

/// Which budget ran out, with the sentence for the run's reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Exhausted {
    /// The step budget: the run ends `max_steps_reached`.
    Steps(String),
    /// Tokens, cost or time: the run ends `budget_exhausted`.
    Other(String),
}

impl Budgets {
    /// Checks the limits against what was spent, before the next step.
    pub fn check(&self, spent: &Spent) -> Result<(), Exhausted> {
        if spent.steps >= self.max_steps {
            return Err(Exhausted::Steps(format!(
                "reached the step limit of {}",
                self.max_steps
            )));
        }
        let tokens = spent.prompt_tokens + spent.completion_tokens;
        if tokens >= self.max_tokens {
            return Err(Exhausted::Other(format!(
                "used {tokens} tokens of a {} token budget",
                self.max_tokens
            )));
        }
        if spent.cost_usd >= self.max_cost_usd {
            return Err(Exhausted::Other(format!(
                "spent ${:.4} of a ${:.4} budget",
                spent.cost_usd, self.max_cost_usd
            )));
        }
        if spent.elapsed >= self.max_duration {
            return Err(Exhausted::Other(format!(
                "ran {}s of a {}s time budget",
                spent.elapsed.as_secs(),
                self.max_duration.as_secs()
            )));
        }
        Ok(())
    }

    /// Refuses budgets that cannot be meant (zero steps, negative or
    /// non-finite cost, more steps than [`Self::STEPS_CEILING`]).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_steps == 0 || self.max_steps > Self::STEPS_CEILING {
            return Err(format!(
                "max_steps must be 1 to {}, got {}",
                Self::STEPS_CEILING,
                self.max_steps
            ));
        }
        if self.max_tokens == 0 {
            return Err("max_tokens must be at least 1".into());
        }
        if !self.max_cost_usd.is_finite() || self.max_cost_usd <= 0.0 {
            return Err(format!(
                "max_cost_usd must be a positive number, got {}",
                self.max_cost_usd
            ));
        }
        if self.max_duration.is_zero() {
            return Err("max_duration must be at least 1 second".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_out_as_max_steps() {
        let b = Budgets {
            max_steps: 2,
            ..Budgets::default()
        };
        let mut spent = Spent::default();
        assert!(b.check(&spent).is_ok());
        spent.steps = 2;
        assert!(matches!(b.check(&spent), Err(Exhausted::Steps(_))));
    }

    #[test]
    fn tokens_cost_and_time_run_out_as_budget() {
        let b = Budgets::default();
        for spent in [
            Spent {
                prompt_tokens: 1_999_999,
                completion_tokens: 1,
                ..Spent::default()
            },
            Spent {
                cost_usd: 5.0,
                ..Spent::default()
            },
            Spent {
                elapsed: Duration::from_secs(1_800),
                ..Spent::default()
            },
        ] {
            assert!(
                matches!(b.check(&spent), Err(Exhausted::Other(_))),
                "{spent:?}"
            );
        }
    }

    #[test]
    fn nonsense_budgets_are_refused() {
        let zero = Budgets {
            max_steps: 0,
            ..Budgets::default()
        };
        assert!(zero.validate().is_err());
        let nan = Budgets {
            max_cost_usd: f64::NAN,
            ..Budgets::default()
        };
        assert!(nan.validate().is_err());
        assert!(Budgets::default().validate().is_ok());
    }
}
