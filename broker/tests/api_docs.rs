//! Runs the worked example of docs/api.md against a real server: every `curl` block of
//! that section is sent as written, and the JSON block after it must be the answer
//! (times excepted, which differ from run to run).

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// Keys whose values are times: any number is accepted where the doc shows one.
const TIME_KEYS: &[&str] = &[
    "lease_until",
    "started_at",
    "ended_at",
    "created_at",
    "released_at",
    "delivered_at",
];

/// Keys whose values are ids the broker mints at random: any string is accepted.
const FRESH_ID_KEYS: &[&str] = &["delivery_id"];

/// The fenced code blocks of the "Worked example" section: (language, text).
fn example_blocks() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let doc = std::fs::read_to_string(&path).expect("docs/api.md");
    let start = doc
        .find("\n## Worked example")
        .expect("a Worked example section");
    let section = &doc[start + 1..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((lang.trim().to_string(), body.join("\n")));
        }
    }
    blocks
}

/// A `curl` command of the example: method, path and body.
struct Call {
    method: &'static str,
    path: String,
    body: Option<String>,
}

fn parse_curl(cmd: &str) -> Call {
    assert!(cmd.starts_with("curl "), "not a curl command: {cmd}");
    let method = if cmd.contains("-X POST") {
        "POST"
    } else {
        "GET"
    };
    let url = cmd
        .split_whitespace()
        .find(|w| w.starts_with("localhost:7700"))
        .unwrap_or_else(|| panic!("no localhost:7700 URL in {cmd}"));
    let body = cmd.find("-d '").map(|i| {
        let rest = &cmd[i + 4..];
        rest[..rest.rfind('\'').expect("closing quote")].to_string()
    });
    if body.is_some() {
        assert!(
            cmd.contains("-H 'content-type: application/json'"),
            "a body without its content type: {cmd}"
        );
    }
    Call {
        method,
        path: url["localhost:7700".len()..].to_string(),
        body,
    }
}

/// Checks that `actual` is `expected`, except that times may differ.
fn assert_matches(expected: &Value, actual: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ek: Vec<_> = e.keys().collect();
            let ak: Vec<_> = a.keys().collect();
            assert_eq!(ek, ak, "keys of {at}");
            for (k, ev) in e {
                let av = &a[k];
                let here = format!("{at}.{k}");
                if TIME_KEYS.contains(&k.as_str()) && ev.is_u64() {
                    assert!(av.is_u64(), "{here}: expected a time, got {av}");
                } else if FRESH_ID_KEYS.contains(&k.as_str()) {
                    assert!(av.is_string(), "{here}: expected an id, got {av}");
                } else {
                    assert_matches(ev, av, &here);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "length of {at}");
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_matches(ev, av, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(expected, actual, "at {at}"),
    }
}

#[tokio::test]
async fn the_worked_example_of_the_api_docs_runs_as_written() {
    let blocks = example_blocks();
    let mut steps = Vec::new();
    let mut iter = blocks.into_iter();
    while let Some((lang, text)) = iter.next() {
        assert_eq!(lang, "sh", "expected a curl block, got ```{lang}");
        let (lang, answer) = iter.next().expect("an answer after each command");
        assert_eq!(lang, "json", "the answer to `{text}` is not a json block");
        let expected: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("answer to `{text}` is not JSON ({e}): {answer}"));
        steps.push((parse_curl(&text), expected));
    }
    assert!(
        steps.len() >= 6,
        "the example has only {} steps",
        steps.len()
    );

    let server = Server::start().await;
    let api = server.api();
    for (call, expected) in steps {
        let (status, actual) = match (call.method, &call.body) {
            ("POST", Some(body)) => {
                api.post_raw(&call.path, "application/json", body.clone().into_bytes())
                    .await
            }
            _ => api.get_json(&call.path).await,
        };
        eprintln!("{} {} -> {status}", call.method, call.path);
        let is_error = expected.get("error").is_some_and(Value::is_string);
        assert_eq!(
            status < 300,
            !is_error,
            "{} {}: status {status}, {actual}",
            call.method,
            call.path
        );
        assert_matches(
            &expected,
            &actual,
            &format!("{} {}", call.method, call.path),
        );
    }
}
