//! The settings file under arbitrary input, property-tested through the real binary
//! (`suslik serve --config FILE --print-config`): random documents — TOML of the right
//! keys with wrong values, unknown keys, raw text — end in exit 0 or exit 2 with a
//! one-line message, never a panic; and any misspelt key is exit 2 naming that key.
//!
//! Cases per property: 64, or `SUSLIK_FUZZ_CASES` for a longer run.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::process::Command;

/// Keys of the settings file (top level; `[auth]` keys are checked in their section).
const KEYS: &[&str] = &[
    "node_id",
    "listen",
    "data_dir",
    "lease_ms",
    "max_body_bytes",
    "snapshot_every",
    "peers",
    "advertise",
    "join",
    "gc_enabled",
    "gc_delay_ms",
    "gc_batch",
    "gc_include_broken",
    "heartbeat_ms",
    "election_timeout_ms",
    "log_format",
    "insecure",
];

const AUTH_KEYS: &[&str] = &["actor_token", "operator_token", "peer_secret"];

fn cases() -> u32 {
    std::env::var("SUSLIK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs the binary on `text`; returns the exit code and stderr.
fn run(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("suslik.toml");
    std::fs::write(&file, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_suslik"))
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .env_remove("SUSLIK_ACTOR_TOKEN")
        .env_remove("SUSLIK_OPERATOR_TOKEN")
        .env_remove("SUSLIK_PEER_SECRET")
        .current_dir(dir.path())
        .output()
        .expect("run suslik");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A TOML value, rendered.
fn any_toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("0".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[ -~]{0,20}".prop_map(|s| format!("{s:?}")),
        Just("\"127.0.0.1:0\"".to_string()),
        Just("\"0.0.0.0:7700\"".to_string()),
        Just("\"1=127.0.0.1:7701\"".to_string()),
        Just("\"400..800\"".to_string()),
        Just("\"900..100\"".to_string()),
        Just("\"json\"".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..3).prop_map(|kv| {
                let items: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", items.join(", "))
            }),
        ]
    })
}

/// A document of known and unknown keys with arbitrary values, maybe an `[auth]` table.
fn any_document() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_]{1,12}",
    ];
    let auth_key = prop_oneof![
        4 => prop::sample::select(AUTH_KEYS).prop_map(str::to_string),
        1 => "[a-z_-]{1,14}",
    ];
    (
        prop::collection::btree_map(key, any_toml_value(), 0..8),
        prop::option::of(prop::collection::btree_map(
            auth_key,
            any_toml_value(),
            0..3,
        )),
    )
        .prop_map(|(top, auth)| {
            let mut text: String = top.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            if let Some(auth) = auth {
                text.push_str("[auth]\n");
                for (k, v) in auth {
                    text.push_str(&format!("{k} = {v}\n"));
                }
            }
            text
        })
}

fn check_clean_exit(text: &str) -> Result<(), TestCaseError> {
    let (code, err) = run(text);
    prop_assert!(
        code == Some(0) || code == Some(2),
        "exit {code:?} for\n{text}\nstderr: {err}"
    );
    prop_assert!(!err.contains("panicked"), "{err}");
    if code == Some(2) {
        prop_assert!(
            err.starts_with("suslik: ") && err.trim_end().lines().count() == 1,
            "not a one-line message: {err}"
        );
    }
    Ok(())
}

#[test]
fn random_settings_documents_exit_0_or_2_and_never_panic() {
    runner()
        .run(&any_document(), |text| check_clean_exit(&text))
        .unwrap();
}

#[test]
fn random_text_exits_0_or_2_and_never_panics() {
    let text = prop_oneof![
        "\\PC{0,200}",
        "[\\[\\]{}=\"'#a-z0-9 \\n.,_-]{0,200}",
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    runner().run(&text, |text| check_clean_exit(&text)).unwrap();
}

/// One edit of a key: a character inserted, dropped, replaced or two swapped.
fn typo(key: &str, at: usize, how: u8, c: char) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let i = at % chars.len();
    match how % 4 {
        0 => chars.insert(i, c),
        1 => {
            chars.remove(i);
        }
        2 => chars[i] = c,
        _ => {
            let j = (i + 1) % chars.len();
            chars.swap(i, j);
        }
    }
    chars.into_iter().collect()
}

#[test]
fn a_misspelt_key_exits_2_naming_it() {
    let strategy = (
        prop::bool::ANY,
        any::<usize>(),
        any::<usize>(),
        any::<u8>(),
        prop::char::range('a', 'z'),
    );
    runner()
        .run(&strategy, |(in_auth, which, at, how, c)| {
            let keys = if in_auth { AUTH_KEYS } else { KEYS };
            let key = keys[which % keys.len()];
            let wrong = typo(key, at, how, c);
            if keys.contains(&wrong.as_str()) || wrong.is_empty() {
                return Ok(()); // not a typo (e.g. a swap of equal letters)
            }
            let text = if in_auth {
                format!("[auth]\n{wrong} = \"x\"\n")
            } else {
                format!("{wrong} = 1\n")
            };
            let (code, err) = run(&text);
            prop_assert_eq!(code, Some(2), "{}", err);
            prop_assert!(err.contains(&wrong), "{wrong}: {err}");
            prop_assert!(err.contains("unknown field"), "{err}");
            Ok(())
        })
        .unwrap();
}
