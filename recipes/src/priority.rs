//! `priority`: card-transaction notifications, suspicious ones on their own task list.
//!
//! Taskurotta's `custom` recipe (task lists via scheduling options). Every card
//! transaction starts a process on [`DECIDER`], which asks the [`NOTIFIER`] worker
//! either for an ordinary receipt or — when the transaction is suspicious (over
//! [`THRESHOLD_CENTS`]) — for a fraud alert. The alert call is scheduled on the task
//! list [`SUSPICIOUS_LIST`] with priority [`SUSPICIOUS_PRIORITY`]:
//!
//! - the broker keeps one queue per (actor, task list), so alerts never wait behind
//!   the ordinary queue of the same actor, however long it is;
//! - that queue is served by pollers of its own (the container runs them for each
//!   pair in [`crate::task_lists`]), so alerts are sent even while every ordinary
//!   poller is busy or stuck;
//! - within the suspicious queue, higher priority goes first.
//!
//! [`Notifier`] keeps the order in which notifications were sent, and can hold back
//! ordinary ones (a blocked downstream), which is how the tests show alerts
//! overtaking a long ordinary queue by the order of completion, not by timing.

use crate::actors;
use crate::check::{ended, money, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use suslik_client::{
    ActorId, CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, TaskContext, TaskList, Worker, WorkerBuilder,
};
use tokio::sync::watch;

/// What the recipe shows.
pub const ABOUT: &str = "suspicious card transactions go to their own task list with a higher \
                         priority and their own pollers, overtaking the ordinary queue";
/// The decider; start its processes with method [`START`] and a [`Transaction`].
pub const DECIDER: &str = "recipes.priority.Decider#1";
/// The worker sending receipts (default task list) and fraud alerts ([`SUSPICIOUS_LIST`]).
pub const NOTIFIER: &str = "recipes.priority.Notifier#1";
/// The decider's start method: `notify(tx: Transaction) -> Notice`.
pub const START: &str = "notify";
/// The task list of fraud alerts, served by its own pollers of [`NOTIFIER`].
pub const SUSPICIOUS_LIST: &str = "suspicious";
/// Priority of fraud alerts within their queue (ordinary receipts have 0).
pub const SUSPICIOUS_PRIORITY: i32 = 10;
/// Transactions above this amount (in cents: $1000.00) are suspicious.
pub const THRESHOLD_CENTS: u64 = 100_000;

/// How many sent notifications a [`Notifier`] remembers.
pub const SENT_KEPT: usize = 4_096;

/// A card transaction to notify the card holder of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Business id, e.g. `tx-7`.
    pub id: String,
    /// Masked card number.
    pub card: String,
    /// Amount in cents.
    pub amount_cents: u64,
}

impl Transaction {
    /// Whether the transaction needs a fraud alert rather than a receipt.
    pub fn is_suspicious(&self) -> bool {
        self.amount_cents > THRESHOLD_CENTS
    }
}

/// What kind of notification was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// An ordinary receipt.
    Receipt,
    /// A fraud alert for a suspicious transaction.
    FraudAlert,
}

/// A sent notification: the process's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The transaction it is about.
    pub tx_id: String,
    /// Receipt or alert.
    pub kind: NoticeKind,
    /// The task list the notifier's task was polled from (`""` is the default list).
    pub task_list: String,
}

impl Notice {
    /// `receipt via the default list` / `fraud alert via the suspicious list`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            NoticeKind::Receipt => "receipt",
            NoticeKind::FraudAlert => "fraud alert",
        };
        let list = if self.task_list.is_empty() {
            "default"
        } else {
            &self.task_list
        };
        format!("{kind} via the {list} list")
    }
}

/// The notification a transaction must end with.
pub fn expected(tx: &Transaction) -> Notice {
    let (kind, task_list) = if tx.is_suspicious() {
        (NoticeKind::FraudAlert, SUSPICIOUS_LIST)
    } else {
        (NoticeKind::Receipt, "")
    };
    Notice {
        tx_id: tx.id.clone(),
        kind,
        task_list: task_list.to_string(),
    }
}

/// The notifier's shared state: the order of sent notifications and the hold switch.
/// Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    sent: Mutex<VecDeque<String>>,
    hold: watch::Sender<bool>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

impl Notifier {
    /// A notifier sending everything at once.
    pub fn new() -> Self {
        Notifier {
            inner: Arc::new(Shared {
                sent: Mutex::new(VecDeque::new()),
                hold: watch::Sender::new(false),
            }),
        }
    }

    /// From now on, ordinary receipts wait (inside the worker, holding their poller)
    /// until [`release_ordinary`](Self::release_ordinary): a stuck downstream.
    pub fn hold_ordinary(&self) {
        self.inner.hold.send_replace(true);
    }

    /// Lets held and later receipts through.
    pub fn release_ordinary(&self) {
        self.inner.hold.send_replace(false);
    }

    /// Transaction ids in the order their notifications were sent (the last
    /// [`SENT_KEPT`] of them, so a long-running notifier stays small).
    pub fn sent(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.inner.sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, ctx: &TaskContext, tx: Transaction, kind: NoticeKind) -> Notice {
        let mut sent = self.lock();
        if sent.len() == SENT_KEPT {
            sent.pop_front();
        }
        sent.push_back(tx.id.clone());
        drop(sent);
        Notice {
            tx_id: tx.id,
            kind,
            task_list: ctx.task_list().as_str().to_string(),
        }
    }

    /// The [`NOTIFIER`] worker over this state: `receipt(tx)` and `fraud_alert(tx)`,
    /// each returning the [`Notice`] sent.
    pub fn worker(&self) -> Arc<dyn Worker> {
        let (for_receipt, for_alert) = (self.clone(), self.clone());
        actors::worker(
            WorkerBuilder::new(NOTIFIER)
                .method_with_context("receipt", move |ctx: TaskContext, tx: Transaction| {
                    let me = for_receipt.clone();
                    async move {
                        let mut hold = me.inner.hold.subscribe();
                        // The sender lives in `me`, so waiting cannot fail.
                        let _ = hold.wait_for(|held| !*held).await;
                        Ok(me.record(&ctx, tx, NoticeKind::Receipt))
                    }
                })
                .method_with_context("fraud_alert", move |ctx: TaskContext, tx: Transaction| {
                    let me = for_alert.clone();
                    async move { Ok(me.record(&ctx, tx, NoticeKind::FraudAlert)) }
                }),
        )
    }
}

/// The decider: `notify(tx)` returns the promise of a receipt, or of a fraud alert
/// on the suspicious list with a higher priority.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, tx: Transaction| async move {
            let notice: Promise<Notice> = if tx.is_suspicious() {
                let urgent = CallOptions::new()
                    .task_list(SUSPICIOUS_LIST)
                    .priority(SUSPICIOUS_PRIORITY);
                ctx.call(NOTIFIER, "fraud_alert", (tx,), urgent)
            } else {
                ctx.call(NOTIFIER, "receipt", (tx,), CallOptions::new())
            };
            Ok(notice)
        },
    ))
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![Notifier::new().worker()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// `(NOTIFIER, "suspicious")`: the one extra queue this recipe needs pollers for.
pub fn task_lists() -> Vec<(ActorId, TaskList)> {
    match (ActorId::new(NOTIFIER), TaskList::new(SUSPICIOUS_LIST)) {
        (Ok(actor), Ok(list)) => vec![(actor, list)],
        _ => panic!("the priority recipe's actor id and task list are valid constants"),
    }
}

/// A transaction of the demo: `tx-{n}` on a made-up card.
pub fn transaction(n: u32, amount_cents: u64) -> Transaction {
    Transaction {
        id: format!("tx-{n}"),
        card: format!("4111 **** **** {:04}", 1000 + n),
        amount_cents,
    }
}

/// Six ordinary transactions with two suspicious ones among them:
/// `tx-4 $2500.00 → fraud alert via the suspicious list`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let amounts = [1_250, 4_999, 870, 250_000, 12_000, 99_900, 1_200_000, 3_100];
    let mut started = Vec::new();
    for (n, cents) in (1..).zip(amounts) {
        let tx = transaction(n, cents);
        let opts = StartOptions::new().custom_id(tx.id.clone());
        let id = processes.start(DECIDER, START, (tx.clone(),), opts).await?;
        started.push((tx, id));
    }
    for (tx, id) in started {
        let actual = ended::<Notice>(processes, id, deadline)
            .await?
            .describe(|n| n.describe());
        let label = format!("{} {}", tx.id, money(tx.amount_cents));
        checks.expect(label, actual, expected(&tx).describe());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{decide, value};

    #[tokio::test]
    async fn suspicious_transactions_are_routed_to_their_list_with_priority() {
        let d = decider();
        let alert = decide(&d, START, vec![value(&transaction(1, THRESHOLD_CENTS + 1))]).await;
        assert_eq!(alert.tasks.len(), 1);
        assert_eq!(alert.tasks[0].method, "fraud_alert");
        assert_eq!(alert.tasks[0].options.task_list.as_str(), SUSPICIOUS_LIST);
        assert_eq!(alert.tasks[0].options.priority, SUSPICIOUS_PRIORITY);

        let receipt = decide(&d, START, vec![value(&transaction(2, THRESHOLD_CENTS))]).await;
        assert_eq!(receipt.tasks[0].method, "receipt");
        assert_eq!(receipt.tasks[0].options.task_list, TaskList::default_list());
        assert_eq!(receipt.tasks[0].options.priority, 0);
    }
}
