//! `demo`, the main job: an embedded broker, the container, every recipe.
//!
//! Everything a user would deploy separately runs in one process but talks as in
//! production: the container reaches the broker over HTTP on a real socket, so the
//! demo exercises the same paths as a deployment. Stdout carries the readable
//! result (broker address, each recipe's report, per-actor totals, one summary
//! line); logs go to stderr (level `warn` unless configured or `RUST_LOG` says).

use super::{demo_config, load_checked, registry, runtime, EXIT_FAILURE};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_bootstrap::{logging, BootstrapConfig, Container, Registry, TracingProfiler};
use suslik_broker::{Node, NodeConfig};
use suslik_client::{ActorId, HttpTransport, ProcessClient, TaskList};

/// Options of `demo`.
pub struct DemoArgs {
    /// Container config instead of the built-in one.
    pub config: Option<PathBuf>,
    /// Broker data directory instead of a temporary one.
    pub data_dir: Option<PathBuf>,
    /// Time allowed to each recipe.
    pub timeout: Duration,
}

/// Runs the demo and returns its exit code: 0 if every recipe ended as expected.
pub fn main(args: DemoArgs) -> ExitCode {
    let (config, registry) = match &args.config {
        Some(path) => match load_checked(path, false) {
            Ok(v) => v,
            Err(code) => return code,
        },
        None => match registry() {
            Ok(r) => (demo_config(), r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    logging::init(&config.logging);
    warn_uncovered(&config);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = rt.block_on(run(config, registry, args));
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Warns about recipe actors (or task lists) the config gives no pollers: the
/// recipes that use them will time out.
fn warn_uncovered(config: &BootstrapConfig) {
    let served = |id: &ActorId, list: &TaskList| {
        config
            .actors
            .iter()
            .any(|a| &a.id == id && &a.task_list == list)
    };
    let default_list = TaskList::default_list();
    let needed = suslik_recipes::workers()
        .iter()
        .map(|w| (w.actor_id(), default_list.clone()))
        .chain(
            suslik_recipes::deciders()
                .iter()
                .map(|d| (d.actor_id(), default_list.clone())),
        )
        .chain(suslik_recipes::task_lists())
        .collect::<Vec<_>>();
    for (id, list) in needed {
        if !served(&id, &list) {
            tracing::warn!(actor = %id, task_list = %list, "no pollers configured: recipes using it will time out");
        }
    }
    if !config.servers.is_empty() {
        tracing::info!("the demo ignores `servers`: the container uses the embedded broker");
    }
}

async fn run(config: BootstrapConfig, registry: Registry, args: DemoArgs) -> ExitCode {
    let started = Instant::now();
    // Kept alive until the end: dropping it removes the directory.
    let mut temp = None;
    let dir = match args.data_dir {
        Some(d) => d,
        None => match tempfile::Builder::new().prefix("suslik-demo-").tempdir() {
            Ok(t) => temp.insert(t).path().to_path_buf(),
            Err(e) => {
                eprintln!("error: cannot create a temporary data directory: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
    };
    let node = match Node::start(NodeConfig::single(dir.clone())).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!(
                "error: cannot start the embedded broker in {}: {e:#}",
                dir.display()
            );
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let address = format!("http://{}", node.local_addr());
    println!("Suslik demo");
    println!(
        "broker:    {address} (single node, data in {})",
        dir.display()
    );

    let outcome = drive(&node, &address, config, registry, args.timeout).await;
    if let Err(e) = node.shutdown().await {
        tracing::warn!(error = %format!("{e:#}"), "broker shutdown");
    }
    drop(temp);
    match outcome {
        Ok(summary) => {
            println!();
            println!(
                "{} (in {:.1}s)",
                summary.line(),
                started.elapsed().as_secs_f64()
            );
            if summary.all_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// What the demo ended with.
struct Summary {
    recipes: usize,
    processes: usize,
    failed: Vec<String>,
    shutdown_clean: bool,
}

impl Summary {
    fn all_ok(&self) -> bool {
        self.failed.is_empty() && self.shutdown_clean
    }

    /// `6 recipes, 41 processes, all ok`, or what failed.
    fn line(&self) -> String {
        let head = format!("{} recipes, {} processes", self.recipes, self.processes);
        let mut problems = Vec::new();
        if !self.failed.is_empty() {
            problems.push(format!("FAILED: {}", self.failed.join(", ")));
        }
        if !self.shutdown_clean {
            problems.push("container shutdown left tasks in flight".to_string());
        }
        if problems.is_empty() {
            format!("{head}, all ok")
        } else {
            format!("{head}, {}", problems.join("; "))
        }
    }
}

/// Runs the container and the recipes against the started node.
async fn drive(
    node: &Node,
    address: &str,
    config: BootstrapConfig,
    registry: Registry,
    timeout: Duration,
) -> Result<Summary, String> {
    let transport = HttpTransport::new([address]).map_err(|e| e.to_string())?;
    let deadline = config.shutdown_deadline();
    let profiler = Arc::new(TracingProfiler::default());
    let container = Container::new(config, registry)
        .with_profiler(profiler.clone())
        .spawn(Arc::new(transport.clone()))
        .map_err(|e| format!("cannot start the container: {e}"))?;
    let pools = container.pools();
    let actors: std::collections::BTreeSet<&ActorId> = pools.iter().map(|(a, _)| a).collect();
    println!(
        "container: {} poller pools for {} actors, over HTTP",
        pools.len(),
        actors.len()
    );

    let processes = ProcessClient::new(transport);
    let before = node.api().counts().processes;
    let recipes = suslik_recipes::all();
    let mut failed = Vec::new();
    for recipe in &recipes {
        println!();
        println!("── {} ── {}", recipe.name, recipe.about);
        let t = Instant::now();
        match recipe.run(&processes, timeout).await {
            Ok(report) => {
                for line in &report.lines {
                    println!("   {line}");
                }
                let verdict = if report.ok { "ok" } else { "FAILED" };
                println!("   => {verdict} ({:.1}s)", t.elapsed().as_secs_f64());
                if !report.ok {
                    failed.push(recipe.name.to_string());
                }
            }
            Err(e) => {
                println!("   => FAILED: {e}");
                failed.push(recipe.name.to_string());
            }
        }
    }
    let started_processes = node.api().counts().processes.saturating_sub(before);

    let report = container.shutdown(deadline).await;
    print_actor_table(&profiler.snapshot());
    Ok(Summary {
        recipes: recipes.len(),
        processes: started_processes,
        failed,
        shutdown_clean: report.clean,
    })
}

/// Per-actor totals from the profiler, busiest first.
fn print_actor_table(stats: &BTreeMap<ActorId, suslik_bootstrap::profiler::ActorStats>) {
    let mut rows: Vec<_> = stats.iter().filter(|(_, s)| s.tasks > 0).collect();
    rows.sort_by(|a, b| b.1.tasks.cmp(&a.1.tasks).then(a.0.cmp(b.0)));
    let width = rows
        .iter()
        .map(|(id, _)| id.as_str().len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!();
    println!(
        "{:width$}  {:>6} {:>6} {:>6} {:>9} {:>9}",
        "actor", "tasks", "ok", "failed", "avg ms", "max ms"
    );
    for (id, s) in rows {
        println!(
            "{:width$}  {:>6} {:>6} {:>6} {:>9.2} {:>9.2}",
            id.as_str(),
            s.tasks,
            s.succeeded,
            s.failed,
            s.exec_avg().as_secs_f64() * 1e3,
            s.exec_max.as_secs_f64() * 1e3,
        );
    }
}
