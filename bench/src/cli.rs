//! The command line of `suslik-bench`.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "suslik-bench",
    version,
    about = "Load benchmark for the Suslik broker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Fan-out/fan-in: a decider spawns step(n), step(n+1), step(n+2) and sum([...]);
    /// 5 tasks per process, `concurrency` processes in flight (closed loop).
    Fanout(FanoutArgs),
    /// Leader failover under load: a cluster runs the fan-out workload, the leader is
    /// SIGKILLed `--rounds` times, and the time to the first successful poll on the new
    /// leader is measured; every acknowledged process is verified at the end.
    Failover(FailoverArgs),
    /// Scale: start `--tasks` processes whose start tasks stay queued (nobody polls),
    /// measure memory per queued task and disk use, SIGKILL the broker and measure how
    /// long it takes to recover that state; `--drain` then polls and releases them all.
    Scale(ScaleArgs),
    /// The race: the same fan-out workload on Suslik (one node, three nodes) and on peer
    /// engines installed by `bench/peers/*.sh` (Restate, Postgres + graphile-worker),
    /// one after the other, and one table of the results.
    Race(RaceArgs),
    /// The state store alone (no Raft, no HTTP): fill it with `--records` records,
    /// then commit entries of `--entry-writes` changed records with and without a
    /// snapshot being streamed, and report commit latency, snapshot speed and memory.
    Store(StoreArgs),
    /// Internal: run a broker node in this process and print its address (used by
    /// `fanout` and `failover` to start servers as separate, measurable processes).
    #[command(name = "__serve", hide = true)]
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Records to fill the store with before measuring.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Bytes per record value (a queued task's record is about 500).
    #[arg(long, default_value_t = 500)]
    pub value_bytes: usize,
    /// Records changed per committed entry (a release changes a handful).
    #[arg(long, default_value_t = 8)]
    pub entry_writes: usize,
    /// Entries committed in the steady phase, without a snapshot.
    #[arg(long, default_value_t = 20_000)]
    pub entries: u64,
    /// Snapshot chunk size in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub chunk_bytes: usize,
    /// Only open the store a previous run left in `--keep`, read every record once and
    /// report memory (a fresh process sees a restarted node's memory, not the freed
    /// pages the filling left in the allocator).
    #[arg(long, requires = "keep")]
    pub reopen_only: bool,
    /// Keep the store in this directory (created if missing) instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// The state file's page cache in MiB (default: the broker's, 64).
    #[arg(long)]
    pub cache_mib: Option<usize>,
    /// Make the state durable (`persist`, an fdatasync) every this many entries, as a
    /// node does before it purges the log behind it.
    #[arg(long, default_value_t = 1_000)]
    pub persist_every: u64,
    /// End the run by aborting the process instead of closing the store (with `--keep`,
    /// a following `--reopen-only` then measures the reopen after a crash).
    #[arg(long, requires = "keep")]
    pub crash: bool,
    /// Parent directory for the temporary store (default: the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Which node of a cluster the load generator sends its requests to.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every request to the leader (polls are served from the leader's queues).
    Leader,
    /// Every request to one follower, which forwards it to the leader (one more hop).
    Follower,
    /// Clients spread round-robin over all nodes (a third at the leader for 3 nodes).
    Spread,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Leader => "leader",
            Target::Follower => "follower",
            Target::Spread => "spread",
        }
    }
}

/// The shape of the load, shared by `fanout` and `failover`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Processes in flight at once (a new one starts whenever one finishes).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Polling tasks per actor (the decider and the worker each get this many).
    #[arg(long, default_value_t = 4)]
    pub pollers: usize,
    /// Most tasks per poll, and so most decisions per batch release.
    #[arg(long, default_value_t = 16)]
    pub batch: u32,
    /// Long-poll wait of each poll, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_wait_ms: u64,
    /// Parent directory for the servers' temporary data directories (default: the
    /// system temp dir). They are removed at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Copy each cluster node's log (`node-<id>.log`, level from SUSLIK_BENCH_SERVER_LOG,
    /// default warn) into this directory at the end.
    #[arg(long)]
    pub keep_logs: Option<PathBuf>,
}

/// Settings of one fan-out run.
#[derive(clap::Args, Debug, Clone)]
pub struct FanoutArgs {
    /// Processes to complete.
    #[arg(long, default_value_t = 2000)]
    pub processes: u64,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Broker nodes to start on loopback: 1 is a single node; 3 is a Raft cluster.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: u64,
    /// With several nodes: where the load goes. A comma list runs each in turn, each on
    /// a fresh cluster.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "leader")]
    pub target: Vec<Target>,
    /// With several nodes: first run the same load against a single node and print the
    /// cluster figures as a fraction of it.
    #[arg(long)]
    pub compare_single: bool,
    /// Drive an already running broker at this base URL (e.g. http://127.0.0.1:7700)
    /// instead of starting one; server RSS, CPU and disk figures are then not measured.
    #[arg(long, conflicts_with_all = ["nodes", "compare_single"])]
    pub url: Option<String>,
    /// Seconds of no load over which each server's idle CPU is measured (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Finished processes whose result is checked with GET /api/v1/processes/{id}.
    #[arg(long, default_value_t = 50)]
    pub verify: usize,
    /// A process not finished this many seconds after its start counts as an error.
    #[arg(long, default_value_t = 60)]
    pub process_timeout_secs: u64,
}

/// Settings of a failover run.
#[derive(clap::Args, Debug, Clone)]
pub struct FailoverArgs {
    /// Cluster size (at least 3, so that a majority survives one kill).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(3..=9))]
    pub nodes: u64,
    /// Leader kills; the killed node is restarted and caught up between rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Seconds of steady load before the first kill.
    #[arg(long, default_value_t = 3)]
    pub warmup_secs: u64,
    /// Seconds of load after a round's first successful poll before the killed node is
    /// restarted (the survivors carry the load meanwhile).
    #[arg(long, default_value_t = 2)]
    pub after_secs: u64,
    /// A round fails if no poll succeeds on a new leader within this many seconds.
    #[arg(long, default_value_t = 30)]
    pub give_up_secs: u64,
}

/// Settings of a scale run.
#[derive(clap::Args, Debug, Clone)]
pub struct ScaleArgs {
    /// Processes to start; each leaves its start task queued.
    #[arg(long, default_value_t = 1_000_000)]
    pub tasks: u64,
    /// Queues (one decider actor each) the start tasks are spread over, round-robin.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub queues: u64,
    /// Start requests in flight at once (the broker group-commits them).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Seconds between progress lines on stderr while starting and draining.
    #[arg(long, default_value_t = 5)]
    pub progress_secs: u64,
    /// Seconds to wait after the last start (and after the restart) before measuring
    /// memory, so that a snapshot being built is finished.
    #[arg(long, default_value_t = 5)]
    pub settle_secs: u64,
    /// After the restart, poll and release every queued task and report the throughput.
    #[arg(long)]
    pub drain: bool,
    /// Tasks per poll, and decisions per batch release, while draining.
    #[arg(long, default_value_t = 500)]
    pub drain_batch: u32,
    /// Pollers per queue while draining.
    #[arg(long, default_value_t = 1)]
    pub drain_pollers: usize,
    /// Give up if the restarted broker does not serve within this many seconds.
    #[arg(long, default_value_t = 900)]
    pub restart_timeout_secs: u64,
    /// Parent directory for the server's temporary data directory (default: the system
    /// temp dir). It is removed at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// A Suslik set-up in the race.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuslikSetup {
    /// One node, default batch.
    Single,
    /// Three nodes, load sent to the leader.
    Cluster,
    /// One node, batched polls and releases (`--batched-batch`) at
    /// `--batched-concurrency`, `--batched-processes` long: the throughput ceiling, not
    /// an equal-concurrency row.
    Batched,
}

/// A peer engine in the race, run by its script under `--peers-dir`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Restate (npm `@restatedev/restate-server`): `restate.sh N C IDLE_SECS`.
    Restate,
    /// Debian's PostgreSQL with graphile-worker (npm):
    /// `postgres-graphile.sh N C WORKERS IDLE_SECS`.
    Postgres,
}

/// Settings of a race.
#[derive(clap::Args, Debug, Clone)]
pub struct RaceArgs {
    /// Processes each engine completes.
    #[arg(long, default_value_t = 2000)]
    pub processes: u64,
    /// Processes in flight at once, for every engine.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Seconds of no load over which each server's idle CPU is measured (0 skips it).
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
    /// Suslik set-ups to run, in order (comma list).
    #[arg(long, value_enum, value_delimiter = ',', num_args = 0.., default_value = "single,cluster")]
    pub suslik: Vec<SuslikSetup>,
    /// Peer engines to run after Suslik, in order (comma list; `--peers` alone: none).
    #[arg(long, value_enum, value_delimiter = ',', num_args = 0.., default_value = "restate,postgres")]
    pub peers: Vec<Peer>,
    /// Suslik: polling tasks per actor.
    #[arg(long, default_value_t = 4)]
    pub pollers: usize,
    /// Suslik: most tasks per poll (and decisions per release).
    #[arg(long, default_value_t = 16)]
    pub batch: u32,
    /// The `batched` set-up: tasks per poll.
    #[arg(long, default_value_t = 64)]
    pub batched_batch: u32,
    /// The `batched` set-up: processes in flight.
    #[arg(long, default_value_t = 200)]
    pub batched_concurrency: usize,
    /// The `batched` set-up: processes to complete (a short run does not reach steady
    /// state at that rate).
    #[arg(long, default_value_t = 20_000)]
    pub batched_processes: u64,
    /// Suslik: finished processes whose stored result is checked (default: all, as the
    /// peers' load clients check every result).
    #[arg(long)]
    pub verify: Option<usize>,
    /// graphile-worker's job concurrency (the Postgres peer's workers).
    #[arg(long, default_value_t = 16)]
    pub pg_workers: usize,
    /// Where the peer scripts are (default: this crate's `peers/` directory).
    #[arg(long)]
    pub peers_dir: Option<PathBuf>,
    /// A peer script still running after this many seconds (install included) is
    /// stopped and its row says so.
    #[arg(long, default_value_t = 1800)]
    pub peer_timeout_secs: u64,
    /// Parent directory for Suslik's temporary data directories (removed at the end).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Also print the rows as one JSON line after the table.
    #[arg(long)]
    pub json: bool,
}

/// Settings of the hidden `__serve` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// This node's Raft id.
    #[arg(long, default_value_t = 1)]
    pub node_id: u64,
    /// Initial members `id=host:port,...`, this node included (empty: one node).
    #[arg(long, value_delimiter = ',')]
    pub peers: Vec<String>,
}
