//! Every recipe against a real broker over HTTP: the demo batch through
//! `Recipe::run` (its report must be ok and say exactly what each process ended
//! with), then a few processes started directly to check what the broker stored.

use std::collections::HashSet;
use suslik_broker::model::wire::{ProcessView, TaskStatus, TaskView};
use suslik_client::{Error, StartOptions, TaskKind};
use suslik_recipes::{fanout, hello, order, retry, signal, subprocess, RecipeReport};
use suslik_tests::{eventually, recipe, Broker, PATIENCE};

/// Runs recipe `name` with every recipe actor running, and checks the report is ok.
async fn run_recipe(broker: &Broker, name: &str) -> anyhow::Result<RecipeReport> {
    let report = recipe(name)?.run(&broker.processes(), PATIENCE).await?;
    assert!(report.ok, "{report}");
    assert_eq!(report.recipe, name);
    Ok(report)
}

fn task<'a>(view: &'a ProcessView, actor: &str, method: &str) -> anyhow::Result<&'a TaskView> {
    view.tasks
        .iter()
        .find(|t| t.actor_id.as_str() == actor && t.method == method)
        .ok_or_else(|| anyhow::anyhow!("no task {actor}.{method} in {view:#?}"))
}

fn tasks<'a>(view: &'a ProcessView, actor: &str, method: &str) -> Vec<&'a TaskView> {
    view.tasks
        .iter()
        .filter(|t| t.actor_id.as_str() == actor && t.method == method)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_ends_with_the_greeters_greeting() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "hello").await?;
        assert_eq!(
            report.lines,
            [
                "hello Suslik → Hello, Suslik!",
                "hello Taskurotta → Hello, Taskurotta!"
            ]
        );

        let processes = broker.processes();
        let id = processes
            .start(hello::DECIDER, hello::START, ("Rust",), StartOptions::new())
            .await?;
        let greeting: String = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(greeting, "Hello, Rust!");
        let view = processes.state(id).await?;
        assert_eq!(view.tasks.len(), 2, "the start task and one worker task");
        assert_eq!(task(&view, hello::GREETER, "greet")?.kind, TaskKind::Worker);
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_sums_three_parallel_steps_through_an_array_of_promises() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "fanout").await?;
        assert_eq!(
            report.lines,
            ["fan-out 1 → 9", "fan-out 7 → 27", "fan-out 100 → 306"]
        );

        let processes = broker.processes();
        let id = processes
            .start(fanout::DECIDER, fanout::START, (-3,), StartOptions::new())
            .await?;
        let sum: i64 = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(sum, fanout::expected(-3));
        assert_eq!(sum, -2 - 1);
        let view = processes.state(id).await?;
        assert_eq!(view.tasks.len(), 5, "start, three steps, sum");
        let steps: HashSet<_> = tasks(&view, fanout::WORKER, "step")
            .iter()
            .map(|t| t.task_id)
            .collect();
        assert_eq!(steps.len(), 3);
        let sum_task = task(&view, fanout::WORKER, "sum")?;
        let waited: HashSet<_> = sum_task.depends_on.iter().copied().collect();
        assert_eq!(waited, steps, "the sum waits for exactly the three steps");
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_routes_suspicious_transactions_to_their_own_list() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "priority").await?;
        assert_eq!(
            report.lines,
            [
                "tx-1 $12.50 → receipt via the default list",
                "tx-2 $49.99 → receipt via the default list",
                "tx-3 $8.70 → receipt via the default list",
                "tx-4 $2500.00 → fraud alert via the suspicious list",
                "tx-5 $120.00 → receipt via the default list",
                "tx-6 $999.00 → receipt via the default list",
                "tx-7 $12000.00 → fraud alert via the suspicious list",
                "tx-8 $31.00 → receipt via the default list",
            ]
        );
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_recovers_a_flaky_worker_and_compensates_a_declined_card() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "retry").await?;
        assert_eq!(
            report.lines,
            [
                "rate service failing 2× → EUR→USD 1.0850 on attempt 3",
                "rate service failing 5× → broken by rates.Timeout: attempt 5 timed out",
                "checkout p-1 $40.00 → paid by card",
                "checkout p-2 $900.00 → paid by wallet (payment.Declined: $900.00 is over \
                 the card limit of $500.00)",
            ]
        );

        let processes = broker.processes();
        let id = processes
            .start(retry::DECIDER, "fetch_rate", (1u32,), StartOptions::new())
            .await?;
        let quote: retry::Quote = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(quote.attempt, 2, "one timeout, then success on the retry");
        let view = processes.state(id).await?;
        let rate = task(&view, retry::RATES, "rate")?;
        assert_eq!(rate.status, TaskStatus::Released);
        assert_eq!(rate.attempt, 2, "{rate:#?}");

        let declined = retry::purchase("p-9", 70_000, 10_000);
        let id = processes
            .start(
                retry::DECIDER,
                "checkout",
                (declined.clone(),),
                StartOptions::new(),
            )
            .await?;
        let paid: retry::Payment = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(paid, retry::expected_checkout(&declined));
        assert_eq!(paid.method, "wallet");
        let view = processes.state(id).await?;
        let card = task(&view, retry::PAYMENTS, "charge_card")?;
        assert_eq!(card.attempt, 1, "payment errors are not retried: {card:#?}");
        assert_eq!(
            card.error.as_ref().map(|e| e.error_type.as_str()),
            Some(retry::DECLINED)
        );
        assert!(card.result.is_none());
        task(&view, retry::DECIDER, "settle")?;
        task(&view, retry::PAYMENTS, "charge_wallet")?;
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_saga_delivers_good_orders_and_compensates_failed_ones() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "order").await?;
        assert_eq!(
            report.lines,
            [
                "order o-1 (2× tea) → delivered by Boris",
                "order o-2 (3× tea) → compensated after payment.Declined: card declined by \
                 the issuer (released 3× tea)",
                "order o-3 (1× tea) → compensated after courier.Unavailable: no courier near \
                 the pickup point (refunded $4.50, released 1× tea)",
            ]
        );

        let processes = broker.processes();
        let declined = order::order("o-20", 4, true, false);
        let good = order::order("o-21", 1, false, false);
        let declined_id = processes
            .start(
                order::SAGA,
                order::START,
                (declined.clone(),),
                StartOptions::new(),
            )
            .await?;
        let good_id = processes
            .start(
                order::SAGA,
                order::START,
                (good.clone(),),
                StartOptions::new(),
            )
            .await?;

        let outcome: order::OrderOutcome = processes.wait_for_result(declined_id, PATIENCE).await?;
        assert_eq!(outcome, order::expected(&declined));
        let view = processes.state(declined_id).await?;
        assert!(
            tasks(&view, order::COURIERS, "assign").is_empty(),
            "no courier after a decline"
        );
        assert!(
            tasks(&view, order::PAYMENTS, "refund").is_empty(),
            "nothing to refund"
        );
        task(&view, order::WAREHOUSE, "release")?;

        let outcome: order::OrderOutcome = processes.wait_for_result(good_id, PATIENCE).await?;
        assert_eq!(outcome.status, order::OrderStatus::Delivered);
        assert_eq!(outcome.courier, Some(order::courier_for(&good)));
        assert!(outcome.compensations.is_empty() && outcome.failure.is_none());
        let view = processes.state(good_id).await?;
        // Payment waited for the reservation: its promise is an argument.
        let reserve = task(&view, order::WAREHOUSE, "reserve")?;
        assert!(task(&view, order::PAYMENTS, "charge")?
            .depends_on
            .contains(&reserve.task_id));
        // `delivered` waited for the receipt (wait_for) but not for the reminder (no_wait).
        let delivered = task(&view, order::SAGA, "delivered")?;
        let receipt = task(&view, order::NOTIFICATIONS, "receipt")?;
        let reminder = task(&view, order::NOTIFICATIONS, "remind")?;
        assert!(
            delivered.depends_on.contains(&receipt.task_id),
            "{delivered:#?}"
        );
        assert!(
            !delivered.depends_on.contains(&reminder.task_id),
            "{delivered:#?}"
        );
        // The process's result is `delivered`'s; the reminder is still sent, no earlier
        // than its delay (and the process finishes only once it is).
        let reminder_id = reminder.task_id;
        eventually("the delayed reminder", || async {
            Ok(processes.task(reminder_id).await?.released_at.is_some())
        })
        .await?;
        let reminder = processes.task(reminder_id).await?;
        let released = reminder
            .released_at
            .ok_or_else(|| anyhow::anyhow!("reminder not released: {reminder:#?}"))?;
        assert!(
            released.0 >= reminder.created_at.0 + good.remind_after_ms,
            "{reminder:#?}"
        );
        assert_eq!(
            reminder
                .result
                .as_ref()
                .map(|v| v.decode::<String>())
                .transpose()?,
            Some(format!(
                "{} is bringing order o-21 today",
                order::courier_for(&good)
            ))
        );
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subprocess_results_feed_the_parent_decider() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "subprocess").await?;
        assert_eq!(
            report.lines,
            ["invoice inv-1 (3 lines) → $9.00 + $25.00 + $32.40 = $66.40"]
        );

        let processes = broker.processes();
        let lines = vec![
            subprocess::Line {
                item: "kettle".into(),
                qty: 2,
            },
            subprocess::Line {
                item: "cup".into(),
                qty: 10,
            },
        ];
        let id = processes
            .start(
                subprocess::INVOICE,
                subprocess::START,
                ("inv-2", lines.clone()),
                StartOptions::new(),
            )
            .await?;
        let invoice: subprocess::Invoice = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(invoice.line_totals, [5_000, 2_700]);
        assert_eq!(invoice.total_cents, 7_700);
        assert_eq!(Some(invoice), subprocess::expected("inv-2", &lines));
        let view = processes.state(id).await?;
        let children = tasks(&view, subprocess::PRICING, "price");
        assert_eq!(children.len(), 2);
        assert!(children.iter().all(|t| t.kind == TaskKind::Decider));
        assert_eq!(tasks(&view, subprocess::PRICING, "extend").len(), 2);

        let id = processes
            .start(
                subprocess::INVOICE,
                subprocess::START,
                (
                    "inv-3",
                    vec![subprocess::Line {
                        item: "samovar".into(),
                        qty: 1,
                    }],
                ),
                StartOptions::new(),
            )
            .await?;
        match processes
            .wait_for_result::<subprocess::Invoice>(id, PATIENCE)
            .await
        {
            Err(Error::ProcessBroken { broken, .. }) => {
                let b = broken.ok_or_else(|| anyhow::anyhow!("broken without details"))?;
                assert_eq!(b.error.error_type, subprocess::UNKNOWN_ITEM);
                assert_eq!(b.actor_id.as_str(), subprocess::CATALOG);
            }
            other => anyhow::bail!("an unknown item must break the invoice, got {other:?}"),
        }
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_waits_for_a_promise_resolved_by_the_api_or_by_its_timeout() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "signal").await?;
        assert_eq!(
            report.lines,
            [
                "order o-1 → order o-1 shipped, paid by pay-4711",
                "order o-2 → order o-2 cancelled: payment not confirmed (suslik.Timeout)"
            ]
        );

        // Resolved by the API: the promise holds the value, nothing else ran it, and
        // resolving it again answers the same while something else is refused.
        let processes = broker.processes();
        let order = signal::Order {
            id: "o-3".into(),
            pay_within_ms: 600_000,
        };
        let id = processes
            .start(signal::DECIDER, "checkout", (order,), StartOptions::new())
            .await?;
        let promise =
            signal::external_promise_of(&processes, id, signal::PAYMENT_CONFIRMED, PATIENCE)
                .await?;
        let pay = signal::Confirmation {
            reference: "pay-1".into(),
        };
        let first = processes.resolve_promise(promise, &pay).await?;
        assert!(first.resolved && !first.duplicate);
        let line: String = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(line, signal::shipped("o-3", "pay-1"));
        let again = processes.resolve_promise(promise, &pay).await?;
        assert!(again.duplicate, "the same value again is answered as done");
        let other = signal::Confirmation {
            reference: "pay-2".into(),
        };
        match processes.resolve_promise(promise, &other).await {
            Err(Error::Rejected { status: 409, .. }) => {}
            other => panic!("a different value must be refused with 409: {other:?}"),
        }
        let view = processes.state(id).await?;
        let ext = task(&view, signal::DECIDER, signal::PAYMENT_CONFIRMED)?;
        assert_eq!(ext.kind, TaskKind::External);
        assert_eq!(ext.status, TaskStatus::Released);
        assert_eq!(ext.attempt, 1, "never handed out to an actor");
        task(&view, signal::WAREHOUSE, "ship")?;
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}
