//! The Taskurotta-parity recipes against a real broker over HTTP: `delayed`,
//! `pcollection`, `recursion`, `nowait`, `heartbeat`, `scheduled`, `wait`. Each runs its demo batch through
//! `Recipe::run` (the report must be ok and say what each process ended with), then a
//! process started directly shows what the broker stored.

use std::time::Duration;
use suslik_broker::model::wire::{ProcessView, TaskStatus};
use suslik_client::{Millis, ProcessState, StartOptions, TaskKind};
use suslik_recipes::{
    delayed, heartbeat, nowait, pcollection, recursion, scheduled, wait, RecipeReport,
};
use suslik_tests::{recipe, Broker, PATIENCE};

async fn run_recipe(broker: &Broker, name: &str) -> anyhow::Result<RecipeReport> {
    let report = recipe(name)?.run(&broker.processes(), PATIENCE).await?;
    assert!(report.ok, "{report}");
    assert_eq!(report.recipe, name);
    Ok(report)
}

fn count(view: &ProcessView, actor: &str, method: &str) -> usize {
    view.tasks
        .iter()
        .filter(|t| t.actor_id.as_str() == actor && t.method == method)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_starts_a_process_and_a_step_no_earlier_than_asked() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "delayed").await?;
        assert_eq!(
            report.lines,
            [
                "reminder 'water the plants' → 'water the plants' started on time, sent on time",
                "reminder 'call mum' → 'call mum' started on time, sent on time",
            ]
        );

        let processes = broker.processes();
        let asked = Millis::now();
        let id =
            delayed::start_reminder(&processes, "later", Duration::from_millis(400), 200).await?;
        let sent: String = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(sent, delayed::expected("later"));
        let view = processes.state(id).await?;
        let step = view
            .tasks
            .iter()
            .find(|t| t.method == "remind")
            .ok_or_else(|| anyhow::anyhow!("no remind step"))?;
        assert_eq!(step.kind, TaskKind::Decider);
        assert!(
            view.ended_at.is_some_and(|t| t >= asked.plus(600)),
            "ended before start + delay: {view:#?}"
        );
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcollection_hands_a_nested_collection_of_promises_to_a_decider_step() -> anyhow::Result<()>
{
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "pcollection").await?;
        assert_eq!(
            report.lines,
            [
                "survey [[1, 2, 3], [4], []] → sums [14, 16, 0], 0 failed",
                "survey [[5, -1], [-2, -3], [6, 7]] → sums [25, 0, 85], 3 failed",
            ]
        );

        let processes = broker.processes();
        let groups = vec![vec![2, -2], vec![3]];
        let id = processes
            .start(
                pcollection::DECIDER,
                pcollection::START,
                (groups.clone(),),
                StartOptions::new(),
            )
            .await?;
        let totals: pcollection::Totals = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(totals, pcollection::expected(&groups));
        let view = processes.state(id).await?;
        assert_eq!(count(&view, pcollection::SENSOR, "measure"), 3);
        let total = view
            .tasks
            .iter()
            .find(|t| t.method == "total")
            .ok_or_else(|| anyhow::anyhow!("no total step"))?;
        assert_eq!(
            total.depends_on.len(),
            3,
            "the step waits for every measurement"
        );
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_computes_a_factorial_one_self_call_per_step() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "recursion").await?;
        assert_eq!(report.lines, ["1! → 1", "5! → 120", "10! → 3628800"]);

        let processes = broker.processes();
        let id = processes
            .start(
                recursion::DECIDER,
                recursion::START,
                (6u32,),
                StartOptions::new(),
            )
            .await?;
        let f: u64 = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(f, 720);
        let view = processes.state(id).await?;
        // start, then step(6) … step(1): six self-calls; five multiplications.
        assert_eq!(count(&view, recursion::DECIDER, "step"), 6);
        assert_eq!(count(&view, recursion::MULTIPLIER, "multiply"), 5);
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nowait_acknowledges_before_archiving_and_finishes_after() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "nowait").await?;
        assert_eq!(
            report.lines,
            [
                "invoice-17 → invoice-17 acknowledged before archiving",
                "contract-4 → contract-4 acknowledged before archiving",
            ]
        );

        let processes = broker.processes();
        let id = processes
            .start(
                nowait::DECIDER,
                nowait::START,
                ("memo-1",),
                StartOptions::new(),
            )
            .await?;
        let ack: nowait::Ack = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(ack, nowait::expected("memo-1"));
        let view = processes.wait_for_end(id, PATIENCE).await?;
        assert_eq!(view.state, ProcessState::Finished);
        let archive = view
            .tasks
            .iter()
            .find(|t| t.actor_id.as_str() == nowait::ARCHIVE)
            .ok_or_else(|| anyhow::anyhow!("no archive task"))?;
        assert_eq!(archive.status, TaskStatus::Released);
        let ack_task = view
            .tasks
            .iter()
            .find(|t| t.actor_id.as_str() == nowait::CLERK)
            .ok_or_else(|| anyhow::anyhow!("no clerk task"))?;
        assert!(
            ack_task.depends_on.is_empty(),
            "a no-wait argument is not a dependency"
        );
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_keeps_a_task_longer_than_its_lease_with_one_delivery() -> anyhow::Result<()> {
    // A short lease: the job below runs for more than two of them, heartbeating ten
    // times per lease (a margin a loaded CI machine cannot eat).
    let broker = Broker::start_with(|cfg| cfg.limits.lease_ms = 1_000).await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "heartbeat").await?;
        assert_eq!(
            report.lines,
            ["4 × 50 ms → 4 chunks, 4 heartbeats, handed out 1 time(s)"]
        );

        let processes = broker.processes();
        let job = heartbeat::Job {
            chunks: 25,
            chunk_ms: 100,
        };
        let id = heartbeat::start_job(&processes, &job).await?;
        let done: heartbeat::Crunched = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(done, heartbeat::expected(&job));
        let view = processes.state(id).await?;
        let crunch = view
            .tasks
            .iter()
            .find(|t| t.actor_id.as_str() == heartbeat::CRUNCHER)
            .ok_or_else(|| anyhow::anyhow!("no crunch task"))?;
        assert_eq!(crunch.attempt, 1);
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_starts_processes_on_its_interval_and_on_demand() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "scheduled").await?;
        assert_eq!(
            report.lines,
            ["every 200 ms → fired 3", "run now → ding: tick"]
        );

        let processes = broker.processes();
        let req = scheduled::schedule_request("nightly-bell", "tock", 100)?;
        let created = processes.create_schedule(req).await?;
        assert_eq!(created.fired, 0);
        let fired = scheduled::wait_for_firings(&processes, "nightly-bell", 2, PATIENCE).await?;
        assert!(fired >= 2, "fired {fired}");
        let id = processes.run_schedule("nightly-bell").await?;
        let rung: String = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(rung, scheduled::expected("tock"));
        let view = processes.state(id).await?;
        assert_eq!(view.starter.as_str(), scheduled::DECIDER);
        let deleted = processes.delete_schedule("nightly-bell").await?;
        assert!(
            deleted.fired > fired,
            "the run on demand counts as a firing"
        );
        match processes.schedule("nightly-bell").await {
            Err(e) => assert!(e.is_not_found(), "{e:?}"),
            Ok(s) => anyhow::bail!("a deleted schedule is still there: {s:?}"),
        }
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ships_only_after_the_steps_it_waits_for_without_their_results() -> anyhow::Result<()>
{
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let result = async {
        let report = run_recipe(&broker, "wait").await?;
        assert_eq!(
            report.lines,
            [
                "order-81 → order-81 shipped after paid and reserved",
                "order-82 → order-82 shipped after paid and reserved",
            ]
        );

        let processes = broker.processes();
        let id = processes
            .start(
                wait::DECIDER,
                wait::START,
                ("order-9",),
                StartOptions::new(),
            )
            .await?;
        let shipment: wait::Shipment = processes.wait_for_result(id, PATIENCE).await?;
        assert_eq!(shipment, wait::expected("order-9"));
        let view = processes.wait_for_end(id, PATIENCE).await?;
        let id_of = |actor: &str| {
            view.tasks
                .iter()
                .find(|t| t.actor_id.as_str() == actor)
                .map(|t| t.task_id)
                .ok_or_else(|| anyhow::anyhow!("no {actor} task"))
        };
        let (stock, payments) = (id_of(wait::STOCK)?, id_of(wait::PAYMENTS)?);
        let ship = view
            .tasks
            .iter()
            .find(|t| t.actor_id.as_str() == wait::COURIER)
            .ok_or_else(|| anyhow::anyhow!("no courier task"))?;
        assert_eq!(ship.args.len(), 1, "only the order is an argument");
        let mut waited = ship.depends_on.clone();
        waited.sort();
        let mut steps = vec![stock, payments];
        steps.sort();
        assert_eq!(waited, steps, "the shipment waited for both steps");
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    broker.stop().await?;
    result
}
