//! Reading the environment, and its precedence over the other sources.

use std::time::Duration;

use super::super::PoolConfig;
use super::{assert_defaults_except_url, message, ms, secs, toml, vars};

#[test]
fn env_reads_every_variable() {
    let config = PoolConfig::from_vars(vars(&[
        ("DATABASE_URL", "postgres://app@db.example/orders"),
        ("LIFEGUARD_CONNECTIONS", "3"),
        ("LIFEGUARD_MAX_EXCLUSIVE", "0"),
        ("LIFEGUARD_MAX_IN_FLIGHT", "7"),
        ("LIFEGUARD_MAX_RESPONSE_BYTES", "1048576"),
        ("LIFEGUARD_STATEMENT_CACHE_CAPACITY", "0"),
        ("LIFEGUARD_SHARE_SYNC", "false"),
        ("LIFEGUARD_SESSION_RESET", "close"),
        ("LIFEGUARD_ACQUIRE_TIMEOUT", "250ms"),
        ("LIFEGUARD_CONNECT_TIMEOUT", "2s"),
        ("LIFEGUARD_STATEMENT_TIMEOUT", "1m"),
        ("LIFEGUARD_REQUEST_TIMEOUT", "90s"),
        ("LIFEGUARD_MAX_LIFETIME", "1h"),
        ("LIFEGUARD_LIFETIME_JITTER", "0s"),
        ("LIFEGUARD_LIVENESS_INTERVAL", "11s"),
        ("LIFEGUARD_BACKOFF_MIN", "20ms"),
        ("LIFEGUARD_BACKOFF_MAX", "4s"),
    ]))
    .unwrap();
    assert_eq!(config.pg().get_dbname(), Some("orders"));
    assert_eq!(config.get_connections(), 3);
    assert_eq!(config.get_max_exclusive(), 0);
    assert_eq!(config.get_max_in_flight(), 7);
    assert_eq!(config.get_max_response_bytes(), 1 << 20);
    assert_eq!(config.get_statement_cache_capacity(), 0);
    assert!(!config.get_share_sync());
    assert_eq!(config.get_session_reset(), crate::SessionReset::Close);
    assert_eq!(config.get_acquire_timeout(), ms(250));
    assert_eq!(config.get_connect_timeout(), secs(2));
    assert_eq!(config.pg().get_connect_timeout(), Some(secs(2)));
    assert_eq!(config.get_statement_timeout(), Some(secs(60)));
    assert_eq!(config.get_request_timeout(), Some(secs(90)));
    assert_eq!(config.get_max_lifetime(), Some(secs(3600)));
    assert_eq!(config.get_lifetime_jitter(), Duration::ZERO);
    assert_eq!(config.get_liveness_interval(), secs(11));
    assert_eq!(config.get_backoff_min(), ms(20));
    assert_eq!(config.get_backoff_max(), secs(4));
    config.validate().unwrap();
}

#[test]
fn env_leaves_unset_and_empty_variables_at_their_defaults() {
    let config = PoolConfig::from_vars(vars(&[
        ("DATABASE_URL", "host=db"),
        ("LIFEGUARD_CONNECTIONS", ""),
        ("LIFEGUARD_ACQUIRE_TIMEOUT", ""),
    ]))
    .unwrap();
    assert_defaults_except_url(&config);
}

#[test]
fn env_off_turns_timeouts_off() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .statement_timeout(Some(secs(1)))
        .apply_vars(vars(&[
            ("LIFEGUARD_STATEMENT_TIMEOUT", "off"),
            ("LIFEGUARD_MAX_LIFETIME", "off"),
            ("LIFEGUARD_REQUEST_TIMEOUT", "off"),
        ]))
        .unwrap();
    assert_eq!(config.get_statement_timeout(), None);
    assert_eq!(config.get_request_timeout(), None);
    assert_eq!(config.get_max_lifetime(), None);
}

#[test]
fn env_requires_database_url() {
    assert_eq!(
        message(PoolConfig::from_vars(vars(&[(
            "LIFEGUARD_CONNECTIONS",
            "2"
        )]))),
        "DATABASE_URL is not set: it must give the server's URL"
    );
    assert_eq!(
        message(PoolConfig::from_vars(vars(&[("DATABASE_URL", "")]))),
        "DATABASE_URL is not set: it must give the server's URL"
    );
}

#[test]
fn env_invalid_values_name_the_variable() {
    let cases = [
        (
            "LIFEGUARD_ACQUIRE_TIMEOUT",
            "5",
            "LIFEGUARD_ACQUIRE_TIMEOUT=\"5\": a duration needs a unit (ms, s, m, h)",
        ),
        (
            "LIFEGUARD_SHARE_SYNC",
            "no",
            "LIFEGUARD_SHARE_SYNC=\"no\": expected true or false",
        ),
        (
            "LIFEGUARD_CONNECTIONS",
            "0",
            "LIFEGUARD_CONNECTIONS=\"0\": expected a positive integer",
        ),
        (
            "LIFEGUARD_MAX_EXCLUSIVE",
            "-1",
            "LIFEGUARD_MAX_EXCLUSIVE=\"-1\": expected a non-negative integer",
        ),
        (
            "LIFEGUARD_MAX_IN_FLIGHT",
            "lots",
            "LIFEGUARD_MAX_IN_FLIGHT=\"lots\": expected a positive integer",
        ),
        (
            "LIFEGUARD_CONNECT_TIMEOUT",
            "0ms",
            "LIFEGUARD_CONNECT_TIMEOUT=\"0ms\": expected a duration greater than zero",
        ),
        (
            "LIFEGUARD_STATEMENT_TIMEOUT",
            "5",
            "LIFEGUARD_STATEMENT_TIMEOUT=\"5\": a duration needs a unit (ms, s, m, h)",
        ),
        (
            "LIFEGUARD_MAX_LIFETIME",
            "0h",
            "LIFEGUARD_MAX_LIFETIME=\"0h\": expected a duration greater than zero, or \"off\"",
        ),
        (
            "LIFEGUARD_LIFETIME_JITTER",
            "1d",
            "LIFEGUARD_LIFETIME_JITTER=\"1d\": unknown unit \"d\"; use ms, s, m or h",
        ),
        (
            "LIFEGUARD_LIVENESS_INTERVAL",
            "off",
            "LIFEGUARD_LIVENESS_INTERVAL=\"off\": expected a duration: a whole number and a \
             unit (ms, s, m, h), e.g. \"250ms\" or \"5s\"",
        ),
        (
            "LIFEGUARD_BACKOFF_MIN",
            "0s",
            "LIFEGUARD_BACKOFF_MIN=\"0s\": expected a duration greater than zero",
        ),
        (
            "LIFEGUARD_BACKOFF_MAX",
            "99999999999999999999h",
            "LIFEGUARD_BACKOFF_MAX=\"99999999999999999999h\": the duration is too long",
        ),
    ];
    for (name, value, expected) in cases {
        let result = PoolConfig::new("host=db")
            .unwrap()
            .apply_vars(vars(&[(name, value)]));
        assert_eq!(message(result), expected);
    }
}

#[test]
fn env_invalid_url_hides_the_password() {
    let result = PoolConfig::new("host=db").unwrap().apply_vars(vars(&[(
        "DATABASE_URL",
        "postgres://app:s3cret@db.example:notaport/orders",
    )]));
    let err = message(result);
    assert!(err.starts_with("DATABASE_URL: "), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

// Precedence

#[test]
fn env_overrides_toml_overrides_defaults() {
    let config = toml(
        r#"
        url = "host=file-db"
        connections = 3
        acquire_timeout = "2s"
        statement_timeout = "10s"
        "#,
    )
    .unwrap()
    .apply_vars(vars(&[
        ("DATABASE_URL", "host=env-db"),
        ("LIFEGUARD_CONNECTIONS", "5"),
        ("LIFEGUARD_MAX_IN_FLIGHT", "64"),
    ]))
    .unwrap();
    assert_eq!(config.pg().get_host().unwrap().to_string(), "env-db"); // env over TOML
    assert_eq!(config.get_connections(), 5); // env over TOML
    assert_eq!(config.get_max_in_flight(), 64); // env over the default
    assert_eq!(config.get_acquire_timeout(), secs(2)); // TOML over the default
    assert_eq!(config.get_statement_timeout(), Some(secs(10))); // TOML over the default
    assert_eq!(config.get_max_exclusive(), 16); // the default
}

#[test]
fn env_overrides_the_builder() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .connections(9)
        .apply_vars(vars(&[("LIFEGUARD_CONNECTIONS", "2")]))
        .unwrap();
    assert_eq!(config.get_connections(), 2);
}

#[test]
fn env_url_completes_a_toml_file_without_one() {
    let config = toml("connect_timeout = \"3s\"")
        .unwrap()
        .apply_vars(vars(&[("DATABASE_URL", "host=db connect_timeout=20")]))
        .unwrap();
    config.validate().unwrap();
    // The setting wins over the URL's connect_timeout, and reaches the new server.
    assert_eq!(config.get_connect_timeout(), secs(3));
    assert_eq!(config.pg().get_connect_timeout(), Some(secs(3)));
}

#[test]
fn env_url_brings_its_connect_timeout_when_none_was_set() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .apply_vars(vars(&[("DATABASE_URL", "host=db2 connect_timeout=20")]))
        .unwrap();
    assert_eq!(config.get_connect_timeout(), secs(20));
}
