//! `suslik serve --config FILE`: the settings file, its errors and its precedence.

mod common;

use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn suslik(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_suslik"))
        .args(args)
        .output()
        .expect("run suslik")
}

/// The repository's default settings file.
fn default_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/suslik.toml")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_typo_in_the_config_file_exits_2_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suslik.toml");
    std::fs::write(&file, "node_id = 1\nlese_ms = 500\n").unwrap();
    let out = suslik(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert!(err.contains(":2:"), "no line number: {err}");
    assert!(err.contains("lese_ms"), "{err}");
    assert!(err.contains("(did you mean `lease_ms`?)"), "{err}");
    assert!(stdout(&out).is_empty(), "started anyway: {}", stdout(&out));
    assert!(
        !dir.path().join("data").exists(),
        "touched a data directory"
    );
}

#[test]
fn a_badly_typed_value_or_a_missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suslik.toml");
    std::fs::write(&file, "lease_ms = \"soon\"\n").unwrap();
    let out = suslik(&["serve", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("lease_ms") || stderr(&out).contains(":1:"));

    let missing = dir.path().join("missing.toml");
    let out = suslik(&["serve", "--config", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn the_default_config_file_parses_and_states_the_built_in_defaults() {
    let file = default_config();
    let from_file = suslik(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--print-config",
    ]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let built_in = suslik(&["serve", "--print-config"]);
    assert_eq!(built_in.status.code(), Some(0));
    assert_eq!(stdout(&from_file), stdout(&built_in));
    let settings: toml::Table = toml::from_str(&stdout(&from_file)).unwrap();
    assert_eq!(settings["listen"].as_str(), Some("127.0.0.1:7700"));
}

#[test]
fn flags_override_the_config_file() {
    let file = default_config();
    let out = suslik(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--lease-ms",
        "1500",
        "--log-format",
        "json",
        "--print-config",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let settings: toml::Table = toml::from_str(&stdout(&out)).unwrap();
    assert_eq!(settings["lease_ms"].as_integer(), Some(1500));
    assert_eq!(settings["log_format"].as_str(), Some("json"));
    assert_eq!(settings["snapshot_every"].as_integer(), Some(10_000));
}

#[tokio::test]
async fn a_server_runs_with_the_settings_of_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.toml");
    std::fs::write(&file, "max_body_bytes = 1024\nlog_format = \"json\"\n").unwrap();
    let server = Server::with_args(&["--config", file.to_str().unwrap()]).await;
    let api = server.api();
    let big = json!({"actor_id": "a#1", "method": "m", "args": [{"value": "x".repeat(4096)}]});
    let (status, _) = api.post_json("/api/v1/processes", &big).await;
    assert_eq!(status, 413, "the file's max_body_bytes was not applied");
    // The node logs as JSON, as the file says.
    let logs: Vec<String> = server
        .logs()
        .into_iter()
        .filter(|l| !l.starts_with("suslik listening"))
        .collect();
    assert!(!logs.is_empty());
    for line in &logs {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    drop(server);

    let server = Server::with_args(&[
        "--config",
        file.to_str().unwrap(),
        "--max-body-bytes",
        "65536",
    ])
    .await;
    let (status, body) = server.api().post_json("/api/v1/processes", &big).await;
    assert_eq!(status, 201, "the flag did not override the file: {body}");
}

#[test]
fn webhook_and_alert_sections_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("suslik.toml");
    let cases = [
        ("[webhook]\nurl = \"http://h/x\"\nretries = 3\n", "retries"),
        ("[webhook]\nurl = \"ftp://h/x\"\n", "webhook.url"),
        (
            "[webhook]\nurl = \"http://h/x\"\nevents = [\"exploded\"]\n",
            "exploded",
        ),
        (
            "[[alert]]\nname = \"a\"\nkind = \"disk_full\"\n",
            "disk_full",
        ),
        (
            "[[alert]]\nname = \"a\"\nkind = \"queue_not_polled\"\n",
            "idle_ms",
        ),
        (
            "[[alert]]\nname = \"a\"\nkind = \"broken_processes\"\nidle_ms = 5\n",
            "idle_ms",
        ),
    ];
    for (text, named) in cases {
        std::fs::write(&file, text).unwrap();
        let out = suslik(&["serve", "--config", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{text}: {}", stderr(&out));
    }
    // Kebab-case keys are accepted too, and the settings show the alert.
    std::fs::write(
        &file,
        "[webhook]\nurl = \"http://h/x\"\ntimeout-ms = 50\nmax-retries = 1\n\n[[alert]]\nname = \"a\"\nkind = \"queue_not_polled\"\nidle-ms = 5\n",
    )
    .unwrap();
    let out = suslik(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--print-config",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let settings: toml::Table = toml::from_str(&stdout(&out)).unwrap();
    assert_eq!(settings["webhook"]["timeout_ms"].as_integer(), Some(50));
    assert_eq!(settings["alert"][0]["idle_ms"].as_integer(), Some(5));
}
