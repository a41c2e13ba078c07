//! The fan-out/fan-in workload, as pure functions from a delivered task to its decision.
//!
//! A process starts `fan.Decider#1.run(n)`. The decider spawns three worker tasks
//! `fan.Worker#1.step(n)`, `step(n+1)`, `step(n+2)` (each returns x+1) and a fourth,
//! `sum([p1, p2, p3])`, whose single argument is an array of the three promises, and
//! returns the promise of `sum`. So 5 tasks per process and the process result is
//! (n+1)+(n+2)+(n+3). This is the workload of the Restate peer figures.

use suslik_broker::model::wire::StartProcessRequest;
use suslik_broker::model::{
    ActorId, Arg, Decision, Delivery, ErrorInfo, JsonValue, Outcome, ProcessId, ResolvedArg,
    TaskId, TaskKind, TaskOptions, TaskSpec,
};

/// The orchestrating actor.
pub const DECIDER: &str = "fan.Decider#1";
/// The actor of the step and sum tasks.
pub const WORKER: &str = "fan.Worker#1";
/// Tasks one process runs: run, 3 × step, sum.
pub const TASKS_PER_PROCESS: u64 = 5;

/// The result a process started with `n` must end with.
pub fn expected_result(n: i64) -> i64 {
    (n + 1) + (n + 2) + (n + 3)
}

fn actor(name: &str) -> Result<ActorId, String> {
    ActorId::new(name).map_err(|e| e.to_string())
}

fn json(v: i64) -> Result<JsonValue, String> {
    JsonValue::from_serialize(&v).map_err(|e| e.to_string())
}

/// The start of process number `n`, with the process id and start task id minted here:
/// the caller can register the process before the request is sent, and a start resent
/// after a failover is the same start (the broker answers it as the first time).
pub fn start_request(n: i64) -> Result<(ProcessId, StartProcessRequest), String> {
    let process_id = ProcessId::random();
    let req = StartProcessRequest {
        actor_id: actor(DECIDER)?,
        method: "run".into(),
        args: vec![Arg::Value(json(n)?)],
        options: TaskOptions::default(),
        custom_id: None,
        task_id: Some(TaskId::random()),
        process_id: Some(process_id),
        idempotency_key: None,
        unique_custom_id: false,
    };
    Ok((process_id, req))
}

/// The integer a resolved argument carries.
fn int(arg: &ResolvedArg) -> Result<i64, String> {
    match arg {
        ResolvedArg::Value(v) => v
            .decode::<i64>()
            .map_err(|e| format!("{v} is not an integer: {e}")),
        other => Err(format!("expected an integer value, got {other:?}")),
    }
}

/// The single argument of a delivery.
fn only_arg(d: &Delivery) -> Result<&ResolvedArg, String> {
    match d.args.as_slice() {
        [a] => Ok(a),
        args => Err(format!(
            "{}: expected 1 argument, got {}",
            d.method,
            args.len()
        )),
    }
}

fn worker_task(method: &str, args: Vec<Arg>) -> Result<TaskSpec, String> {
    Ok(TaskSpec {
        task_id: TaskId::random(),
        actor_id: actor(WORKER)?,
        method: method.into(),
        kind: TaskKind::Worker,
        args,
        options: TaskOptions::default(),
    })
}

fn decision(d: &Delivery, outcome: Outcome, tasks: Vec<TaskSpec>) -> Decision {
    Decision {
        task_id: d.task_id,
        process_id: Some(d.process_id),
        outcome,
        tasks,
        restart_at: None,
        execution_ms: None,
        attempt: Some(d.attempt),
        delivery_id: Some(d.delivery_id),
        delivered_at: None,
    }
}

/// What the decider or worker decides for `d`; an `Err` says the delivery was not what
/// this workload sends (the caller counts it and releases [`error_decision`]).
pub fn decide(d: &Delivery) -> Result<Decision, String> {
    match (d.actor_id.as_str(), d.method.as_str()) {
        (DECIDER, "run") => {
            let n = int(only_arg(d)?)?;
            let steps = (0..3)
                .map(|i| worker_task("step", vec![Arg::Value(json(n + i)?)]))
                .collect::<Result<Vec<_>, String>>()?;
            let promises = steps
                .iter()
                .map(|t| Arg::Promise {
                    task_id: t.task_id,
                    no_wait: false,
                })
                .collect();
            let sum = worker_task("sum", vec![Arg::Array(promises)])?;
            let outcome = Outcome::Promise(sum.task_id);
            let mut tasks = steps;
            tasks.push(sum);
            Ok(decision(d, outcome, tasks))
        }
        (WORKER, "step") => {
            let x = int(only_arg(d)?)?;
            Ok(decision(d, Outcome::Value(json(x + 1)?), vec![]))
        }
        (WORKER, "sum") => {
            let ResolvedArg::Array(items) = only_arg(d)? else {
                return Err("sum: expected an array argument".into());
            };
            let total = items.iter().map(int).sum::<Result<i64, String>>()?;
            Ok(decision(d, Outcome::Value(json(total)?), vec![]))
        }
        (actor, method) => Err(format!("unexpected task {actor}.{method}")),
    }
}

/// The release of a delivery this workload could not handle: an error outcome, so the
/// process breaks visibly instead of hanging until its lease ends.
pub fn error_decision(d: &Delivery, why: &str) -> Decision {
    let error = ErrorInfo::new("bench.UnexpectedTask", why);
    decision(d, Outcome::Error(error), vec![])
}

#[cfg(test)]
mod tests {
    use super::*;
    use suslik_broker::model::{Millis, TaskList};

    fn delivery(actor_id: &str, method: &str, args: Vec<ResolvedArg>) -> Delivery {
        Delivery {
            task_id: TaskId::random(),
            process_id: ProcessId::random(),
            actor_id: ActorId::new(actor_id).unwrap(),
            task_list: TaskList::default_list(),
            method: method.into(),
            kind: TaskKind::Worker,
            args,
            attempt: 1,
            lease_until: Millis(0),
            delivery_id: suslik_broker::model::DeliveryId::random(),
            delivered_at: Millis(0),
        }
    }

    fn value(v: i64) -> ResolvedArg {
        ResolvedArg::Value(JsonValue::from_serialize(&v).unwrap())
    }

    #[test]
    fn decider_fans_out_three_steps_and_a_sum_of_their_promises() {
        let d = delivery(DECIDER, "run", vec![value(10)]);
        let dec = decide(&d).unwrap();
        assert_eq!(dec.task_id, d.task_id);
        assert_eq!(dec.process_id, Some(d.process_id));
        assert_eq!(dec.tasks.len(), 4);
        let args: Vec<_> = dec.tasks[..3].iter().map(|t| t.args.clone()).collect();
        let want: Vec<_> = (10..13)
            .map(|n| vec![Arg::Value(JsonValue::from_serialize(&n).unwrap())])
            .collect();
        assert_eq!(args, want);
        let sum = &dec.tasks[3];
        assert_eq!(sum.method, "sum");
        let Arg::Array(items) = &sum.args[0] else {
            panic!("sum takes an array")
        };
        let ids: Vec<TaskId> = items
            .iter()
            .map(|a| match a {
                Arg::Promise {
                    task_id,
                    no_wait: false,
                } => *task_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            ids,
            dec.tasks[..3].iter().map(|t| t.task_id).collect::<Vec<_>>()
        );
        assert_eq!(dec.outcome, Outcome::Promise(sum.task_id));
    }

    #[test]
    fn workers_add_one_and_sum() {
        let step = decide(&delivery(WORKER, "step", vec![value(41)])).unwrap();
        assert_eq!(
            step.outcome,
            Outcome::Value(JsonValue::from_text("42").unwrap())
        );
        let arr = ResolvedArg::Array(vec![value(11), value(12), value(13)]);
        let sum = decide(&delivery(WORKER, "sum", vec![arr])).unwrap();
        assert_eq!(
            sum.outcome,
            Outcome::Value(JsonValue::from_serialize(&expected_result(10)).unwrap())
        );
    }

    #[test]
    fn unexpected_deliveries_are_errors() {
        assert!(decide(&delivery(WORKER, "step", vec![])).is_err());
        assert!(decide(&delivery(WORKER, "sum", vec![value(1)])).is_err());
        assert!(decide(&delivery(WORKER, "nope", vec![value(1)])).is_err());
        let bad = ResolvedArg::Value(JsonValue::from_text("\"x\"").unwrap());
        assert!(decide(&delivery(WORKER, "step", vec![bad])).is_err());
        let d = delivery(WORKER, "nope", vec![]);
        assert!(matches!(
            error_decision(&d, "why").outcome,
            Outcome::Error(_)
        ));
    }

    #[test]
    fn start_request_carries_n_and_a_fresh_process_id() {
        let (pid, req) = start_request(7).unwrap();
        assert_eq!(req.process_id, Some(pid));
        assert!(req.task_id.is_some());
        assert_eq!(req.actor_id.as_str(), DECIDER);
        assert_eq!(
            req.args,
            vec![Arg::Value(JsonValue::from_text("7").unwrap())]
        );
        assert_eq!(expected_result(7), 8 + 9 + 10);
    }
}
