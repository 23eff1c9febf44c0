//! Reading `key=value` strings and URLs.

use std::time::Duration;

use super::{parse, tcp, unix};
use crate::config::{Config, SslMode};

// ---- key=value strings

#[test]
fn empty_string_is_all_defaults() {
    assert_eq!(parse(""), Config::new());
    assert_eq!(parse("   \t\n "), Config::new());
}

#[test]
fn key_value_every_key() {
    let config = parse(
        "host=db.example port=5433 user=app password=pw dbname=orders application_name=api \
         connect_timeout=7 keepalives=0 keepalives_idle=30 options=-cgeqo=off sslmode=disable",
    );
    assert_eq!(config.get_host(), tcp("db.example").as_ref());
    assert_eq!(config.get_port(), 5433);
    assert_eq!(config.get_user(), Some("app"));
    assert_eq!(config.get_password(), Some(&b"pw"[..]));
    assert_eq!(config.get_dbname(), Some("orders"));
    assert_eq!(config.get_application_name(), Some("api"));
    assert_eq!(config.get_connect_timeout(), Some(Duration::from_secs(7)));
    assert!(!config.get_keepalives());
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(config.get_options(), Some("-cgeqo=off"));
    assert_eq!(config.get_ssl_mode(), SslMode::Disable);
}

#[test]
fn key_value_host_with_slash_is_unix_socket() {
    assert_eq!(
        parse("host=/var/run/postgresql").host,
        unix("/var/run/postgresql")
    );
}

#[test]
fn key_value_hostaddr_wins_over_host() {
    assert_eq!(parse("hostaddr=10.0.0.1").host, tcp("10.0.0.1"));
    assert_eq!(parse("hostaddr=::1 host=db").host, tcp("::1"));
    assert_eq!(parse("host=db hostaddr=10.0.0.1").host, tcp("10.0.0.1"));
    assert_eq!(parse("hostaddr=10.0.0.1 hostaddr=").host, None);
}

#[test]
fn key_value_spaces_around_equals() {
    let config = parse("  host = db   port =5433\tdbname=\n x ");
    assert_eq!(config.host, tcp("db"));
    assert_eq!(config.get_port(), 5433);
    assert_eq!(config.get_dbname(), Some("x"));
}

#[test]
fn key_value_quoting() {
    let config = parse(r"dbname='my db' password='it\'s \\ here' options='' user=a\ b");
    assert_eq!(config.get_dbname(), Some("my db"));
    assert_eq!(config.get_password(), Some(&br"it's \ here"[..]));
    assert_eq!(config.get_options(), None);
    assert_eq!(config.get_user(), Some("a b"));
    let config = parse("application_name='caf\u{e9} \u{2615}'");
    assert_eq!(config.get_application_name(), Some("caf\u{e9} \u{2615}"));
}

#[test]
fn key_value_empty_value_is_unset() {
    assert_eq!(parse("host= user=''"), {
        // libpq reads `host= user=''` as host "user=''": a value starts after the spaces.
        let mut config = Config::new();
        config.host("user=''");
        config
    });
    assert_eq!(
        parse("port='' sslmode='' connect_timeout=''"),
        Config::new()
    );
}

#[test]
fn key_value_last_value_wins() {
    assert_eq!(parse("port=1 port=2").get_port(), 2);
}

#[test]
fn connect_timeout_zero_or_negative_is_no_timeout() {
    for s in [
        "connect_timeout=0",
        "connect_timeout=-1",
        "connect_timeout=-5",
        "postgres://h/d?connect_timeout=-1",
        "postgres://h/d?connect_timeout=0",
    ] {
        let config = parse(s);
        assert_eq!(config.get_connect_timeout(), None, "{s}");
        assert_eq!(config.connect_timeout, Some(Duration::ZERO), "{s}");
    }
    assert_eq!(
        parse("connect_timeout=' 12 '").get_connect_timeout(),
        Some(Duration::from_secs(12))
    );
}

#[test]
fn connect_timeout_one_is_two_seconds_as_in_libpq() {
    for s in ["connect_timeout=1", "postgres://h/d?connect_timeout=1"] {
        assert_eq!(
            parse(s).get_connect_timeout(),
            Some(Duration::from_secs(2)),
            "{s}"
        );
    }
    assert_eq!(
        parse("connect_timeout=2").get_connect_timeout(),
        Some(Duration::from_secs(2))
    );
}

#[test]
fn keepalives_values() {
    assert!(parse("keepalives=1").get_keepalives());
    assert!(!parse("keepalives=0").get_keepalives());
    assert_eq!(
        parse("keepalives_idle=0").get_keepalives_idle(),
        Duration::from_secs(30)
    );
    let config = parse("keepalives_interval=4 keepalives_count=6 tcp_user_timeout=1500");
    assert_eq!(config.get_keepalives_interval(), Duration::from_secs(4));
    assert_eq!(config.get_keepalives_count(), 6);
    assert_eq!(
        config.get_tcp_user_timeout(),
        Some(Duration::from_millis(1500))
    );
    let config = parse("keepalives_interval=0 keepalives_count=-1 tcp_user_timeout=0");
    assert_eq!(config.get_keepalives_interval(), Duration::from_secs(10));
    assert_eq!(config.get_keepalives_count(), 3);
    assert_eq!(config.get_tcp_user_timeout(), None);
    assert_eq!(
        parse("tcp_user_timeout=-5").get_tcp_user_timeout(),
        None,
        "negative is the OS default too"
    );
    let config =
        parse("postgres://h/d?keepalives_interval=4&keepalives_count=6&tcp_user_timeout=1500");
    assert_eq!(config.get_keepalives_interval(), Duration::from_secs(4));
    assert_eq!(config.get_keepalives_count(), 6);
    assert_eq!(
        config.get_tcp_user_timeout(),
        Some(Duration::from_millis(1500))
    );
}

#[test]
fn every_ssl_mode() {
    for (name, mode) in [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ] {
        assert_eq!(parse(&format!("sslmode={name}")).get_ssl_mode(), mode);
        assert_eq!(name.parse::<SslMode>().unwrap(), mode);
        assert_eq!(mode.to_string(), name);
    }
}

#[test]
fn from_str_is_parse() {
    let config: Config = "host=db".parse().unwrap();
    assert_eq!(config, parse("host=db"));
}

// ---- URLs

#[test]
fn url_every_part() {
    let config = parse(
        "postgres://app:pw@db.example:5433/orders?application_name=api&connect_timeout=7\
         &keepalives=0&keepalives_idle=30&options=-c%20search_path%3Dapp&sslmode=disable",
    );
    assert_eq!(config.get_host(), tcp("db.example").as_ref());
    assert_eq!(config.get_port(), 5433);
    assert_eq!(config.get_user(), Some("app"));
    assert_eq!(config.get_password(), Some(&b"pw"[..]));
    assert_eq!(config.get_dbname(), Some("orders"));
    assert_eq!(config.get_application_name(), Some("api"));
    assert_eq!(config.get_connect_timeout(), Some(Duration::from_secs(7)));
    assert!(!config.get_keepalives());
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(config.get_options(), Some("-c search_path=app"));
    assert_eq!(config.get_ssl_mode(), SslMode::Disable);
}

#[test]
fn url_both_schemes() {
    let short = parse("postgres://u@h/d");
    assert_eq!(short, parse("postgresql://u@h/d"));
    assert_eq!(short, parse("PostgreSQL://u@h/d"));
    assert_eq!(short, parse("  postgres://u@h/d\n"));
    assert_eq!(short.get_user(), Some("u"));
}

#[test]
fn url_every_part_optional() {
    assert_eq!(parse("postgres://"), Config::new());
    assert_eq!(parse("postgresql:///"), Config::new());
    assert_eq!(parse("postgres://h").host, tcp("h"));
    assert_eq!(parse("postgres://:5433").port, Some(5433));
    assert_eq!(parse("postgres:///db").get_dbname(), Some("db"));
    assert_eq!(parse("postgres://u@").get_user(), Some("u"));
    let config = parse("postgres://u:@h");
    assert_eq!(config.get_password(), None);
    assert_eq!(
        parse("postgres://?sslmode=allow").get_ssl_mode(),
        SslMode::Allow
    );
    assert_eq!(parse("postgres://h/?&&port=1&").get_port(), 1);
}

#[test]
fn url_percent_decoding() {
    let config =
        parse("postgres://us%40er:p%40ss%2Fw%3Ar%3Fd@h%C3%A9st/my%20db?application_name=a%26b");
    assert_eq!(config.get_user(), Some("us@er"));
    assert_eq!(config.get_password(), Some("p@ss/w:r?d".as_bytes()));
    assert_eq!(config.host, tcp("h\u{e9}st"));
    assert_eq!(config.get_dbname(), Some("my db"));
    assert_eq!(config.get_application_name(), Some("a&b"));
}

#[test]
fn url_password_may_hold_colon_and_at() {
    let config = parse("postgres://u:a:b@c@h/d");
    assert_eq!(config.get_user(), Some("u"));
    assert_eq!(config.get_password(), Some(&b"a:b@c"[..]));
    assert_eq!(config.host, tcp("h"));
}

#[test]
fn url_password_need_not_be_utf8() {
    assert_eq!(
        parse("postgres://u:%FF%FE@h").get_password(),
        Some(&[0xff, 0xfe][..])
    );
}

#[test]
fn url_ipv6() {
    let config = parse("postgres://[::1]:5433/db");
    assert_eq!(config.host, tcp("::1"));
    assert_eq!(config.get_port(), 5433);
    assert_eq!(parse("postgres://u@[2001:db8::2]").host, tcp("2001:db8::2"));
    assert_eq!(
        parse("postgres://[fe80::1%25eth0]/").host,
        tcp("fe80::1%eth0")
    );
}

#[test]
fn url_unix_socket_via_encoded_host() {
    let config = parse("postgres://%2Fvar%2Frun%2Fpostgresql:5433/db");
    assert_eq!(config.host, unix("/var/run/postgresql"));
    assert_eq!(config.get_port(), 5433);
    assert_eq!(config.get_dbname(), Some("db"));
}

#[test]
fn url_unix_socket_via_query_host() {
    let config = parse("postgresql:///db?host=/tmp/sock");
    assert_eq!(config.host, unix("/tmp/sock"));
    // The query overrides the host part.
    assert_eq!(parse("postgres://h/db?host=%2Ftmp").host, unix("/tmp"));
}

#[test]
fn url_query_overrides_every_part() {
    let config = parse("postgres://u:p@h:1/d?user=v&password=q&port=2&dbname=e&hostaddr=10.0.0.2");
    assert_eq!(config.get_user(), Some("v"));
    assert_eq!(config.get_password(), Some(&b"q"[..]));
    assert_eq!(config.get_port(), 2);
    assert_eq!(config.get_dbname(), Some("e"));
    assert_eq!(config.host, tcp("10.0.0.2"));
}

#[test]
fn url_ssl_true_means_require() {
    assert_eq!(
        parse("postgres://h?ssl=true").get_ssl_mode(),
        SslMode::Require
    );
}

#[test]
fn url_plus_is_not_a_space() {
    assert_eq!(parse("postgres://h?options=a+b").get_options(), Some("a+b"));
}
