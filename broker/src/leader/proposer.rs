//! Group commit: client commands are queued, and one task drains whatever has queued
//! up into a single Raft log entry. Under load many commands share one append and one
//! fsync; when idle a lone command goes out at once (no added latency).
//!
//! Each entry is written in the newest command format every member of the cluster
//! reads ([`ClusterFormats::command_format`]), so a cluster being upgraded node by node
//! never sends an old node an entry it cannot read.

use crate::formats::ClusterFormats;
use crate::raft::typ::ClientWriteError;
use crate::raft::Raft;
use crate::state_machine::{Command, CommandResult, Request};
use openraft::error::RaftError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most commands in one log entry.
const MAX_BATCH: usize = 1024;
/// Log entries in flight at once (openraft pipelines their appends).
const MAX_IN_FLIGHT: usize = 4;

/// Why a command could not be committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the leader; `leader` is the one to ask, if known.
    #[error("this node is not the leader{}", .leader.as_ref().map(|l| format!(" (leader: {l})")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    /// Raft is shutting down or failed.
    #[error("consensus unavailable: {0}")]
    Unavailable(String),
}

type Pending = (
    Command,
    oneshot::Sender<Result<CommandResult, ProposeError>>,
);

/// Handle to the batching proposer.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the proposer task for `raft`, writing in the formats `formats` allows.
    pub fn start(raft: Raft, formats: Arc<ClusterFormats>) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, formats, rx));
        Proposer { tx }
    }

    /// Commits `cmd` through Raft and returns its result once applied.
    pub async fn propose(&self, cmd: Command) -> Result<CommandResult, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((cmd, tx))
            .map_err(|_| ProposeError::Unavailable("proposer stopped".into()))?;
        rx.await
            .map_err(|_| ProposeError::Unavailable("proposal dropped".into()))?
    }
}

async fn run(raft: Raft, formats: Arc<ClusterFormats>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a free slot first: while we wait, more commands queue up and join
        // this batch. That is the group commit.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        let formats = formats.clone();
        tokio::spawn(async move {
            write(&raft, &formats, batch).await;
            drop(permit);
        });
    }
}

async fn write(raft: &Raft, formats: &ClusterFormats, batch: Vec<Pending>) {
    let (commands, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let n = commands.len();
    let format = {
        let m = raft.metrics();
        let m = m.borrow();
        formats.command_format(m.membership_config.membership().nodes().map(|(id, _)| *id))
    };
    match raft.client_write(Request { format, commands }).await {
        Ok(resp) => {
            let mut results = resp.data.results.into_iter();
            for reply in replies {
                let r = results.next().ok_or_else(|| {
                    ProposeError::Unavailable(format!("log entry answered fewer than {n} commands"))
                });
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            let err = to_propose_error(e);
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

fn to_propose_error(e: RaftError<u64, ClientWriteError>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ProposeError::NotLeader {
            leader: f.leader_node.map(|n| n.addr),
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ProposeError::Unavailable(e.to_string())
        }
        RaftError::Fatal(f) => ProposeError::Unavailable(f.to_string()),
    }
}
