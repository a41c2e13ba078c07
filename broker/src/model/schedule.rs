//! Schedules: named recurring process starts, as clients create and see them.
//!
//! A schedule fires on a cron expression (five fields, UTC; see [`crate::cron`]) or
//! on a fixed interval, and each firing starts one process from `start`. These types
//! go to the Raft log and snapshots (bincode) as well as to JSON, so absent fields
//! are explicit `null`s rather than skipped.

use super::{ActorId, Arg, Millis, TaskId, TaskKind, TaskOptions, TaskSpec};
use crate::cron::Cron;
use serde::{Deserialize, Serialize};

/// Longest schedule name in bytes.
pub const MAX_SCHEDULE_NAME: usize = 128;

/// What a firing starts: a process start without ids (each firing mints its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleStart {
    /// The decider that runs the start task, `name#version`.
    pub actor_id: ActorId,
    pub method: String,
    /// Plain values only: nothing exists yet to wait for.
    #[serde(default)]
    pub args: Vec<Arg>,
    /// Task list, priority, retry, accepted fails of the start task.
    #[serde(default)]
    pub options: TaskOptions,
}

impl ScheduleStart {
    /// The start task of one firing.
    pub fn to_spec(&self, task_id: TaskId) -> TaskSpec {
        TaskSpec {
            task_id,
            actor_id: self.actor_id.clone(),
            method: self.method.clone(),
            kind: TaskKind::DeciderStart,
            args: self.args.clone(),
            options: self.options.clone(),
        }
    }
}

/// `POST /api/v1/schedules`: exactly one of `cron` and `interval_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    pub name: String,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    pub start: ScheduleStart,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Cron(Box<Cron>),
    /// Every this many milliseconds, in phase with the first tick.
    Interval(u64),
}

impl Trigger {
    /// The trigger of `cron` / `interval_ms`, checked.
    pub fn of(cron: Option<&str>, interval_ms: Option<u64>) -> Result<Trigger, String> {
        match (cron, interval_ms) {
            (Some(c), None) => Cron::parse(c)
                .map(|c| Trigger::Cron(Box::new(c)))
                .map_err(|e| e.to_string()),
            (None, Some(0)) => Err("interval_ms must be at least 1".into()),
            (None, Some(ms)) => Ok(Trigger::Interval(ms)),
            (Some(_), Some(_)) => Err("give either cron or interval_ms, not both".into()),
            (None, None) => Err("give cron or interval_ms".into()),
        }
    }

    /// The first tick strictly after `now`. An interval keeps the phase of `anchor`
    /// (an earlier tick) if there is one: ticks are `anchor + k * interval`.
    pub fn next_after(&self, now: Millis, anchor: Option<Millis>) -> Option<Millis> {
        match self {
            Trigger::Cron(c) => c.next_after(now),
            Trigger::Interval(ms) => match anchor {
                Some(a) if a <= now => {
                    let k = (now.0 - a.0) / ms + 1;
                    Some(Millis(a.0.saturating_add(k.saturating_mul(*ms))))
                }
                Some(a) => Some(a),
                None => Some(now.plus(*ms)),
            },
        }
    }
}

impl CreateSchedule {
    /// Checks everything a replica can check alone: the name, the trigger, the start.
    pub fn validate(&self) -> Result<Trigger, String> {
        validate_name(&self.name)?;
        let trigger = Trigger::of(self.cron.as_deref(), self.interval_ms)?;
        let s = &self.start;
        if s.method.is_empty() {
            return Err("start.method is empty".into());
        }
        let mut promises = 0;
        s.args
            .iter()
            .for_each(|a| a.for_each_promise(&mut |_| promises += 1));
        if promises > 0 || !s.options.wait_for.is_empty() {
            return Err("start.args cannot hold promises: nothing exists yet to wait for".into());
        }
        if s.options.start_at.is_some() {
            return Err("start.options.start_at makes no sense for a schedule".into());
        }
        Ok(trigger)
    }
}

/// Names are path segments and prefixes of custom ids (`name@tick`): letters,
/// digits and `- _ . :` only.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SCHEDULE_NAME {
        return Err(format!(
            "schedule name must be 1 to {MAX_SCHEDULE_NAME} bytes"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(format!(
            "schedule name {name:?} may contain only letters, digits and - _ . :"
        ));
    }
    Ok(())
}

/// A schedule as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    pub name: String,
    pub cron: Option<String>,
    pub interval_ms: Option<u64>,
    pub start: ScheduleStart,
    pub paused: bool,
    /// The next tick (none while paused).
    pub next_fire_at: Option<Millis>,
    pub last_fired_at: Option<Millis>,
    /// How many processes it started (ticks and "run now").
    pub fired: u64,
    pub created_at: Millis,
}

impl Schedule {
    /// The trigger; stored schedules were validated on creation.
    pub fn trigger(&self) -> Result<Trigger, String> {
        Trigger::of(self.cron.as_deref(), self.interval_ms)
    }

    /// The custom id of the process a firing at `tick` starts.
    pub fn custom_id(&self, tick: Millis) -> String {
        format!("{}@{}", self.name, tick.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<CreateSchedule, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn intervals_keep_their_phase_and_skip_missed_ticks() {
        let t = Trigger::Interval(100);
        assert_eq!(t.next_after(Millis(1000), None), Some(Millis(1100)));
        // Ticks 1100..=1500 were missed: the next is the first one after now, once.
        assert_eq!(
            t.next_after(Millis(1550), Some(Millis(1100))),
            Some(Millis(1600))
        );
        assert_eq!(
            t.next_after(Millis(1600), Some(Millis(1100))),
            Some(Millis(1700))
        );
    }

    #[test]
    fn a_request_needs_exactly_one_trigger_and_a_plain_start() {
        let start = serde_json::json!({"actor_id": "d#1", "method": "run"});
        let ok =
            request(serde_json::json!({"name": "n", "interval_ms": 5, "start": start})).unwrap();
        assert_eq!(ok.validate(), Ok(Trigger::Interval(5)));
        for (body, needle) in [
            (
                serde_json::json!({"name": "n", "start": start}),
                "cron or interval_ms",
            ),
            (
                serde_json::json!({"name": "n", "interval_ms": 0, "start": start}),
                "at least 1",
            ),
            (
                serde_json::json!({"name": "n", "cron": "* * * * *", "interval_ms": 5, "start": start}),
                "not both",
            ),
            (
                serde_json::json!({"name": "n", "cron": "61 * * * *", "start": start}),
                "outside",
            ),
            (
                serde_json::json!({"name": "a b", "interval_ms": 5, "start": start}),
                "letters, digits",
            ),
            (
                serde_json::json!({"name": "n", "interval_ms": 5,
                    "start": {"actor_id": "d#1", "method": ""}}),
                "method is empty",
            ),
        ] {
            let e = request(body).unwrap().validate().unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert!(request(serde_json::json!({"name": "n", "interval_ms": 5,
            "start": {"actor_id": "no-version", "method": "m"}}))
        .is_err());
    }

    #[test]
    fn schedules_round_trip_through_bincode() {
        let s = Schedule {
            name: "nightly".into(),
            cron: Some("0 3 * * *".into()),
            interval_ms: None,
            start: ScheduleStart {
                actor_id: ActorId::new("d#1").unwrap(),
                method: "run".into(),
                args: vec![],
                options: TaskOptions::default(),
            },
            paused: false,
            next_fire_at: Some(Millis(5)),
            last_fired_at: None,
            fired: 0,
            created_at: Millis(1),
        };
        let bin = bincode::serialize(&s).unwrap();
        assert_eq!(bincode::deserialize::<Schedule>(&bin).unwrap(), s);
        assert_eq!(s.custom_id(Millis(60_000)), "nightly@60000");
    }
}
