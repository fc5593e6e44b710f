//! A hybrid logical clock. Every record a device writes is stamped with one,
//! so that records from several devices order consistently even when their
//! wall clocks disagree (the sync rules compare stamps, then device ids).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Mutex;

/// A point in hybrid logical time: wall-clock milliseconds plus a counter
/// that orders events within one millisecond or behind a clock that ran back.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub struct HlcStamp {
    pub millis: u64,
    pub counter: u32,
}

impl HlcStamp {
    /// A single sortable number (48 bits of millis, 16 of counter), for
    /// storage in an integer column.
    pub fn to_u64(self) -> u64 {
        (self.millis << 16) | u64::from(self.counter.min(0xffff))
    }

    pub fn from_u64(v: u64) -> Self {
        HlcStamp {
            millis: v >> 16,
            counter: (v & 0xffff) as u32,
        }
    }
}

impl fmt::Display for HlcStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:05}", self.millis, self.counter)
    }
}

/// The clock itself; `now` is monotonic even if the wall clock goes back.
#[derive(Debug, Default)]
pub struct Hlc {
    last: Mutex<HlcStamp>,
}

impl Hlc {
    pub fn new() -> Self {
        Self::default()
    }

    /// A stamp for a local event at the given wall-clock time.
    pub fn tick(&self, wall_millis: u64) -> HlcStamp {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let next = if wall_millis > last.millis {
            HlcStamp {
                millis: wall_millis,
                counter: 0,
            }
        } else {
            HlcStamp {
                millis: last.millis,
                counter: last.counter + 1,
            }
        };
        *last = next;
        next
    }

    /// A stamp for a local event now.
    pub fn now(&self) -> HlcStamp {
        self.tick(wall_millis())
    }

    /// Merges a stamp received from another device, so that what this
    /// device writes next orders after it.
    pub fn observe(&self, remote: HlcStamp, wall_millis: u64) -> HlcStamp {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let millis = wall_millis.max(last.millis).max(remote.millis);
        let counter = if millis == last.millis && millis == remote.millis {
            last.counter.max(remote.counter) + 1
        } else if millis == last.millis {
            last.counter + 1
        } else if millis == remote.millis {
            remote.counter + 1
        } else {
            0
        };
        *last = HlcStamp { millis, counter };
        *last
    }
}

/// A unix-millisecond time as RFC 3339 UTC text (empty if out of range).
pub fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch by the wall clock.
pub fn wall_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_when_wall_clock_runs_back() {
        let c = Hlc::new();
        let a = c.tick(1000);
        let b = c.tick(900);
        let d = c.tick(1000);
        assert!(a < b && b < d);
    }

    #[test]
    fn observe_orders_after_remote() {
        let c = Hlc::new();
        c.tick(100);
        let remote = HlcStamp {
            millis: 500,
            counter: 7,
        };
        let s = c.observe(remote, 200);
        assert!(s > remote);
        assert!(c.tick(200) > s);
    }

    #[test]
    fn packs_into_u64_in_order() {
        let a = HlcStamp {
            millis: 5,
            counter: 9,
        };
        let b = HlcStamp {
            millis: 6,
            counter: 0,
        };
        assert!(a.to_u64() < b.to_u64());
        assert_eq!(HlcStamp::from_u64(a.to_u64()), a);
    }
}
