//! The `suslik` binary of this workspace, for tests that run real server processes.

use std::path::PathBuf;
use std::process::Command;

/// The `suslik` binary, built on first use (an integration test of another package
/// gets no `CARGO_BIN_EXE_` path for it). `SUSLIK_BIN` overrides.
pub fn suslik_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SUSLIK_BIN") {
        return PathBuf::from(p);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<test>-… → target/<profile>/suslik, built with the
            // test's own profile (dev or release), so a test never runs a stale binary.
            let exe = std::env::current_exe().expect("test executable");
            let dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target dir")
                .to_path_buf();
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
            let mut build = Command::new(env!("CARGO"));
            build
                .args(["build", "-q", "-p", "suslik-broker", "--bin", "suslik"])
                .arg("--manifest-path")
                .arg(&manifest);
            if dir.file_name().is_some_and(|d| d == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "building the suslik binary failed");
            dir.join("suslik")
        })
        .clone()
}
