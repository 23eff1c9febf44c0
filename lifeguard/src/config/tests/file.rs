//! Reading the `[database]` table.

use std::time::Duration;

use super::super::PoolConfig;
use super::super::value::Key;
use super::{assert_defaults_except_url, message, ms, secs, toml};

#[test]
fn toml_reads_every_key() {
    let config = toml(
        r#"
        url = "postgres://app@db.example/orders"
        connections = 3
        max_exclusive = 0
        max_in_flight = 7
        share_sync = false
        acquire_timeout = "250ms"
        connect_timeout = "2s"
        statement_timeout = "1m"
        max_lifetime = "1h"
        lifetime_jitter = "0s"
        liveness_interval = "11s"
        backoff_min = "20ms"
        backoff_max = "4s"
        "#,
    )
    .unwrap();
    assert_eq!(config.pg().get_dbname(), Some("orders"));
    assert_eq!(config.get_connections(), 3);
    assert_eq!(config.get_max_exclusive(), 0);
    assert_eq!(config.get_max_in_flight(), 7);
    assert!(!config.get_share_sync());
    assert_eq!(config.get_acquire_timeout(), ms(250));
    assert_eq!(config.get_connect_timeout(), secs(2));
    assert_eq!(config.pg().get_connect_timeout(), Some(secs(2)));
    assert_eq!(config.get_statement_timeout(), Some(secs(60)));
    assert_eq!(config.get_max_lifetime(), Some(secs(3600)));
    assert_eq!(config.get_lifetime_jitter(), Duration::ZERO);
    assert_eq!(config.get_liveness_interval(), secs(11));
    assert_eq!(config.get_backoff_min(), ms(20));
    assert_eq!(config.get_backoff_max(), secs(4));
    config.validate().unwrap();
}

#[test]
fn toml_leaves_missing_keys_at_their_defaults() {
    let config = toml(r#"url = "host=db""#).unwrap();
    assert_defaults_except_url(&config);
    config.validate().unwrap();
}

#[test]
fn toml_off_turns_timeouts_off() {
    let config =
        toml("url = \"host=db\"\nstatement_timeout = \"off\"\nmax_lifetime = \"off\"").unwrap();
    assert_eq!(config.get_statement_timeout(), None);
    assert_eq!(config.get_max_lifetime(), None);
    assert_eq!(config.lifetime_for(0.5), None);
}

#[test]
fn toml_ignores_other_tables() {
    let config = PoolConfig::from_toml_str(
        "[server]\nport = 8080\n[database]\nurl = \"host=db\"\n[database_extra]\nx = 1\n",
    )
    .unwrap();
    assert_eq!(config.pg().get_host().unwrap().to_string(), "db");
}

#[test]
fn toml_without_database_table_is_an_error() {
    assert_eq!(
        message(PoolConfig::from_toml(
            "[server]\nport = 1\n",
            "lifeguard.toml"
        )),
        "lifeguard.toml has no [database] table"
    );
    assert_eq!(
        message(PoolConfig::from_toml_str("")),
        "the TOML text has no [database] table"
    );
    assert_eq!(
        message(PoolConfig::from_toml("database = 5", "lifeguard.toml")),
        "database in lifeguard.toml must be a table: [database]"
    );
}

#[test]
fn toml_unknown_key_is_named() {
    let err = message(toml("url = \"host=db\"\nmax_connections = 4"));
    assert!(
        err.starts_with(
            "unknown key database.max_connections in lifeguard.toml; the keys are url, connections,"
        ),
        "{err}"
    );
}

#[test]
fn toml_syntax_error_shows_where_but_not_the_line() {
    let text = "[database]\nurl = \"postgres://app:s3cret@db/x\" oops\n";
    let err = message(PoolConfig::from_toml(text, "lifeguard.toml"));
    assert!(
        err.starts_with("lifeguard.toml is not valid TOML at line 2, column "),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn toml_invalid_values_name_the_key_and_the_file() {
    let cases = [
        (
            "max_in_flight = \"abc\"",
            "invalid value \"abc\" for database.max_in_flight in lifeguard.toml: \
             expected a positive integer",
        ),
        (
            "max_in_flight = 0",
            "invalid value 0 for database.max_in_flight in lifeguard.toml: \
             expected a positive integer",
        ),
        (
            "connections = 0",
            "invalid value 0 for database.connections in lifeguard.toml: \
             expected a positive integer",
        ),
        (
            "connections = 2.5",
            "invalid value 2.5 for database.connections in lifeguard.toml: \
             expected a positive integer",
        ),
        (
            "max_exclusive = -1",
            "invalid value -1 for database.max_exclusive in lifeguard.toml: \
             expected a non-negative integer",
        ),
        (
            "acquire_timeout = 5",
            "invalid value 5 for database.acquire_timeout in lifeguard.toml: \
             a duration needs a unit (ms, s, m, h)",
        ),
        (
            "acquire_timeout = \"0s\"",
            "invalid value \"0s\" for database.acquire_timeout in lifeguard.toml: \
             expected a duration greater than zero",
        ),
        (
            "connect_timeout = \"5 seconds\"",
            "invalid value \"5 seconds\" for database.connect_timeout in lifeguard.toml: \
             unknown unit \" seconds\"; use ms, s, m or h",
        ),
        (
            "statement_timeout = \"never\"",
            "invalid value \"never\" for database.statement_timeout in lifeguard.toml: \
             expected a duration: a whole number and a unit (ms, s, m, h), \
             e.g. \"250ms\" or \"5s\", or \"off\"",
        ),
        (
            "statement_timeout = \"0ms\"",
            "invalid value \"0ms\" for database.statement_timeout in lifeguard.toml: \
             expected a duration greater than zero, or \"off\"",
        ),
        (
            "max_lifetime = false",
            "invalid value false for database.max_lifetime in lifeguard.toml: \
             expected a duration: a whole number and a unit (ms, s, m, h), \
             e.g. \"250ms\" or \"5s\", or \"off\"",
        ),
        (
            "lifetime_jitter = \"1.5s\"",
            "invalid value \"1.5s\" for database.lifetime_jitter in lifeguard.toml: \
             expected a whole number; use a smaller unit, e.g. \"1500ms\" for 1.5s",
        ),
        (
            "liveness_interval = [\"30s\"]",
            "invalid value (an array) for database.liveness_interval in lifeguard.toml: \
             expected a duration: a whole number and a unit (ms, s, m, h), \
             e.g. \"250ms\" or \"5s\"",
        ),
        (
            "backoff_min = \"-10ms\"",
            "invalid value \"-10ms\" for database.backoff_min in lifeguard.toml: \
             expected a duration: a whole number and a unit (ms, s, m, h), \
             e.g. \"250ms\" or \"5s\"",
        ),
        (
            "backoff_max = { a = 1 }",
            "invalid value (a table) for database.backoff_max in lifeguard.toml: \
             expected a duration: a whole number and a unit (ms, s, m, h), \
             e.g. \"250ms\" or \"5s\"",
        ),
        (
            "url = 5",
            "database.url in lifeguard.toml: expected a string",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(message(toml(line)), expected, "for {line}");
    }
}

#[test]
fn toml_every_key_can_be_invalid() {
    // No key accepts a float: each error names its own key.
    for key in Key::ALL {
        let err = message(toml(&format!("{} = 1.5", key.name())));
        assert!(
            err.contains(&format!("database.{} in lifeguard.toml", key.name())),
            "{err}"
        );
    }
}

#[test]
fn toml_invalid_url_names_the_key_and_hides_the_password() {
    let err = message(toml(
        r#"url = "postgres://app:s3cret@db.example:notaport/orders""#,
    ));
    assert!(err.starts_with("database.url in lifeguard.toml: "), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn toml_file_is_named_in_errors() {
    let path = std::env::temp_dir().join(format!("lifeguard-config-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[database]\nurl = \"host=db\"\nconnections = \"x\"\n",
    )
    .unwrap();
    let err = message(PoolConfig::from_toml_file(&path));
    std::fs::write(&path, "[database]\nurl = \"host=db\"\nconnections = 2\n").unwrap();
    let config = PoolConfig::from_toml_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        err,
        format!(
            "invalid value \"x\" for database.connections in {}: expected a positive integer",
            path.display()
        )
    );
    assert_eq!(config.get_connections(), 2);
}

#[test]
fn toml_file_that_cannot_be_read_is_named() {
    let err = message(PoolConfig::from_toml_file("/nonexistent/lifeguard.toml"));
    assert!(
        err.starts_with("cannot read /nonexistent/lifeguard.toml: "),
        "{err}"
    );
}
