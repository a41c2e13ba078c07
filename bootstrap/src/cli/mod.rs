//! The binary's commands. The library does the work; this is wiring: which actors
//! this build knows, how errors become exit codes, and the two long-running commands
//! ([`run`], [`demo`]).

pub mod demo;
pub mod run;

use std::path::Path;
use std::process::ExitCode;
use suslik_bootstrap::{diag, ActorConfig, BootstrapConfig, ConfigError, Registry};
use suslik_client::{Actor, TaskList};

/// Exit code of a runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage or config error.
pub const EXIT_CONFIG: u8 = 2;

/// The actors compiled into this binary: every recipe actor and the diagnostics.
pub fn registry() -> Result<Registry, suslik_bootstrap::DuplicateActor> {
    let mut r = Registry::from_actors(suslik_recipes::workers(), suslik_recipes::deciders())?;
    r.merge(diag::registry())?;
    Ok(r)
}

/// The built-in demo config: every recipe actor on the default task list, plus each
/// (actor, task list) pair the recipes use, with short polls so that stopping is quick.
pub fn demo_config() -> BootstrapConfig {
    let mut actors: Vec<ActorConfig> = Vec::new();
    let default_list = TaskList::default_list();
    let recipe_ids = suslik_recipes::workers()
        .iter()
        .map(|w| w.actor_id())
        .chain(suslik_recipes::deciders().iter().map(|d| d.actor_id()))
        .collect::<Vec<_>>();
    for id in recipe_ids {
        actors.push(ActorConfig::new(id, default_list.clone()));
    }
    for (id, list) in suslik_recipes::task_lists() {
        actors.push(ActorConfig::new(id, list));
    }
    for a in &mut actors {
        a.poll_wait_ms = 1_000;
    }
    let mut config = BootstrapConfig {
        actors,
        ..BootstrapConfig::default()
    };
    config.logging.level = "warn".into();
    config.shutdown_deadline_ms = 5_000;
    config
}

/// Loads a config and checks its actors against this build, or prints the one-line
/// error. `servers` are checked only when `need_servers`.
pub fn load_checked(
    path: &Path,
    need_servers: bool,
) -> Result<(BootstrapConfig, Registry), ExitCode> {
    let registry = match registry() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(EXIT_FAILURE));
        }
    };
    let checked = BootstrapConfig::load(path).and_then(|c| {
        c.check_actors(path, &registry)?;
        if need_servers {
            c.check_servers(path)?;
        }
        Ok(c)
    });
    match checked {
        Ok(c) => Ok((c, registry)),
        Err(e) => Err(config_error(&e)),
    }
}

/// Prints a config error as one line and returns exit code 2.
pub fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// `check`: validate and report.
pub fn check(path: &Path) -> ExitCode {
    match load_checked(path, true) {
        Ok((c, _)) => {
            println!(
                "{}: ok ({} servers, {} actor entries)",
                path.display(),
                c.servers.len(),
                c.actors.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `actors`: one line per actor of this build, with its kind.
pub fn list_actors() -> ExitCode {
    let registry = match registry() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    for actor in registry.actors() {
        let kind = match actor {
            Actor::Worker(_) => "worker",
            Actor::Decider(_) => "decider",
        };
        println!("{kind:8} {}", actor.actor_id());
    }
    for (id, list) in suslik_recipes::task_lists() {
        println!(
            "{:8} {id} on task list \"{}\" too (the recipes use it)",
            "",
            list.as_str()
        );
    }
    ExitCode::SUCCESS
}

/// A multi-threaded Tokio runtime, or the exit code of failing to build one.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_FAILURE)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_covers_every_recipe_actor_and_task_list() {
        let registry = registry().expect("distinct ids");
        let c = demo_config();
        c.check_actors("(built-in)", &registry).expect("all known");
        for (id, list) in suslik_recipes::task_lists() {
            assert!(
                c.actors.iter().any(|a| a.id == id && a.task_list == list),
                "{id} {list}"
            );
        }
        for w in suslik_recipes::workers() {
            assert!(c
                .actors
                .iter()
                .any(|a| a.id == w.actor_id() && a.task_list.is_default()));
        }
        for d in suslik_recipes::deciders() {
            assert!(c
                .actors
                .iter()
                .any(|a| a.id == d.actor_id() && a.task_list.is_default()));
        }
    }

    #[test]
    fn config_demo_toml_equals_the_built_in_demo_config() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/demo.toml");
        let file = BootstrapConfig::load(path).expect("valid");
        let builtin = demo_config();
        let key = |c: &BootstrapConfig| {
            let mut v: Vec<_> = c
                .actors
                .iter()
                .map(|a| {
                    (
                        a.id.to_string(),
                        a.task_list.to_string(),
                        a.pollers,
                        a.poll_wait_ms,
                        a.max_tasks,
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            key(&file),
            key(&builtin),
            "config/demo.toml drifted from demo_config()"
        );
        assert_eq!(file.logging, builtin.logging);
        assert_eq!(file.shutdown_deadline_ms, builtin.shutdown_deadline_ms);
    }
}
