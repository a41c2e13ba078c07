//! The webhook outbox: process lifecycle events (started, finished, broken, aborted)
//! kept in the replicated state until the leader has delivered them.
//!
//! An event is appended when the command that caused it is applied, on every replica,
//! with a sequence number; the leader's webhook sender POSTs events in order and then
//! proposes `AckWebhook { upto }`, which drops them everywhere. A new leader resumes
//! from the oldest unacknowledged event, so delivery is at least once across failovers
//! and restarts (receivers deduplicate by `event_id`). The outbox is bounded: past
//! [`MAX_EVENTS`] the oldest event is dropped (counted), so a receiver that is down for
//! long cannot grow the state without limit.

use crate::model::{Millis, ProcessId, ProcessState};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most events kept waiting for delivery.
pub const MAX_EVENTS: usize = 100_000;

/// One event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Position in the outbox, from 1; the webhook's `event_id`.
    pub seq: u64,
    /// The process started (else it ended: finished, broke or was aborted).
    pub started: bool,
    pub process_id: ProcessId,
    /// The process's state once the command was applied.
    pub state: ProcessState,
    /// When it started or ended (the leader's clock in the command).
    pub at: Millis,
}

impl OutboxEvent {
    /// The webhook's event name: `started`, or the state it ended in.
    pub fn name(&self) -> &'static str {
        if self.started {
            "started"
        } else {
            crate::metrics::state_name(self.state)
        }
    }
}

/// Events not yet acknowledged, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    /// The sequence number of the last event appended.
    last_seq: u64,
    events: VecDeque<OutboxEvent>,
    /// Events dropped because the outbox was full.
    dropped: u64,
}

impl Outbox {
    /// Appends an event (and returns it); drops the oldest one if the outbox is full.
    pub fn push(
        &mut self,
        started: bool,
        process_id: ProcessId,
        state: ProcessState,
        at: Millis,
    ) -> OutboxEvent {
        self.last_seq += 1;
        let event = OutboxEvent {
            seq: self.last_seq,
            started,
            process_id,
            state,
            at,
        };
        self.events.push_back(event.clone());
        if self.events.len() > MAX_EVENTS {
            self.events.pop_front();
            self.dropped += 1;
        }
        event
    }

    /// Drops every event up to `upto`. Returns how many went.
    pub fn ack(&mut self, upto: u64) -> u32 {
        let mut n = 0;
        while self.events.front().is_some_and(|e| e.seq <= upto) {
            self.events.pop_front();
            n += 1;
        }
        n
    }

    /// At most `max` events after sequence number `after`, oldest first.
    pub fn after(&self, after: u64, max: usize) -> Vec<OutboxEvent> {
        let start = self.events.partition_point(|e| e.seq <= after);
        self.events.range(start..).take(max).cloned().collect()
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events dropped because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The outbox as `/metrics` shows it at `now`.
    pub fn gauges(&self, now: Millis) -> crate::metrics::OutboxGauges {
        crate::metrics::OutboxGauges {
            events: self.events.len() as u64,
            oldest_age_ms: self
                .events
                .front()
                .map_or(0, |e| now.0.saturating_sub(e.at.0)),
            dropped: self.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(n: u64) -> Outbox {
        let mut o = Outbox::default();
        for i in 0..n {
            o.push(true, ProcessId::random(), ProcessState::Running, Millis(i));
        }
        o
    }

    fn seqs(events: &[OutboxEvent]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn events_are_numbered_read_in_order_and_acknowledged_up_to_a_point() {
        let mut o = outbox(5);
        assert_eq!(seqs(&o.after(0, 10)), [1, 2, 3, 4, 5]);
        assert_eq!(seqs(&o.after(2, 2)), [3, 4]);
        assert_eq!(o.ack(3), 3);
        assert_eq!(seqs(&o.after(0, 10)), [4, 5]);
        assert_eq!(o.ack(3), 0, "acknowledging again changes nothing");
        assert_eq!(o.ack(99), 2);
        assert!(o.is_empty());
        o.push(
            false,
            ProcessId::random(),
            ProcessState::Finished,
            Millis(9),
        );
        let last = o.after(0, 10);
        assert_eq!(seqs(&last), [6], "numbers are never reused");
        assert_eq!(last[0].name(), "finished");
    }

    #[test]
    fn a_full_outbox_drops_its_oldest_event_and_counts_it() {
        let o = outbox(MAX_EVENTS as u64 + 3);
        assert_eq!(o.len(), MAX_EVENTS);
        assert_eq!(o.dropped(), 3);
        assert_eq!(o.after(0, 1)[0].seq, 4);
        let g = o.gauges(Millis(MAX_EVENTS as u64 + 10));
        assert_eq!((g.events, g.dropped), (MAX_EVENTS as u64, 3));
        assert_eq!(
            g.oldest_age_ms,
            MAX_EVENTS as u64 + 10 - 3,
            "the oldest left is event 4, at 3"
        );
    }

    #[test]
    fn an_empty_outbox_has_no_age() {
        let mut o = outbox(2);
        o.ack(2);
        assert_eq!(
            o.gauges(Millis(1_000)),
            crate::metrics::OutboxGauges::default()
        );
    }
}
