//! A ring of per-minute buckets that rotates lazily: a slot remembers which minute it
//! holds, and a write or read for another minute treats it as empty. No timer is needed
//! to advance it, so an idle broker does no work for its monitoring.

/// Milliseconds in a bucket.
pub const MINUTE_MS: u64 = 60_000;

#[derive(Debug, Clone, Default)]
struct Slot<T> {
    /// The minute (ms since the epoch / 60 000) this slot holds, or `None`.
    minute: Option<u64>,
    value: T,
}

/// `len` minute buckets of `T`, the newest overwriting the oldest.
#[derive(Debug, Clone)]
pub struct MinuteRing<T> {
    slots: Vec<Slot<T>>,
}

impl<T: Default + Clone> MinuteRing<T> {
    pub fn new(len: usize) -> Self {
        MinuteRing {
            slots: vec![Slot::default(); len.max(1)],
        }
    }

    /// The bucket of `minute`, emptied first if it held an older minute.
    pub fn at(&mut self, minute: u64) -> &mut T {
        let len = self.slots.len() as u64;
        let slot = &mut self.slots[(minute % len) as usize];
        if slot.minute != Some(minute) {
            slot.minute = Some(minute);
            slot.value = T::default();
        }
        &mut slot.value
    }

    /// The bucket of `minute` if it was written since that minute began.
    pub fn get(&self, minute: u64) -> Option<&T> {
        let len = self.slots.len() as u64;
        let slot = &self.slots[(minute % len) as usize];
        (slot.minute == Some(minute)).then_some(&slot.value)
    }

    /// The `count` minutes ending with `now_minute`, oldest first; `None` for a minute
    /// nothing was written in (or one too old for the ring).
    pub fn last(&self, now_minute: u64, count: usize) -> impl Iterator<Item = Option<&T>> + '_ {
        let count = count.min(self.slots.len()) as u64;
        let first = now_minute.saturating_sub(count.saturating_sub(1));
        (first..=now_minute).map(move |m| self.get(m))
    }
}

/// The minute a time falls in.
pub fn minute_of(ms: u64) -> u64 {
    ms / MINUTE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_reused_for_a_later_minute_and_starts_empty() {
        let mut r: MinuteRing<u64> = MinuteRing::new(3);
        *r.at(10) += 5;
        *r.at(11) += 1;
        assert_eq!(r.get(10), Some(&5));
        // Minute 13 lands in minute 10's slot: the old count is gone.
        *r.at(13) += 2;
        assert_eq!(r.get(13), Some(&2));
        assert_eq!(r.get(10), None);
    }

    #[test]
    fn the_last_minutes_come_oldest_first_with_gaps_as_none() {
        let mut r: MinuteRing<u64> = MinuteRing::new(60);
        *r.at(100) += 1;
        *r.at(102) += 3;
        let got: Vec<Option<u64>> = r.last(102, 4).map(|v| v.copied()).collect();
        assert_eq!(got, vec![None, Some(1), None, Some(3)]);
    }

    #[test]
    fn reading_more_minutes_than_the_ring_holds_is_capped() {
        let r: MinuteRing<u64> = MinuteRing::new(2);
        assert_eq!(r.last(5, 10).count(), 2);
        assert_eq!(r.last(0, 3).count(), 1);
    }
}
