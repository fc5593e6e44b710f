//! Latency summaries shared by both subcommands.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Slowest latency the histograms can hold; anything slower is clamped to
/// it (and cannot happen below the 600 s request timeout ceiling anyway).
const MAX_MICROS: u64 = 3_600_000_000;

/// A microsecond histogram with three significant digits: 0.1 % relative
/// error, enough to tell 100 µs from 101 µs and 10 ms from 10.01 ms.
pub fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// Records one duration, clamped into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(MAX_MICROS);
    histogram.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// The percentiles reported for every latency, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Summary {
    /// `None` for an empty histogram, so a report never shows a made-up zero.
    pub fn of(histogram: &Histogram<u64>) -> Option<Summary> {
        if histogram.is_empty() {
            return None;
        }
        Some(Summary {
            count: histogram.len(),
            min: histogram.min(),
            mean: histogram.mean(),
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        })
    }
}

/// Nearest-rank percentile of a small sample (start-up runs), where a
/// histogram's bucketing would only blur a few dozen exact values.
pub fn nearest_rank(sorted: &[f64], quantile: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of an empty sample");
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_textbook_definition() {
        let sample = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(nearest_rank(&sample, 0.5), 5.0);
        assert_eq!(nearest_rank(&sample, 0.95), 10.0);
        assert_eq!(nearest_rank(&sample, 0.0), 1.0);
        assert_eq!(nearest_rank(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn summary_reports_microseconds_and_skips_empty_histograms() {
        let mut histogram = micros_histogram();
        assert!(Summary::of(&histogram).is_none());
        for micros in 1..=1000 {
            record(&mut histogram, Duration::from_micros(micros));
        }
        let summary = Summary::of(&histogram).expect("non-empty");
        assert_eq!(summary.count, 1000);
        assert_eq!(summary.p50, 500);
        assert_eq!(summary.max, 1000);
    }

    #[test]
    fn sub_microsecond_durations_are_counted_not_dropped() {
        let mut histogram = micros_histogram();
        record(&mut histogram, Duration::from_nanos(10));
        assert_eq!(histogram.len(), 1);
        assert_eq!(histogram.min(), 1);
    }
}
