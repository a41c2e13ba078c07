//! `suslik`: the broker binary.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use suslik_broker::api::Limits;
use suslik_broker::{Node, NodeConfig};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "suslik", version, about = "Suslik task broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker node (a one-node cluster on first start).
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Directory for the Raft log, vote and snapshots.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Address for the HTTP API and Raft RPC.
    #[arg(long, default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// This node's id in the cluster.
    #[arg(long, default_value_t = 1)]
    node_id: u64,
    /// How long a handed-out task stays leased before it is delivered again (ms).
    #[arg(long, default_value_t = 60_000)]
    lease_ms: u64,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Take a snapshot every this many log entries.
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    json_logs: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,sled=warn"));
    if args.json_logs {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("suslik: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let cfg = NodeConfig {
        node_id: args.node_id,
        listen: args.listen,
        data_dir: args.data_dir,
        limits: Limits {
            lease_ms: args.lease_ms,
            max_body_bytes: args.max_body_bytes,
            ..Limits::default()
        },
        snapshot_every: args.snapshot_every,
        advertise: None,
        peers: Default::default(),
        join: false,
    };
    runtime.block_on(async move {
        let node = match Node::start(cfg).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("suslik: {e:#}");
                return ExitCode::from(1);
            }
        };
        // A line for scripts and tests to find the bound address.
        println!("suslik listening on http://{}", node.local_addr());
        shutdown_signal().await;
        tracing::info!("shutting down");
        match node.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("suslik: shutdown: {e:#}");
                ExitCode::from(1)
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
