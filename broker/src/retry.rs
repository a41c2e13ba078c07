//! Retry policy arithmetic: whether a failed attempt is tried again, and when.
//!
//! Pure functions of (policy, attempt, error): the state machine calls them with the
//! command's time, so every replica schedules the retry for the same instant.

use crate::model::{ErrorInfo, Millis, RetryKind, RetryPolicy};

/// Decides whether attempt number `attempt` (1-based) that failed with `error` is
/// retried; returns when, or `None` if the error is final.
pub fn next_attempt_at(
    policy: &RetryPolicy,
    attempt: u32,
    error: &ErrorInfo,
    now: Millis,
) -> Option<Millis> {
    if error.matches_any(&policy.non_retryable) {
        return None;
    }
    if policy.max_attempts != 0 && attempt >= policy.max_attempts {
        return None;
    }
    Some(now.plus(delay_ms(policy, attempt)))
}

/// The delay before retry number `attempt` (the first retry follows attempt 1).
pub fn delay_ms(policy: &RetryPolicy, attempt: u32) -> u64 {
    let attempt = attempt.max(1);
    let raw = match policy.kind {
        RetryKind::Linear => policy.initial_interval_ms.saturating_mul(attempt as u64),
        RetryKind::Exponential => {
            let coef =
                if policy.backoff_coefficient.is_finite() && policy.backoff_coefficient >= 1.0 {
                    policy.backoff_coefficient
                } else {
                    1.0
                };
            let exp = (attempt - 1).min(1_000) as i32;
            let d = policy.initial_interval_ms as f64 * coef.powi(exp);
            if d >= u64::MAX as f64 {
                u64::MAX
            } else {
                d as u64
            }
        }
    };
    if policy.max_interval_ms > 0 {
        raw.min(policy.max_interval_ms)
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: RetryKind) -> RetryPolicy {
        RetryPolicy {
            kind,
            initial_interval_ms: 100,
            backoff_coefficient: 2.0,
            max_interval_ms: 1_000,
            max_attempts: 5,
            non_retryable: vec!["fatal".into()],
        }
    }

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let p = policy(RetryKind::Exponential);
        let delays: Vec<u64> = (1..=6).map(|a| delay_ms(&p, a)).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn linear_grows_by_the_initial_interval() {
        let p = policy(RetryKind::Linear);
        let delays: Vec<u64> = (1..=4).map(|a| delay_ms(&p, a)).collect();
        assert_eq!(delays, vec![100, 200, 300, 400]);
    }

    #[test]
    fn stops_after_max_attempts() {
        let p = policy(RetryKind::Exponential);
        let e = ErrorInfo::new("io.Timeout", "slow");
        let now = Millis(1_000);
        assert_eq!(next_attempt_at(&p, 1, &e, now), Some(Millis(1_100)));
        assert_eq!(next_attempt_at(&p, 4, &e, now), Some(Millis(1_800)));
        assert_eq!(next_attempt_at(&p, 5, &e, now), None);
    }

    #[test]
    fn never_retries_non_retryable_types_or_their_children() {
        let p = policy(RetryKind::Exponential);
        let now = Millis(0);
        assert_eq!(
            next_attempt_at(&p, 1, &ErrorInfo::new("fatal", ""), now),
            None
        );
        assert_eq!(
            next_attempt_at(&p, 1, &ErrorInfo::new("fatal.Disk", ""), now),
            None
        );
        assert!(next_attempt_at(&p, 1, &ErrorInfo::new("fatalish", ""), now).is_some());
    }

    #[test]
    fn zero_max_attempts_means_unlimited_and_huge_exponents_saturate() {
        let mut p = policy(RetryKind::Exponential);
        p.max_attempts = 0;
        p.max_interval_ms = 0;
        let e = ErrorInfo::new("x", "");
        assert!(next_attempt_at(&p, 10_000, &e, Millis(0)).is_some());
        assert_eq!(delay_ms(&p, 5_000), u64::MAX);
    }
}
