//! The sum-of-squares process the fault tests drive: a decider spawns `square(n)`,
//! `square(n+1)`, `square(n+2)` and a `sum` over their promises, and returns the sum's
//! promise. Five releases per process; a decider's decision spawns fresh task ids, so a
//! release applied twice would show as a process with more than five tasks.

use super::*;
use serde_json::json;
use suslik_broker::model::{Arg, Decision, Delivery, Outcome, ResolvedArg, TaskKind};

/// The workers a [`SumOfSquares`] process calls.
pub struct SumOfSquares {
    pub square: &'static str,
    pub adder: &'static str,
}

impl SumOfSquares {
    /// The result of the process started with `n`.
    pub fn expected(n: i64) -> i64 {
        n * n + (n + 1) * (n + 1) + (n + 2) * (n + 2)
    }

    /// The decision a correct actor makes for `d`.
    pub fn decide(&self, d: &Delivery) -> Decision {
        let (outcome, tasks) = match d.kind {
            TaskKind::DeciderStart => {
                let n = arg_json(&d.args[0]).as_i64().unwrap();
                let squares: Vec<_> = (0..3)
                    .map(|i| worker(self.square, "square", vec![value(json!(n + i))]))
                    .collect();
                let sum = worker(
                    self.adder,
                    "sum",
                    vec![Arg::Array(
                        squares.iter().map(|s| promise(s.task_id)).collect(),
                    )],
                );
                let mut tasks = squares;
                tasks.push(sum.clone());
                (Outcome::Promise(sum.task_id), tasks)
            }
            _ if d.method == "square" => {
                let n = arg_json(&d.args[0]).as_i64().unwrap();
                (value_outcome(json!(n * n)), vec![])
            }
            _ => {
                let ResolvedArg::Array(items) = &d.args[0] else {
                    panic!("sum without an array: {:?}", d.args)
                };
                let s: i64 = items.iter().map(|a| arg_json(a).as_i64().unwrap()).sum();
                (value_outcome(json!(s)), vec![])
            }
        };
        decision(d, outcome, tasks)
    }
}
