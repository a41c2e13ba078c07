//! `signal`: an external promise that an outside caller resolves ("payment
//! confirmed"), and one that nobody resolves in time.
//!
//! `checkout(order)` on [`DECIDER`] creates an external promise named
//! [`PAYMENT_CONFIRMED`] with the order's timeout
//! ([`DeciderContext::external_promise`]). No actor executes it: the payment
//! provider's callback resolves it through the API
//! (`POST /api/v1/promises/{task_id}/resolve`, here
//! [`ProcessClient::resolve_promise`]) with the payment's reference. The decider's
//! continuation `settle` runs once the promise resolves: with a confirmation it asks
//! the [`WAREHOUSE`] to ship; with an error (the broker's `suslik.Timeout` when
//! nobody confirmed in time) it cancels the order.
//!
//! The promise's task id is what the decider hands to whoever resolves it; the demo,
//! like an operator, finds it in the process's tasks.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, ProcessId, Promise,
    StartOptions, TaskId, TaskKind, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "a decider waits for an external promise resolved through the API \
                         (payment confirmed), or resolved by its timeout when nobody does";
/// The decider: `checkout(order: Order) -> String` and its continuation `settle`.
pub const DECIDER: &str = "recipes.signal.Decider#1";
/// The warehouse: `ship(order_id, reference) -> String`.
pub const WAREHOUSE: &str = "recipes.signal.Warehouse#1";
/// Name of the external promise.
pub const PAYMENT_CONFIRMED: &str = "payment confirmed";
/// The error type a timed-out external promise resolves with.
pub const TIMEOUT: &str = "suslik.Timeout";

/// An order waiting for its payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Business id.
    pub id: String,
    /// How long to wait for the payment confirmation, in ms.
    pub pay_within_ms: u64,
}

/// What the payment provider confirms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The provider's payment reference.
    pub reference: String,
}

/// The line a shipped order ends with.
pub fn shipped(order_id: &str, reference: &str) -> String {
    format!("order {order_id} shipped, paid by {reference}")
}

/// The line an order whose payment never came ends with.
pub fn cancelled(order_id: &str, error_type: &str) -> String {
    format!("order {order_id} cancelled: payment not confirmed ({error_type})")
}

/// The warehouse.
pub fn warehouse() -> Arc<dyn Worker> {
    actors::worker(WorkerBuilder::new(WAREHOUSE).method(
        "ship",
        |(order_id, reference): (String, String)| async move { Ok(shipped(&order_id, &reference)) },
    ))
}

/// The decider.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(
        DeciderBuilder::new(DECIDER)
            .method("checkout", |ctx: DeciderContext, order: Order| async move {
                let within = Duration::from_millis(order.pay_within_ms);
                let paid: Promise<Confirmation> =
                    ctx.external_promise(PAYMENT_CONFIRMED, Some(within));
                Ok(ctx.call_self::<String>("settle", (order, &paid)))
            })
            .method(
                "settle",
                |ctx: DeciderContext, (order, paid): (Order, Promise<Confirmation>)| async move {
                    if let Some(e) = paid.get_fail() {
                        return Ok(Promise::ready(cancelled(&order.id, &e.error_type)));
                    }
                    let confirmation = paid.get()?;
                    Ok(ctx.call::<String>(
                        WAREHOUSE,
                        "ship",
                        (order.id, confirmation.reference),
                        CallOptions::new(),
                    ))
                },
            ),
    )
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![warehouse()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// The task id of process `id`'s external promise named `name`, once its decider has
/// created it (waits until `deadline`).
pub async fn external_promise_of(
    processes: &ProcessClient,
    id: ProcessId,
    name: &str,
    deadline: Duration,
) -> Result<TaskId, Error> {
    let until = std::time::Instant::now() + deadline;
    loop {
        let view = processes.state(id).await?;
        if let Some(t) = view
            .tasks
            .iter()
            .find(|t| t.kind == TaskKind::External && t.method == name)
        {
            return Ok(t.task_id);
        }
        if std::time::Instant::now() >= until {
            return Err(Error::Timeout(deadline));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An order confirmed through the API, and one whose confirmation never comes.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let confirmed = Order {
        id: "o-1".into(),
        pay_within_ms: 600_000,
    };
    let forgotten = Order {
        id: "o-2".into(),
        pay_within_ms: 300,
    };
    let mut started = Vec::new();
    for order in [&confirmed, &forgotten] {
        let opts = StartOptions::new().custom_id(order.id.clone());
        let id = processes
            .start(DECIDER, "checkout", (order.clone(),), opts)
            .await?;
        started.push((order.clone(), id));
    }
    // The payment provider's callback: confirm the first order.
    let signal = external_promise_of(
        processes,
        started[0].1,
        PAYMENT_CONFIRMED,
        deadline.remaining(),
    )
    .await?;
    let reference = "pay-4711";
    processes
        .resolve_promise(
            signal,
            Confirmation {
                reference: reference.into(),
            },
        )
        .await?;
    let expected = [shipped("o-1", reference), cancelled("o-2", TIMEOUT)];
    for ((order, id), expected) in started.into_iter().zip(expected) {
        let actual = ended::<String>(processes, id, deadline)
            .await?
            .describe(|line| line);
        checks.expect(format!("order {}", order.id), actual, expected);
    }
    Ok(())
}
