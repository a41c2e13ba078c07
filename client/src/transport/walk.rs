//! The order in which [`HttpTransport`](super::HttpTransport) tries a cluster's
//! addresses and the pauses between tries.
//!
//! A pure value (no clock, no network) so the failover schedule is unit-tested here
//! exactly, and the transport's tests against stub servers only need to check which
//! node answered and how many attempts were made.

use super::Backoff;
use std::time::Duration;

/// Walks the address list from a preferred start: on to the next address at once after
/// a failure, and a backoff pause after each full round of failures.
#[derive(Debug, Clone)]
pub(crate) struct FailoverWalk {
    addresses: usize,
    current: usize,
    /// Failed attempts in the current round over all addresses.
    failed_in_round: usize,
    /// Full rounds of failures so far.
    rounds: u32,
    backoff: Backoff,
}

impl FailoverWalk {
    /// A walk over `addresses` addresses (at least one) starting at `first`.
    pub(crate) fn new(addresses: usize, first: usize, backoff: Backoff) -> Self {
        let addresses = addresses.max(1);
        FailoverWalk {
            addresses,
            current: first % addresses,
            failed_in_round: 0,
            rounds: 0,
            backoff,
        }
    }

    /// The address to try now.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// Records that the attempt at [`current`](Self::current) failed and moves to the
    /// next address; answers the pause before trying it: none within a round, the
    /// backoff delay of the round after a full round of failures.
    pub(crate) fn failed(&mut self) -> Duration {
        self.current = (self.current + 1) % self.addresses;
        self.failed_in_round += 1;
        if self.failed_in_round < self.addresses {
            return Duration::ZERO;
        }
        self.failed_in_round = 0;
        let pause = self.backoff.delay(self.rounds);
        self.rounds = self.rounds.saturating_add(1);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// (address tried, pause after its failure) for `attempts` failed attempts.
    fn walk(addresses: usize, first: usize, attempts: usize) -> Vec<(usize, u64)> {
        let mut w = FailoverWalk::new(addresses, first, Backoff::new(ms(10), ms(35)));
        (0..attempts)
            .map(|_| {
                let at = w.current();
                (at, w.failed().as_millis() as u64)
            })
            .collect()
    }

    #[test]
    fn moves_on_at_once_within_a_round_and_backs_off_after_each_full_round() {
        assert_eq!(
            walk(3, 1, 9),
            vec![
                (1, 0),
                (2, 0),
                (0, 10),
                (1, 0),
                (2, 0),
                (0, 20),
                (1, 0),
                (2, 0),
                (0, 35),
            ]
        );
    }

    #[test]
    fn a_single_address_backs_off_exponentially_up_to_the_cap() {
        assert_eq!(walk(1, 0, 4), vec![(0, 10), (0, 20), (0, 35), (0, 35)]);
    }

    #[test]
    fn an_out_of_range_start_wraps_and_no_address_counts_as_one() {
        assert_eq!(walk(2, 5, 2), vec![(1, 0), (0, 10)]);
        assert_eq!(walk(0, 0, 1), vec![(0, 10)]);
    }
}
