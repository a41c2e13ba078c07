//! `subprocess`: a decider calling another decider and using its result.
//!
//! Taskurotta's `darg`/`recursion` idea: a decider's client stub may point at another
//! *decider*, not only at workers. The [`INVOICE`] decider prices each invoice line
//! by calling the [`PRICING`] decider (`call_decider`), getting a promise back just
//! as from a worker. The pricing decider is a small process of its own inside the
//! same process graph: it asks the [`CATALOG`] worker for the unit price, continues
//! in `extend` (applying a volume discount) and replies with the line total — and
//! since it replied with the promise of that continuation, the invoice's promise
//! resolves only when the whole sub-process has. The invoice's continuation `total`
//! then receives every line's result as a plain number and adds them up.

use crate::actors;
use crate::check::{ended, money, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, TaskError, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str =
    "an invoice decider prices each line through a pricing decider (a sub-process) and sums them";
/// The parent decider; start with method [`START`] and `(invoice_id, lines)`.
pub const INVOICE: &str = "recipes.subprocess.Invoice#1";
/// The child decider: `price(line) -> i64` (cents).
pub const PRICING: &str = "recipes.subprocess.Pricing#1";
/// The worker: `unit_price(item) -> u64` (cents).
pub const CATALOG: &str = "recipes.subprocess.Catalog#1";
/// The parent's start method: `start(invoice_id: String, lines: Vec<Line>) -> Invoice`.
pub const START: &str = "start";
/// Error type of an item the catalog does not know.
pub const UNKNOWN_ITEM: &str = "catalog.UnknownItem";
/// Lines of at least this quantity get [`VOLUME_DISCOUNT_PERCENT`] off.
pub const VOLUME_QTY: u64 = 10;
/// The volume discount.
pub const VOLUME_DISCOUNT_PERCENT: u64 = 10;

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Catalog item.
    pub item: String,
    /// Quantity.
    pub qty: u64,
}

/// The parent process's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Business id.
    pub id: String,
    /// Each line's total in cents, in line order.
    pub line_totals: Vec<u64>,
    /// The sum.
    pub total_cents: u64,
}

impl Invoice {
    /// `$9.00 + $25.00 + $32.40 = $66.40`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.line_totals.iter().map(|c| money(*c)).collect();
        format!("{} = {}", parts.join(" + "), money(self.total_cents))
    }
}

/// The catalog's price of `item` in cents.
pub fn unit_price(item: &str) -> Option<u64> {
    match item {
        "tea" => Some(450),
        "kettle" => Some(2_500),
        "cup" => Some(300),
        _ => None,
    }
}

/// A line's total: quantity × unit price, less the volume discount.
pub fn line_total(qty: u64, unit_cents: u64) -> u64 {
    let gross = qty * unit_cents;
    if qty >= VOLUME_QTY {
        gross - gross * VOLUME_DISCOUNT_PERCENT / 100
    } else {
        gross
    }
}

/// The invoice `lines` must end with (`None` if an item is unknown: the process breaks).
pub fn expected(id: &str, lines: &[Line]) -> Option<Invoice> {
    let line_totals = lines
        .iter()
        .map(|l| unit_price(&l.item).map(|u| line_total(l.qty, u)))
        .collect::<Option<Vec<u64>>>()?;
    Some(Invoice {
        id: id.to_string(),
        total_cents: line_totals.iter().sum(),
        line_totals,
    })
}

/// The recipe's workers: the catalog.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![actors::worker(WorkerBuilder::new(CATALOG).method(
        "unit_price",
        |item: String| async move {
            unit_price(&item)
                .ok_or_else(|| TaskError::new(UNKNOWN_ITEM, format!("no item {item:?}")))
        },
    ))]
}

/// The recipe's deciders: the invoice (parent) and the pricing (child).
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    let invoice = DeciderBuilder::new(INVOICE)
        .method(
            START,
            |ctx: DeciderContext, (id, lines): (String, Vec<Line>)| async move {
                let totals: Vec<Promise<u64>> = lines
                    .into_iter()
                    .map(|line| ctx.call_decider(PRICING, "price", (line,), CallOptions::new()))
                    .collect();
                Ok(ctx.call_self::<Invoice>("total", (id, totals)))
            },
        )
        .method(
            "total",
            |_ctx: DeciderContext, (id, line_totals): (String, Vec<u64>)| async move {
                Ok(Invoice {
                    id,
                    total_cents: line_totals.iter().sum(),
                    line_totals,
                })
            },
        );
    let pricing = DeciderBuilder::new(PRICING)
        .method("price", |ctx: DeciderContext, line: Line| async move {
            let unit: Promise<u64> =
                ctx.call(CATALOG, "unit_price", (line.item.clone(),), CallOptions::new());
            Ok(ctx.call_self::<u64>("extend", (line.qty, &unit)))
        })
        .method(
            "extend",
            |_ctx: DeciderContext, (qty, unit): (u64, u64)| async move { Ok(line_total(qty, unit)) },
        );
    vec![actors::decider(invoice), actors::decider(pricing)]
}

/// The demo's invoice: 2 tea, 1 kettle, 12 cups (discounted).
pub fn demo_lines() -> Vec<Line> {
    let line = |item: &str, qty| Line {
        item: item.to_string(),
        qty,
    };
    vec![line("tea", 2), line("kettle", 1), line("cup", 12)]
}

/// One invoice: `invoice inv-1 (3 lines) → $9.00 + $25.00 + $32.40 = $66.40`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let (id, lines) = ("inv-1".to_string(), demo_lines());
    let opts = StartOptions::new().custom_id(id.clone());
    let pid = processes
        .start(INVOICE, START, (id.clone(), lines.clone()), opts)
        .await?;
    let actual = ended::<Invoice>(processes, pid, deadline)
        .await?
        .describe(|inv| inv.describe());
    let want = expected(&id, &lines).map_or_else(|| "broken".to_string(), |i| i.describe());
    checks.expect(
        format!("invoice {id} ({} lines)", lines.len()),
        actual,
        want,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_discount_and_unknown_items() {
        assert_eq!(line_total(9, 300), 2_700);
        assert_eq!(line_total(10, 300), 2_700);
        assert_eq!(
            expected("i", &demo_lines())
                .map(|i| i.describe())
                .as_deref(),
            Some("$9.00 + $25.00 + $32.40 = $66.40")
        );
        let unknown = vec![Line {
            item: "samovar".into(),
            qty: 1,
        }];
        assert_eq!(expected("i", &unknown), None);
    }
}
