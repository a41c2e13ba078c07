//! Each config error case and the exact line it prints.

use super::*;
use crate::diag;

const FILE: &str = "config/x.toml";

fn err(text: &str) -> ConfigError {
    BootstrapConfig::parse(FILE, text).expect_err("should be rejected")
}

fn msg(text: &str) -> String {
    err(text).to_string()
}

#[test]
fn a_full_config_parses_and_defaults_fill_in() {
    let text = r#"
        servers = ["127.0.0.1:7700", "http://127.0.0.1:7701"]
        shutdown_deadline_ms = 2500

        [logging]
        level = "info,suslik_client=debug"
        format = "json"

        [[actors]]
        id = "bootstrap.Diag#1"
        task_list = "urgent"
        pollers = 4
        poll_wait_ms = 1000
        max_tasks = 16

        [[actors]]
        id = "bootstrap.DiagProcess#1"
    "#;
    let c = BootstrapConfig::parse(FILE, text).expect("valid");
    assert_eq!(c.servers.len(), 2);
    assert_eq!(c.shutdown_deadline(), Duration::from_millis(2500));
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(c.actors[0].task_list.as_str(), "urgent");
    assert_eq!(
        (
            c.actors[0].pollers,
            c.actors[0].poll_wait_ms,
            c.actors[0].max_tasks
        ),
        (4, 1000, 16)
    );
    let d = &c.actors[1];
    assert!(d.task_list.is_default());
    assert_eq!(
        (d.pollers, d.poll_wait_ms, d.max_tasks),
        (DEFAULT_POLLERS, DEFAULT_POLL_WAIT_MS, DEFAULT_MAX_TASKS)
    );
    c.check_actors(FILE, &diag::registry())
        .expect("known actors");
    c.check_servers(FILE).expect("servers parse");
}

#[test]
fn an_empty_file_is_the_default_config() {
    let c = BootstrapConfig::parse(FILE, "").expect("valid");
    assert_eq!(c, BootstrapConfig::default());
}

#[test]
fn unreadable_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.toml");
    let e = BootstrapConfig::load(&path).expect_err("missing");
    assert_eq!(e.kind, ConfigErrorKind::Unreadable);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn toml_syntax_error_names_line_and_column() {
    let e = err("servers = [\"a:1\"]\n[[actors]]\nid = \"x#1\n");
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    assert_eq!(
        e.to_string(),
        "config/x.toml: line 3, column 10: invalid TOML: invalid basic string, expected `\"`"
    );
}

#[test]
fn unknown_field_in_an_actor_entry() {
    let text = r#"
        [[actors]]
        id = "a#1"
        [[actors]]
        id = "b#1"
        [[actors]]
        id = "c#1"
        pollerz = 3
    "#;
    let e = err(text);
    assert_eq!(e.kind, ConfigErrorKind::UnknownField);
    assert_eq!(
        e.to_string(),
        "config/x.toml: actors[2].pollerz: unknown field, expected one of id, task_list, pollers, poll_wait_ms, max_tasks"
    );
}

#[test]
fn unknown_top_level_and_logging_fields() {
    assert_eq!(
        msg("serverz = []"),
        "config/x.toml: serverz: unknown field, expected one of servers, actors, logging, shutdown_deadline_ms, token"
    );
    assert_eq!(
        msg("[logging]\nlevl = \"debug\""),
        "config/x.toml: logging.levl: unknown field, expected level or format"
    );
}

#[test]
fn invalid_actor_id_and_task_list() {
    assert_eq!(
        msg("[[actors]]\nid = \"greeter\""),
        "config/x.toml: actors[0].id: actor id \"greeter\" must look like name#version (both parts non-empty, no spaces)"
    );
    assert_eq!(
        msg("[[actors]]\nid = \"g#1\"\ntask_list = \"no spaces\""),
        "config/x.toml: actors[0].task_list: task list \"no spaces\" may contain only letters, digits and - _ . : /"
    );
    assert_eq!(
        msg("[[actors]]\npollers = 1"),
        "config/x.toml: actors[0]: missing field `id`"
    );
}

#[test]
fn wrong_types_and_values() {
    assert_eq!(
        msg("[[actors]]\nid = \"g#1\"\npollers = \"four\""),
        "config/x.toml: actors[0].pollers: invalid type: string \"four\", expected usize"
    );
    assert_eq!(
        msg("[[actors]]\nid = \"g#1\"\npollers = 0"),
        "config/x.toml: actors[0].pollers: must be between 1 and 1024, got 0"
    );
    assert_eq!(
        msg("[[actors]]\nid = \"g#1\"\nmax_tasks = 0"),
        "config/x.toml: actors[0].max_tasks: must be at least 1"
    );
    assert_eq!(
        msg("[logging]\nformat = \"xml\""),
        "config/x.toml: logging.format: unknown variant `xml`, expected `text` or `json`"
    );
    assert_eq!(
        msg("[logging]\nlevel = \"info,=[\""),
        "config/x.toml: logging.level: invalid filter \"info,=[\": invalid filter directive"
    );
    assert_eq!(
        msg("servers = \"127.0.0.1:7700\""),
        "config/x.toml: servers: invalid type: string \"127.0.0.1:7700\", expected a sequence"
    );
}

#[test]
fn duplicate_actor_entries() {
    let text = "[[actors]]\nid = \"g#1\"\n[[actors]]\nid = \"h#1\"\n[[actors]]\nid = \"g#1\"\n";
    assert_eq!(
        msg(text),
        "config/x.toml: actors[2]: actor g#1 on task list (default) is already configured in actors[0]"
    );
    // The same actor on another task list is a separate pool.
    let text = "[[actors]]\nid = \"g#1\"\n[[actors]]\nid = \"g#1\"\ntask_list = \"urgent\"\n";
    assert!(BootstrapConfig::parse(FILE, text).is_ok());
}

#[test]
fn unknown_actor_against_the_registry() {
    let c = BootstrapConfig::parse(
        FILE,
        "[[actors]]\nid = \"bootstrap.Diag#1\"\n[[actors]]\nid = \"nope.Greeter#1\"",
    )
    .expect("valid shape");
    let e = c
        .check_actors(FILE, &diag::registry())
        .expect_err("unknown");
    assert_eq!(e.kind, ConfigErrorKind::UnknownActor);
    assert_eq!(
        e.to_string(),
        "config/x.toml: actors[1].id: unknown actor nope.Greeter#1 (known actors: bootstrap.Diag#1, bootstrap.DiagProcess#1)"
    );
}

#[test]
fn servers_are_required_to_run_and_must_parse() {
    let c = BootstrapConfig::parse(FILE, "").expect("valid");
    assert_eq!(
        c.check_servers(FILE).expect_err("none").to_string(),
        "config/x.toml: servers: at least one broker address is required"
    );
    let c = BootstrapConfig::parse(FILE, "servers = [\"127.0.0.1:1\", \"http://[::1\"]")
        .expect("valid shape");
    let e = c.check_servers(FILE).expect_err("bad address").to_string();
    assert!(e.starts_with("config/x.toml: servers[1]: "), "{e}");
}

#[test]
fn every_error_is_one_line() {
    for text in ["[[actors]\n", "a = 1\n\n\nb = ", "[[actors]]\nid = 3"] {
        let m = msg(text);
        assert!(!m.contains('\n'), "{m}");
        assert!(m.starts_with("config/x.toml: "), "{m}");
    }
}

#[test]
fn a_token_is_read_from_the_file_and_sent_by_the_container() {
    let c = BootstrapConfig::parse(FILE, "servers = [\"127.0.0.1:7700\"]\ntoken = \"t0k\"\n")
        .expect("valid");
    assert_eq!(c.token.as_deref(), Some("t0k"));
    assert_eq!(c.effective_token().as_deref(), Some("t0k"));
    let none = BootstrapConfig::parse(FILE, "servers = [\"127.0.0.1:7700\"]\n").expect("valid");
    assert_eq!(none.token, None);
}
