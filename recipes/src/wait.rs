//! `wait`: a task that waits for promises it does not take as arguments.
//!
//! Taskurotta's `wait` recipe (`@Wait`, `promisesWaitFor`). An order is shipped only
//! after its stock is reserved and its payment captured, but the courier needs neither
//! result — only the order id. The decider passes the two promises in the call's
//! `wait_for` option: the broker holds the shipment until both resolve, and hands the
//! courier a task whose only argument is the order.
//!
//! To show the ordering rather than assume it, the workers share an in-memory log of
//! finished steps per order: the courier reports which steps it found done when it
//! ran. The payment is deliberately slower than the reservation, so a shipment that
//! did not wait would see at most the reservation.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "a shipment that waits for the stock reservation and the payment \
                         (wait_for, Taskurotta's @Wait) without taking their results";
/// The decider; start its processes with method [`START`] and an order id.
pub const DECIDER: &str = "recipes.wait.Orders#1";
/// The stock worker: `reserve(order) -> String`.
pub const STOCK: &str = "recipes.wait.Stock#1";
/// The payment worker: `capture(order) -> String` (slower than the reservation).
pub const PAYMENTS: &str = "recipes.wait.Payments#1";
/// The courier: `ship(order) -> Shipment`, called with `wait_for` on both steps.
pub const COURIER: &str = "recipes.wait.Courier#1";
/// The decider's start method: `start(order: String) -> Shipment`.
pub const START: &str = "start";
/// How long the payment takes.
const PAYMENT_TIME: Duration = Duration::from_millis(300);

/// What the courier answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The order shipped.
    pub order: String,
    /// The steps of the order that were done when the courier ran, sorted.
    pub done_before: Vec<String>,
}

/// What the process for `order` should end with: shipped after both steps.
pub fn expected(order: &str) -> Shipment {
    Shipment {
        order: order.to_string(),
        done_before: vec!["paid".into(), "reserved".into()],
    }
}

/// Finished steps per order, shared by the three workers.
type StepLog = Arc<Mutex<HashMap<String, BTreeSet<String>>>>;

fn note(log: &StepLog, order: &str, step: &str) {
    log.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(order.to_string())
        .or_default()
        .insert(step.to_string());
}

fn steps_of(log: &StepLog, order: &str) -> Vec<String> {
    log.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(order)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// The three workers, sharing their log of finished steps.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    let log: StepLog = Arc::default();
    let (l1, l2, l3) = (log.clone(), log.clone(), log);
    let stock = actors::worker(WorkerBuilder::new(STOCK).method(
        "reserve",
        move |order: String| {
            let log = l1.clone();
            async move {
                note(&log, &order, "reserved");
                Ok(format!("{order} reserved"))
            }
        },
    ));
    let payments = actors::worker(WorkerBuilder::new(PAYMENTS).method(
        "capture",
        move |order: String| {
            let log = l2.clone();
            async move {
                tokio::time::sleep(PAYMENT_TIME).await;
                note(&log, &order, "paid");
                Ok(format!("{order} paid"))
            }
        },
    ));
    let courier = actors::worker(WorkerBuilder::new(COURIER).method(
        "ship",
        move |order: String| {
            let log = l3.clone();
            async move {
                let done_before = steps_of(&log, &order);
                Ok(Shipment { order, done_before })
            }
        },
    ));
    vec![stock, payments, courier]
}

/// The decider: `start(order)` reserves and captures in parallel, and ships once
/// both are done — the shipment waits for their promises without taking them.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, order: String| async move {
            let reserved: Promise<String> =
                ctx.call(STOCK, "reserve", (order.clone(),), CallOptions::new());
            let paid: Promise<String> =
                ctx.call(PAYMENTS, "capture", (order.clone(),), CallOptions::new());
            let shipped: Promise<Shipment> = ctx.call(
                COURIER,
                "ship",
                (order,),
                CallOptions::new().wait_for_all([&reserved, &paid]),
            );
            Ok(shipped)
        },
    ))
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

fn describe(s: &Shipment) -> String {
    format!("{} shipped after {}", s.order, s.done_before.join(" and "))
}

/// Two orders: `order-81 → order-81 shipped after paid and reserved`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let mut started = Vec::new();
    for order in ["order-81", "order-82"] {
        let id = processes
            .start(DECIDER, START, (order,), StartOptions::new())
            .await?;
        started.push((order, id));
    }
    for (order, id) in started {
        let actual = ended::<Shipment>(processes, id, deadline)
            .await?
            .describe(|s| describe(&s));
        checks.expect(order, actual, describe(&expected(order)));
    }
    Ok(())
}
