//! Backup and restore with the real binary: `suslik backup` of a node under load,
//! `suslik restore` into a new data directory, and a node started on it that has every
//! process acknowledged before the backup and runs them to the end.

mod common;

use common::cluster::suslik_cli;
use common::workload::SumOfSquares;
use common::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_broker::model::{ProcessId, ProcessState};

const DECIDER: &str = "bk.Decider#1";
const FLOW: SumOfSquares = SumOfSquares {
    square: "bk.Square#1",
    adder: "bk.Adder#1",
};

/// Runs every task of the backup's processes that `api` hands out, until none is left.
async fn drain(api: &Api) {
    loop {
        let mut any = false;
        for actor in [DECIDER, FLOW.square, FLOW.adder] {
            for d in api.poll(actor, 16, 200).await {
                any = true;
                api.release(&FLOW.decide(&d)).await;
            }
        }
        if !any {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_acknowledged_process() {
    let server = Server::with_args(&["--snapshot-every", "100"]).await;
    let api = server.api();
    // Some processes finish before the backup.
    let mut finished = Vec::new();
    for n in 0..5 {
        finished.push((
            api.start(&start(DECIDER, "start", vec![value(json!(n))]))
                .await
                .process_id,
            n,
        ));
    }
    drain(&api).await;

    // Starts keep coming while the backup is taken.
    let acknowledged: Arc<Mutex<Vec<ProcessId>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (api, acknowledged, stop) = (api.clone(), acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 100;
            while !stop.load(Ordering::Relaxed) {
                let r = api
                    .start(&start(DECIDER, "start", vec![value(json!(n))]))
                    .await;
                acknowledged.lock().unwrap().push(r.process_id);
                n += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before: Vec<ProcessId> = acknowledged.lock().unwrap().clone();
    assert!(!before.is_empty());
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("node.backup");
    let (ok, out, err) = suslik_cli(&[
        "backup",
        "--server",
        &server.addr().to_string(),
        "--to",
        file.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "backup failed: {out}{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load");
    let during = acknowledged.lock().unwrap().len() - before.len();
    eprintln!(
        "{} starts before the backup, {during} more while it ran: {out}",
        before.len()
    );
    assert!(during > 0, "the load did not run during the backup");

    // Restored into a new directory, a node starts from it.
    let restored = dir.path().join("restored");
    let (ok, out, err) = suslik_cli(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "restore failed: {out}{err}");
    drop(server);
    let back = Server::on_data_dir(&restored, &[]).await;
    let api = back.api();
    for id in &before {
        let p = api.process(*id).await;
        assert_eq!(p.state, ProcessState::Running, "{id}");
    }
    for (id, n) in &finished {
        let p = api.process(*id).await;
        assert_eq!(p.state, ProcessState::Finished, "{id}");
        assert_eq!(p.result, Some(json(json!(SumOfSquares::expected(*n)))));
    }
    // It runs what it restored, and takes new work.
    let fresh = api
        .start(&start(DECIDER, "start", vec![value(json!(7))]))
        .await
        .process_id;
    drain(&api).await;
    for id in before.iter().chain([&fresh]) {
        assert_eq!(api.process(*id).await.state, ProcessState::Finished, "{id}");
    }

    // Restoring again into a directory that is not empty is refused; so is a damaged file.
    let (ok, _, err) = suslik_cli(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("is not empty"), "{err}");
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, _, err) = suslik_cli(&[
        "restore",
        "--from",
        cut.to_str().unwrap(),
        "--data-dir",
        dir.path().join("other").to_str().unwrap(),
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("cut.backup is truncated or corrupt"), "{err}");
    assert!(!dir.path().join("other").join("raft").exists());
}
