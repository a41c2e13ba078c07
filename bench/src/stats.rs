//! Latency percentiles.

use serde::Serialize;

/// The `p`-th percentile (0..=100) of ascending `sorted` by the nearest-rank method:
/// the smallest sample such that at least `p`% of the samples are at or below it.
/// `None` for no samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Summary of latencies in microseconds, reported in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// Summarizes `samples_us` (sorted in place). All zero for no samples.
    pub fn of(samples_us: &mut [u64]) -> Latency {
        samples_us.sort_unstable();
        let ms = |p: f64| percentile(samples_us, p).unwrap_or(0) as f64 / 1000.0;
        let mean = if samples_us.is_empty() {
            0.0
        } else {
            samples_us.iter().sum::<u64>() as f64 / samples_us.len() as f64 / 1000.0
        };
        Latency {
            p50_ms: ms(50.0),
            p90_ms: ms(90.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
            mean_ms: mean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 99.5), Some(100));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // Out-of-range p is clamped.
        assert_eq!(percentile(&v, 250.0), Some(100));
    }

    #[test]
    fn small_samples_round_up() {
        let v = [10, 20, 30, 40];
        assert_eq!(percentile(&v, 50.0), Some(20));
        assert_eq!(percentile(&v, 51.0), Some(30));
        assert_eq!(percentile(&v, 99.0), Some(40));
    }

    #[test]
    fn summary_in_milliseconds() {
        let mut v = vec![3_000, 1_000, 2_000, 4_000];
        let l = Latency::of(&mut v);
        assert_eq!(l.p50_ms, 2.0);
        assert_eq!(l.max_ms, 4.0);
        assert_eq!(l.mean_ms, 2.5);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }
}
