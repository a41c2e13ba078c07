//! Applying the schedule commands: create, pause, resume, delete and fire.
//!
//! Firing is exactly-once per tick: the leader proposes `FireSchedule` with the tick it
//! saw as due, and apply fires only if that tick is still the schedule's
//! `next_fire_at`. A second proposal of the same tick (the same leader retrying, or a
//! new leader after a failover that had not seen the first one applied) finds the
//! schedule already moved on and changes nothing. The next tick is the first one
//! strictly after the firing's `now`, so ticks missed while no leader ran fire once on
//! recovery, not as a burst.

use super::{CommandError, CommandResult, Reply, State};
use crate::model::history::EventKind;
use crate::model::schedule::{CreateSchedule, Schedule};
use crate::model::{Millis, ProcessId, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Every schedule, plus an index of the unpaused ones by next tick (what the leader's
/// schedule loop sleeps on).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Schedules {
    by_name: BTreeMap<String, Schedule>,
    due: BTreeSet<(Millis, String)>,
}

impl Schedules {
    fn insert(&mut self, s: Schedule) {
        if let Some(old) = self.by_name.get(&s.name) {
            if let Some(at) = old.next_fire_at {
                self.due.remove(&(at, old.name.clone()));
            }
        }
        if let (Some(at), false) = (s.next_fire_at, s.paused) {
            self.due.insert((at, s.name.clone()));
        }
        self.by_name.insert(s.name.clone(), s);
    }

    fn remove(&mut self, name: &str) -> Option<Schedule> {
        let s = self.by_name.remove(name)?;
        if let Some(at) = s.next_fire_at {
            self.due.remove(&(at, s.name.clone()));
        }
        Some(s)
    }
}

impl State {
    pub(super) fn create_schedule(&mut self, now: Millis, req: &CreateSchedule) -> CommandResult {
        let trigger = req.validate().map_err(CommandError::Invalid)?;
        if self.schedules.by_name.contains_key(&req.name) {
            return Err(CommandError::Conflict(format!(
                "a schedule named {:?} exists",
                req.name
            )));
        }
        let s = Schedule {
            name: req.name.clone(),
            cron: req.cron.clone(),
            interval_ms: req.interval_ms,
            start: req.start.clone(),
            paused: false,
            next_fire_at: trigger.next_after(now, None),
            last_fired_at: None,
            fired: 0,
            created_at: now,
        };
        self.schedules.insert(s.clone());
        self.effects.schedules_changed = true;
        tracing::info!(schedule = %s.name, next = ?s.next_fire_at, "schedule created");
        Ok(Reply::Schedule(Box::new(s)))
    }

    /// Pauses (`Some(false)` → paused) or resumes a schedule. A resumed schedule's next
    /// tick is the first one after `now`: ticks that fell into the pause are skipped.
    pub(super) fn set_schedule_paused(
        &mut self,
        now: Millis,
        name: &str,
        paused: bool,
    ) -> CommandResult {
        let mut s = self.schedule_named(name)?.clone();
        if s.paused != paused {
            s.paused = paused;
            if paused {
                if let Some(at) = s.next_fire_at.take() {
                    self.schedules.due.remove(&(at, s.name.clone()));
                }
            } else {
                let trigger = s.trigger().map_err(CommandError::Invalid)?;
                s.next_fire_at = trigger.next_after(now, s.last_fired_at);
            }
            self.schedules.insert(s.clone());
            self.effects.schedules_changed = true;
        }
        Ok(Reply::Schedule(Box::new(s)))
    }

    pub(super) fn delete_schedule(&mut self, name: &str) -> CommandResult {
        let s = self
            .schedules
            .remove(name)
            .ok_or_else(|| CommandError::UnknownSchedule(name.to_string()))?;
        self.effects.schedules_changed = true;
        tracing::info!(schedule = %name, "schedule deleted");
        Ok(Reply::Schedule(Box::new(s)))
    }

    /// Fires `name`: for a tick, only if `tick` is still its next tick (else answers
    /// `None` and changes nothing); without a tick ("run now") always, leaving the
    /// next tick where it is.
    pub(super) fn fire_schedule(
        &mut self,
        now: Millis,
        name: &str,
        tick: Option<Millis>,
        process_id: ProcessId,
        task_id: TaskId,
    ) -> CommandResult {
        let s = self.schedule_named(name)?;
        if let Some(t) = tick {
            if s.paused || s.next_fire_at != Some(t) {
                return Ok(Reply::ScheduleFired(None));
            }
        }
        let mut s = s.clone();
        let trigger = match s.trigger() {
            Ok(t) => t,
            // Validated on creation, so only a parser change could get here: stop the
            // ticks rather than propose the same failing tick forever.
            Err(e) if tick.is_some() => {
                tracing::error!(schedule = %name, error = %e, "schedule trigger unreadable; pausing it");
                s.paused = true;
                s.next_fire_at = None;
                self.schedules.insert(s);
                self.effects.schedules_changed = true;
                return Ok(Reply::ScheduleFired(None));
            }
            Err(e) => return Err(CommandError::Invalid(e)),
        };
        let spec = s.start.to_spec(task_id);
        let custom_id = s.custom_id(tick.unwrap_or(now));
        let started = match self.start_process(now, process_id, Some(custom_id.clone()), &spec) {
            Ok(Reply::Started(r)) => Some(r),
            Ok(_) => None,
            // Not retried: a tick whose start is refused must not fire again forever.
            Err(e) if tick.is_some() => {
                tracing::warn!(schedule = %name, error = %e, "scheduled start refused");
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(r) = &started {
            s.fired += 1;
            s.last_fired_at = Some(tick.unwrap_or(now));
            // The process's `started` event says which schedule started it.
            let first = self
                .processes
                .get_mut(&r.process_id)
                .and_then(|p| p.history.first_mut());
            if let Some(e) = first.filter(|e| e.kind == EventKind::Started) {
                e.detail = super::Detail::text(&format!("schedule {custom_id}"));
            }
        }
        if let Some(t) = tick {
            s.next_fire_at = trigger.next_after(now, Some(t));
        }
        tracing::info!(schedule = %name, ?tick, process_id = ?started.as_ref().map(|r| r.process_id), next = ?s.next_fire_at, "schedule fired");
        self.schedules.insert(s);
        self.effects.schedules_changed = true;
        Ok(Reply::ScheduleFired(started))
    }

    fn schedule_named(&self, name: &str) -> Result<&Schedule, CommandError> {
        self.schedules
            .by_name
            .get(name)
            .ok_or_else(|| CommandError::UnknownSchedule(name.to_string()))
    }

    /// Every schedule, by name.
    pub fn schedules(&self) -> Vec<Schedule> {
        self.schedules.by_name.values().cloned().collect()
    }

    /// One schedule.
    pub fn schedule_by_name(&self, name: &str) -> Option<Schedule> {
        self.schedules.by_name.get(name).cloned()
    }

    /// The earliest tick of an unpaused schedule, with its name.
    pub fn next_schedule_due(&self) -> Option<(Millis, String)> {
        self.schedules.due.first().cloned()
    }

    /// Unpaused schedules whose tick is at or before `now`, earliest first.
    pub fn schedules_due(&self, now: Millis) -> Vec<(Millis, String)> {
        self.schedules
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schedule::ScheduleStart;
    use crate::model::{ActorId, ProcessState, QueueKey, TaskList};

    fn every(name: &str, ms: u64) -> CreateSchedule {
        CreateSchedule {
            name: name.into(),
            cron: None,
            interval_ms: Some(ms),
            start: ScheduleStart {
                actor_id: ActorId::new("report#1").unwrap(),
                method: "run".into(),
                args: vec![],
                options: Default::default(),
            },
        }
    }

    fn create(s: &mut State, now: u64, req: CreateSchedule) -> Schedule {
        match s.apply(&Command::CreateSchedule {
            now: Millis(now),
            request: req,
        }) {
            Ok(Reply::Schedule(sc)) => *sc,
            other => panic!("{other:?}"),
        }
    }

    fn fire(s: &mut State, now: u64, name: &str, tick: Option<u64>) -> Option<ProcessId> {
        match s.apply(&Command::FireSchedule {
            now: Millis(now),
            name: name.into(),
            tick: tick.map(Millis),
            process_id: ProcessId::random(),
            task_id: TaskId::random(),
        }) {
            Ok(Reply::ScheduleFired(r)) => r.map(|r| r.process_id),
            other => panic!("{other:?}"),
        }
    }

    use super::super::Command;

    #[test]
    fn a_tick_fires_once_and_starts_a_process_named_after_it() {
        let mut s = State::default();
        let sc = create(&mut s, 1_000, every("hourly", 100));
        assert_eq!(sc.next_fire_at, Some(Millis(1_100)));
        assert_eq!(
            s.next_schedule_due(),
            Some((Millis(1_100), "hourly".into()))
        );
        assert!(s.schedules_due(Millis(1_099)).is_empty());

        let pid = fire(&mut s, 1_105, "hourly", Some(1_100)).expect("fired");
        let p = s.process_view(&pid).unwrap();
        assert_eq!(p.custom_id.as_deref(), Some("hourly@1100"));
        assert_eq!(p.state, ProcessState::Running);
        let started = &s.history(&pid, 0, 10).unwrap().items[0];
        assert_eq!(started.event, EventKind::Started);
        assert_eq!(started.detail.as_deref(), Some("schedule hourly@1100"));
        let key = QueueKey::new(ActorId::new("report#1").unwrap(), TaskList::default());
        assert_eq!(s.queues().queued(&key), 1);

        // The same tick proposed again (a new leader that missed the first) changes nothing.
        assert_eq!(fire(&mut s, 1_106, "hourly", Some(1_100)), None);
        let sc = s.schedule_by_name("hourly").unwrap();
        assert_eq!(sc.fired, 1);
        assert_eq!(sc.last_fired_at, Some(Millis(1_100)));
        assert_eq!(sc.next_fire_at, Some(Millis(1_200)));
        assert_eq!(s.counts().processes, 1);
    }

    #[test]
    fn ticks_missed_during_downtime_fire_once_then_the_schedule_goes_on() {
        let mut s = State::default();
        create(&mut s, 0, every("sync", 100));
        // Nobody led from 100 to 1_050: ticks 100..=1000 were missed.
        assert!(fire(&mut s, 1_050, "sync", Some(100)).is_some());
        assert_eq!(
            s.schedule_by_name("sync").unwrap().next_fire_at,
            Some(Millis(1_100))
        );
        assert!(s.schedules_due(Millis(1_050)).is_empty());
        assert!(fire(&mut s, 1_100, "sync", Some(1_100)).is_some());
        assert_eq!(s.schedule_by_name("sync").unwrap().fired, 2);
    }

    #[test]
    fn paused_schedules_do_not_tick_and_resume_from_now() {
        let mut s = State::default();
        create(&mut s, 0, every("p", 100));
        let r = s.apply(&Command::PauseSchedule { name: "p".into() });
        assert!(matches!(r, Ok(Reply::Schedule(ref sc)) if sc.paused && sc.next_fire_at.is_none()));
        assert_eq!(s.next_schedule_due(), None);
        assert_eq!(fire(&mut s, 100, "p", Some(100)), None);
        // Run now works while paused and leaves the ticks alone.
        assert!(fire(&mut s, 150, "p", None).is_some());
        let sc = s.schedule_by_name("p").unwrap();
        assert_eq!((sc.fired, sc.paused, sc.next_fire_at), (1, true, None));

        let r = s.apply(&Command::ResumeSchedule {
            now: Millis(520),
            name: "p".into(),
        });
        assert!(matches!(r, Ok(Reply::Schedule(ref sc)) if !sc.paused));
        // In phase with the last firing (150): 550 is the first tick after 520.
        assert_eq!(s.next_schedule_due(), Some((Millis(550), "p".into())));
    }

    #[test]
    fn run_now_does_not_move_the_next_tick() {
        let mut s = State::default();
        create(&mut s, 0, every("r", 100));
        let pid = fire(&mut s, 42, "r", None).expect("started");
        assert_eq!(
            s.process_view(&pid).unwrap().custom_id.as_deref(),
            Some("r@42")
        );
        assert_eq!(
            s.schedule_by_name("r").unwrap().next_fire_at,
            Some(Millis(100))
        );
    }

    #[test]
    fn names_are_unique_and_unknown_names_are_reported() {
        let mut s = State::default();
        create(&mut s, 0, every("x", 100));
        let r = s.apply(&Command::CreateSchedule {
            now: Millis(1),
            request: every("x", 5),
        });
        assert!(matches!(r, Err(CommandError::Conflict(_))), "{r:?}");
        for cmd in [
            Command::PauseSchedule { name: "y".into() },
            Command::DeleteSchedule { name: "y".into() },
        ] {
            assert_eq!(
                s.apply(&cmd),
                Err(CommandError::UnknownSchedule("y".into()))
            );
        }
        let bad = CreateSchedule {
            interval_ms: Some(0),
            ..every("z", 1)
        };
        let r = s.apply(&Command::CreateSchedule {
            now: Millis(1),
            request: bad,
        });
        assert!(matches!(r, Err(CommandError::Invalid(_))), "{r:?}");
        assert!(s
            .apply(&Command::DeleteSchedule { name: "x".into() })
            .is_ok());
        assert!(s.schedules().is_empty());
        assert_eq!(s.next_schedule_due(), None);
    }

    #[test]
    fn schedules_survive_a_snapshot() {
        let mut s = State::default();
        create(&mut s, 0, every("keep", 100));
        let restored = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
        assert_eq!(restored.schedules(), s.schedules());
        assert_eq!(
            restored.next_schedule_due(),
            Some((Millis(100), "keep".into()))
        );
    }
}
