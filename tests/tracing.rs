//! Spans as a subscriber sees them (lifeguard feature `tracing`): names, fields and
//! parents of the query, acquire and transaction spans, on success, on server errors
//! and on timeouts; and no bound value in any span, event, `log` record or metric.
//!
//! The recording subscriber is installed globally (coroutines run on may's worker
//! threads, where a scoped one would not be seen) once per process; each test tells
//! its spans from other tests' by `db.namespace`, the fresh database it made.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use lifeguard::{Error, Pool, PoolConfig, query};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span as recorded.
#[derive(Debug, Clone)]
struct SpanRecord {
    id: u64,
    name: String,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

/// Everything the subscriber and the logger saw.
#[derive(Default)]
struct Seen {
    spans: Vec<SpanRecord>,
    events: Vec<String>,
    logs: Vec<String>,
}

fn seen() -> &'static Mutex<Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, Seen> {
    seen().lock().unwrap_or_else(|p| p.into_inner())
}

thread_local! {
    /// Spans entered on this thread, innermost last.
    static ENTERED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct Recorder {
    next: AtomicU64,
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let parent = match attrs.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if attrs.is_contextual() => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        lock().spans.push(SpanRecord {
            id,
            name: attrs.metadata().name().to_owned(),
            parent,
            fields,
        });
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = lock();
        if let Some(record) = seen.spans.iter_mut().find(|s| s.id == span.into_u64()) {
            values.record(&mut Fields(&mut record.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        lock()
            .events
            .push(format!("{} {fields:?}", event.metadata().target()));
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, _: &Id) {
        ENTERED.with(|e| e.borrow_mut().pop());
    }
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        lock()
            .logs
            .push(format!("{} {}", record.target(), record.args()));
    }

    fn flush(&self) {}
}

/// Installs the recorder and the logger, once per process.
fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing::subscriber::set_global_default(Recorder {
            next: AtomicU64::new(1),
        })
        .expect("no other global subscriber");
        log::set_boxed_logger(Box::new(Logger)).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The spans of the database `namespace` and the spans under them.
fn spans_of(namespace: &str) -> Vec<SpanRecord> {
    let all = lock().spans.clone();
    let mut ours: Vec<SpanRecord> = all
        .iter()
        .filter(|s| s.fields.get("db.namespace").map(String::as_str) == Some(namespace))
        .cloned()
        .collect();
    loop {
        let more: Vec<SpanRecord> = all
            .iter()
            .filter(|s| {
                s.parent.is_some_and(|p| ours.iter().any(|o| o.id == p))
                    && !ours.iter().any(|o| o.id == s.id)
            })
            .cloned()
            .collect();
        if more.is_empty() {
            ours.sort_by_key(|s| s.id);
            return ours;
        }
        ours.extend(more);
    }
}

fn database(url: &str) -> String {
    lifeguard::pg::Config::parse(url)
        .expect("the harness's URL")
        .dbname_or_default()
}

fn field<'a>(span: &'a SpanRecord, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

/// The one span named `name` among `spans` whose fields include `with`.
fn only<'a>(spans: &'a [SpanRecord], name: &str, with: &[(&str, &str)]) -> &'a SpanRecord {
    let found: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.name == name && with.iter().all(|(k, v)| field(s, k) == Some(*v)))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "spans named {name} with {with:?}: {spans:#?}"
    );
    found[0]
}

fn children<'a>(spans: &'a [SpanRecord], parent: &SpanRecord) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|s| s.parent == Some(parent.id))
        .collect()
}

#[test]
fn spans_follow_the_database_conventions_on_success_and_failure() {
    install();
    let url = lifeguard_suite::schema_database("spans");
    lifeguard_harness::psql(&url, "INSERT INTO users (id, name) VALUES (1, 'ada')")
        .expect("insert a user");
    let namespace = database(&url);
    let pool = Pool::new(
        PoolConfig::new(&url)
            .expect("url")
            .connections(1)
            .max_exclusive(1)
            .acquire_timeout(Duration::from_millis(300)),
    )
    .expect("pool");

    let user = lifeguard::query!("SELECT name FROM users WHERE id = $1", 1)
        .fetch_one(&pool)
        .expect("read");
    assert_eq!(user.name, "ada");
    lifeguard::query!("UPDATE users SET name = $1 WHERE id = $2", "grace", 1)
        .execute(&pool)
        .expect("update");
    let refused = query("SELECT 1 / 0")
        .execute(&pool)
        .expect_err("division by zero");
    assert_eq!(refused.code(), Some("22012"));
    pool.transaction(|tx| {
        lifeguard::query!("SELECT name FROM users WHERE id = $1", 1)
            .fetch_one(tx)
            .map(drop)
    })
    .expect("a transaction");
    let mut tx = pool.begin().expect("begin");
    let _ = query("SELECT 1 / 0").execute(&mut tx);
    assert!(matches!(tx.commit(), Err(Error::RolledBack { .. })));
    // The only exclusive connection is lent: the next transaction cannot start.
    let held = pool.acquire().expect("acquire");
    let timed_out = pool.begin().map(drop).expect_err("no exclusive connection");
    assert_eq!(timed_out.timeout(), Some(lifeguard::pg::Timeout::Acquire));
    drop(held);
    // A span the caller entered (on a plain thread, where that is safe) is the parent.
    let request = tracing::info_span!("request");
    request.in_scope(|| query("SELECT 2").execute(&pool).expect("select"));

    let spans = spans_of(&namespace);
    let address = pool.server_stats()[0]
        .name
        .rsplit_once(':')
        .unwrap()
        .0
        .to_owned();
    let port = pool.server_stats()[0]
        .name
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();

    let sql = "SELECT name FROM users WHERE id = $1";
    let reads: Vec<&SpanRecord> = spans.iter().filter(|s| s.name == "SELECT users").collect();
    assert_eq!(reads.len(), 2, "{spans:#?}");
    let read = reads
        .iter()
        .find(|s| s.parent.is_none())
        .expect("the autocommit read");
    for (name, value) in [
        ("db.system.name", "postgresql"),
        ("db.namespace", namespace.as_str()),
        ("db.operation.name", "SELECT"),
        ("db.collection.name", "users"),
        ("db.query.text", sql),
        ("db.query.summary", "SELECT users"),
        ("server.address", address.as_str()),
        ("server.port", port.as_str()),
        ("lifeguard.route", "primary"),
    ] {
        assert_eq!(field(read, name), Some(value), "{name} of {read:#?}");
    }
    assert_eq!(field(read, "error.type"), None);
    assert_eq!(field(read, "db.response.status_code"), None);
    let waits = children(&spans, read);
    assert_eq!(waits.len(), 1, "{waits:#?}");
    assert_eq!(waits[0].name, "lifeguard.acquire");
    assert_eq!(field(waits[0], "lifeguard.wait"), Some("pipelining"));

    let update = only(&spans, "UPDATE users", &[]);
    assert_eq!(field(update, "db.operation.name"), Some("UPDATE"));
    assert_eq!(field(update, "db.collection.name"), Some("users"));

    // SQL built at run time: no summary, and the server's error.
    let autocommit: Vec<SpanRecord> = spans
        .iter()
        .filter(|s| s.parent.is_none())
        .cloned()
        .collect();
    let division = only(
        &autocommit,
        "postgresql",
        &[("db.query.text", "SELECT 1 / 0"), ("error.type", "22012")],
    );
    assert_eq!(field(division, "db.response.status_code"), Some("22012"));
    assert_eq!(field(division, "db.query.summary"), None);
    assert_eq!(field(division, "db.operation.name"), None);

    // The committed transaction: its acquire and its query are its children.
    let committed = only(
        &spans,
        "lifeguard.transaction",
        &[("lifeguard.end", "commit")],
    );
    let under: Vec<&str> = children(&spans, committed)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(under, ["lifeguard.acquire", "SELECT users"], "{spans:#?}");
    assert_eq!(
        field(children(&spans, committed)[0], "lifeguard.wait"),
        Some("exclusive")
    );
    // The one whose statement failed rolled back.
    let rolled_back = only(
        &spans,
        "lifeguard.transaction",
        &[("lifeguard.end", "rollback")],
    );
    assert_eq!(field(rolled_back, "error.type"), Some("rolled_back"));
    let failed = children(&spans, rolled_back);
    assert!(
        failed
            .iter()
            .any(|s| field(s, "error.type") == Some("22012")),
        "{failed:#?}"
    );
    // The one that never got a connection.
    let never = only(
        &spans,
        "lifeguard.transaction",
        &[("lifeguard.end", "begin")],
    );
    assert_eq!(field(never, "error.type"), Some("timeout"));
    let acquire = children(&spans, never);
    assert_eq!(acquire.len(), 1);
    assert_eq!(field(acquire[0], "error.type"), Some("timeout"));

    // The caller's span is the parent of the query it ran inside.
    let parent = only(&spans, "postgresql", &[("db.query.text", "SELECT 2")]).parent;
    let all = lock().spans.clone();
    let request = all.iter().find(|s| Some(s.id) == parent).expect("a parent");
    assert_eq!(request.name, "request");
}

#[test]
fn a_query_that_times_out_waiting_for_room_says_so() {
    install();
    let url = lifeguard_suite::schema_database("spans_timeout");
    let namespace = database(&url);
    let pool = Pool::new(
        PoolConfig::new(&url)
            .expect("url")
            .connections(1)
            .max_in_flight(1)
            .acquire_timeout(Duration::from_millis(200)),
    )
    .expect("pool");
    query("SELECT 1").execute(&pool).expect("the pool connects");
    let (tx, rx) = may::sync::mpsc::channel();
    let busy = pool.clone();
    may::go!(move || {
        let _ = tx.send(query("SELECT pg_sleep(1)").execute(&busy));
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pool.stats().in_flight == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleep never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let late = query("SELECT 3").execute(&pool).expect_err("no room");
    assert_eq!(late.timeout(), Some(lifeguard::pg::Timeout::Acquire));
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the sleep ended")
        .expect("the sleep ran");

    let spans = spans_of(&namespace);
    let span = only(&spans, "postgresql", &[("db.query.text", "SELECT 3")]);
    assert_eq!(field(span, "error.type"), Some("timeout"));
    assert_eq!(field(span, "db.response.status_code"), None);
    let acquire = children(&spans, span);
    assert_eq!(acquire.len(), 1);
    assert_eq!(field(acquire[0], "error.type"), Some("timeout"));
}

#[test]
fn no_bound_value_reaches_a_span_an_event_a_log_line_or_a_metric() {
    install();
    const MARKER: &str = "MARKER-7f3a1c-bound-value";
    let url = lifeguard_suite::schema_database("spans_marker");
    lifeguard_harness::psql(&url, "INSERT INTO users (id, name) VALUES (1, 'ada')")
        .expect("insert a user");
    let namespace = database(&url);
    let pool = Pool::new(PoolConfig::new(&url).expect("url").connections(1)).expect("pool");
    let registry = lifeguard::metrics::prometheus::Registry::new();
    pool.register_metrics_with(
        &registry,
        lifeguard::metrics::Options::new().statement_label(true),
    )
    .expect("register");
    let marker = MARKER.to_owned();

    lifeguard::query!("UPDATE users SET name = $1 WHERE id = $2", &marker, 1)
        .execute(&pool)
        .expect("update");
    let echoed = query("SELECT $1::text")
        .bind(&marker)
        .fetch_one(&pool)
        .expect("echo");
    assert_eq!(echoed.get::<String>(0).expect("text"), MARKER);
    // The server quotes the value in its error message: the message must stay out.
    let refused = query("SELECT $1::text::int4")
        .bind(&marker)
        .execute(&pool)
        .expect_err("not a number");
    assert!(refused.to_string().contains(MARKER), "{refused}");
    let rolled_back =
        pool.transaction(|tx| query("SELECT $1::text::int4").bind(&marker).execute(tx));
    assert!(rolled_back.is_err());
    let mut tx = pool.begin().expect("begin");
    let _ = query("SELECT $1::text::int4")
        .bind(&marker)
        .execute(&mut tx);
    let commit = tx.commit().expect_err("rolled back");
    assert!(commit.to_string().contains(MARKER), "{commit}");

    let spans = spans_of(&namespace);
    assert!(spans.len() >= 5, "{spans:#?}");
    assert!(
        spans
            .iter()
            .any(|s| field(s, "error.type") == Some("22P02"))
    );
    let seen = lock();
    for span in &spans {
        assert!(
            !format!("{span:?}").contains(MARKER),
            "a span holds the value: {span:#?}"
        );
    }
    for line in seen.events.iter().chain(&seen.logs) {
        assert!(
            !line.contains(MARKER),
            "an event or log line holds the value: {line}"
        );
    }
    drop(seen);
    let text = lifeguard::metrics::encode(&registry).expect("encode");
    assert!(text.contains("lifeguard_queries_total"), "{text}");
    assert!(!text.contains(MARKER), "a metric holds the value:\n{text}");
}

/// A statement routed as a read that the replica refuses (`nextval` writes: SQLSTATE
/// 25006) never ran there, so it runs once more on the primary: two query spans, the
/// replica's with the error and the primary's without, and one retry in the stats.
#[test]
fn a_read_retried_on_the_primary_shows_both_attempts() {
    install();
    let primary = lifeguard_harness::Cluster::start().expect("a primary");
    primary
        .psql("postgres", "CREATE SEQUENCE retried_seq")
        .expect("a sequence");
    let standby = primary.start_standby().expect("a standby");
    let pool = Pool::new(
        PoolConfig::new(&primary.url())
            .expect("url")
            .replica(&standby.url())
            .expect("standby url")
            .connections(1)
            .replica_poll_interval(Duration::from_millis(50)),
    )
    .expect("pool");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !pool
        .server_stats()
        .iter()
        .any(|s| s.role == lifeguard::Role::Replica && s.eligible)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            pool.server_stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let sql = "SELECT nextval('retried_seq')";
    let value: i64 = query(sql)
        .on_replica()
        .fetch_one(&pool)
        .expect("ran on the primary")
        .get(0)
        .expect("a number");
    assert_eq!(value, 1, "it ran once");

    let spans = spans_of("postgres");
    let attempts: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| field(s, "db.query.text") == Some(sql))
        .collect();
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    let (first, second) = (attempts[0], attempts[1]);
    assert_eq!(field(first, "lifeguard.route"), Some("replica"));
    assert_eq!(
        field(first, "server.port"),
        Some(standby.port().to_string().as_str())
    );
    assert_eq!(field(first, "error.type"), Some("25006"));
    assert_eq!(field(first, "db.response.status_code"), Some("25006"));
    assert_eq!(field(second, "lifeguard.route"), Some("primary"));
    assert_eq!(
        field(second, "server.port"),
        Some(primary.port().to_string().as_str())
    );
    assert_eq!(field(second, "error.type"), None);
    let retries: u64 = pool.server_stats().iter().map(|s| s.read_retries).sum();
    assert_eq!(retries, 1);
}
