//! The API contract checked by tools nobody here wrote: `openapi-spec-validator` reads
//! the committed document, and schemathesis fuzzes a real `suslik serve` from the
//! document that server serves, with tokens off and on. Both come from PyPI into the
//! virtual environment scripts/test.sh builds from tests/contract/requirements.txt.
//!
//! What must hold (issue 15): 0 server errors, 0 answers outside their documented
//! status codes, content types or schemas. Schemathesis's two data-acceptance checks
//! (a schema-valid request refused, a schema-violating one accepted) are not run
//! yet: the document does not state every rule the handlers apply (lengths, "one of"
//! selections), so they report rules, not defects; docs/api.md lists them.
//!
//! A longer run: `SUSLIK_SCHEMATHESIS_EXAMPLES=200 cargo test -p suslik-tests --test
//! api_contract` (the default is 25 examples per operation).

use std::path::PathBuf;
use std::process::Command;
use suslik_tests::serve::Server;

/// The workspace root.
fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A checker installed in the contract venv; a missing one fails the test with the
/// command that installs it (never a silent pass).
fn checker(name: &str) -> PathBuf {
    let venv = std::env::var_os("SUSLIK_CONTRACT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/contract-venv"));
    let bin = venv.join("bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: scripts/test.sh installs it, or run \
         `python3 -m venv target/contract-venv && target/contract-venv/bin/pip install -r tests/contract/requirements.txt`",
        bin.display()
    );
    bin
}

/// Long polls on the empty queues schemathesis polls end within a second, so that a
/// generated `wait_ms` of hours does not hold a worker for the default minute.
const SHORT_POLLS: &str = "--max-poll-wait-ms=1000";

/// The checks that must pass (see the module docs).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a contract checker");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn the_committed_document_is_valid_openapi() {
    let doc = workspace().join("docs/openapi.json");
    let out = run(Command::new(checker("openapi-spec-validator")).arg(&doc));
    assert!(out.contains("OK"), "{out}");
}

/// Schemathesis over every operation of a real server (the backup excluded: it
/// answers a multi-megabyte snapshot, not JSON), all phases.
fn schemathesis(server: &Server, token: Option<&str>) {
    let examples = std::env::var("SUSLIK_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let reports = tempfile::tempdir().expect("report dir");
    let mut cmd = Command::new(checker("schemathesis"));
    cmd.arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.base))
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--exclude-operation-id", "backup"])
        // One worker: hypothesis's lambda-description cache is not thread-safe
        // (two workers once failed with a KeyError inside hypothesis, not the API).
        .args(["--workers", "1", "--seed", "15"])
        .args(["--request-timeout", "30", "--no-color"])
        .arg("--report-dir")
        .arg(reports.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(reports.path());
    if let Some(token) = token {
        cmd.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let out = run(&mut cmd);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start_with(data.path(), &["--listen", "127.0.0.1:0", SHORT_POLLS]);
    // Every node serves the committed document.
    let url = format!("{}/api/v1/openapi.json", server.base);
    let served = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async { reqwest::get(&url).await?.text().await })
        .expect("GET /api/v1/openapi.json");
    let committed =
        std::fs::read_to_string(workspace().join("docs/openapi.json")).expect("docs/openapi.json");
    assert_eq!(
        served, committed,
        "the served document is the committed one"
    );
    schemathesis(&server, None);
    server.stop();
}

#[test]
fn schemathesis_with_tokens_finds_no_server_error_and_no_answer_outside_the_document() {
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start_with(
        data.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--actor-token",
            "contract-actor",
            "--operator-token",
            "contract-operator",
            SHORT_POLLS,
        ],
    );
    schemathesis(&server, Some("contract-operator"));
    server.stop();
}
