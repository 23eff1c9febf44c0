//! The `/metrics` endpoint as Prometheus sees it: `lifeguard::metrics::serve` on the
//! default registry, scraped over HTTP while coroutines load the pool, each scrape
//! parsed. Every series is there in every scrape and counters never go down; once the
//! load is over, the query counters equal the queries run by outcome, the duration
//! histograms count exactly the queries timed, and the wait histograms the waits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lifeguard::{Pool, query};
use lifeguard_suite::scrape::{Sample, free_port, http_get, matching, parse, sum};

/// Coroutines, and the iterations each runs.
const CALLERS: usize = 8;
const ITERATIONS: usize = 60;
/// Every series a pool without replicas exports.
const SERIES: &[&str] = &[
    "lifeguard_queries_total",
    "lifeguard_query_duration_seconds_bucket",
    "lifeguard_query_duration_seconds_sum",
    "lifeguard_query_duration_seconds_count",
    "lifeguard_coroutine_wait_seconds_bucket",
    "lifeguard_coroutine_wait_seconds_count",
    "lifeguard_pool_queue_depth",
    "lifeguard_pool_connections",
    "lifeguard_in_flight",
    "lifeguard_connection_errors_total",
    "lifeguard_reconnects_total",
    "lifeguard_acquire_timeouts_total",
    "lifeguard_statement_cache_total",
    "lifeguard_read_retries_total",
];
/// What one scrape or the whole test may take at most.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// One caller's iterations: a checked read each time, a failing statement every 5th,
/// a transaction with one statement every 10th.
fn caller(pool: &Pool, me: usize) -> Result<(), String> {
    for i in 0..ITERATIONS {
        let name = lifeguard::query!("SELECT name FROM users WHERE id = $1", 1)
            .fetch_one(pool)
            .map_err(|e| format!("caller {me}: {e}"))?;
        if name.name != "ada" {
            return Err(format!("caller {me}: read {:?}", name.name));
        }
        if i.is_multiple_of(5) && query("SELECT 1 / 0").execute(pool).is_ok() {
            return Err(format!("caller {me}: division by zero succeeded"));
        }
        if i.is_multiple_of(10) {
            pool.transaction(|tx| query("SELECT 1").execute(tx))
                .map_err(|e| format!("caller {me}: transaction: {e}"))?;
        }
    }
    Ok(())
}

fn scrape(addr: SocketAddr) -> Vec<Sample> {
    let (status, body) = http_get(addr, "/metrics", SCRAPE_TIMEOUT).expect("scrape /metrics");
    assert_eq!(status, 200, "{body}");
    parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// Checks that every series is in `samples`, and that no counter went below `earlier`.
fn check_scrape(samples: &[Sample], earlier: &[Sample]) {
    for series in SERIES {
        assert!(
            samples.iter().any(|s| s.name == *series),
            "{series} missing from a scrape"
        );
    }
    for old in earlier.iter().filter(|s| {
        s.name.ends_with("_total") || s.name.ends_with("_count") || s.name.ends_with("_bucket")
    }) {
        let now = samples
            .iter()
            .find(|s| s.name == old.name && s.labels == old.labels)
            .unwrap_or_else(|| panic!("{} {:?} vanished", old.name, old.labels));
        assert!(now.value >= old.value, "{old:?} went down to {}", now.value);
    }
}

#[test]
fn the_endpoint_counts_every_query_while_under_load() {
    let pool =
        lifeguard_suite::schema_pool("metrics", "INSERT INTO users (id, name) VALUES (1, 'ada')");
    pool.register_metrics(lifeguard::metrics::prometheus::default_registry())
        .expect("register the pool's series");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _server = lifeguard::metrics::serve(addr).expect("serve /metrics");

    let (tx, rx) = may::sync::mpsc::channel();
    for me in 0..CALLERS {
        let (pool, tx) = (pool.clone(), tx.clone());
        may::go!(move || {
            let _ = tx.send(caller(&pool, me));
        });
    }
    let deadline = Instant::now() + LOAD_TIMEOUT;
    let mut previous = scrape(addr);
    let mut scrapes = 1;
    let mut finished = 0;
    while finished < CALLERS {
        assert!(
            Instant::now() < deadline,
            "the load did not end within {LOAD_TIMEOUT:?}"
        );
        if let Ok(result) = rx.recv_timeout(Duration::from_millis(20)) {
            result.expect("a caller failed");
            finished += 1;
        }
        let samples = scrape(addr);
        check_scrape(&samples, &previous);
        previous = samples;
        scrapes += 1;
    }
    assert!(
        scrapes > 2,
        "only {scrapes} scrapes happened during the load"
    );

    let samples = scrape(addr);
    check_scrape(&samples, &previous);
    let reads = CALLERS * ITERATIONS;
    let failures = CALLERS * ITERATIONS.div_ceil(5);
    let transactions = CALLERS * ITERATIONS.div_ceil(10);
    let server = pool.server_stats()[0].name.clone();
    let on = |outcome: &str| {
        sum(
            &samples,
            "lifeguard_queries_total",
            &[
                ("server", &server),
                ("route", "primary"),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(on("ok") as usize, reads + transactions, "queries that ran");
    assert_eq!(
        on("db_error") as usize,
        failures,
        "queries the server refused"
    );
    for outcome in ["timeout", "connection", "client"] {
        assert_eq!(on(outcome), 0.0, "outcome {outcome}");
    }
    assert_eq!(
        sum(&samples, "lifeguard_queries_total", &[("route", "replica")]),
        0.0
    );
    let timed = sum(
        &samples,
        "lifeguard_query_duration_seconds_count",
        &[("server", &server), ("route", "primary")],
    );
    assert_eq!(
        timed as usize,
        reads + transactions + failures,
        "queries timed"
    );
    let inf = sum(
        &samples,
        "lifeguard_query_duration_seconds_bucket",
        &[("server", &server), ("route", "primary"), ("le", "+Inf")],
    );
    assert_eq!(inf, timed, "the +Inf bucket holds every observation");
    let waits = |kind: &str| {
        sum(
            &samples,
            "lifeguard_coroutine_wait_seconds_count",
            &[("kind", kind)],
        ) as usize
    };
    assert_eq!(waits("pipelining"), reads + failures, "waits for room");
    assert_eq!(
        waits("exclusive"),
        transactions,
        "waits for an exclusive connection"
    );

    let stats = pool.stats();
    let gauge = |name: &str, labels: &[(&str, &str)]| sum(&samples, name, labels);
    assert_eq!(
        gauge("lifeguard_pool_connections", &[("state", "shared")]),
        2.0
    );
    assert_eq!(
        gauge("lifeguard_pool_connections", &[("state", "exclusive_idle")]) as usize,
        stats.exclusive_open
    );
    assert_eq!(gauge("lifeguard_pool_queue_depth", &[]), 0.0);
    assert_eq!(gauge("lifeguard_in_flight", &[("server", &server)]), 0.0);
    assert_eq!(gauge("lifeguard_acquire_timeouts_total", &[]), 0.0);
    assert_eq!(gauge("lifeguard_reconnects_total", &[]), 0.0);
    assert_eq!(gauge("lifeguard_connection_errors_total", &[]), 0.0);
    assert_eq!(gauge("lifeguard_read_retries_total", &[]), 0.0);
    let cache =
        |result: &str| gauge("lifeguard_statement_cache_total", &[("result", result)]) as u64;
    assert_eq!(
        (cache("hit"), cache("miss")),
        (stats.cache_hits, stats.cache_misses)
    );
    assert!(cache("hit") > 0, "the checked read was found prepared");

    // Bounded labels: each takes only the values the docs list.
    for sample in matching(&samples, "lifeguard_queries_total", &[]) {
        for (label, value) in &sample.labels {
            let allowed: &[&str] = match label.as_str() {
                "server" => &[server.as_str()],
                "route" => &["primary", "replica"],
                "outcome" => &["ok", "db_error", "timeout", "connection", "client"],
                other => panic!("unexpected label {other}"),
            };
            assert!(allowed.contains(&value.as_str()), "{label}={value}");
        }
    }

    let (status, _) = http_get(addr, "/nothing", SCRAPE_TIMEOUT).expect("GET /nothing");
    assert_eq!(status, 404);
}
