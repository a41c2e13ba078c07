//! Per-process event history: an ordered log of what happened to a process and its
//! tasks (started, enqueued, released, retried, broken, restarted, finished, ...), for
//! operators and the console.
//!
//! It sits on the hot path and in every snapshot, so an event is small: a kind, a time,
//! optional task id / attempt / error type and a short detail string, never a copy of a
//! value. Events are appended in apply order, so every replica holds the same history.
//! Deleting a process (garbage collection, an operator) deletes its history.

use super::State;
use crate::model::history::{EventKind, HistoryEvent, HistoryPage};
use crate::model::{Millis, ProcessId, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest stored `detail`, in bytes (longer ones are cut at a character boundary).
pub const MAX_DETAIL_BYTES: usize = 200;

/// One stored event (see [`HistoryEvent`] for the API form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Millis,
    pub kind: EventKind,
    pub task_id: Option<TaskId>,
    pub attempt: Option<u32>,
    pub error_type: Option<Box<str>>,
    pub detail: Option<Box<str>>,
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
            detail: None,
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

    /// A short free-form detail, cut to [`MAX_DETAIL_BYTES`].
    pub fn detail(mut self, detail: &str) -> Self {
        let mut end = detail.len().min(MAX_DETAIL_BYTES);
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        self.detail = Some(detail[..end].into());
        self
    }

    fn view(&self, seq: usize) -> HistoryEvent {
        HistoryEvent {
            seq: seq as u64,
            at: self.at,
            event: self.kind,
            task_id: self.task_id,
            attempt: self.attempt,
            error_type: self.error_type.as_deref().map(str::to_string),
            detail: self.detail.as_deref().map(str::to_string),
        }
    }
}

/// Every live process's history.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Histories(pub(super) HashMap<ProcessId, Vec<Event>>);

impl Histories {
    /// Forgets a process's history (the process is being deleted).
    pub fn remove(&mut self, process_id: &ProcessId) {
        self.0.remove(process_id);
    }
}

impl State {
    /// Appends `event` to the history of `process_id`. A process that does not exist
    /// (any more) records nothing, so history never outlives its process.
    pub(crate) fn record(&mut self, process_id: ProcessId, event: Event) {
        if self.processes.contains_key(&process_id) {
            self.histories.0.entry(process_id).or_default().push(event);
        }
    }

    /// Events `offset..offset+limit` of a process's history, oldest first; `None` for an
    /// unknown process.
    pub fn history(
        &self,
        process_id: &ProcessId,
        offset: usize,
        limit: usize,
    ) -> Option<HistoryPage> {
        if !self.processes.contains_key(process_id) {
            return None;
        }
        let events = self
            .histories
            .0
            .get(process_id)
            .map_or(&[][..], Vec::as_slice);
        Some(HistoryPage {
            total: events.len(),
            items: events
                .iter()
                .enumerate()
                .skip(offset)
                .take(limit)
                .map(|(i, e)| e.view(i))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_detail_is_cut_at_a_character_boundary() {
        let e = Event::new(EventKind::Aborted, Millis(1)).detail(&"é".repeat(MAX_DETAIL_BYTES));
        let d = e.detail.unwrap();
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
            .detail("error");
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
}
