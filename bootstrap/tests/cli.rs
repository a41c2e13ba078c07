//! The binary's config errors: one line naming the file and the field, exit code 2.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_suslik-bootstrap");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// Asserts exit code 2 and exactly one stderr line, returned.
fn config_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    lines[0].to_string()
}

#[test]
fn a_typo_in_a_field_name_exits_2_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "typo.toml",
        "servers = [\"127.0.0.1:1\"]\n\n[[actors]]\nid = \"bootstrap.Diag#1\"\n\n[[actors]]\nid = \"bootstrap.DiagProcess#1\"\npollerz = 3\n",
    );
    for cmd in ["run", "check"] {
        let line = config_error(&run(&[cmd, "--config", &path]));
        assert_eq!(
            line,
            format!("error: {path}: actors[1].pollerz: unknown field, expected one of id, task_list, pollers, poll_wait_ms, max_tasks")
        );
    }
}

#[test]
fn an_unknown_actor_exits_2_listing_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "unknown.toml",
        "servers = [\"127.0.0.1:1\"]\n[[actors]]\nid = \"nobody.Here#1\"\n",
    );
    let line = config_error(&run(&["run", "--config", &path]));
    assert!(
        line.starts_with(&format!(
            "error: {path}: actors[0].id: unknown actor nobody.Here#1 (known actors: "
        )),
        "{line}"
    );
    assert!(line.contains("recipes.hello.Greeter#1"), "{line}");
}

#[test]
fn unreadable_and_malformed_files_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.toml").display().to_string();
    let line = config_error(&run(&["run", "--config", &missing]));
    assert_eq!(
        line,
        format!("error: {missing}: cannot read: No such file or directory (os error 2)")
    );

    let bad = write(dir.path(), "bad.toml", "servers = [\"a:1\"\n");
    let line = config_error(&run(&["run", "--config", &bad]));
    assert!(
        line == format!(
            "error: {bad}: line 1, column 17: invalid TOML: unclosed array, expected `]`"
        ),
        "{line}"
    );

    let no_servers = write(
        dir.path(),
        "none.toml",
        "[[actors]]\nid = \"bootstrap.Diag#1\"\n",
    );
    let line = config_error(&run(&["run", "--config", &no_servers]));
    assert_eq!(
        line,
        format!("error: {no_servers}: servers: at least one broker address is required")
    );

    let bad_id = write(dir.path(), "id.toml", "[[actors]]\nid = \"Greeter\"\n");
    let line = config_error(&run(&["demo", "--config", &bad_id]));
    assert!(
        line.starts_with(&format!(
            "error: {bad_id}: actors[0].id: actor id \"Greeter\" must look like name#version"
        )),
        "{line}"
    );
}

#[test]
fn the_shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("config");
    for name in ["bootstrap.toml", "demo.toml"] {
        let path = root.join(name).display().to_string();
        let out = run(&["check", "--config", &path]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn actors_lists_recipes_and_diagnostics() {
    let out = run(&["actors"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("worker   bootstrap.Diag#1"), "{text}");
    assert!(text.contains("decider  recipes.hello.Decider#1"), "{text}");
}
