//! Task-list priority, shown by order of completion: fraud alerts on their own task
//! list (with their own pollers) overtake a long queue of ordinary receipts whose
//! worker is stuck.

use std::collections::HashSet;
use suslik_client::{Actor, ActorRunner, ProcessState, RunnerConfig, StartOptions, TaskList};
use suslik_recipes::priority;
use suslik_tests::{eventually, runner_config, Broker, PATIENCE};

/// The ordinary notifier is stuck (its one poller holds the first receipt) behind
/// a queue of twenty receipts; fraud alerts started afterwards are still sent — by
/// the suspicious list's own pollers — and the notifier's record of what it sent
/// shows them first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspicious_notifications_overtake_a_long_ordinary_queue() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let notifier = priority::Notifier::new();
    notifier.hold_ordinary();
    let one_at_a_time = RunnerConfig {
        pollers_per_actor: 1,
        max_tasks_per_poll: 1,
        ..runner_config()
    };
    let deciders = broker.runner().decider(priority::decider()).start();
    let ordinary = ActorRunner::new(broker.transport())
        .config(one_at_a_time.clone())
        .actor(Actor::Worker(notifier.worker()), TaskList::default_list())
        .start();
    let suspicious = ActorRunner::new(broker.transport())
        .config(one_at_a_time)
        .actor(
            Actor::Worker(notifier.worker()),
            TaskList::new(priority::SUSPICIOUS_LIST)?,
        )
        .start();
    let processes = broker.processes();
    let result = async {
        let mut receipts = Vec::new();
        for n in 1..=20 {
            let tx = priority::transaction(n, 1_000 + u64::from(n));
            let id = processes
                .start(
                    priority::DECIDER,
                    priority::START,
                    (tx.clone(),),
                    StartOptions::new(),
                )
                .await?;
            receipts.push((tx, id));
        }
        // Every receipt task is queued (or, for one, held by the stuck worker)
        // before any alert exists.
        eventually("twenty queued receipts", || async {
            for (_, id) in &receipts {
                if processes.state(*id).await?.tasks.len() < 2 {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;

        let mut alerts = Vec::new();
        for n in 101..=103 {
            let tx = priority::transaction(n, 500_000);
            let id = processes
                .start(
                    priority::DECIDER,
                    priority::START,
                    (tx.clone(),),
                    StartOptions::new(),
                )
                .await?;
            alerts.push((tx, id));
        }
        for (tx, id) in &alerts {
            let notice: priority::Notice = processes.wait_for_result(*id, PATIENCE).await?;
            assert_eq!(notice, priority::expected(tx));
            assert_eq!(notice.task_list, priority::SUSPICIOUS_LIST);
        }
        for (_, id) in &receipts {
            assert_eq!(processes.state(*id).await?.state, ProcessState::Running);
        }
        let alert_ids: HashSet<String> = alerts.iter().map(|(tx, _)| tx.id.clone()).collect();
        let sent_first: HashSet<String> = notifier.sent().into_iter().collect();
        assert_eq!(
            sent_first, alert_ids,
            "only the alerts are sent while receipts are stuck"
        );

        notifier.release_ordinary();
        for (tx, id) in &receipts {
            let notice: priority::Notice = processes.wait_for_result(*id, PATIENCE).await?;
            assert_eq!(notice, priority::expected(tx));
        }
        let sent = notifier.sent();
        assert_eq!(sent.len(), 23, "{sent:?}");
        let (first, rest) = sent.split_at(3);
        assert_eq!(first.iter().cloned().collect::<HashSet<_>>(), alert_ids);
        let receipt_ids: HashSet<String> = receipts.iter().map(|(tx, _)| tx.id.clone()).collect();
        assert_eq!(rest.iter().cloned().collect::<HashSet<_>>(), receipt_ids);
        anyhow::Ok(())
    }
    .await;
    notifier.release_ordinary();
    suspicious.shutdown().await;
    ordinary.shutdown().await;
    deciders.shutdown().await;
    broker.stop().await?;
    result
}
