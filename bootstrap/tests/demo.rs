//! The main job, end to end: `suslik-bootstrap demo` runs every recipe against an
//! embedded broker and exits 0 with the summary line.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_suslik-bootstrap");

#[test]
fn demo_runs_every_recipe_and_exits_0_with_the_summary() {
    let out = Command::new(BIN)
        .args(["demo", "--timeout-secs", "60"])
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("broker:    http://127.0.0.1:"), "{stdout}");
    for recipe in suslik_recipes::all() {
        assert!(
            stdout.contains(&format!("── {} ──", recipe.name)),
            "{stdout}"
        );
    }
    let summary = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let expected = format!("{} recipes, ", suslik_recipes::all().len());
    assert!(summary.starts_with(&expected), "{summary}");
    assert!(summary.contains(" processes, all ok"), "{summary}");
}

#[test]
fn demo_with_the_shipped_config_and_a_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/demo.toml");
    let out = Command::new(BIN)
        .args(["demo", "--config", config, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all ok"), "{stdout}");
    assert!(
        std::fs::read_dir(dir.path())
            .expect("data dir")
            .next()
            .is_some(),
        "broker data written"
    );
}
