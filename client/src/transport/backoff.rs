//! Capped exponential backoff, shared by HTTP failover, the runner's poll loop and
//! [`ProcessClient::wait_for_result`](crate::ProcessClient::wait_for_result).
//!
//! One small pure type so the schedule is unit-testable without sleeping.

use std::time::Duration;

/// Delays `initial, initial·2, initial·4, …`, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Backoff {
    /// A schedule starting at `initial` and capped at `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The delay before try number `step + 1` (step 0 waits `initial`).
    pub fn delay(&self, step: u32) -> Duration {
        let factor = 1u32.checked_shl(step.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

impl Default for Backoff {
    /// 50 ms doubling up to 2 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(50), Duration::from_secs(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(70));
        let got: Vec<u64> = (0..6).map(|s| b.delay(s).as_millis() as u64).collect();
        assert_eq!(got, vec![10, 20, 40, 70, 70, 70]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(70));
    }
}
