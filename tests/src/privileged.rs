//! Tests that need privileges (root for network namespaces, a tmpfs to fill up) never
//! pass silently when they cannot run.
//!
//! Such a test asks first ([`require_root`], [`require_command`], or [`cannot_run`]
//! when its own setup fails). If it cannot run, it fails with a message saying why,
//! unless `SUSLIK_SKIP_PRIVILEGED_TESTS=1` is set: then it prints `skipped: …` to
//! stderr and the caller returns. A test run without privileges is thus an explicit
//! choice, visible in the output, and never mistaken for a pass.

/// The environment variable that lets privileged tests skip instead of failing.
pub const SKIP_VAR: &str = "SUSLIK_SKIP_PRIVILEGED_TESTS";

/// Whether [`SKIP_VAR`] is set to `1`.
pub fn skipping_allowed() -> bool {
    std::env::var(SKIP_VAR).is_ok_and(|v| v == "1")
}

/// `test_name` cannot run because of `reason`: panics with a clear message, or with
/// [`SKIP_VAR`]`=1` prints `skipped: <test_name>: <reason>` to stderr and returns (the
/// caller then returns too).
pub fn cannot_run(test_name: &str, reason: &str) {
    match verdict(skipping_allowed(), test_name, reason) {
        Ok(skipped) => eprintln!("{skipped}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// The line reporting a skip (`Ok`) or the failure message (`Err`).
fn verdict(skipping_allowed: bool, test_name: &str, reason: &str) -> Result<String, String> {
    if skipping_allowed {
        Ok(format!("skipped: {test_name}: {reason} ({SKIP_VAR}=1)"))
    } else {
        Err(format!(
            "{test_name} cannot run: {reason}. Run it as root, or set {SKIP_VAR}=1 to skip \
             privileged tests"
        ))
    }
}

/// Whether `test_name` may go on: true when the process runs as root (effective uid
/// 0); otherwise [`cannot_run`] (panics, or reports the skip and answers false).
pub fn require_root(test_name: &str) -> bool {
    match effective_uid() {
        Some(0) => true,
        Some(uid) => {
            cannot_run(test_name, &format!("it needs root, this is uid {uid}"));
            false
        }
        None => {
            cannot_run(test_name, "it needs root, and the effective uid is unknown");
            false
        }
    }
}

/// Whether `test_name` may go on: true when `program` can be run (it is on the
/// `PATH` and executable; `program -V` is run to find out); otherwise [`cannot_run`].
pub fn require_command(test_name: &str, program: &str) -> bool {
    let runs = std::process::Command::new(program)
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !runs {
        cannot_run(test_name, &format!("it needs the `{program}` command"));
    }
    runs
}

/// The effective uid, from `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_uid_is_the_second_number_of_the_uid_line() {
        let status = "Name:\tcargo\nUid:\t1000\t0\t1000\t1000\nGid:\t5\t5\t5\t5\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn a_test_that_cannot_run_fails_with_the_reason_unless_skipping_is_allowed() {
        let failure = verdict(false, "probe", "it needs root").expect_err("must fail");
        assert!(
            failure.contains("probe cannot run: it needs root"),
            "{failure}"
        );
        assert!(
            failure.contains("SUSLIK_SKIP_PRIVILEGED_TESTS=1"),
            "{failure}"
        );
        let skipped = verdict(true, "probe", "it needs root").expect("may skip");
        assert!(
            skipped.starts_with("skipped: probe: it needs root"),
            "{skipped}"
        );
    }
}
