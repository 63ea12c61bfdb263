//! Latency percentiles from raw samples.

use std::time::Duration;

/// Percentiles of a set of request latencies (nearest-rank method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    /// How many samples.
    pub count: usize,
    /// The fastest request.
    pub min: Duration,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The slowest request.
    pub max: Duration,
    /// The arithmetic mean.
    pub mean: Duration,
}

impl LatencySummary {
    /// Summarises `samples`; `None` when there are none.
    pub fn from_samples(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let count = samples.len();
        let mean = total / u32::try_from(count).unwrap_or(u32::MAX);
        Some(Self {
            count,
            min: samples[0],
            p50: nearest_rank(&samples, 50),
            p90: nearest_rank(&samples, 90),
            p99: nearest_rank(&samples, 99),
            max: samples[count - 1],
            mean,
        })
    }
}

/// The smallest sample with at least `percent`% of the samples at or below it.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        // Shuffled input: the summary must sort before ranking.
        let samples = millis((1..=100).rev());
        let summary = LatencySummary::from_samples(samples).expect("samples given");
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min, Duration::from_millis(1));
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p90, Duration::from_millis(90));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
        assert_eq!(summary.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let summary = LatencySummary::from_samples(millis([7])).expect("one sample");
        assert_eq!(
            [summary.min, summary.p50, summary.p99, summary.max],
            [Duration::from_millis(7); 4]
        );
    }

    #[test]
    fn the_tail_shows_in_p99_not_p50() {
        let mut samples = millis(std::iter::repeat_n(2, 990));
        samples.extend(millis(std::iter::repeat_n(400, 10)));
        let summary = LatencySummary::from_samples(samples).expect("samples given");
        assert_eq!(summary.p50, Duration::from_millis(2));
        assert_eq!(summary.p99, Duration::from_millis(2));
        assert_eq!(summary.max, Duration::from_millis(400));
        let mut heavier = millis(std::iter::repeat_n(2, 980));
        heavier.extend(millis(std::iter::repeat_n(400, 20)));
        let summary = LatencySummary::from_samples(heavier).expect("samples given");
        assert_eq!(summary.p99, Duration::from_millis(400));
    }

    #[test]
    fn no_samples_no_summary() {
        assert!(LatencySummary::from_samples(Vec::new()).is_none());
    }
}
