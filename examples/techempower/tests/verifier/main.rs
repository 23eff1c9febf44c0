//! What TechEmpower's verifier checks, run against the service binary over HTTP: the
//! headers of every test (`Server`, `Date`, `Content-Length`, the `Content-Type` of
//! each), the JSON shapes, the `queries` parameter's edge cases, that `/updates` stores
//! what it answers (the table read before and after), the exact fortunes document; and
//! beyond it, a database error answered as a 500, a graceful shutdown that finishes the
//! request in flight, and the service's own PostgreSQL when `DATABASE_URL` is unset.
//!
//! Each test starts the service on a fresh database of the test server
//! (`lifeguard-harness`: `DATABASE_URL`, or a private cluster).

mod client;
mod html;
mod service;

use std::collections::HashMap;
use std::time::Duration;

use lifeguard::pg::{Config, Connection};
use serde_json::Value;

use client::{Connection as Http, Reply, get};
use service::Service;

/// The `queries` values the verifier sends, with the number of rows each must give.
const QUERIES_CASES: [(&str, usize); 6] = [
    ("2", 2),
    ("0", 1),
    ("foo", 1),
    ("501", 500),
    ("", 1),
    ("20", 20),
];

/// How long a shutdown may take: drain, pool close, exit.
const STOP_BOUND: Duration = Duration::from_secs(30);

/// The service on a fresh database of the test server; the database's URL.
fn service() -> (Service, String) {
    let url = lifeguard_harness::test_server().fresh_database("techempower");
    (Service::start(Some(&url)), url)
}

/// The whole `world` table: id → randomnumber.
fn world_table(url: &str) -> HashMap<i64, i64> {
    let out = lifeguard_harness::psql(url, "SELECT id, randomnumber FROM world ORDER BY id")
        .expect("read world");
    out.lines()
        .map(|line| {
            let (id, number) = line.split_once('|').expect("id|randomnumber");
            (id.parse().expect("id"), number.parse().expect("number"))
        })
        .collect()
}

/// The headers every test must have, and its `Content-Type`.
fn assert_headers(reply: &Reply, content_type: &str) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(!reply.header("Server").is_empty(), "{reply:?}");
    let date = reply.header("Date");
    assert!(date.ends_with(" GMT") && date.len() == 29, "Date {date:?}");
    assert_eq!(reply.header("Content-Length"), reply.body.len().to_string());
    assert_eq!(
        reply.header("Content-Type").to_ascii_lowercase(),
        content_type,
        "{reply:?}"
    );
}

/// A world object as the rules spell it (`id` and `randomNumber`, integers in
/// 1..=10,000, nothing else); its two values.
fn world_object(value: &Value) -> (i64, i64) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "randomNumber"], "{value}");
    let field = |key: &str| {
        let n = object[key]
            .as_i64()
            .unwrap_or_else(|| panic!("{key} is not an integer: {value}"));
        assert!((1..=10_000).contains(&n), "{key} out of range: {value}");
        n
    };
    (field("id"), field("randomNumber"))
}

/// The rows of a `/queries` or `/updates` answer, checked for shape and length.
fn world_array(reply: &Reply, len: usize) -> Vec<(i64, i64)> {
    assert_headers(reply, "application/json");
    let value = reply.json();
    let rows = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"));
    assert_eq!(rows.len(), len, "{value}");
    rows.iter().map(world_object).collect()
}

#[test]
fn json_and_plaintext() {
    let (service, _url) = service();
    let json = get(&service.addr, "/json");
    assert_headers(&json, "application/json");
    assert_eq!(json.json(), serde_json::json!({"message": "Hello, World!"}));

    let text = get(&service.addr, "/plaintext");
    assert_headers(&text, "text/plain");
    assert_eq!(text.text(), "Hello, World!");

    // Many requests on one kept-open connection, as wrk sends them.
    let mut connection = Http::open(&service.addr).expect("connect");
    for _ in 0..20 {
        let reply = connection.get("/plaintext").expect("GET /plaintext");
        assert_eq!(reply.text(), "Hello, World!");
    }
    let missing = get(&service.addr, "/nope");
    assert_eq!(missing.status, 404, "{missing:?}");
}

#[test]
fn db_and_queries_answer_rows_of_the_table() {
    let (service, url) = service();
    let table = world_table(&url);
    assert_eq!(table.len(), 10_000);

    for _ in 0..20 {
        let reply = get(&service.addr, "/db");
        assert_headers(&reply, "application/json");
        let (id, number) = world_object(&reply.json());
        assert_eq!(
            table[&id], number,
            "/db answered a number the row does not hold"
        );
    }
    for (queries, len) in QUERIES_CASES {
        let reply = get(&service.addr, &format!("/queries?queries={queries}"));
        for (id, number) in world_array(&reply, len) {
            assert_eq!(table[&id], number, "/queries?queries={queries}: row {id}");
        }
    }
    let reply = get(&service.addr, "/queries");
    world_array(&reply, 1);
}

#[test]
fn updates_store_what_they_answer() {
    let (service, url) = service();
    let before = world_table(&url);
    // The number each touched id must hold now: the last answer that named it.
    let mut answered: HashMap<i64, i64> = HashMap::new();
    let cases = QUERIES_CASES
        .iter()
        .copied()
        .chain(std::iter::repeat_n(("20", 20), 5));
    for (queries, len) in cases {
        let reply = get(&service.addr, &format!("/updates?queries={queries}"));
        let rows = world_array(&reply, len);
        let mut in_this_answer: HashMap<i64, i64> = HashMap::new();
        for (id, number) in rows {
            if let Some(earlier) = in_this_answer.insert(id, number) {
                assert_eq!(earlier, number, "one answer gives row {id} two numbers");
            }
            answered.insert(id, number);
        }
    }
    let after = world_table(&url);
    assert_eq!(after.len(), 10_000);
    for (id, number) in &answered {
        assert_eq!(
            after[id], *number,
            "row {id} does not hold what /updates answered"
        );
    }
    let changed = answered.keys().filter(|id| before[id] != after[id]).count();
    assert!(
        changed * 10 >= answered.len() * 9,
        "only {changed} of the {} rows /updates touched changed",
        answered.len()
    );
    let elsewhere = after
        .iter()
        .filter(|(id, number)| !answered.contains_key(id) && before[id] != **number)
        .count();
    assert_eq!(elsewhere, 0, "rows /updates did not answer changed");
}

/// The fortunes page the rules give, in the compared form (see `html`).
const FORTUNES: &str = concat!(
    "<!doctype html><html><head><title>Fortunes</title></head><body><table>",
    "<tr><th>id</th><th>message</th></tr>",
    "<tr><td>11</td><td>&lt;script&gt;alert(&quot;This should not be displayed in a browser alert box.&quot;);&lt;/script&gt;</td></tr>",
    "<tr><td>4</td><td>A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1</td></tr>",
    "<tr><td>5</td><td>A computer program does what you tell it to do, not what you want it to do.</td></tr>",
    "<tr><td>2</td><td>A computer scientist is someone who fixes things that aren&apos;t broken.</td></tr>",
    "<tr><td>8</td><td>A list is only as strong as its weakest link. — Donald Knuth</td></tr>",
    "<tr><td>0</td><td>Additional fortune added at request time.</td></tr>",
    "<tr><td>3</td><td>After enough decimal places, nobody gives a damn.</td></tr>",
    "<tr><td>7</td><td>Any program that runs right is obsolete.</td></tr>",
    "<tr><td>10</td><td>Computers make very fast, very accurate mistakes.</td></tr>",
    "<tr><td>6</td><td>Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen</td></tr>",
    "<tr><td>9</td><td>Feature: A bug with seniority.</td></tr>",
    "<tr><td>1</td><td>fortune: No such file or directory</td></tr>",
    "<tr><td>12</td><td>フレームワークのベンチマーク</td></tr>",
    "</table></body></html>",
);

#[test]
fn fortunes_is_the_document_the_rules_give() {
    let (service, _url) = service();
    for _ in 0..3 {
        let reply = get(&service.addr, "/fortunes");
        assert_headers(&reply, "text/html; charset=utf-8");
        assert_eq!(html::normalise(reply.text()), FORTUNES, "{}", reply.text());
        assert!(
            !reply.text().contains("<script>"),
            "the <script> row is not escaped"
        );
    }
}

#[test]
fn a_database_error_is_a_500_and_the_service_goes_on() {
    let (service, url) = service();
    assert_eq!(get(&service.addr, "/fortunes").status, 200);
    lifeguard_harness::psql(&url, "DROP TABLE fortune").expect("drop fortune");
    let reply = get(&service.addr, "/fortunes");
    assert_eq!(reply.status, 500, "{reply:?}");
    assert_eq!(reply.text(), "database error\n");
    assert_eq!(reply.header("Content-Type"), "text/plain");
    assert!(!reply.header("Server").is_empty());
    assert_eq!(
        get(&service.addr, "/db").status,
        200,
        "{}",
        service.output()
    );
}

#[test]
fn shutdown_finishes_the_request_in_flight() {
    let (mut service, url) = service();
    // A connection opened (and served) before the signal.
    let mut kept = Http::open(&service.addr).expect("connect");
    assert_eq!(kept.get("/plaintext").expect("served").status, 200);

    // A /fortunes request held in flight by a lock on its table.
    let mut locker = Connection::connect(&url.parse::<Config>().expect("url")).expect("connect");
    locker
        .batch_execute("BEGIN; LOCK TABLE fortune IN ACCESS EXCLUSIVE MODE")
        .expect("lock fortune");
    let addr = service.addr.clone();
    let in_flight = std::thread::spawn(move || get(&addr, "/fortunes"));
    let waiting = "SELECT count(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND query LIKE '%FROM fortune%'";
    wait_until(
        Duration::from_secs(30),
        "the /fortunes request waits for the lock",
        || lifeguard_harness::psql(&url, waiting).is_ok_and(|n| n == "1"),
    );

    service.terminate();
    wait_until(
        Duration::from_secs(30),
        "new connections are refused",
        || Http::open(&service.addr).is_err(),
    );
    let refused = kept.get("/json").expect("an answer on the kept connection");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(service.is_running(), "it exited with a request in flight");

    locker.batch_execute("COMMIT").expect("unlock fortune");
    let reply = in_flight.join().expect("the request thread");
    assert_headers(&reply, "text/html; charset=utf-8");
    assert_eq!(html::normalise(reply.text()), FORTUNES);

    let status = service.wait_exit(STOP_BOUND).expect("it stops");
    assert!(status.success(), "{status}\n{}", service.output());
    service.wait_for_stdout("stopped", Duration::from_secs(5));
}

#[test]
fn without_database_url_it_starts_its_own_postgres() {
    let mut service = Service::start(None);
    let line = service.wait_for_stderr("database: ", Duration::from_secs(5));
    let url = line.trim_start_matches("database: ");
    let counts = lifeguard_harness::psql(
        url,
        "SELECT (SELECT count(*) FROM world), (SELECT count(*) FROM fortune)",
    )
    .expect("count the rows");
    assert_eq!(counts, "10000|12");
    let reply = get(&service.addr, "/db");
    assert_headers(&reply, "application/json");
    world_object(&reply.json());

    service.terminate();
    let status = service.wait_exit(STOP_BOUND).expect("it stops");
    assert!(status.success(), "{status}\n{}", service.output());
    wait_until(
        Duration::from_secs(30),
        "its PostgreSQL stops with it",
        || lifeguard_harness::psql(url, "SELECT 1").is_err(),
    );
}

/// Polls `condition` until it holds; fails the test after `bound`.
fn wait_until(bound: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    lifeguard_harness::wait_until(what, bound, || Ok(condition()))
        .unwrap_or_else(|e| panic!("{e}"));
}
