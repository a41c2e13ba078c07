//! Metrics as the scrape sees them: counters fed from effects and polls, gauges set at
//! scrape time, histograms with buckets, count and sum.

use super::*;
use crate::model::{ProcessId, ProcessState, TaskId, TaskList};
use crate::state_machine::outbox::OutboxEvent;
use crate::state_machine::ReleaseEffect;

fn key(actor: &str) -> QueueKey {
    QueueKey::new(ActorId::new(actor).unwrap(), TaskList::default_list())
}

/// The value of the sample line starting with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn applied_effects_move_the_counters() {
    let m = Metrics::new();
    let k = key("w#1");
    let task_id = TaskId::random();
    let effects = Effects {
        enqueued: vec![(k.clone(), 3)],
        releases: vec![
            ReleaseEffect {
                task_id,
                actor_id: k.actor_id.clone(),
                outcome: "error",
                retry_scheduled: true,
                processing_ms: Some(250),
            },
            ReleaseEffect {
                task_id: TaskId::random(),
                actor_id: k.actor_id.clone(),
                outcome: "value",
                retry_scheduled: false,
                processing_ms: None,
            },
        ],
        lifecycle: vec![OutboxEvent {
            seq: 1,
            started: true,
            process_id: ProcessId::random(),
            state: ProcessState::Running,
            at: Millis(1),
        }],
        ..Effects::default()
    };
    m.record_effects(&effects, Millis::now());
    let text = m.render(&[], RaftGauges::default(), OutboxGauges::default());
    let q = r#"{actor_id="w#1",task_list=""}"#;
    assert_eq!(
        sample(&text, &format!("suslik_queue_enqueued_total{q}")),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, r#"suslik_releases_total{outcome="error"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"suslik_releases_total{outcome="value"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&text, "suslik_retries_scheduled_total"), Some(1.0));
    assert_eq!(
        sample(&text, r#"suslik_processes_total{event="started"}"#),
        Some(1.0)
    );
    // Only the release with an execution time (or a known hand-out) is observed.
    let a = r#"{actor_id="w#1"}"#;
    assert_eq!(
        sample(&text, &format!("suslik_task_processing_seconds_count{a}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("suslik_task_processing_seconds_sum{a}")),
        Some(0.25)
    );
}

#[test]
fn a_poll_counts_tasks_handed_out_and_its_duration() {
    let m = Metrics::new();
    let k = key("w#1");
    let delivery = crate::model::Delivery {
        task_id: TaskId::random(),
        process_id: ProcessId::random(),
        actor_id: k.actor_id.clone(),
        task_list: k.task_list.clone(),
        method: "m".into(),
        kind: crate::model::TaskKind::Worker,
        args: vec![],
        attempt: 1,
        lease_until: Millis(0),
        delivery_id: crate::model::DeliveryId::random(),
        delivered_at: Millis(0),
    };
    m.record_poll(&k, &[delivery], Duration::from_millis(2));
    m.record_poll(&k, &[], Duration::from_millis(900));
    let text = m.render(&[], RaftGauges::default(), OutboxGauges::default());
    let q = r#"{actor_id="w#1",task_list=""}"#;
    assert_eq!(
        sample(&text, &format!("suslik_queue_polled_total{q}")),
        Some(1.0)
    );
    let count = |result: &str| {
        sample(
            &text,
            &format!("suslik_poll_duration_seconds_count{{result=\"{result}\"}}"),
        )
    };
    assert_eq!((count("tasks"), count("empty")), (Some(1.0), Some(1.0)));
}

#[test]
fn gauges_come_from_the_scrape_and_drop_emptied_queues() {
    let m = Metrics::new();
    let snap = |actor: &str, size| QueueSnapshot {
        key: key(actor),
        size,
        leased: 1,
        blocked: false,
        oldest_ready_at: None,
    };
    let raft = RaftGauges {
        term: 4,
        is_leader: true,
        last_log_index: 12,
        committed: 11,
        applied: 9,
    };
    let text = m.render(
        &[snap("a#1", 5), snap("b#1", 2)],
        raft,
        OutboxGauges::default(),
    );
    assert_eq!(
        sample(&text, r#"suslik_queue_size{actor_id="a#1",task_list=""}"#),
        Some(5.0)
    );
    assert_eq!(
        sample(&text, r#"suslik_queue_leased{actor_id="b#1",task_list=""}"#),
        Some(1.0)
    );
    assert_eq!(sample(&text, "suslik_raft_term"), Some(4.0));
    assert_eq!(sample(&text, "suslik_raft_apply_lag"), Some(2.0));
    assert_eq!(sample(&text, "suslik_raft_is_leader"), Some(1.0));
    let text = m.render(&[snap("b#1", 1)], raft, OutboxGauges::default());
    assert_eq!(
        sample(&text, r#"suslik_queue_size{actor_id="a#1",task_list=""}"#),
        None
    );
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn histograms_have_buckets_count_and_sum() {
    let m = Metrics::new();
    m.observe_gc(Duration::from_millis(3));
    let text = m.render(&[], RaftGauges::default(), OutboxGauges::default());
    assert!(text.contains("# TYPE suslik_gc_duration_seconds histogram"));
    assert_eq!(
        sample(&text, r#"suslik_gc_duration_seconds_bucket{le="+Inf"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&text, "suslik_gc_duration_seconds_count"), Some(1.0));
    assert!(sample(&text, "suslik_gc_duration_seconds_sum").is_some_and(|s| s > 0.0));
}

#[test]
fn the_outbox_gauges_come_from_the_scrape_and_its_drops_only_grow() {
    let m = Metrics::new();
    let outbox = OutboxGauges {
        events: 12,
        oldest_age_ms: 1_500,
        dropped: 4,
    };
    for _ in 0..3 {
        m.record_webhook_failed_attempt();
    }
    let text = m.render(&[], RaftGauges::default(), outbox);
    assert_eq!(sample(&text, "suslik_webhook_outbox_events"), Some(12.0));
    assert_eq!(
        sample(&text, "suslik_webhook_outbox_oldest_age_seconds"),
        Some(1.5)
    );
    assert_eq!(
        sample(&text, "suslik_webhook_outbox_dropped_total"),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, "suslik_webhook_failed_attempts_total"),
        Some(3.0)
    );
    let text = m.render(&[], RaftGauges::default(), OutboxGauges::default());
    assert_eq!(sample(&text, "suslik_webhook_outbox_events"), Some(0.0));
    assert_eq!(
        sample(&text, "suslik_webhook_outbox_dropped_total"),
        Some(4.0),
        "a counter never goes back"
    );
}
