//! Per-process event history: an ordered log of what happened to a process and its
//! tasks (started, enqueued, released, retried, broken, restarted, finished, ...), for
//! operators and the console.
//!
//! It sits on the hot path (three or four events per released task) and in every
//! snapshot, so recording is cheap: the history lives in its [`ProcessRecord`] (one
//! lookup, the one that checks the process exists), and an event is a kind, a time,
//! optional task id and attempt, and a [`Detail`] that is a small enum for everything
//! the broker itself says (`value`, `due <ms>`, ...): only operator text (an abort
//! reason) and error types are strings. Never a copy of a value. Events are appended in
//! apply order, so every replica holds the same history. Deleting a process (garbage
//! collection, an operator) deletes its history.
//!
//! A history is bounded: a process that retries forever must not grow without end. It
//! keeps its first [`HISTORY_KEEP`] events (how it began) and its latest
//! [`HISTORY_KEEP`] (where it is now), and counts the ones dropped in between.
//!
//! [`ProcessRecord`]: super::ProcessRecord

use super::State;
use crate::model::history::{EventKind, HistoryEvent, HistoryPage};
use crate::model::{Millis, ProcessId, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Longest stored free-text detail, in bytes (longer ones are cut at a character
/// boundary).
pub const MAX_DETAIL_BYTES: usize = 200;

/// Events kept at each end of a process's history: the first this many and the latest
/// this many; the ones in between are dropped and counted.
pub const HISTORY_KEEP: usize = 1000;

/// An event's detail. Rendered as text in the API (`detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detail {
    None,
    /// A release or resolution with a value: `value`.
    Value,
    /// A release returning a promise: `promise`.
    Promise,
    /// A release or resolution with an error: `error`.
    Error,
    /// When a scheduled task or retry becomes due: `due <ms>`.
    Due(Millis),
    /// An external promise timed out: `external promise`.
    ExternalPromise,
    /// Recovery put the task back in its queue: `queue`.
    Queue,
    /// Recovery re-armed the task's timer: `timer`.
    Timer,
    /// Free text (an abort reason, the schedule that started a process), at most
    /// [`MAX_DETAIL_BYTES`].
    Text(Box<str>),
}

impl Detail {
    /// Free text, cut to [`MAX_DETAIL_BYTES`] at a character boundary.
    pub fn text(text: &str) -> Detail {
        let mut end = text.len().min(MAX_DETAIL_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Detail::Text(text[..end].into())
    }

    /// The API form.
    fn render(&self) -> Option<String> {
        let s = match self {
            Detail::None => return None,
            Detail::Value => "value",
            Detail::Promise => "promise",
            Detail::Error => "error",
            Detail::Due(at) => return Some(format!("due {}", at.0)),
            Detail::ExternalPromise => "external promise",
            Detail::Queue => "queue",
            Detail::Timer => "timer",
            Detail::Text(t) => t,
        };
        Some(s.to_string())
    }
}

/// One stored event (see [`HistoryEvent`] for the API form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Millis,
    pub kind: EventKind,
    pub task_id: Option<TaskId>,
    pub attempt: Option<u32>,
    pub error_type: Option<Box<str>>,
    pub detail: Detail,
}

impl Event {
    /// An event of `kind` at `at` with nothing else.
    pub fn new(kind: EventKind, at: Millis) -> Self {
        Event {
            at,
            kind,
            task_id: None,
            attempt: None,
            error_type: None,
            detail: Detail::None,
        }
    }

    /// The task it is about.
    pub fn task(mut self, id: TaskId) -> Self {
        self.task_id = Some(id);
        self
    }

    /// The task's attempt.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// The error type involved.
    pub fn error_type(mut self, error_type: &str) -> Self {
        self.error_type = Some(error_type.into());
        self
    }

    /// Its detail.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }

    fn view(&self, seq: u64) -> HistoryEvent {
        HistoryEvent {
            seq,
            at: self.at,
            event: self.kind,
            task_id: self.task_id,
            attempt: self.attempt,
            error_type: self.error_type.as_deref().map(str::to_string),
            detail: self.detail.render(),
        }
    }
}

/// One process's history: the first [`HISTORY_KEEP`] events, the latest
/// [`HISTORY_KEEP`] after them, and how many were dropped in between.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    head: Vec<Event>,
    tail: VecDeque<Event>,
    dropped: u64,
}

impl History {
    /// Appends `event`, dropping the oldest event after the head once both ends are full.
    pub fn push(&mut self, event: Event) {
        if self.head.len() < HISTORY_KEEP {
            self.head.push(event);
            return;
        }
        if self.tail.len() == HISTORY_KEEP {
            self.tail.pop_front();
            self.dropped += 1;
        }
        self.tail.push_back(event);
    }

    /// Events kept.
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped between the head and the tail.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The first event, to amend.
    pub fn first_mut(&mut self) -> Option<&mut Event> {
        self.head.first_mut()
    }

    /// The kept events with their position in the whole history (dropped ones
    /// included), oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Event)> + '_ {
        let gap = self.head.len() as u64 + self.dropped;
        let head = self.head.iter().enumerate().map(|(i, e)| (i as u64, e));
        let tail = self
            .tail
            .iter()
            .enumerate()
            .map(move |(i, e)| (gap + i as u64, e));
        head.chain(tail)
    }
}

impl State {
    /// Appends `event` to the history of `process_id`. A process that does not exist
    /// (any more) records nothing, so history never outlives its process.
    pub(crate) fn record(&mut self, process_id: ProcessId, event: Event) {
        if let Some(p) = self.processes.get_mut(&process_id) {
            p.history.push(event);
        }
    }

    /// Kept events `offset..offset+limit` of a process's history, oldest first; `None`
    /// for an unknown process.
    pub fn history(
        &self,
        process_id: &ProcessId,
        offset: usize,
        limit: usize,
    ) -> Option<HistoryPage> {
        let history = &self.processes.get(process_id)?.history;
        Some(HistoryPage {
            total: history.len(),
            truncated: history.dropped(),
            items: history
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(seq, e)| e.view(seq))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_detail_is_cut_at_a_character_boundary() {
        let Detail::Text(d) = Detail::text(&"é".repeat(MAX_DETAIL_BYTES)) else {
            panic!("free text is a text detail");
        };
        assert!(d.len() <= MAX_DETAIL_BYTES && d.len() >= MAX_DETAIL_BYTES - 1);
        assert!(d.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_api_form_omits_what_is_absent() {
        let id = TaskId::random();
        let e = Event::new(EventKind::Released, Millis(5))
            .task(id)
            .attempt(2)
            .error_type("io.Timeout")
            .detail(Detail::Error);
        let j = serde_json::to_value(e.view(3)).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"seq": 3, "at": 5, "event": "released", "task_id": id.to_string(),
                "attempt": 2, "error_type": "io.Timeout", "detail": "error"})
        );
        let j = serde_json::to_value(Event::new(EventKind::Finished, Millis(6)).view(0)).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"seq": 0, "at": 6, "event": "finished"})
        );
    }

    #[test]
    fn details_read_as_the_text_the_api_always_gave() {
        let cases = [
            (Detail::Value, "value"),
            (Detail::Promise, "promise"),
            (Detail::Error, "error"),
            (Detail::Due(Millis(1700)), "due 1700"),
            (Detail::ExternalPromise, "external promise"),
            (Detail::Queue, "queue"),
            (Detail::Timer, "timer"),
            (Detail::text("customer cancelled"), "customer cancelled"),
        ];
        for (detail, text) in cases {
            assert_eq!(detail.render().as_deref(), Some(text));
        }
        assert_eq!(Detail::None.render(), None);
    }

    #[test]
    fn a_history_keeps_its_first_and_latest_events_and_counts_the_dropped_ones() {
        let mut h = History::default();
        let total = 3 * HISTORY_KEEP as u64 + 7;
        for i in 0..total {
            h.push(Event::new(EventKind::Enqueued, Millis(i)));
        }
        assert_eq!(h.len(), 2 * HISTORY_KEEP);
        assert_eq!(h.dropped(), total - 2 * HISTORY_KEEP as u64);
        // Every kept event keeps its position in the whole history, so seq says
        // where the gap is; the time recorded at position i was i.
        let kept: Vec<(u64, u64)> = h.iter().map(|(seq, e)| (seq, e.at.0)).collect();
        assert!(kept.iter().all(|(seq, at)| seq == at));
        assert_eq!(kept[HISTORY_KEEP - 1].0, HISTORY_KEEP as u64 - 1);
        assert_eq!(kept[HISTORY_KEEP].0, total - HISTORY_KEEP as u64);
        assert_eq!(kept.last().map(|k| k.0), Some(total - 1));
    }

    #[test]
    fn a_short_history_drops_nothing() {
        let mut h = History::default();
        for i in 0..5 {
            h.push(Event::new(EventKind::Enqueued, Millis(i)));
        }
        assert_eq!((h.len(), h.dropped()), (5, 0));
        assert_eq!(
            h.iter().map(|(seq, _)| seq).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
    }
}
