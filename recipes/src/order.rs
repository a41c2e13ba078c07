//! `order`: an order saga — reserve stock, charge payment, assign a courier — with
//! compensation when a step fails, a delayed step, `no_wait` and `wait_for`.
//!
//! In the spirit of an order management system, each order is a process on [`SAGA`]:
//!
//! 1. `start` reserves stock ([`WAREHOUSE`]) and charges the payment ([`PAYMENTS`]),
//!    passing the reservation's promise to the charge, so the broker charges only
//!    once stock is reserved. The charge accepts fails of type `payment`.
//! 2. `after_payment` (a continuation, `call_self`) sees the charge resolved. If it
//!    failed (`has_fail()`), the saga compensates: it releases the stock. Otherwise
//!    it asks [`COURIERS`] for a courier, accepting `courier` fails.
//! 3. `after_courier`: without a courier, it compensates both earlier steps (refund,
//!    release stock). With one, it sends the receipt and schedules a delivery
//!    reminder with a delay ([`Order::remind_after_ms`], Taskurotta's `delayed`
//!    recipe: the task's start time).
//! 4. `delivered` waits for the receipt without taking it as an argument
//!    (`wait_for`, Taskurotta's `@Wait`) and receives the reminder's promise as a
//!    no-wait argument (Taskurotta's `NO_WAIT`): the confirmation does not wait for
//!    the reminder. The process's result is `delivered`'s, so the process ends
//!    without waiting for the reminder either: Suslik ends a process when its start
//!    task's promise resolves (Taskurotta waits for every task of the graph). The
//!    reminder is still sent at its time, after the process has ended.
//! 5. `compensated` runs once every compensation has resolved (they are its array
//!    argument) and reports them.
//!
//! An order with [`Order::decline_payment`] ends compensated after the payment
//! step; one with [`Order::no_courier`] after the courier step; others delivered.

use crate::actors;
use crate::check::{ended, money, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ErrorInfo, ProcessClient, Promise,
    StartOptions, TaskError, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "an order saga: reserve stock, charge, assign a courier; compensations \
                         on failure, a delayed reminder, no_wait and wait_for";
/// The saga decider; start its processes with method [`START`] and an [`Order`].
pub const SAGA: &str = "recipes.order.Saga#1";
/// Stock: `reserve(order) -> Reservation`, `release(reservation) -> String`.
pub const WAREHOUSE: &str = "recipes.order.Warehouse#1";
/// Money: `charge(order, reservation) -> Charge`, `refund(charge) -> String`.
pub const PAYMENTS: &str = "recipes.order.Payments#1";
/// Delivery: `assign(order) -> Courier`.
pub const COURIERS: &str = "recipes.order.Couriers#1";
/// Customer messages: `receipt(order, charge)`, `remind(order, courier)`.
pub const NOTIFICATIONS: &str = "recipes.order.Notifications#1";
/// The saga's start method: `start(order: Order) -> OrderOutcome`.
pub const START: &str = "start";
/// Error type of a declined payment.
pub const DECLINED: &str = "payment.Declined";
/// Error type of a missing courier.
pub const NO_COURIER: &str = "courier.Unavailable";

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Business id.
    pub id: String,
    /// What is ordered.
    pub item: String,
    /// How many.
    pub qty: u32,
    /// Price in cents.
    pub amount_cents: u64,
    /// Makes the payment fail (the card is declined).
    pub decline_payment: bool,
    /// Makes the courier step fail (nobody is available).
    pub no_courier: bool,
    /// Delay of the delivery reminder after the courier is assigned.
    pub remind_after_ms: u64,
}

/// Stock put aside for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order_id: String,
    /// The item.
    pub item: String,
    /// How many.
    pub qty: u32,
}

/// Money taken for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The order.
    pub order_id: String,
    /// Amount in cents.
    pub amount_cents: u64,
}

/// Who delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Courier {
    /// The courier's name.
    pub name: String,
}

/// How an order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Paid and on its way.
    Delivered,
    /// A step failed and the earlier ones were undone.
    Compensated,
}

/// The saga's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOutcome {
    /// The order.
    pub order_id: String,
    /// Delivered or compensated.
    pub status: OrderStatus,
    /// The courier, when delivered.
    pub courier: Option<String>,
    /// The failure that triggered compensation (`type: message`).
    pub failure: Option<String>,
    /// What the compensations did, in the order they were issued.
    pub compensations: Vec<String>,
    /// Whether the delayed reminder was still pending when the delivery was
    /// confirmed (it normally is; the confirmation does not wait for it). Timing
    /// dependent, so left out of [`describe`](Self::describe).
    pub reminder_pending: bool,
}

impl OrderOutcome {
    /// `delivered by Ann` / `compensated after payment.Declined: … (released 2× tea)`.
    pub fn describe(&self) -> String {
        match self.status {
            OrderStatus::Delivered => {
                format!("delivered by {}", self.courier.as_deref().unwrap_or("?"))
            }
            OrderStatus::Compensated => format!(
                "compensated after {} ({})",
                self.failure.as_deref().unwrap_or("?"),
                self.compensations.join(", ")
            ),
        }
    }
}

const COURIER_NAMES: [&str; 4] = ["Ann", "Boris", "Chen", "Dana"];

/// The courier the dispatcher picks for an order (deterministic).
pub fn courier_for(order: &Order) -> String {
    let sum: usize = order.id.bytes().map(usize::from).sum();
    COURIER_NAMES[sum % COURIER_NAMES.len()].to_string()
}

fn release_text(qty: u32, item: &str) -> String {
    format!("released {qty}× {item}")
}

fn refund_text(cents: u64) -> String {
    format!("refunded {}", money(cents))
}

const DECLINE_MESSAGE: &str = "card declined by the issuer";
const NO_COURIER_MESSAGE: &str = "no courier near the pickup point";

/// How `order` must end (with `reminder_pending` as `true`, its usual value).
pub fn expected(order: &Order) -> OrderOutcome {
    let compensated = |failure: String, compensations: Vec<String>| OrderOutcome {
        order_id: order.id.clone(),
        status: OrderStatus::Compensated,
        courier: None,
        failure: Some(failure),
        compensations,
        reminder_pending: false,
    };
    if order.decline_payment {
        compensated(
            format!("{DECLINED}: {DECLINE_MESSAGE}"),
            vec![release_text(order.qty, &order.item)],
        )
    } else if order.no_courier {
        compensated(
            format!("{NO_COURIER}: {NO_COURIER_MESSAGE}"),
            vec![
                refund_text(order.amount_cents),
                release_text(order.qty, &order.item),
            ],
        )
    } else {
        OrderOutcome {
            order_id: order.id.clone(),
            status: OrderStatus::Delivered,
            courier: Some(courier_for(order)),
            failure: None,
            compensations: Vec::new(),
            reminder_pending: true,
        }
    }
}

/// The recipe's workers: warehouse, payments, couriers, notifications.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    let warehouse = WorkerBuilder::new(WAREHOUSE)
        .method("reserve", |o: Order| async move {
            Ok(Reservation {
                order_id: o.id,
                item: o.item,
                qty: o.qty,
            })
        })
        .method("release", |r: Reservation| async move {
            Ok(release_text(r.qty, &r.item))
        });
    let payments = WorkerBuilder::new(PAYMENTS)
        .method("charge", |(o, _r): (Order, Reservation)| async move {
            if o.decline_payment {
                return Err(TaskError::new(DECLINED, DECLINE_MESSAGE));
            }
            Ok(Charge {
                order_id: o.id,
                amount_cents: o.amount_cents,
            })
        })
        .method("refund", |c: Charge| async move {
            Ok(refund_text(c.amount_cents))
        });
    let couriers = WorkerBuilder::new(COURIERS).method("assign", |o: Order| async move {
        if o.no_courier {
            return Err(TaskError::new(NO_COURIER, NO_COURIER_MESSAGE));
        }
        Ok(Courier {
            name: courier_for(&o),
        })
    });
    let notifications = WorkerBuilder::new(NOTIFICATIONS)
        .method("receipt", |(o, c): (Order, Charge)| async move {
            Ok(format!(
                "receipt for {} sent to the buyer of {}",
                money(c.amount_cents),
                o.id
            ))
        })
        .method("remind", |(o, c): (Order, Courier)| async move {
            Ok(format!("{} is bringing order {} today", c.name, o.id))
        });
    vec![
        actors::worker(warehouse),
        actors::worker(payments),
        actors::worker(couriers),
        actors::worker(notifications),
    ]
}

fn failure_text(e: &ErrorInfo) -> String {
    format!("{}: {}", e.error_type, e.message)
}

/// The saga decider.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(
        DeciderBuilder::new(SAGA)
            .method(START, |ctx: DeciderContext, order: Order| async move {
                let reservation: Promise<Reservation> =
                    ctx.call(WAREHOUSE, "reserve", (order.clone(),), CallOptions::new());
                let accept = CallOptions::new().accept_fail("payment");
                let charge: Promise<Charge> =
                    ctx.call(PAYMENTS, "charge", (order.clone(), &reservation), accept);
                Ok(ctx.call_self::<OrderOutcome>("after_payment", (order, &reservation, &charge)))
            })
            .method("after_payment", after_payment)
            .method("after_courier", after_courier)
            .method("delivered", delivered)
            .method("compensated", compensated),
    )
}

async fn after_payment(
    ctx: DeciderContext,
    (order, reservation, charge): (Order, Reservation, Promise<Charge>),
) -> Result<Promise<OrderOutcome>, TaskError> {
    if let Some(e) = charge.get_fail() {
        let released: Promise<String> =
            ctx.call(WAREHOUSE, "release", (reservation,), CallOptions::new());
        return Ok(ctx.call_self("compensated", (order.id, failure_text(e), vec![released])));
    }
    let accept = CallOptions::new().accept_fail("courier");
    let courier: Promise<Courier> = ctx.call(COURIERS, "assign", (order.clone(),), accept);
    Ok(ctx.call_self("after_courier", (order, reservation, charge, &courier)))
}

async fn after_courier(
    ctx: DeciderContext,
    (order, reservation, charge, courier): (Order, Reservation, Charge, Promise<Courier>),
) -> Result<Promise<OrderOutcome>, TaskError> {
    if let Some(e) = courier.get_fail() {
        let refund: Promise<String> = ctx.call(PAYMENTS, "refund", (charge,), CallOptions::new());
        let released: Promise<String> =
            ctx.call(WAREHOUSE, "release", (reservation,), CallOptions::new());
        let undone = vec![refund, released];
        return Ok(ctx.call_self("compensated", (order.id, failure_text(e), undone)));
    }
    let courier = courier.get()?;
    let receipt: Promise<String> = ctx.call(
        NOTIFICATIONS,
        "receipt",
        (order.clone(), charge),
        CallOptions::new(),
    );
    let later = CallOptions::new().delay(Duration::from_millis(order.remind_after_ms));
    let reminder: Promise<String> = ctx.call(
        NOTIFICATIONS,
        "remind",
        (order.clone(), courier.clone()),
        later,
    );
    let after_receipt = CallOptions::new().wait_for(&receipt);
    Ok(ctx.call_self_with(
        "delivered",
        (order.id, courier, reminder.no_wait()),
        after_receipt,
    ))
}

async fn delivered(
    _ctx: DeciderContext,
    (order_id, courier, reminder): (String, Courier, Promise<String>),
) -> Result<OrderOutcome, TaskError> {
    Ok(OrderOutcome {
        order_id,
        status: OrderStatus::Delivered,
        courier: Some(courier.name),
        failure: None,
        compensations: Vec::new(),
        reminder_pending: !reminder.is_ready(),
    })
}

async fn compensated(
    _ctx: DeciderContext,
    (order_id, failure, compensations): (String, String, Vec<String>),
) -> Result<OrderOutcome, TaskError> {
    Ok(OrderOutcome {
        order_id,
        status: OrderStatus::Compensated,
        courier: None,
        failure: Some(failure),
        compensations,
        reminder_pending: false,
    })
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// An order of the demo: `qty` cups of tea at $4.50, reminder after 1 s.
pub fn order(id: &str, qty: u32, decline_payment: bool, no_courier: bool) -> Order {
    Order {
        id: id.to_string(),
        item: "tea".to_string(),
        qty,
        amount_cents: 450 * u64::from(qty),
        decline_payment,
        no_courier,
        remind_after_ms: 1_000,
    }
}

/// Three orders: one delivered, one declined at payment, one without a courier.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let orders = [
        order("o-1", 2, false, false),
        order("o-2", 3, true, false),
        order("o-3", 1, false, true),
    ];
    let mut started = Vec::new();
    for o in orders {
        let opts = StartOptions::new().custom_id(o.id.clone());
        started.push((o.clone(), processes.start(SAGA, START, (o,), opts).await?));
    }
    for (o, id) in started {
        let actual = ended::<OrderOutcome>(processes, id, deadline)
            .await?
            .describe(|out| out.describe());
        let label = format!("order {} ({}× {})", o.id, o.qty, o.item);
        checks.expect(label, actual, expected(&o).describe());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{decide, value};
    use suslik_broker::model::Outcome;

    #[test]
    fn expectations_follow_the_failure_flags() {
        assert_eq!(
            expected(&order("a", 1, false, false)).status,
            OrderStatus::Delivered
        );
        let declined = expected(&order("b", 2, true, true));
        assert_eq!(declined.compensations, ["released 2× tea"]);
        let no_courier = expected(&order("c", 2, false, true));
        assert_eq!(
            no_courier.compensations,
            ["refunded $9.00", "released 2× tea"]
        );
        assert_eq!(courier_for(&order("o-1", 1, false, false)), "Boris");
    }

    #[tokio::test]
    async fn payment_waits_for_the_reservation_and_accepts_payment_fails() {
        let d = decider();
        let decision = decide(&d, START, vec![value(&order("o-1", 1, false, false))]).await;
        let [reserve, charge, next] = decision.tasks.as_slice() else {
            panic!("expected three tasks, got {:?}", decision.tasks);
        };
        assert_eq!(reserve.method, "reserve");
        assert_eq!(charge.options.accept_fail, ["payment"]);
        let mut waits = Vec::new();
        charge
            .args
            .iter()
            .for_each(|a| a.for_each_promise(&mut |p| waits.push(p)));
        assert_eq!(waits, [reserve.task_id]);
        assert_eq!(next.method, "after_payment");
        assert_eq!(decision.outcome, Outcome::Promise(next.task_id));
    }
}
