//! The schedule loop: sleeps until the earliest tick of an unpaused schedule (or until
//! a schedule changes, or leadership does), then proposes one `FireSchedule` per due
//! schedule with the tick it saw. Apply fires a tick only once (see
//! `state_machine::schedule`), so a proposal repeated across a leader change is
//! harmless. Followers' loops stay asleep.

use super::Proposer;
use crate::core::BrokerCore;
use crate::model::{Millis, ProcessId, TaskId};
use crate::raft::Raft;
use crate::state_machine::{Command, Reply};
use std::sync::Arc;
use std::time::Duration;

/// Runs until the node shuts down.
pub async fn run_schedules(core: Arc<BrokerCore>, raft: Raft, proposer: Proposer) {
    let mut metrics = raft.metrics();
    loop {
        if !super::until_leader(&mut metrics).await {
            return;
        }
        // Register before reading, so a change in between still wakes us.
        let changed = core.schedules_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = Millis::now();
        let (due, next) = {
            let s = core.lock();
            (s.schedules_due(now), s.next_schedule_due())
        };
        if !due.is_empty() {
            let proposals = due.into_iter().map(|(tick, name)| {
                let proposer = proposer.clone();
                async move {
                    let cmd = Command::FireSchedule {
                        now,
                        name: name.clone(),
                        tick: Some(tick),
                        process_id: ProcessId::random(),
                        task_id: TaskId::random(),
                    };
                    (name, proposer.propose(cmd).await)
                }
            });
            let mut failed = false;
            for (name, r) in futures::future::join_all(proposals).await {
                match r {
                    Ok(Ok(Reply::ScheduleFired(_))) => {}
                    Ok(other) => {
                        tracing::warn!(schedule = %name, ?other, "schedule firing refused")
                    }
                    Err(e) => {
                        tracing::warn!(schedule = %name, error = %e, "schedule firing failed; retrying");
                        failed = true;
                    }
                }
            }
            if failed {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        }
        match next {
            Some((at, _)) => tokio::select! {
                _ = tokio::time::sleep(now.until(at)) => {}
                _ = &mut changed => {}
                r = metrics.changed() => if r.is_err() { return },
            },
            None => tokio::select! {
                _ = &mut changed => {}
                r = metrics.changed() => if r.is_err() { return },
            },
        }
    }
}
