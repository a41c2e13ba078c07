//! `suslik-bench store`: the state store on its own, to see what the state-on-disk
//! design costs before the state machine runs on it: how fast entries commit, how fast
//! a snapshot streams, and whether commits stall while it does (a snapshot reads a
//! point-in-time view, so it should never pause them), and how much memory the store
//! holds.

use crate::cli::StoreArgs;
use crate::procfs;
use crate::stats::Latency;
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_broker::storage::{
    Family, KeyBuf, StateStore, WriteSet, DEFAULT_CACHE_BYTES, STATE_FILE,
};

fn key(n: u64) -> Vec<u8> {
    KeyBuf::new(Family::Task).u64(n).build()
}

/// A cheap deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The commit load: entries that each change `writes` random records of `records` and
/// the applied mark, persisted every `persist_every` entries (0: never).
struct Load {
    rng: Rng,
    records: u64,
    writes: usize,
    value: Vec<u8>,
    persist_every: u64,
}

impl Load {
    /// Commits entry `index` and answers how long it took (its persist included).
    fn entry(&mut self, store: &StateStore, index: u64) -> anyhow::Result<Duration> {
        let mut ws = WriteSet::new();
        for _ in 0..self.writes {
            let mut v = self.value.clone();
            v[..8].copy_from_slice(&index.to_le_bytes());
            ws.put(key(self.rng.next() % self.records), v);
        }
        ws.put(
            StateStore::meta_key("applied"),
            index.to_be_bytes().to_vec(),
        );
        let t = Instant::now();
        store.commit(ws)?;
        if self.persist_every > 0 && index % self.persist_every == self.persist_every - 1 {
            store.persist()?;
        }
        Ok(t.elapsed())
    }
}

fn rss_mib() -> f64 {
    procfs::memory(std::process::id()).map_or(0.0, |m| m.rss_kb as f64 / 1024.0)
}

fn reopen_only(args: &StoreArgs, file: &std::path::Path, cache: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    let store = StateStore::open(file, cache)?;
    let open_s = t.elapsed().as_secs_f64();
    let rss_open = rss_mib();
    let t = Instant::now();
    let mut seen = 0u64;
    for n in 0..args.records {
        seen += u64::from(store.get(&WriteSet::new(), &key(n))?.is_some());
    }
    println!(
        "| reopened store, cache {} MiB | open {open_s:.2} s, RSS after open {rss_open:.1} MiB; {seen} records read in {:.2} s; RSS after {:.1} MiB |",
        cache >> 20,
        t.elapsed().as_secs_f64(),
        rss_mib()
    );
    Ok(())
}

pub fn run(args: StoreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.value_bytes >= 8, "--value-bytes must be at least 8");
    anyhow::ensure!(args.records > 0, "--records must be at least 1");
    let tmp = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .context("creating the temporary store directory")?;
    let path = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let cache = args.cache_mib.map_or(DEFAULT_CACHE_BYTES, |m| m << 20);
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    let file = path.join(STATE_FILE);
    if args.reopen_only {
        return reopen_only(&args, &file, cache);
    }
    let mut store = StateStore::open(&file, cache)?;
    let value = vec![0x5a; args.value_bytes];
    let rss_empty = rss_mib();

    // Fill.
    let t = Instant::now();
    let mut n = 0;
    while n < args.records {
        let mut ws = WriteSet::new();
        for _ in 0..1_000.min(args.records - n) {
            ws.put(key(n), value.clone());
            n += 1;
        }
        store.commit(ws)?;
    }
    store.persist()?;
    let fill_s = t.elapsed().as_secs_f64();
    let disk = crate::disk::usage(&path)?.apparent;
    let rss_filled = rss_mib();
    // Reopen, as a restarted node would, and read every record once.
    drop(store);
    let t = Instant::now();
    store = StateStore::open(&file, cache)?;
    let reopen_s = t.elapsed().as_secs_f64();
    let rss_reopened = rss_mib();
    let mut seen = 0u64;
    for n in 0..args.records {
        seen += u64::from(store.get(&WriteSet::new(), &key(n))?.is_some());
    }
    anyhow::ensure!(
        seen == args.records,
        "{seen} of {} records read back",
        args.records
    );
    let rss_read = rss_mib();
    eprintln!(
        "filled {} records of {} B in {fill_s:.1} s ({:.0} records/s)",
        args.records,
        args.value_bytes,
        args.records as f64 / fill_s
    );

    // Steady commits, no snapshot.
    let mut load = Load {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        records: args.records,
        writes: args.entry_writes,
        value: value.clone(),
        persist_every: args.persist_every,
    };
    let mut steady = Vec::with_capacity(args.entries as usize);
    let t = Instant::now();
    for i in 0..args.entries {
        let d = load.entry(&store, i)?;
        steady.push(d.as_micros() as u64);
    }
    let steady_s = t.elapsed().as_secs_f64();
    let steady_lat = Latency::of(&mut steady);

    // Commits while a snapshot streams on another thread.
    let reader_done = Arc::new(AtomicBool::new(false));
    let mut reader = store.begin_snapshot()?;
    let chunk = args.chunk_bytes;
    let streaming = {
        let done = reader_done.clone();
        std::thread::spawn(move || -> anyhow::Result<(u64, f64)> {
            let t = Instant::now();
            let mut bytes = 0u64;
            while let Some(c) = reader.next_chunk(chunk)? {
                bytes += c.len() as u64;
            }
            done.store(true, Ordering::Relaxed);
            Ok((bytes, t.elapsed().as_secs_f64()))
        })
    };
    let mut during = Vec::new();
    let t = Instant::now();
    let mut i = args.entries;
    while !reader_done.load(Ordering::Relaxed) {
        let d = load.entry(&store, i)?;
        during.push(d.as_micros() as u64);
        i += 1;
    }
    let during_s = t.elapsed().as_secs_f64();
    let (snapshot_bytes, snapshot_s) = streaming
        .join()
        .map_err(|_| anyhow::anyhow!("the snapshot thread panicked"))??;
    let during_entries = during.len();
    let during_lat = Latency::of(&mut during);
    let rss_end = rss_mib();

    println!(
        "| state store, {} records of {} B, {} changed per entry, persisted every {} | value |",
        args.records, args.value_bytes, args.entry_writes, args.persist_every
    );
    println!("|---|---:|");
    println!("| fill (records/s) | {:.0} |", args.records as f64 / fill_s);
    println!(
        "| data directory after fill (MiB) / bytes per record | {:.1} / {:.0} |",
        disk as f64 / 1048576.0,
        disk as f64 / args.records as f64
    );
    println!(
        "| commits without a snapshot (entries/s) | {:.0} |",
        args.entries as f64 / steady_s
    );
    println!(
        "| commit latency without a snapshot p50 / p99 / max (ms) | {:.3} / {:.3} / {:.3} |",
        steady_lat.p50_ms, steady_lat.p99_ms, steady_lat.max_ms
    );
    println!(
        "| snapshot streamed (MiB) in (s) / MiB/s | {:.1} in {snapshot_s:.2} / {:.0} |",
        snapshot_bytes as f64 / 1048576.0,
        snapshot_bytes as f64 / 1048576.0 / snapshot_s
    );
    println!(
        "| commits while it streamed (entries/s) | {:.0} ({during_entries} entries) |",
        during_entries as f64 / during_s
    );
    println!(
        "| commit latency while it streamed p50 / p99 / max (ms) | {:.3} / {:.3} / {:.3} |",
        during_lat.p50_ms, during_lat.p99_ms, during_lat.max_ms
    );
    println!("| reopen (s) | {reopen_s:.2} |");
    println!(
        "| RSS (MiB), cache {} MiB: empty / filled / reopened / every record read / end | {rss_empty:.1} / {rss_filled:.1} / {rss_reopened:.1} / {rss_read:.1} / {rss_end:.1} |",
        cache >> 20
    );
    println!(
        "{}",
        serde_json::json!({
            "records": args.records, "value_bytes": args.value_bytes, "entry_writes": args.entry_writes,
            "fill_records_per_s": args.records as f64 / fill_s, "disk_bytes": disk,
            "steady_entries_per_s": args.entries as f64 / steady_s, "steady_latency": steady_lat,
            "snapshot_bytes": snapshot_bytes, "snapshot_s": snapshot_s,
            "during_entries": during_entries, "during_entries_per_s": during_entries as f64 / during_s,
            "during_latency": during_lat, "rss_empty_mib": rss_empty, "rss_filled_mib": rss_filled, "rss_reopened_mib": rss_reopened, "rss_read_mib": rss_read, "rss_end_mib": rss_end, "reopen_s": reopen_s, "cache_bytes": cache, "persist_every": args.persist_every,
        })
    );
    if args.crash {
        // Commits after the last persist are lost by design; the reopen must be quick.
        load.persist_every = 0;
        for i in 0..args.persist_every.saturating_sub(1) {
            load.entry(&store, i)?;
        }
        std::process::abort();
    }
    Ok(())
}
