//! Error messages: what they point at, and that the password never shows in them.

use super::{env, parse, parse_err};
use crate::config::{Config, SslMode};
use crate::error::Error;

// ---- errors

#[test]
fn error_invalid_port_shows_the_input() {
    let msg = parse_err("host=x port=abc");
    assert!(msg.contains("invalid port \"abc\""), "{msg}");
    assert!(msg.contains("(in \"host=x port=abc\")"), "{msg}");
    let msg = parse_err("host=x port=0 dbname=y");
    assert!(msg.contains("invalid port \"0\""), "{msg}");
    assert!(msg.contains("(in \"host=x port=0...\")"), "{msg}");
    let msg = parse_err("port=70000");
    assert!(msg.contains("expected a number from 1 to 65535"), "{msg}");
}

#[test]
fn error_context_is_shortened_to_the_bad_part() {
    let long = format!(
        "application_name={} host=x port=abc dbname=d",
        "a".repeat(100)
    );
    let msg = parse_err(&long);
    assert!(msg.contains("(in \"...aaaa"), "{msg}");
    assert!(msg.contains("aaaa host=x port=abc...\")"), "{msg}");
    assert!(!msg.contains(&"a".repeat(61)), "{msg}");
}

#[test]
fn error_missing_equals() {
    let msg = parse_err("host=x dbname");
    assert!(
        msg.contains("missing \"=\" after \"dbname\" at byte 13"),
        "{msg}"
    );
    let msg = parse_err("dbname  x=y");
    assert!(
        msg.contains("missing \"=\" after \"dbname\" at byte 8"),
        "{msg}"
    );
}

#[test]
fn error_missing_key() {
    let msg = parse_err("host=x =y");
    assert!(
        msg.contains("missing parameter name before \"=\" at byte 7"),
        "{msg}"
    );
}

#[test]
fn error_unterminated_quote() {
    let msg = parse_err("host=x dbname='abc");
    assert!(
        msg.contains("unterminated quoted value for \"dbname\""),
        "{msg}"
    );
    let msg = parse_err(r"dbname='abc\'");
    assert!(
        msg.contains("unterminated quoted value for \"dbname\""),
        "{msg}"
    );
}

#[test]
fn error_invalid_sslmode() {
    let msg = parse_err("sslmode=maybe");
    assert!(
        msg.contains(
            "invalid sslmode \"maybe\"; expected disable, allow, prefer, require, verify-ca or \
             verify-full"
        ),
        "{msg}"
    );
    let err = "maybe".parse::<SslMode>().unwrap_err();
    assert!(
        err.to_string().contains("invalid sslmode \"maybe\""),
        "{err}"
    );
}

#[test]
fn error_invalid_numbers() {
    let msg = parse_err("connect_timeout=soon");
    assert!(
        msg.contains("invalid connect_timeout \"soon\"; expected a whole number of seconds"),
        "{msg}"
    );
    let msg = parse_err("keepalives=yes");
    assert!(
        msg.contains("invalid keepalives \"yes\"; expected 0 or 1"),
        "{msg}"
    );
    let msg = parse_err("keepalives_idle=1.5");
    assert!(msg.contains("invalid keepalives_idle \"1.5\""), "{msg}");
    let msg = parse_err("keepalives_interval=x");
    assert!(msg.contains("invalid keepalives_interval \"x\""), "{msg}");
    let msg = parse_err("keepalives_count=many");
    assert!(
        msg.contains("invalid keepalives_count \"many\"; expected a whole number"),
        "{msg}"
    );
    let msg = parse_err("postgres://h?tcp_user_timeout=1s");
    assert!(
        msg.contains("invalid tcp_user_timeout \"1s\"; expected a whole number of milliseconds"),
        "{msg}"
    );
    let msg = parse_err("hostaddr=db.example");
    assert!(
        msg.contains("invalid hostaddr \"db.example\"; expected a numeric IP address"),
        "{msg}"
    );
}

#[test]
fn error_unknown_parameter() {
    let msg = parse_err("host=x foo=bar");
    assert!(
        msg.contains("unknown connection parameter \"foo\""),
        "{msg}"
    );
    let msg = parse_err("postgres://h/db?foo=bar");
    assert!(
        msg.contains("unknown connection parameter \"foo\""),
        "{msg}"
    );
    let msg = parse_err("sslcrl=/crl.pem");
    assert!(
        msg.contains("connection parameter \"sslcrl\" is not supported by this client"),
        "{msg}"
    );
}

#[test]
fn error_multiple_hosts() {
    let msg = parse_err("host=a,b");
    assert!(msg.contains("multiple hosts are not supported"), "{msg}");
    let msg = parse_err("postgres://a:1,b:2/db");
    assert!(msg.contains("multiple hosts are not supported"), "{msg}");
    let msg = parse_err("postgres:///db?host=a,b");
    assert!(msg.contains("multiple hosts are not supported"), "{msg}");
    let msg = parse_err("host=a port=1,2");
    assert!(msg.contains("multiple ports are not supported"), "{msg}");
}

#[test]
fn error_invalid_url() {
    let msg = parse_err("mysql://h/db");
    assert!(
        msg.starts_with("invalid URL: unsupported scheme \"mysql\""),
        "{msg}"
    );
    let msg = parse_err("postgres://[::1/db");
    assert!(msg.starts_with("invalid URL: missing \"]\""), "{msg}");
    let msg = parse_err("postgres://[::1]x/db");
    assert!(msg.starts_with("invalid URL: unexpected \"x\""), "{msg}");
    let msg = parse_err("postgres://::1/db");
    assert!(
        msg.starts_with("invalid URL: an IPv6 address must be in brackets"),
        "{msg}"
    );
    let msg = parse_err("postgres://h/db%zz");
    assert!(
        msg.starts_with("invalid URL: bad percent-encoding in the database name"),
        "{msg}"
    );
    let msg = parse_err("postgres://h/db%00");
    assert!(msg.starts_with("invalid URL: %00"), "{msg}");
    let msg = parse_err("postgres://h/db?sslmode");
    assert!(
        msg.contains("query parameter \"sslmode\" has no \"=\""),
        "{msg}"
    );
    let msg = parse_err("postgres://%FF@h");
    assert!(
        msg.contains("the value of \"user\" is not valid UTF-8"),
        "{msg}"
    );
    let msg = parse_err("postgres://h:abc/db");
    assert!(msg.contains("invalid port \"abc\""), "{msg}");
    assert!(msg.contains("(in \"postgres://h:abc/db\")"), "{msg}");
}

#[test]
fn errors_are_config_errors() {
    let err = Config::parse("port=x").unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert!(
        err.to_string()
            .starts_with("invalid configuration: invalid port")
    );
}

// ---- the password never shows

const SECRET: &str = "hunter2";

fn assert_hidden(msg: &str) {
    assert!(!msg.contains(SECRET), "the password shows in: {msg}");
}

#[test]
fn password_redacted_in_debug() {
    let config = parse("user=app password=hunter2");
    let debug = format!("{config:?}");
    assert_hidden(&debug);
    assert!(debug.contains("password: Some(<redacted>)"), "{debug}");
    assert!(format!("{:?}", Config::new()).contains("password: None"));
}

#[test]
fn password_absent_from_display() {
    let config = parse("postgres://app:hunter2@db/orders?sslmode=disable");
    let shown = config.to_string();
    assert_hidden(&shown);
    assert_eq!(shown, "postgres://app@db/orders?sslmode=disable");
}

#[test]
fn password_redacted_in_key_value_errors() {
    let msg = parse_err("password=hunter2 host=x port=abc");
    assert_hidden(&msg);
    assert!(
        msg.contains("(in \"password=*** host=x port=abc\")"),
        "{msg}"
    );
    let msg = parse_err("password='hunter2 and more");
    assert_hidden(&msg);
    assert!(
        msg.contains("unterminated quoted value for \"password\""),
        "{msg}"
    );
    assert!(msg.contains("(in \"password=***\")"), "{msg}");
    let msg = parse_err("password = 'hunter2' dbname");
    assert_hidden(&msg);
}

#[test]
fn password_with_unquoted_space_is_not_echoed() {
    for s in [
        "password=hun hunter2 host=x",
        "password=hun hunter2=x",
        "host=x password=hun hunter2",
    ] {
        let msg = parse_err(s);
        assert_hidden(&msg);
        assert!(
            msg.contains("unexpected text after the password value"),
            "{msg}"
        );
        assert!(msg.contains("password=***"), "{msg}");
    }
}

#[test]
fn password_redacted_in_url_errors() {
    let msg = parse_err("postgres://app:hunter2@db:abc/orders");
    assert_hidden(&msg);
    assert!(msg.contains("invalid port \"abc\""), "{msg}");
    assert!(
        msg.contains("(in \"postgres://app:***@db:abc/orders\")"),
        "{msg}"
    );
    let msg = parse_err("postgres://db/orders?password=hunter2&port=abc");
    assert_hidden(&msg);
    assert!(msg.contains("?password=***&port=abc"), "{msg}");
    let msg = parse_err("postgres://app:hunter2%zz@db/orders");
    assert_hidden(&msg);
    assert!(
        msg.contains("bad percent-encoding in the password"),
        "{msg}"
    );
    let msg = parse_err("postgres://app:hunter2@db/orders?sslmode=maybe");
    assert_hidden(&msg);
}

#[test]
fn password_with_unencoded_slash_or_question_mark_is_not_echoed() {
    for s in [
        "postgres://app:hun/hunter2@db/orders",
        "postgres://app:hunter2/x@db/orders",
        "postgres://app:hun?hunter2@db/orders",
        "postgres://app:hunter2?x@db/orders?sslmode=disable",
    ] {
        let msg = parse_err(s);
        assert_hidden(&msg);
        assert!(msg.contains("percent-encode"), "{msg}");
        assert!(msg.contains("postgres://***@db/orders"), "{msg}");
    }
}

#[test]
fn password_redacted_in_env_errors() {
    let mut config = Config::new();
    let err = config
        .apply_vars(env(&[("PGPASSWORD", SECRET), ("PGPORT", "abc")]))
        .unwrap_err();
    assert_hidden(&err.to_string());
    assert_eq!(config, Config::new(), "a failed apply_env changes nothing");
}

#[test]
fn misspelt_password_is_not_echoed() {
    let msg = parse_err("host=x pasword=hunter2");
    assert_hidden(&msg);
    assert!(
        msg.contains("unknown connection parameter \"pasword\""),
        "{msg}"
    );
    let msg = parse_err("sslpassword=hunter2");
    assert_hidden(&msg);
    assert!(msg.contains("\"sslpassword\" is not supported"), "{msg}");
    let msg = parse_err("postgres://h/d?Password=hunter2");
    assert_hidden(&msg);
    assert!(
        msg.contains("unknown connection parameter \"Password\""),
        "{msg}"
    );
    assert!(msg.contains("?Password=***"), "{msg}");
}
