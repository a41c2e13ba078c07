//! Tests that need root (network namespaces, mounting a tmpfs) say so instead of
//! passing silently: without root they fail, unless `SUSLIK_SKIP_PRIVILEGED_TESTS=1`
//! asks to skip them, which each skipped test prints.

/// `true` when the test can run as root. Without root: panics naming the test, or,
/// with `SUSLIK_SKIP_PRIVILEGED_TESTS=1`, prints that it is skipped and returns `false`.
pub fn require_root(test: &str) -> bool {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string());
    if uid.as_deref() == Some("0") {
        return true;
    }
    if std::env::var("SUSLIK_SKIP_PRIVILEGED_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: {test} needs root (SUSLIK_SKIP_PRIVILEGED_TESTS=1)");
        return false;
    }
    panic!("{test} needs root; run as root or set SUSLIK_SKIP_PRIVILEGED_TESTS=1 to skip it");
}
