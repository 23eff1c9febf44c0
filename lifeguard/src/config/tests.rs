use std::collections::HashMap;
use std::time::Duration;

use lifeguard_pg::Error;

use super::PoolConfig;

mod env;
mod file;
mod routing;
use super::value::parse_duration;

const URL: &str = "postgres://app:s3cret@db.example:5433/orders";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The message of a `Config` error; any other error fails the test.
fn message(result: Result<PoolConfig, Error>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        Err(other) => panic!("expected a Config error, got {other:?}"),
        Ok(config) => panic!("expected an error, got {config:?}"),
    }
}

fn invalid(config: &PoolConfig) -> String {
    match config.validate() {
        Err(Error::Config(message)) => message,
        other => panic!("expected a Config error, got {other:?}"),
    }
}

/// An environment of `pairs`, for `apply_vars`.
fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn toml(body: &str) -> Result<PoolConfig, Error> {
    PoolConfig::from_toml(&format!("[database]\n{body}\n"), "lifeguard.toml")
}

fn assert_defaults_except_url(config: &PoolConfig) {
    assert_eq!(config.get_connections(), may::config().get_workers());
    assert_eq!(config.get_max_exclusive(), 16);
    assert_eq!(config.get_max_in_flight(), 128);
    assert_eq!(config.get_max_response_bytes(), 256 << 20);
    assert_eq!(config.get_statement_cache_capacity(), 256);
    assert!(config.get_share_sync());
    assert_eq!(config.get_session_reset(), crate::SessionReset::Reset);
    assert_eq!(config.get_acquire_timeout(), secs(5));
    assert_eq!(config.get_connect_timeout(), secs(5));
    assert_eq!(config.get_statement_timeout(), None);
    assert_eq!(config.get_request_timeout(), Some(secs(30)));
    assert_eq!(config.get_max_lifetime(), Some(secs(30 * 60)));
    assert_eq!(config.get_lifetime_jitter(), secs(60));
    assert_eq!(config.get_liveness_interval(), secs(30));
    assert_eq!(config.get_backoff_min(), ms(10));
    assert_eq!(config.get_backoff_max(), secs(1));
}

// Defaults and the builder.

#[test]
fn new_parses_the_url_and_uses_the_defaults() {
    let config = PoolConfig::new(URL).unwrap();
    assert_eq!(config.pg().get_dbname(), Some("orders"));
    assert_eq!(config.pg().get_port(), 5433);
    assert_eq!(config.pg().get_password(), Some(&b"s3cret"[..]));
    assert_defaults_except_url(&config);
    assert!(config.get_connections() >= 1);
    config.validate().unwrap();
}

#[test]
fn new_accepts_a_key_value_string() {
    let config = PoolConfig::new("host=/tmp dbname=orders").unwrap();
    assert_eq!(config.pg().get_dbname(), Some("orders"));
    assert_defaults_except_url(&config);
}

#[test]
fn new_rejects_an_invalid_url_without_showing_the_password() {
    let err = PoolConfig::new("postgres://app:s3cret@db.example:notaport/orders").unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn from_pg_keeps_the_server() {
    let mut pg = lifeguard_pg::Config::new();
    pg.host("db.example").user("app").password("s3cret");
    let config = PoolConfig::from_pg(pg);
    assert_eq!(config.pg().get_user(), Some("app"));
    assert_eq!(config.pg().get_connect_timeout(), Some(secs(5)));
    assert_defaults_except_url(&config);
    config.validate().unwrap();
}

#[test]
fn connect_timeout_of_the_url_is_the_default() {
    let config = PoolConfig::new("host=db connect_timeout=12").unwrap();
    assert_eq!(config.get_connect_timeout(), secs(12));
    assert_eq!(config.pg().get_connect_timeout(), Some(secs(12)));
    // "0" in the URL means no bound, which the pool does not allow: the default.
    let config = PoolConfig::new("host=db connect_timeout=0").unwrap();
    assert_eq!(config.get_connect_timeout(), secs(5));
    assert_eq!(config.pg().get_connect_timeout(), Some(secs(5)));
}

#[test]
fn connect_timeout_setter_wins_over_the_url_and_reaches_pg() {
    let config = PoolConfig::new("host=db connect_timeout=12")
        .unwrap()
        .connect_timeout(ms(1500));
    assert_eq!(config.get_connect_timeout(), ms(1500));
    assert_eq!(config.pg().get_connect_timeout(), Some(ms(1500)));
}

#[test]
fn builder_sets_every_setting() {
    let config = PoolConfig::new(URL)
        .unwrap()
        .connections(3)
        .max_exclusive(0)
        .max_in_flight(7)
        .acquire_timeout(ms(250))
        .connect_timeout(secs(2))
        .statement_timeout(Some(secs(9)))
        .max_lifetime(None)
        .lifetime_jitter(Duration::ZERO)
        .liveness_interval(secs(11))
        .backoff(ms(20), secs(4));
    assert_eq!(config.get_connections(), 3);
    assert_eq!(config.get_max_exclusive(), 0);
    assert_eq!(config.get_max_in_flight(), 7);
    assert_eq!(config.get_acquire_timeout(), ms(250));
    assert_eq!(config.get_connect_timeout(), secs(2));
    assert_eq!(config.get_statement_timeout(), Some(secs(9)));
    assert_eq!(config.get_max_lifetime(), None);
    assert_eq!(config.get_lifetime_jitter(), Duration::ZERO);
    assert_eq!(config.get_liveness_interval(), secs(11));
    assert_eq!(config.get_backoff_min(), ms(20));
    assert_eq!(config.get_backoff_max(), secs(4));
    config.validate().unwrap();
}

// validate

#[test]
fn validate_names_each_bad_setting() {
    let base = PoolConfig::new(URL).unwrap();
    let cases: Vec<(PoolConfig, &str)> = vec![
        (
            base.clone().connections(0),
            "connections must be at least 1",
        ),
        (
            base.clone().max_in_flight(0),
            "max_in_flight must be at least 1",
        ),
        (
            base.clone().acquire_timeout(Duration::ZERO),
            "acquire_timeout must be greater than zero",
        ),
        (
            base.clone().connect_timeout(Duration::ZERO),
            "connect_timeout must be greater than zero",
        ),
        (
            base.clone().liveness_interval(Duration::ZERO),
            "liveness_interval must be greater than zero",
        ),
        (
            base.clone().backoff(Duration::ZERO, secs(1)),
            "backoff_min must be greater than zero",
        ),
        (
            base.clone().backoff(ms(10), ms(5)),
            "backoff_max (5ms) is below backoff_min (10ms)",
        ),
        (
            base.clone()
                .statement_timeout(Some(Duration::from_micros(500))),
            "statement_timeout (500µs) is below 1ms, the server's resolution; \
             use None to turn it off",
        ),
        (
            base.clone().statement_timeout(Some(Duration::ZERO)),
            "statement_timeout (0ns) is below 1ms, the server's resolution; \
             use None to turn it off",
        ),
        (
            base.clone().max_lifetime(Some(Duration::ZERO)),
            "max_lifetime must be greater than zero; use None for no limit",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(invalid(&config), expected);
    }
}

#[test]
fn validate_accepts_the_edges() {
    PoolConfig::new(URL)
        .unwrap()
        .connections(1)
        .max_exclusive(0)
        .max_in_flight(1)
        .statement_timeout(Some(ms(1)))
        .lifetime_jitter(Duration::ZERO)
        .backoff(ms(10), ms(10))
        .validate()
        .unwrap();
}

#[test]
fn validate_requires_a_url() {
    let config = toml("connections = 2").unwrap();
    assert_eq!(
        invalid(&config),
        "no server given: set url in the [database] table or DATABASE_URL"
    );
}

// Durations

#[test]
fn parse_duration_reads_each_unit() {
    assert_eq!(parse_duration("250ms"), Ok(ms(250)));
    assert_eq!(parse_duration("5s"), Ok(secs(5)));
    assert_eq!(parse_duration("2m"), Ok(secs(120)));
    assert_eq!(parse_duration("1h"), Ok(secs(3600)));
    assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    assert_eq!(parse_duration(" 7s "), Ok(secs(7)));
    assert_eq!(parse_duration("007ms"), Ok(ms(7)));
}

#[test]
fn parse_duration_explains_errors() {
    let needs_unit = "a duration needs a unit (ms, s, m, h)";
    let expected = "expected a duration: a whole number and a unit (ms, s, m, h), \
                    e.g. \"250ms\" or \"5s\"";
    assert_eq!(parse_duration("5").unwrap_err(), needs_unit);
    assert_eq!(parse_duration("").unwrap_err(), expected);
    assert_eq!(parse_duration("s").unwrap_err(), expected);
    assert_eq!(parse_duration("-1s").unwrap_err(), expected);
    assert_eq!(
        parse_duration("5sec").unwrap_err(),
        "unknown unit \"sec\"; use ms, s, m or h"
    );
    assert_eq!(
        parse_duration("5S").unwrap_err(),
        "unknown unit \"S\"; use ms, s, m or h"
    );
    assert_eq!(
        parse_duration("0.5s").unwrap_err(),
        "expected a whole number; use a smaller unit, e.g. \"1500ms\" for 1.5s"
    );
    assert_eq!(
        parse_duration("18446744073709551615h").unwrap_err(),
        "the duration is too long"
    );
}

// Backoff and lifetime

#[test]
fn backoff_delay_doubles_from_backoff_min() {
    let config = PoolConfig::new("host=db").unwrap(); // 10ms .. 1s
    let expected = [10, 20, 40, 80, 160, 320, 640, 1000, 1000];
    for (attempt, want) in expected.into_iter().enumerate() {
        assert_eq!(
            config.backoff_delay(attempt as u32, 0.5),
            ms(want),
            "attempt {attempt}"
        );
    }
}

#[test]
fn backoff_delay_is_capped_at_backoff_max() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .backoff(ms(100), ms(300));
    for attempt in [2, 3, 10, 31, 32, 64, u32::MAX] {
        for r in [0.5, 0.75, 1.0] {
            assert_eq!(
                config.backoff_delay(attempt, r),
                ms(300),
                "attempt {attempt}"
            );
        }
    }
    // Past the cap the low side of the jitter still applies: 300ms * 0.8.
    assert_eq!(config.backoff_delay(u32::MAX, 0.0), ms(240));
}

#[test]
fn backoff_delay_jitter_stays_within_twenty_percent() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .backoff(ms(100), secs(10));
    assert_eq!(config.backoff_delay(0, 0.0), ms(80));
    assert_eq!(config.backoff_delay(0, 1.0), ms(120));
    assert_eq!(config.backoff_delay(2, 0.0), ms(320));
    assert_eq!(config.backoff_delay(2, 1.0), ms(480));
    for step in 0..=100 {
        let r = f64::from(step) / 100.0;
        for attempt in 0..12 {
            let base = ms(100 * (1u64 << attempt)).min(secs(10));
            let delay = config.backoff_delay(attempt, r);
            assert!(
                delay >= base.mul_f64(0.8) - ms(1),
                "{attempt} {r}: {delay:?}"
            );
            assert!(
                delay <= base.mul_f64(1.2) + ms(1),
                "{attempt} {r}: {delay:?}"
            );
            assert!(delay <= secs(10), "{attempt} {r}: {delay:?}");
        }
    }
}

#[test]
fn backoff_delay_clamps_odd_random_numbers() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .backoff(ms(100), secs(10));
    assert_eq!(config.backoff_delay(0, -3.0), ms(80));
    assert_eq!(config.backoff_delay(0, 7.0), ms(120));
    assert_eq!(config.backoff_delay(0, f64::NAN), ms(100));
    assert_eq!(config.backoff_delay(0, f64::INFINITY), ms(120));
}

#[test]
fn backoff_delay_survives_extreme_settings() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .backoff(Duration::MAX, Duration::MAX);
    assert!(config.backoff_delay(u32::MAX, 1.0) <= Duration::MAX);
    let config = PoolConfig::new("host=db")
        .unwrap()
        .backoff(Duration::ZERO, Duration::ZERO);
    assert_eq!(config.backoff_delay(5, 1.0), Duration::ZERO);
}

#[test]
fn lifetime_for_adds_a_share_of_the_jitter() {
    let config = PoolConfig::new("host=db")
        .unwrap()
        .max_lifetime(Some(secs(100)))
        .lifetime_jitter(secs(10));
    assert_eq!(config.lifetime_for(0.0), Some(secs(100)));
    assert_eq!(config.lifetime_for(0.5), Some(secs(105)));
    assert_eq!(config.lifetime_for(1.0), Some(secs(110)));
    assert_eq!(config.lifetime_for(2.0), Some(secs(110)));
    assert_eq!(config.lifetime_for(-1.0), Some(secs(100)));
    let no_jitter = config.clone().lifetime_jitter(Duration::ZERO);
    assert_eq!(no_jitter.lifetime_for(0.9), Some(secs(100)));
    let off = config.max_lifetime(None);
    assert_eq!(off.lifetime_for(0.5), None);
    let huge = PoolConfig::new("host=db")
        .unwrap()
        .max_lifetime(Some(Duration::MAX))
        .lifetime_jitter(Duration::MAX);
    assert_eq!(huge.lifetime_for(1.0), Some(Duration::MAX));
}

// The password

#[test]
fn debug_hides_the_password() {
    let config = PoolConfig::new(URL).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(shown.contains("max_in_flight: 128"), "{shown}");
    let shown = format!("{config:#?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn errors_never_show_the_password() {
    let password_url = "postgres://app:s3cret@db.example/orders";
    let bad_urls = [
        "postgres://app:s3cret@db.example:notaport/orders",
        "mysql://app:s3cret@db.example/orders",
        "postgres://app:s3cret@db.example/orders?sslmode=bogus",
        "host=db password=s3cret port=nope",
    ];
    for url in bad_urls {
        let errors = [
            PoolConfig::new(url).unwrap_err().to_string(),
            message(toml(&format!("url = {url:?}"))),
            message(PoolConfig::from_vars(vars(&[("DATABASE_URL", url)]))),
        ];
        for err in errors {
            assert!(!err.contains("s3cret"), "{err}");
        }
    }
    // A valid URL next to an invalid value is not shown either.
    let err = message(toml(&format!("url = {password_url:?}\nconnections = 0")));
    assert!(!err.contains("s3cret"), "{err}");
    let err = message(PoolConfig::from_vars(vars(&[
        ("DATABASE_URL", password_url),
        ("LIFEGUARD_CONNECTIONS", "x"),
    ])));
    assert!(!err.contains("s3cret"), "{err}");
}
