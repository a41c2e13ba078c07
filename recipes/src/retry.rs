//! `retry`: a flaky worker retried with exponential backoff, and a fail the decider
//! accepts and compensates.
//!
//! Taskurotta's `retrypolicy` and `erroneous` recipes, two processes on [`DECIDER`]:
//!
//! - `fetch_rate(fails)` calls the [`RATES`] worker, which times out on its first
//!   `fails` attempts (it reads the attempt number the broker delivers with the task).
//!   The call carries [`policy`]: exponential backoff from 100 ms, doubling, at most
//!   [`MAX_ATTEMPTS`] attempts. The broker re-schedules each failed attempt, so a
//!   worker failing twice succeeds on attempt 3 and the process never sees the
//!   errors; one failing more often than the policy allows breaks the process with
//!   the last error.
//! - `checkout(purchase)` charges a card through [`PAYMENTS`], accepting fails of type
//!   `payment` (`accept_fail`). A declined card (`payment.Declined`, listed as not
//!   retryable in the policy, so it is final at once) does not break the process:
//!   the charge's promise resolves with the error. The decider's continuation
//!   (`call_self("settle", …)`, Taskurotta's `@Asynchronous`) runs once the promise is
//!   ready, sees `has_fail()`, and compensates by charging the customer's wallet.

use crate::actors;
use crate::check::{ended, money, Checks, Deadline, Ended};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise, RetryKind,
    RetryPolicy, StartOptions, TaskContext, TaskError, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "a flaky worker retried with exponential backoff until it succeeds (or \
                         runs out of attempts); a declined payment accepted and compensated";
/// The decider: methods `fetch_rate(fails: u32) -> Quote` and
/// `checkout(p: Purchase) -> Payment`.
pub const DECIDER: &str = "recipes.retry.Decider#1";
/// The flaky exchange-rate service.
pub const RATES: &str = "recipes.retry.Rates#1";
/// The payment service: `charge_card(p)`, `charge_wallet(p, reason)`.
pub const PAYMENTS: &str = "recipes.retry.Payments#1";
/// Attempts [`policy`] allows, the first one included.
pub const MAX_ATTEMPTS: u32 = 5;
/// Error type of the flaky service's failures.
pub const TIMEOUT: &str = "rates.Timeout";
/// Error type of a declined card.
pub const DECLINED: &str = "payment.Declined";

/// Exponential retries: 100 ms, 200 ms, 400 ms, ... (at most 2 s apart), at most
/// [`MAX_ATTEMPTS`] attempts, never for `payment` errors.
pub fn policy() -> RetryPolicy {
    RetryPolicy {
        kind: RetryKind::Exponential,
        initial_interval_ms: 100,
        backoff_coefficient: 2.0,
        max_interval_ms: 2_000,
        max_attempts: MAX_ATTEMPTS,
        non_retryable: vec!["payment".to_string()],
    }
}

/// An exchange rate and the attempt that fetched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// EUR→USD, as text.
    pub rate: String,
    /// The attempt that succeeded (1 = first).
    pub attempt: u32,
}

/// A purchase to pay for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// Business id.
    pub id: String,
    /// Amount in cents.
    pub amount_cents: u64,
    /// The card's limit in cents: a larger amount is declined.
    pub card_limit_cents: u64,
}

/// How a purchase was paid: the `checkout` process's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The purchase.
    pub purchase_id: String,
    /// `card` or `wallet`.
    pub method: String,
    /// Why the card was not used, when it was not.
    pub note: Option<String>,
}

impl Payment {
    /// `paid by card` / `paid by wallet (card declined: …)`.
    pub fn describe(&self) -> String {
        match &self.note {
            Some(note) => format!("paid by {} ({note})", self.method),
            None => format!("paid by {}", self.method),
        }
    }
}

/// How `fetch_rate(fails)` must end: its quote line, or broken by the last timeout.
pub fn expected_fetch(fails: u32) -> String {
    if fails < MAX_ATTEMPTS {
        quote_line(&Quote {
            rate: RATE.to_string(),
            attempt: fails + 1,
        })
    } else {
        format!("broken by {TIMEOUT}: {}", timeout_message(MAX_ATTEMPTS))
    }
}

/// How `checkout(p)` must end.
pub fn expected_checkout(p: &Purchase) -> Payment {
    if p.amount_cents <= p.card_limit_cents {
        Payment {
            purchase_id: p.id.clone(),
            method: "card".into(),
            note: None,
        }
    } else {
        Payment {
            purchase_id: p.id.clone(),
            method: "wallet".into(),
            note: Some(format!("{DECLINED}: {}", decline_message(p))),
        }
    }
}

const RATE: &str = "1.0850";

fn quote_line(q: &Quote) -> String {
    format!("EUR→USD {} on attempt {}", q.rate, q.attempt)
}

fn timeout_message(attempt: u32) -> String {
    format!("attempt {attempt} timed out")
}

fn decline_message(p: &Purchase) -> String {
    format!(
        "{} is over the card limit of {}",
        money(p.amount_cents),
        money(p.card_limit_cents)
    )
}

/// The flaky service: `rate(fails)` fails while `attempt <= fails`.
pub fn rates() -> Arc<dyn Worker> {
    actors::worker(WorkerBuilder::new(RATES).method_with_context(
        "rate",
        |ctx: TaskContext, fails: u32| async move {
            let attempt = ctx.attempt();
            if attempt <= fails {
                return Err(TaskError::new(TIMEOUT, timeout_message(attempt)));
            }
            Ok(Quote {
                rate: RATE.to_string(),
                attempt,
            })
        },
    ))
}

/// The payment service.
pub fn payments() -> Arc<dyn Worker> {
    actors::worker(
        WorkerBuilder::new(PAYMENTS)
            .method("charge_card", |p: Purchase| async move {
                if p.amount_cents > p.card_limit_cents {
                    return Err(TaskError::new(DECLINED, decline_message(&p)));
                }
                Ok(Payment {
                    purchase_id: p.id,
                    method: "card".into(),
                    note: None,
                })
            })
            .method(
                "charge_wallet",
                |(p, reason): (Purchase, String)| async move {
                    Ok(Payment {
                        purchase_id: p.id,
                        method: "wallet".into(),
                        note: Some(reason),
                    })
                },
            ),
    )
}

/// The decider: `fetch_rate`, `checkout` and `checkout`'s continuation `settle`.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(
        DeciderBuilder::new(DECIDER)
            // Declared once per called method, like Taskurotta's @ExponentialRetry on a
            // client interface: every call below that names no policy gets this one.
            .retry_policy(RATES, "rate", policy())
            .retry_policy(PAYMENTS, "charge_card", policy())
            .method("fetch_rate", |ctx: DeciderContext, fails: u32| async move {
                Ok(ctx.call::<Quote>(RATES, "rate", (fails,), CallOptions::new()))
            })
            .method("checkout", |ctx: DeciderContext, p: Purchase| async move {
                let opts = CallOptions::new().accept_fail("payment");
                let card: Promise<Payment> = ctx.call(PAYMENTS, "charge_card", (p.clone(),), opts);
                Ok(ctx.call_self::<Payment>("settle", (p, &card)))
            })
            .method(
                "settle",
                |ctx: DeciderContext, (p, card): (Purchase, Promise<Payment>)| async move {
                    match card.get_fail() {
                        // Compensate the accepted fail: charge the wallet instead.
                        Some(e) => {
                            let reason = format!("{}: {}", e.error_type, e.message);
                            let wallet: Promise<Payment> = ctx.call(
                                PAYMENTS,
                                "charge_wallet",
                                (p, reason),
                                CallOptions::new(),
                            );
                            Ok(wallet)
                        }
                        None => Ok(card),
                    }
                },
            ),
    )
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![rates(), payments()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// A purchase of the demo.
pub fn purchase(id: &str, amount_cents: u64, card_limit_cents: u64) -> Purchase {
    Purchase {
        id: id.to_string(),
        amount_cents,
        card_limit_cents,
    }
}

/// A service failing twice (fixed on attempt 3), one failing more than the policy
/// allows (broken), a card that pays, and one that is declined and compensated.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let mut fetches = Vec::new();
    for fails in [2, MAX_ATTEMPTS] {
        let opts = StartOptions::new().custom_id(format!("rate-fails-{fails}"));
        fetches.push((
            fails,
            processes
                .start(DECIDER, "fetch_rate", (fails,), opts)
                .await?,
        ));
    }
    let mut checkouts = Vec::new();
    for p in [
        purchase("p-1", 4_000, 50_000),
        purchase("p-2", 90_000, 50_000),
    ] {
        let opts = StartOptions::new().custom_id(p.id.clone());
        let id = processes
            .start(DECIDER, "checkout", (p.clone(),), opts)
            .await?;
        checkouts.push((p, id));
    }
    for (fails, id) in fetches {
        let actual = match ended::<Quote>(processes, id, deadline).await? {
            Ended::Value(q) => quote_line(&q),
            other => other.describe(|_| String::new()),
        };
        checks.expect(
            format!("rate service failing {fails}×"),
            actual,
            expected_fetch(fails),
        );
    }
    for (p, id) in checkouts {
        let actual = ended::<Payment>(processes, id, deadline)
            .await?
            .describe(|pay| pay.describe());
        let label = format!("checkout {} {}", p.id, money(p.amount_cents));
        checks.expect(label, actual, expected_checkout(&p).describe());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_follow_the_policy() {
        assert_eq!(expected_fetch(0), "EUR→USD 1.0850 on attempt 1");
        assert_eq!(
            expected_fetch(MAX_ATTEMPTS - 1),
            "EUR→USD 1.0850 on attempt 5"
        );
        assert_eq!(
            expected_fetch(MAX_ATTEMPTS),
            "broken by rates.Timeout: attempt 5 timed out"
        );
        assert!(policy()
            .non_retryable
            .iter()
            .any(|t| DECLINED.starts_with(t.as_str())));
        assert_eq!(expected_checkout(&purchase("p", 1, 1)).method, "card");
        assert_eq!(expected_checkout(&purchase("p", 2, 1)).method, "wallet");
    }
}
