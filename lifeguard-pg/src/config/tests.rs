use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ChannelBinding, Config, Host, SslMode};
use crate::error::Error;

mod errors;
mod parsing;

fn parse(s: &str) -> Config {
    match Config::parse(s) {
        Ok(config) => config,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

/// The message of the configuration error `s` gives.
fn parse_err(s: &str) -> String {
    match Config::parse(s) {
        Ok(config) => panic!("{s:?} should not parse, got {config:?}"),
        Err(Error::Config(msg)) => msg,
        Err(other) => panic!("{s:?} gave a non-config error: {other}"),
    }
}

fn tcp(name: &str) -> Option<Host> {
    Some(Host::Tcp(name.to_owned()))
}

fn unix(dir: &str) -> Option<Host> {
    Some(Host::Unix(PathBuf::from(dir)))
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

// ---- defaults and setters

#[test]
fn new_has_defaults() {
    let config = Config::new();
    assert_eq!(config.get_host(), None);
    assert_eq!(config.get_port(), 5432);
    assert_eq!(config.get_user(), None);
    assert_eq!(config.get_password(), None);
    assert_eq!(config.get_dbname(), None);
    assert_eq!(config.get_application_name(), None);
    assert_eq!(config.get_connect_timeout(), None);
    assert!(config.get_keepalives());
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(config.get_keepalives_interval(), Duration::from_secs(10));
    assert_eq!(config.get_keepalives_count(), 3);
    assert_eq!(config.get_tcp_user_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(config.get_options(), None);
    assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
    assert_eq!(config, Config::default());
}

#[test]
fn setters_chain_and_getters_read_back() {
    let mut config = Config::new();
    config
        .host("db.example")
        .port(6432)
        .user("app")
        .password(b"pw")
        .dbname("orders")
        .application_name("api")
        .connect_timeout(Duration::from_secs(3))
        .keepalives(false)
        .keepalives_idle(Duration::from_secs(60))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_count(7)
        .tcp_user_timeout(Duration::from_millis(2500))
        .options("-c search_path=app")
        .ssl_mode(SslMode::Disable);
    assert_eq!(config.get_host(), tcp("db.example").as_ref());
    assert_eq!(config.get_port(), 6432);
    assert_eq!(config.get_user(), Some("app"));
    assert_eq!(config.get_password(), Some(&b"pw"[..]));
    assert_eq!(config.get_dbname(), Some("orders"));
    assert_eq!(config.get_application_name(), Some("api"));
    assert_eq!(config.get_connect_timeout(), Some(Duration::from_secs(3)));
    assert!(!config.get_keepalives());
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(60));
    assert_eq!(config.get_keepalives_interval(), Duration::from_secs(5));
    assert_eq!(config.get_keepalives_count(), 7);
    assert_eq!(
        config.get_tcp_user_timeout(),
        Some(Duration::from_millis(2500))
    );
    assert_eq!(config.get_options(), Some("-c search_path=app"));
    assert_eq!(config.get_ssl_mode(), SslMode::Disable);
}

#[test]
fn setter_host_with_slash_is_unix_socket() {
    let mut config = Config::new();
    config.host("/run/pg");
    assert_eq!(config.get_host(), unix("/run/pg").as_ref());
}

#[test]
fn setters_with_empty_values_unset() {
    let mut config = parse("host=h user=u password=p dbname=d application_name=a options=o");
    config
        .host("")
        .user("")
        .password("")
        .dbname("")
        .application_name("")
        .options("");
    assert_eq!(config, Config::new());
}

#[test]
fn zero_durations() {
    let mut config = Config::new();
    config
        .connect_timeout(Duration::ZERO)
        .keepalives_idle(Duration::ZERO)
        .keepalives_interval(Duration::ZERO)
        .keepalives_count(0)
        .tcp_user_timeout(Duration::ZERO);
    assert_eq!(config.get_connect_timeout(), None);
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
    assert_eq!(config.get_keepalives_interval(), Duration::from_secs(10));
    assert_eq!(config.get_keepalives_count(), 3);
    // Zero keeps the operating system's default, as in libpq.
    assert_eq!(config.get_tcp_user_timeout(), None);
}

// ---- Display reads back

#[test]
fn display_round_trips() {
    for s in [
        "",
        "host=db port=5433 user=app dbname=orders",
        "host=/var/run/postgresql dbname='my db'",
        "hostaddr=::1 port=1",
        "host='fe80::1%eth0'",
        "user='a b@c:d' host='my host' dbname=x/y?z",
        "application_name='caf\u{e9}' connect_timeout=0 keepalives=1 keepalives_idle=30",
        "options='-c search_path=a,b' sslmode=verify-full connect_timeout=9",
        "port=6432",
        "keepalives_interval=4 keepalives_count=6 tcp_user_timeout=1500",
        "tcp_user_timeout=0 connect_timeout=1",
    ] {
        let config = parse(s);
        let shown = config.to_string();
        assert_eq!(Config::parse(&shown).unwrap(), config, "{s} -> {shown}");
    }
}

#[test]
fn display_forms() {
    assert_eq!(Config::new().to_string(), "postgres://");
    assert_eq!(
        parse("hostaddr=::1 port=1").to_string(),
        "postgres://[::1]:1"
    );
    assert_eq!(
        parse("host=/tmp dbname=d").to_string(),
        "postgres://%2Ftmp/d"
    );
    assert_eq!(
        parse("port=1 keepalives=0 options='-c x=1'").to_string(),
        "postgres://:1?keepalives=0&options=-c%20x%3D1"
    );
    let mut config = Config::new();
    config.connect_timeout(Duration::from_millis(1500));
    assert_eq!(config.to_string(), "postgres://?connect_timeout=2");
}

#[test]
fn host_display() {
    assert_eq!(Host::Tcp("db".into()).to_string(), "db");
    assert_eq!(Host::Unix("/tmp".into()).to_string(), "/tmp");
}

// ---- environment

#[test]
fn env_fills_unset_fields() {
    let mut config = Config::new();
    config
        .apply_vars(env(&[
            ("PGHOST", "/run/pg"),
            ("PGPORT", "6432"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("PGAPPNAME", "envapp"),
            ("PGCONNECT_TIMEOUT", "4"),
            ("PGSSLMODE", "disable"),
            ("PGOPTIONS", "-c geqo=off"),
        ]))
        .unwrap();
    assert_eq!(config.host, unix("/run/pg"));
    assert_eq!(config.get_port(), 6432);
    assert_eq!(config.get_user(), Some("envuser"));
    assert_eq!(config.get_password(), Some(&b"envpw"[..]));
    assert_eq!(config.get_dbname(), Some("envdb"));
    assert_eq!(config.get_application_name(), Some("envapp"));
    assert_eq!(config.get_connect_timeout(), Some(Duration::from_secs(4)));
    assert_eq!(config.get_ssl_mode(), SslMode::Disable);
    assert_eq!(config.get_options(), Some("-c geqo=off"));
}

#[test]
fn env_keeps_set_fields() {
    let mut config = parse(
        "host=h port=1 user=u password=p dbname=d application_name=a connect_timeout=0 \
         sslmode=allow options=o",
    );
    let before = config.clone();
    config
        .apply_vars(env(&[
            ("PGHOST", "eh"),
            ("PGHOSTADDR", "10.0.0.9"),
            ("PGPORT", "2"),
            ("PGUSER", "eu"),
            ("PGPASSWORD", "ep"),
            ("PGDATABASE", "ed"),
            ("PGAPPNAME", "ea"),
            ("PGCONNECT_TIMEOUT", "5"),
            ("PGSSLMODE", "disable"),
            ("PGOPTIONS", "eo"),
        ]))
        .unwrap();
    assert_eq!(config, before);
}

#[test]
fn env_empty_variables_are_unset() {
    let mut config = Config::new();
    config
        .apply_vars(env(&[("PGHOST", ""), ("PGPORT", ""), ("PGUSER", "")]))
        .unwrap();
    assert_eq!(config, Config::new());
}

#[test]
fn env_hostaddr_wins_over_host() {
    let mut config = Config::new();
    config
        .apply_vars(env(&[("PGHOST", "db"), ("PGHOSTADDR", "10.0.0.9")]))
        .unwrap();
    assert_eq!(config.host, tcp("10.0.0.9"));
}

#[test]
fn env_bad_values_name_the_variable() {
    for (var, value, expected) in [
        ("PGPORT", "abc", "invalid port \"abc\""),
        ("PGCONNECT_TIMEOUT", "x", "invalid connect_timeout \"x\""),
        ("PGSSLMODE", "maybe", "invalid sslmode \"maybe\""),
        ("PGHOST", "a,b", "multiple hosts are not supported"),
        ("PGHOSTADDR", "name", "invalid hostaddr \"name\""),
    ] {
        let mut config = Config::new();
        let msg = config
            .apply_vars(env(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(expected), "{msg}");
        assert!(
            msg.contains(&format!("(from environment variable {var})")),
            "{msg}"
        );
    }
}

#[test]
fn env_bad_value_is_ignored_when_the_field_is_set() {
    let mut config = parse("port=1");
    config.apply_vars(env(&[("PGPORT", "abc")])).unwrap();
    assert_eq!(config.get_port(), 1);
}

#[test]
fn apply_env_and_from_env_read_the_process_environment() {
    // Reads only; whatever PG* variables the test runs with must be valid or absent.
    let from_env = Config::from_env();
    let mut applied = Config::new();
    let applied = applied.apply_env().map(|config| config.clone());
    match (from_env, applied) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("from_env gave {a:?} but apply_env gave {b:?}"),
    }
}

// ---- defaults that depend on the machine

#[test]
fn user_and_dbname_defaults() {
    let config = Config::new();
    assert_eq!(
        config.user_or_default_from(env(&[("USER", "alice")])),
        "alice"
    );
    assert_eq!(config.user_or_default_from(env(&[])), "postgres");
    assert_eq!(
        config.user_or_default_from(env(&[("USER", "")])),
        "postgres"
    );
    let config = parse("user=bob");
    assert_eq!(
        config.user_or_default_from(env(&[("USER", "alice")])),
        "bob"
    );
    assert_eq!(config.dbname_or_default(), "bob");
    assert_eq!(parse("user=bob dbname=d").dbname_or_default(), "d");
}

#[test]
fn host_default_prefers_a_local_socket() {
    let dir = std::env::temp_dir().join(format!("lifeguard-pg-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let dirs: [&Path; 2] = [&empty, &dir];

    let config = parse("port=5999");
    assert_eq!(
        config.host_or_default_in(&dirs),
        Host::Tcp("localhost".into())
    );
    // A plain file of that name is no socket.
    std::fs::write(empty.join(".s.PGSQL.5999"), b"").unwrap();
    assert_eq!(
        config.host_or_default_in(&dirs),
        Host::Tcp("localhost".into())
    );
    #[cfg(unix)]
    {
        let _listener = std::os::unix::net::UnixListener::bind(dir.join(".s.PGSQL.5999")).unwrap();
        assert_eq!(config.host_or_default_in(&dirs), Host::Unix(dir.clone()));
        // Another port has no socket.
        assert_eq!(
            parse("port=5998").host_or_default_in(&dirs),
            Host::Tcp("localhost".into())
        );
    }
    assert_eq!(
        parse("host=db").host_or_default_in(&dirs),
        Host::Tcp("db".into())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- TLS

#[test]
fn tls_parameters_read_from_strings_urls_and_the_environment() {
    let config = parse(
        "sslmode=verify-ca sslrootcert=/ca.pem sslcert=/c.pem sslkey=/k.pem \
         channel_binding=require sslnegotiation=postgres",
    );
    assert_eq!(config.get_ssl_mode(), SslMode::VerifyCa);
    assert_eq!(config.get_ssl_root_cert(), Some("/ca.pem"));
    assert_eq!(config.get_ssl_cert(), Some("/c.pem"));
    assert_eq!(config.get_ssl_key(), Some("/k.pem"));
    assert_eq!(config.get_channel_binding(), ChannelBinding::Require);
    let url =
        parse("postgres://db/app?sslmode=require&sslrootcert=%2Fca.pem&channel_binding=disable");
    assert_eq!(url.get_ssl_root_cert(), Some("/ca.pem"));
    assert_eq!(url.get_channel_binding(), ChannelBinding::Disable);
    // The URL form writes them back.
    let again = parse(&url.to_string());
    assert_eq!(again.get_ssl_root_cert(), Some("/ca.pem"));
    assert_eq!(again.get_channel_binding(), ChannelBinding::Disable);
    let mut from_env = Config::new();
    from_env
        .apply_vars(env(&[
            ("PGSSLROOTCERT", "/env-ca.pem"),
            ("PGSSLCERT", "/env-c.pem"),
            ("PGSSLKEY", "/env-k.pem"),
            ("PGCHANNELBINDING", "require"),
        ]))
        .unwrap();
    assert_eq!(from_env.get_ssl_root_cert(), Some("/env-ca.pem"));
    assert_eq!(from_env.get_ssl_key(), Some("/env-k.pem"));
    assert_eq!(from_env.get_channel_binding(), ChannelBinding::Require);
    assert_eq!(Config::new().get_channel_binding(), ChannelBinding::Prefer);
}

#[test]
fn sslrootcert_system_asks_for_verify_full() {
    assert_eq!(
        parse("sslrootcert=system").get_ssl_mode(),
        SslMode::VerifyFull
    );
    assert_eq!(
        parse("sslrootcert=system sslmode=require").get_ssl_mode(),
        SslMode::Require
    );
}

#[test]
fn direct_tls_negotiation_and_bad_tls_values_are_refused_not_ignored() {
    let msg = parse_err("sslnegotiation=direct");
    assert!(
        msg.contains("sslnegotiation=direct (PostgreSQL 17) is not supported"),
        "{msg}"
    );
    assert!(parse_err("sslnegotiation=tls").contains("invalid sslnegotiation"));
    assert!(parse_err("channel_binding=maybe").contains("invalid channel_binding \"maybe\""));
    let err = Config::new()
        .apply_vars(env(&[("PGSSLNEGOTIATION", "direct")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("PGSSLNEGOTIATION"), "{err}");
}
