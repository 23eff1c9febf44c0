//! Behaviours the pool documents that only show over time, each against a real server:
//! `max_lifetime` replacement under load, the `liveness_interval` probe, reconnect
//! backoff held at its maximum, the pipelined client's notice cap, every field of
//! `Pool::stats`, and `verify_statements`' parameter-type and added-column drift.
//!
//! Every wait polls a condition with a deadline (a short sleep inside a polling loop
//! only). Callers run both as `may` coroutines with may's default stack (32 KiB in
//! debug builds) and on plain threads. Faults (freeze, stop) hit only private clusters
//! a test starts itself; the shared test server only sees its own databases' sessions
//! terminated. Sessions are told apart by `application_name`: the pool's are
//! [`APP`], the test's own watcher's are `lifecycle-watch`.
//!
//! One file for the six behaviours (issue 17, item 8), one section each, with the
//! helpers they share at the top. Each test fails when the library code behind its
//! behaviour is broken (the commit message that added this line lists the sabotage
//! each test was checked against).

#[allow(dead_code)] // the fault suite's helpers; this file uses a few of them
mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use lifeguard::pg::types::Type;
use lifeguard::pg::{Client, Connection, Runtime, Timeout};
use lifeguard::{Drift, Error, Pool, PoolConfig, PoolStats, query, query_typed};
use lifeguard_harness::{Cluster, StopMode};

/// The `application_name` of every pool and client under test.
const APP: &str = "lifecycle";

/// How much later than its configured bound something may happen: scheduling on a
/// shared 2-core machine (the fault suite's slack).
const SLACK: Duration = common::SLACK;

/// The bound on every wait for something the pool does in the background: generous,
/// since a failure is a wait that never ends, not one that is slow.
const PATIENCE: Duration = Duration::from_secs(30);

/// The notices a pipelined connection keeps until they are taken (`MAX_NOTICES` in
/// lifeguard-pg's `backlog.rs`, documented on `ClientStats::notices_dropped`).
const NOTICE_CAP: usize = 10_000;

// ---------------------------------------------------------------------------------
// Helpers: where a test's sessions are, and running a closure in a coroutine or on a
// thread with a bound on the wait for it.
// ---------------------------------------------------------------------------------

/// A database of the test's own, on the shared test server or on a private cluster.
struct Db {
    url: String,
}

impl Db {
    /// A fresh database on the shared test server.
    fn fresh(prefix: &str) -> Db {
        Db {
            url: lifeguard_harness::test_server().fresh_database(prefix),
        }
    }

    /// The `postgres` database of a private cluster.
    fn on(cluster: &Cluster) -> Db {
        Db { url: cluster.url() }
    }

    /// The server config, with `application_name` set to `app`.
    fn pg(&self, app: &str) -> lifeguard::pg::Config {
        let mut pg: lifeguard::pg::Config = self.url.parse().expect("the harness's URL");
        pg.application_name(app);
        pg.connect_timeout(Duration::from_secs(10));
        pg
    }

    /// A pool configuration whose sessions are named [`APP`].
    fn config(&self) -> PoolConfig {
        PoolConfig::from_pg(self.pg(APP))
    }

    /// The backend pids of the sessions named [`APP`] in this database, ascending (a
    /// new watcher connection each time, so it survives faults between calls).
    fn sessions(&self) -> Result<Vec<i32>, Error> {
        let mut watch = Connection::connect_with(&self.pg("lifecycle-watch"), Runtime::Std)?;
        let rows = watch.query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1 ORDER BY pid",
            &[&APP],
        )?;
        let _ = watch.close();
        rows.iter().map(|r| r.get::<i32>(0)).collect()
    }

    /// Terminates these backends (`pg_terminate_backend`; callers poll for what
    /// follows, so this works before PostgreSQL 14's wait argument too); how many there
    /// were.
    fn terminate(&self, pids: &[i32]) -> usize {
        let mut watch = Connection::connect_with(&self.pg("lifecycle-watch"), Runtime::Std)
            .expect("watcher connection");
        let rows = watch
            .query(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int4[]) AS pid",
                &[&pids.to_vec()],
            )
            .expect("pg_terminate_backend");
        let _ = watch.close();
        rows.iter().filter(|r| r.get::<bool>(0).unwrap()).count()
    }

    /// Runs SQL on a watcher connection.
    fn admin(&self, sql: &str) {
        let mut watch = Connection::connect_with(&self.pg("lifecycle-watch"), Runtime::Std)
            .expect("watcher connection");
        watch.batch_execute(sql).expect(sql);
        let _ = watch.close();
    }
}

/// Polls `what` every 10 ms until it returns `Some`, at most `limit`; panics with
/// `describe()` (the state at the deadline) otherwise.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {limit:?} waiting for {what}: {}",
                describe()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls until the pool's stats satisfy `condition`, at most [`PATIENCE`].
fn stats_until(pool: &Pool, what: &str, condition: impl Fn(&PoolStats) -> bool) -> PoolStats {
    wait_for(
        what,
        PATIENCE,
        || Some(pool.stats()).filter(|s| condition(s)),
        || format!("{:?}", pool.stats()),
    )
}

/// Where a closure runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    /// A `may` coroutine with may's default stack.
    Coroutine,
    /// A plain OS thread.
    Thread,
}

const BOTH: [On; 2] = [On::Coroutine, On::Thread];

/// Starts `f` on a coroutine (default stack) or a thread; its result comes through
/// the returned receiver (which disconnects if `f` panics).
fn start<T: Send + 'static>(on: On, f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    let run = move || {
        let _ = tx.send(f());
    };
    match on {
        On::Coroutine => {
            may::go!(run);
        }
        On::Thread => {
            std::thread::spawn(run);
        }
    }
    rx
}

/// Runs `f` on `on` and waits at most `limit` for its result.
fn run_on<T: Send + 'static>(on: On, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    finish(on, limit, &start(on, f))
}

/// The result of a closure started with [`start`], waited for at most `limit`.
fn finish<T>(on: On, limit: Duration, rx: &mpsc::Receiver<T>) -> T {
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{on:?} did not finish in {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{on:?} panicked"),
    }
}

/// Polls `SELECT 1` on the pool from `on` until it answers, at most `limit`; how long
/// it took, or the last error.
fn serves_within(pool: &Pool, on: On, limit: Duration) -> Result<Duration, String> {
    finish(on, limit + PATIENCE, &start_serving(pool, on, limit))
}

/// [`serves_within`], started: its result comes through the receiver.
fn start_serving(pool: &Pool, on: On, limit: Duration) -> mpsc::Receiver<Result<Duration, String>> {
    let pool = pool.clone();
    start(on, move || {
        let started = Instant::now();
        let mut last = String::from("no attempt");
        while started.elapsed() < limit {
            match query("SELECT 1")
                .fetch_one(&pool)
                .and_then(|r| r.get::<i32>(0))
            {
                Ok(1) => return Ok(started.elapsed()),
                Ok(other) => last = format!("got {other}"),
                Err(e) => last = e.to_string(),
            }
            pause(on, Duration::from_millis(10));
        }
        Err(format!("not served within {limit:?}: {last}"))
    })
}

/// A pause that parks only the coroutine on a coroutine, the thread on a thread.
fn pause(on: On, d: Duration) {
    match on {
        On::Coroutine => may::coroutine::sleep(d),
        On::Thread => std::thread::sleep(d),
    }
}

/// `SELECT pg_backend_pid()` on `executor`.
fn backend_pid(executor: impl lifeguard::Executor) -> Result<i32, Error> {
    query("SELECT pg_backend_pid()").fetch_one(executor)?.get(0)
}

// ---------------------------------------------------------------------------------
// 1. max_lifetime under load
// ---------------------------------------------------------------------------------

/// What the load's callers saw.
#[derive(Default)]
struct Seen {
    shared_pids: BTreeSet<i32>,
    exclusive_pids: BTreeSet<i32>,
    errors: Vec<String>,
}

/// Under constant load from coroutines and threads, connections older than
/// `max_lifetime` are replaced, on the shared side (pipelined statements) and on the
/// exclusive side (transactions): the backend pids the callers see keep changing, no
/// caller gets an error, and no server session outlives its connection — at any
/// quiet moment there are at most `connections + max_exclusive` of them, and none
/// once the pool is dropped.
#[test]
fn max_lifetime_replaces_connections_under_load_without_errors_or_leftover_sessions() {
    const CONNECTIONS: usize = 2;
    const EXCLUSIVE: usize = 2;
    let db = Db::fresh("lifecycle_lifetime");
    let pool = Pool::new(
        db.config()
            .connections(CONNECTIONS)
            .max_exclusive(EXCLUSIVE)
            .max_lifetime(Some(Duration::from_millis(300)))
            .lifetime_jitter(Duration::from_millis(200))
            .acquire_timeout(PATIENCE),
    )
    .unwrap();
    stats_until(&pool, "the shared connections", |s| {
        s.shared_open == CONNECTIONS
    });

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<(On, mpsc::Receiver<()>)> = (0..12)
        .map(|i| {
            if i % 3 == 0 {
                On::Thread
            } else {
                On::Coroutine
            }
        })
        .map(|on| {
            let (pool, seen, stop, calls) =
                (pool.clone(), seen.clone(), stop.clone(), calls.clone());
            let rx = start(on, move || {
                let mut round = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    round += 1;
                    // Every fourth call is a transaction, on an exclusive connection.
                    let result = if round.is_multiple_of(4) {
                        pool.begin().and_then(|mut tx| {
                            let pid = backend_pid(&mut tx)?;
                            tx.commit().map(|()| (pid, true))
                        })
                    } else {
                        backend_pid(&pool).map(|pid| (pid, false))
                    };
                    calls.fetch_add(1, Ordering::Relaxed);
                    let mut seen = seen.lock().unwrap();
                    match result {
                        Ok((pid, false)) => {
                            seen.shared_pids.insert(pid);
                        }
                        Ok((pid, true)) => {
                            seen.exclusive_pids.insert(pid);
                        }
                        Err(e) => seen.errors.push(format!("{on:?}: {e}")),
                    }
                    drop(seen);
                    pause(on, Duration::from_millis(2));
                }
            });
            (on, rx)
        })
        .collect();

    // Each connection lives 300-500 ms: a few seconds of load replace every one
    // several times over.
    let started = Instant::now();
    wait_for(
        "pids to change on both sides",
        Duration::from_secs(60),
        || {
            let seen = seen.lock().unwrap();
            (started.elapsed() >= Duration::from_secs(3)
                && seen.shared_pids.len() >= CONNECTIONS + 6
                && seen.exclusive_pids.len() >= EXCLUSIVE + 4)
                .then_some(())
        },
        || {
            let seen = seen.lock().unwrap();
            format!(
                "shared pids {:?}, exclusive pids {:?}, {} errors, stats {:?}",
                seen.shared_pids,
                seen.exclusive_pids,
                seen.errors.len(),
                pool.stats()
            )
        },
    );
    stop.store(true, Ordering::SeqCst);
    for (on, rx) in &callers {
        finish(*on, PATIENCE, rx);
    }

    let seen = seen.lock().unwrap();
    let calls = calls.load(Ordering::Relaxed);
    println!(
        "{calls} calls; {} shared backends, {} exclusive backends; {:?}",
        seen.shared_pids.len(),
        seen.exclusive_pids.len(),
        pool.stats()
    );
    assert!(
        seen.errors.is_empty(),
        "{} of {calls} calls failed while connections were replaced, e.g. {:?}",
        seen.errors.len(),
        &seen.errors[..seen.errors.len().min(5)]
    );
    let stats = pool.stats();
    assert!(
        stats.reconnects >= 6,
        "aged shared connections count as reconnects: {stats:?}"
    );

    // Connections keep aging while the pool idles; each replacement overlaps its
    // predecessor for a moment, so the bound is awaited, not sampled once.
    let max = CONNECTIONS + EXCLUSIVE;
    wait_for(
        "at most connections + max_exclusive sessions",
        PATIENCE,
        || db.sessions().ok().filter(|s| s.len() <= max),
        || format!("sessions {:?}", db.sessions()),
    );
    drop(pool);
    wait_for(
        "no session once the pool is dropped",
        PATIENCE,
        || db.sessions().ok().filter(|s| s.is_empty()),
        || format!("sessions {:?}", db.sessions()),
    );
}

// ---------------------------------------------------------------------------------
// 2. liveness_interval
// ---------------------------------------------------------------------------------

/// Idle shared connections whose backends were terminated are replaced in the
/// background, with no caller borrowing them: new backends appear in
/// `pg_stat_activity`, `reconnects` counts each, and the first caller afterwards, in
/// a coroutine or on a thread, is served.
///
/// What notices here is each connection's reader, which sees the server's FATAL and
/// the end of the stream at once; the probe is for connections that die silently
/// (next test).
#[test]
fn idle_connections_whose_backends_were_terminated_are_replaced_without_a_caller() {
    const CONNECTIONS: usize = 2;
    let db = Db::fresh("lifecycle_terminated");
    let pool = Pool::new(
        db.config()
            .connections(CONNECTIONS)
            .max_exclusive(0)
            .max_lifetime(None)
            .liveness_interval(Duration::from_millis(200)),
    )
    .unwrap();
    stats_until(&pool, "the shared connections", |s| {
        s.shared_open == CONNECTIONS
    });
    let before = wait_for(
        "the pool's sessions",
        PATIENCE,
        || db.sessions().ok().filter(|s| s.len() == CONNECTIONS),
        || format!("{:?}", db.sessions()),
    );
    assert_eq!(pool.stats().reconnects, 0);

    assert_eq!(db.terminate(&before), CONNECTIONS);
    let after = wait_for(
        "new backends in place of the terminated ones",
        PATIENCE,
        || {
            db.sessions()
                .ok()
                .filter(|s| s.len() == CONNECTIONS && s.iter().all(|p| !before.contains(p)))
        },
        || format!("sessions {:?} (terminated {before:?})", db.sessions()),
    );
    stats_until(&pool, "two reconnects, both connections up", |s| {
        s.reconnects == CONNECTIONS as u64 && s.shared_open == CONNECTIONS
    });
    println!("terminated {before:?}, replaced by {after:?}");
    for on in BOTH {
        serves_within(&pool, on, Duration::from_secs(5)).unwrap();
    }
    let stats = pool.stats();
    assert_eq!(
        stats.reconnects, CONNECTIONS as u64,
        "the callers after the fault met no dead connection: {stats:?}"
    );
}

/// An idle shared connection that died silently (the server frozen: no FATAL, no end
/// of stream, nothing in flight to time out) is found by the liveness probe after
/// `liveness_interval` of silence and closed, without any caller; once the server
/// answers again the pool reconnects and serves coroutines and threads.
#[test]
fn a_silently_dead_idle_connection_is_found_by_the_liveness_probe() {
    const CONNECTIONS: usize = 2;
    let cluster = Cluster::start().unwrap();
    let db = Db::on(&cluster);
    let pool = Pool::new(
        db.config()
            .connections(CONNECTIONS)
            .max_exclusive(0)
            .max_lifetime(None)
            .liveness_interval(Duration::from_millis(300))
            .connect_timeout(Duration::from_secs(1))
            .backoff(Duration::from_millis(10), Duration::from_millis(100)),
    )
    .unwrap();
    stats_until(&pool, "the shared connections", |s| {
        s.shared_open == CONNECTIONS
    });
    let before = db.sessions().unwrap();
    assert_eq!(before.len(), CONNECTIONS, "{before:?}");

    cluster.freeze().unwrap();
    // Probe after 300 ms of silence, which waits the connect timeout (1 s) for an
    // answer: the connections are closed within about 1.3 s; PATIENCE is the bound.
    let result = std::panic::catch_unwind(|| {
        stats_until(&pool, "the probe to close the frozen connections", |s| {
            s.shared_open == 0
        })
    });
    cluster.thaw().unwrap();
    let stats = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(stats.in_flight, 0, "no caller was involved: {stats:?}");

    stats_until(&pool, "reconnected after the thaw", |s| {
        s.shared_open == CONNECTIONS && s.reconnects >= CONNECTIONS as u64
    });
    for on in BOTH {
        serves_within(&pool, on, Duration::from_secs(10)).unwrap();
    }
    let after = wait_for(
        "only the new sessions",
        PATIENCE,
        || db.sessions().ok().filter(|s| s.len() == CONNECTIONS),
        || format!("{:?}", db.sessions()),
    );
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "frozen {before:?}, now {after:?}"
    );
}

// ---------------------------------------------------------------------------------
// 3. backoff during a reconnect storm
// ---------------------------------------------------------------------------------

/// Accepts connections on a port and closes each at once, recording when it came: a
/// server that is down, as a client sees it (the startup gets no answer but the end
/// of the stream), with every connect attempt visible.
struct AttemptRecorder {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AttemptRecorder {
    /// Listens on 127.0.0.1:`port` (freed by a stopped cluster a moment ago).
    fn bind(port: u16) -> AttemptRecorder {
        let listener = wait_for(
            "the stopped cluster's port to be free",
            PATIENCE,
            || TcpListener::bind(("127.0.0.1", port)).ok(),
            || format!("port {port}"),
        );
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, attempts) = (stop.clone(), attempts.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((socket, _)) => {
                            attempts.lock().unwrap().push(Instant::now());
                            drop(socket);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            })
        };
        AttemptRecorder {
            stop,
            attempts,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.attempts.lock().unwrap().len()
    }

    /// Stops listening (the port is free again once this returns); the attempts seen.
    fn finish(mut self) -> Vec<Instant> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.attempts.lock().unwrap().clone()
    }
}

/// While the server is down, the healer's connect attempts back off from
/// `backoff_min`, doubling, up to `backoff_max` and stay there: no two attempts are
/// further apart than `backoff_max` plus the slack, and once the delay has reached
/// the maximum none come closer than its lower jitter bound (80%) — the pool neither
/// gives up nor hammers. When the server is back, coroutines and threads are served
/// within about `backoff_max`.
#[test]
fn reconnect_attempts_are_held_at_the_maximum_backoff_while_the_server_is_down() {
    const MIN: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_millis(500);
    // 50, 100, 200, 400, then 500 (each ±20% and at most MAX): from the sixth
    // attempt on the delay is at the maximum.
    const RAMP: usize = 5;
    const STORM: Duration = Duration::from_secs(5);
    let cluster = Cluster::start().unwrap();
    let db = Db::on(&cluster);
    let pool = Pool::new(
        db.config()
            .connections(1)
            .max_exclusive(0)
            .backoff(MIN, MAX)
            .connect_timeout(Duration::from_secs(2))
            .acquire_timeout(Duration::from_secs(5)),
    )
    .unwrap();
    stats_until(&pool, "the shared connection", |s| s.shared_open == 1);

    cluster.stop(StopMode::Fast).unwrap();
    let recorder = AttemptRecorder::bind(cluster.port());
    let started = Instant::now();
    wait_for(
        "a storm of attempts",
        STORM + PATIENCE,
        || (started.elapsed() >= STORM && recorder.count() > RAMP + 3).then_some(()),
        || {
            format!(
                "{} attempts after {:?}",
                recorder.count(),
                started.elapsed()
            )
        },
    );
    let attempts = recorder.finish();
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    println!("attempts {} apart: {gaps:.0?}", attempts.len());
    let widest = gaps.iter().max().unwrap();
    assert!(
        *widest <= MAX + SLACK,
        "attempts {widest:?} apart, more than backoff_max {MAX:?} + {SLACK:?}: {gaps:.0?}"
    );
    // The recorder may have missed the first attempts (refused before it listened):
    // skip the ramp, then every delay is MAX - 20% or more.
    let floor = MAX.mul_f64(0.8) - Duration::from_millis(20);
    let held = &gaps[RAMP..];
    assert!(
        held.iter().all(|g| *g >= floor),
        "after the ramp the delay stays at the maximum (>= {floor:?}): {gaps:.0?}"
    );

    cluster.start_again().unwrap();
    let callers: Vec<_> = BOTH
        .into_iter()
        .map(|on| (on, start_serving(&pool, on, PATIENCE)))
        .collect();
    for (on, rx) in callers {
        let took = finish(on, PATIENCE * 2, &rx).unwrap();
        println!("{on:?} served {took:?} after the server was back");
        assert!(
            took <= MAX + SLACK,
            "{on:?} waited {took:?} after the server was back (backoff_max {MAX:?} + {SLACK:?})"
        );
    }
}

// ---------------------------------------------------------------------------------
// 4. the pipelined client's notice cap
// ---------------------------------------------------------------------------------

/// A statement raising more notices than the cap leaves the newest `NOTICE_CAP`
/// queued, counts the rest as dropped, and the connection serves on; in a coroutine
/// and on a thread.
#[test]
fn the_client_keeps_the_newest_notices_up_to_its_cap_and_counts_the_dropped() {
    const EXTRA: usize = 123;
    let db = Db::fresh("lifecycle_notices");
    for on in BOTH {
        let pg = db.pg(APP);
        let outcome = run_on(on, PATIENCE * 2, move || -> Result<(), String> {
            let client = Client::connect(&pg).map_err(|e| e.to_string())?;
            let raise = format!(
                "DO $$ BEGIN FOR i IN 1..{} LOOP RAISE NOTICE 'notice %', i; END LOOP; END $$",
                NOTICE_CAP + EXTRA
            );
            client.batch_execute(&raise).map_err(|e| e.to_string())?;
            let stats = client.stats();
            let notices = client.take_notices();
            if stats.notices_dropped != EXTRA as u64 || notices.len() != NOTICE_CAP {
                return Err(format!(
                    "kept {} notices, dropped {} (cap {NOTICE_CAP}, raised {})",
                    notices.len(),
                    stats.notices_dropped,
                    NOTICE_CAP + EXTRA
                ));
            }
            let first = &notices[0].message;
            let last = &notices[NOTICE_CAP - 1].message;
            let (want_first, want_last) = (
                format!("notice {}", EXTRA + 1),
                format!("notice {}", NOTICE_CAP + EXTRA),
            );
            if *first != want_first || *last != want_last {
                return Err(format!(
                    "kept {first:?}..{last:?}, not the newest {want_first:?}..{want_last:?}"
                ));
            }
            if !client.take_notices().is_empty() {
                return Err("taken notices came back".into());
            }
            // Still in step: an answer, then a few notices kept, none dropped.
            let row = client
                .query_one("SELECT $1::int4 + 1", &[&41i32])
                .map_err(|e| e.to_string())?;
            if row.get::<i32>(0).map_err(|e| e.to_string())? != 42 {
                return Err("wrong answer after the flood".into());
            }
            client
                .batch_execute("DO $$ BEGIN RAISE NOTICE 'one'; RAISE NOTICE 'two'; END $$")
                .map_err(|e| e.to_string())?;
            let few: Vec<String> = client
                .take_notices()
                .into_iter()
                .map(|n| n.message)
                .collect();
            if few != ["one", "two"] || client.stats().notices_dropped != EXTRA as u64 {
                return Err(format!(
                    "after the flood: {few:?}, dropped {}",
                    client.stats().notices_dropped
                ));
            }
            client.close();
            Ok(())
        });
        outcome.unwrap_or_else(|e| panic!("{on:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------------
// 5. every field of pool.stats()
// ---------------------------------------------------------------------------------

/// `open`, `shared_open`, `exclusive_open`, `exclusive_in_use` and `discarded`
/// follow the connections (checked against the server's sessions), and return to
/// their idle values: the shared connections open, idle exclusive connections kept,
/// none lent.
#[test]
fn stats_count_open_lent_and_discarded_connections() {
    let db = Db::fresh("lifecycle_stats_open");
    let pool = Pool::new(db.config().connections(2).max_exclusive(3)).unwrap();
    let idle = stats_until(&pool, "the shared connections", |s| s.shared_open == 2);
    assert_eq!(
        (
            idle.open,
            idle.exclusive_open,
            idle.exclusive_in_use,
            idle.discarded
        ),
        (2, 0, 0, 0),
        "{idle:?}"
    );
    let sessions = |n: usize| {
        wait_for(
            &format!("{n} sessions"),
            PATIENCE,
            || db.sessions().ok().filter(|s| s.len() == n),
            || format!("{:?}", db.sessions()),
        )
    };
    sessions(2);

    // Lent: to a coroutine and a thread, each holding its connection until told (by
    // a flag it polls: a coroutine must not block its worker thread on a channel).
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let release = Arc::new(AtomicBool::new(false));
    let holders: Vec<_> = BOTH
        .into_iter()
        .map(|on| {
            let (pool, ready, release) = (pool.clone(), ready_tx.clone(), release.clone());
            let rx = start(on, move || {
                let mut conn = pool.acquire()?;
                backend_pid(&mut conn)?;
                let _ = ready.send(());
                let held = Instant::now();
                while !release.load(Ordering::SeqCst) && held.elapsed() < PATIENCE {
                    pause(on, Duration::from_millis(5));
                }
                Ok::<(), Error>(())
            });
            (on, rx)
        })
        .collect();
    for _ in &holders {
        if ready_rx.recv_timeout(PATIENCE).is_err() {
            let ended: Vec<_> = holders.iter().map(|(on, rx)| (on, rx.try_recv())).collect();
            panic!(
                "a holder did not get its connection: {ended:?}, {:?}",
                pool.stats()
            );
        }
    }
    let lent = pool.stats();
    assert_eq!(
        (
            lent.open,
            lent.shared_open,
            lent.exclusive_open,
            lent.exclusive_in_use
        ),
        (4, 2, 2, 2),
        "{lent:?}"
    );
    sessions(4);
    release.store(true, Ordering::SeqCst);
    for (on, rx) in holders {
        finish(on, PATIENCE, &rx).unwrap();
    }
    let back = stats_until(&pool, "both returned", |s| s.exclusive_in_use == 0);
    assert_eq!(
        (back.open, back.exclusive_open, back.discarded),
        (4, 2, 0),
        "returned connections stay open, idle: {back:?}"
    );

    // Discarded: on purpose, and one left inside a transaction.
    pool.acquire().unwrap().discard();
    let s = pool.stats();
    assert_eq!((s.discarded, s.exclusive_open, s.open), (1, 1, 3), "{s:?}");
    let mut conn = pool.acquire().unwrap();
    conn.batch_execute("BEGIN").unwrap();
    drop(conn);
    let s = pool.stats();
    assert_eq!((s.discarded, s.exclusive_open, s.open), (2, 0, 2), "{s:?}");
    sessions(2);
    let s = pool.stats();
    assert_eq!(
        (
            s.open,
            s.shared_open,
            s.exclusive_open,
            s.exclusive_in_use,
            s.in_flight,
            s.waiting
        ),
        (2, 2, 0, 0, 0, 0),
        "idle again: {s:?}"
    );
}

/// `in_flight` counts statements on the shared connections and `waiting` the callers
/// in line for room (pipelined or exclusive), from coroutines and threads alike; both
/// return to zero. Statements are held by a table lock the test takes and releases.
#[test]
fn stats_count_statements_in_flight_and_callers_waiting() {
    let db = Db::fresh("lifecycle_stats_flight");
    let pool = Pool::new(
        db.config()
            .connections(1)
            .max_in_flight(2)
            .max_exclusive(1)
            .acquire_timeout(PATIENCE),
    )
    .unwrap();
    stats_until(&pool, "the shared connection", |s| s.shared_open == 1);
    query("CREATE TABLE gate (id int)").execute(&pool).unwrap();
    let mut holder =
        Connection::connect_with(&db.pg("lifecycle-watch"), Runtime::Std).expect("lock holder");
    holder
        .batch_execute("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")
        .unwrap();

    let blocked = |on: On| {
        let pool = pool.clone();
        (
            on,
            start(on, move || {
                query("SELECT count(*) FROM gate")
                    .fetch_one(&pool)
                    .and_then(|r| r.get::<i64>(0))
            }),
        )
    };
    // Two statements fill the connection's room (max_in_flight 2), two more wait.
    let mut callers = vec![blocked(On::Coroutine), blocked(On::Thread)];
    stats_until(&pool, "two statements in flight", |s| s.in_flight == 2);
    callers.push(blocked(On::Coroutine));
    callers.push(blocked(On::Thread));
    let s = stats_until(&pool, "two callers waiting for room", |s| s.waiting == 2);
    assert_eq!(s.in_flight, 2, "{s:?}");

    // One more waits for the one exclusive connection, lent to the test.
    let lent = pool.acquire().unwrap();
    let exclusive_waiter = {
        let pool = pool.clone();
        start(On::Thread, move || pool.acquire().map(drop))
    };
    let s = stats_until(&pool, "three callers waiting", |s| s.waiting == 3);
    assert_eq!((s.in_flight, s.exclusive_in_use), (2, 1), "{s:?}");

    holder.batch_execute("COMMIT").unwrap();
    for (on, rx) in callers {
        assert_eq!(finish(on, PATIENCE, &rx).unwrap(), 0);
    }
    drop(lent);
    finish(On::Thread, PATIENCE, &exclusive_waiter).unwrap();
    let s = stats_until(&pool, "nothing in flight or waiting", |s| {
        s.in_flight == 0 && s.waiting == 0 && s.exclusive_in_use == 0
    });
    assert_eq!(s.acquire_timeouts, 0, "nobody gave up: {s:?}");
    let _ = holder.close();
}

/// `acquire_timeouts` counts each caller that gave up waiting, for pipelined room
/// and for an exclusive connection, from a coroutine and a thread; it does not move
/// while the pool is idle, and `waiting` returns to zero.
#[test]
fn stats_count_acquire_timeouts() {
    const ACQUIRE: Duration = Duration::from_millis(300);
    let db = Db::fresh("lifecycle_stats_timeouts");
    let pool = Pool::new(
        db.config()
            .connections(1)
            .max_in_flight(1)
            .max_exclusive(1)
            .acquire_timeout(ACQUIRE),
    )
    .unwrap();
    stats_until(&pool, "the shared connection", |s| s.shared_open == 1);
    query("CREATE TABLE gate (id int)").execute(&pool).unwrap();
    let mut holder =
        Connection::connect_with(&db.pg("lifecycle-watch"), Runtime::Std).expect("lock holder");
    holder
        .batch_execute("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let occupant = {
        let pool = pool.clone();
        start(On::Thread, move || {
            query("SELECT count(*) FROM gate")
                .fetch_one(&pool)
                .map(drop)
        })
    };
    stats_until(&pool, "the connection's room taken", |s| s.in_flight == 1);
    let lent = pool.acquire().unwrap();

    let mut expected = 0;
    for on in BOTH {
        for side in ["shared", "exclusive"] {
            let p = pool.clone();
            let result = run_on(on, PATIENCE, move || match side {
                "shared" => query("SELECT 1").fetch_one(&p).map(drop),
                _ => p.acquire().map(drop),
            });
            assert!(
                matches!(result, Err(Error::Timeout(Timeout::Acquire))),
                "{on:?} {side}: {result:?}"
            );
            expected += 1;
            assert_eq!(pool.stats().acquire_timeouts, expected, "{on:?} {side}");
        }
    }
    assert_eq!(pool.stats().waiting, 0);

    holder.batch_execute("COMMIT").unwrap();
    finish(On::Thread, PATIENCE, &occupant).unwrap();
    drop(lent);
    let idle = stats_until(&pool, "idle", |s| {
        s.in_flight == 0 && s.waiting == 0 && s.exclusive_in_use == 0
    });
    for on in BOTH {
        serves_within(&pool, on, Duration::from_secs(5)).unwrap();
    }
    drop(pool.acquire().unwrap());
    assert_eq!(idle.acquire_timeouts, 4);
    assert_eq!(
        pool.stats().acquire_timeouts,
        4,
        "callers served in time are not counted"
    );
    let _ = holder.close();
}

/// `reconnects` counts shared connections replaced after dying, and nothing else;
/// `cache_misses` counts executions that had to prepare their statement and
/// `cache_hits` those that found it prepared — typed and untyped SQL alike — and
/// neither goes down when a connection is replaced.
#[test]
fn stats_count_reconnects_and_statement_cache_use() {
    let db = Db::fresh("lifecycle_stats_cache");
    let pool = Pool::new(
        db.config()
            .connections(1)
            .max_exclusive(1)
            .max_lifetime(None),
    )
    .unwrap();
    let s = stats_until(&pool, "the shared connection", |s| s.shared_open == 1);
    assert_eq!(
        (s.reconnects, s.cache_hits, s.cache_misses),
        (0, 0, 0),
        "{s:?}"
    );

    let typed = |pool: &Pool| {
        query_typed("SELECT $1::int4 * 2", &[Type::INT4])
            .bind(&21i32)
            .fetch_one(pool)
            .and_then(|r| r.get::<i32>(0))
    };
    let untyped = |pool: &Pool| {
        query("SELECT $1::int4 + 1")
            .bind(&41i32)
            .fetch_one(pool)
            .and_then(|r| r.get::<i32>(0))
    };
    let cache = |pool: &Pool| {
        let s = pool.stats();
        (s.cache_misses, s.cache_hits)
    };
    assert_eq!(typed(&pool).unwrap(), 42);
    assert_eq!(cache(&pool), (1, 0), "first typed execution prepares");
    assert_eq!(typed(&pool).unwrap(), 42);
    assert_eq!(cache(&pool), (1, 1), "second typed execution finds it");
    assert_eq!(untyped(&pool).unwrap(), 42);
    assert_eq!(cache(&pool), (2, 1), "first untyped execution prepares");
    assert_eq!(untyped(&pool).unwrap(), 42);
    assert_eq!(cache(&pool), (2, 2), "second untyped execution finds it");
    // The exclusive side keeps its own cache, and these counters are the shared
    // connections'.
    let mut conn = pool.acquire().unwrap();
    backend_pid(&mut conn).unwrap();
    drop(conn);
    assert_eq!(
        cache(&pool),
        (2, 2),
        "exclusive connections are not counted"
    );
    assert_eq!(pool.stats().reconnects, 0);

    let pids = db.sessions().unwrap();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let shared_pid = backend_pid(&pool).unwrap();
    assert_eq!(cache(&pool), (3, 2));
    assert_eq!(db.terminate(&[shared_pid]), 1);
    let s = stats_until(&pool, "the shared connection replaced", |s| {
        s.reconnects == 1 && s.shared_open == 1
    });
    assert_eq!(
        (s.cache_misses, s.cache_hits),
        (3, 2),
        "a replaced connection's counts are kept: {s:?}"
    );
    for on in BOTH {
        let p = pool.clone();
        assert_eq!(run_on(on, PATIENCE, move || typed(&p)).unwrap(), 42);
    }
    assert_eq!(
        cache(&pool),
        (4, 3),
        "the new connection prepares the statement once, then finds it"
    );
    assert_eq!(pool.stats().reconnects, 1, "nothing else reconnected");
}

// ---------------------------------------------------------------------------------
// 6. verify_statements: ParamType and ColumnAdded
// ---------------------------------------------------------------------------------

/// The schema every `query!` in this repository is checked against (the statements
/// below are the same SQL as in the workspace's `tests/verify.rs`, so `.lifeguard/`
/// has their metadata).
const SCHEMA: &str = include_str!("../../queries/schema.sql");

/// A row of `verify_items`: id, label, price, note.
type Item = (i32, String, i32, Option<String>);

/// Every row of `verify_items`, read through the compile-time checked statement.
fn all_items(pool: &Pool) -> Result<Vec<Item>, Error> {
    let rows = lifeguard::query!("SELECT * FROM verify_items").fetch_all(pool)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.label, r.price, r.note))
        .collect())
}

/// Notes of items above a price, through the compile-time checked statement.
fn notes_above(pool: &Pool, price: i32) -> Result<Vec<Option<String>>, Error> {
    lifeguard::query_scalar!("SELECT note FROM verify_items WHERE price > $1", price)
        .fetch_all(pool)
}

/// A pool on a fresh database holding the schema, with one row, after `migration`.
fn migrated(prefix: &str, migration: &str) -> Pool {
    let db = Db::fresh(prefix);
    db.admin(SCHEMA);
    db.admin("INSERT INTO verify_items VALUES (1, 'one', 100, 'first')");
    let pool = Pool::new(db.config().connections(1)).unwrap();
    assert_eq!(notes_above(&pool, 10).unwrap(), [Some("first".to_owned())]);
    assert_eq!(all_items(&pool).unwrap().len(), 1);
    if !migration.is_empty() {
        db.admin(migration);
    }
    pool
}

/// The drift `verify_statements` reports per statement (by the SQL's start), and the
/// report as text; run in a coroutine or on a thread.
fn drift(pool: &Pool, on: On) -> (Vec<(&'static str, Vec<Drift>)>, String, usize) {
    let pool = pool.clone();
    let report = run_on(on, PATIENCE, move || pool.verify_statements()).unwrap();
    let mut drifted: Vec<_> = report
        .drifted
        .iter()
        .map(|(s, changes)| (s.sql, changes.clone()))
        .collect();
    drifted.sort_by_key(|(sql, _)| *sql);
    (drifted, report.to_string(), report.checked)
}

/// A parameter whose column changed type is reported as exactly that: `$1` was
/// `int4`, is now `int8` (the statement's column is unchanged), alongside the column
/// type change of the statement that returns the column. The statements still run.
#[test]
fn verify_reports_a_changed_parameter_type_exactly() {
    let pool = migrated(
        "lifecycle_verify_param",
        "ALTER TABLE verify_items ALTER COLUMN price TYPE int8",
    );
    for on in BOTH {
        let (drifted, text, checked) = drift(&pool, on);
        assert_eq!(checked, 2, "{text}");
        assert_eq!(
            drifted,
            [
                (
                    "SELECT * FROM verify_items",
                    vec![Drift::ColumnType {
                        column: "price".into(),
                        compiled: "int4".into(),
                        live: "int8".into(),
                    }]
                ),
                (
                    "SELECT note FROM verify_items WHERE price > $1",
                    vec![Drift::ParamType {
                        index: 1,
                        compiled: "int4".into(),
                        live: "int8".into(),
                    }]
                ),
            ],
            "{on:?}: {text}"
        );
        assert!(text.contains("$1 was int4, is now int8"), "{text}");
    }
    // The int4 argument still compares with the int8 column.
    assert_eq!(notes_above(&pool, 10).unwrap(), [Some("first".to_owned())]);
}

/// A column added to a table read with `SELECT *` is reported as exactly one
/// `ColumnAdded` naming it, and nothing else; the generated code reads columns by
/// position, so the statement still runs and ignores the new column.
#[test]
fn verify_reports_an_added_column_exactly() {
    let pool = migrated(
        "lifecycle_verify_added",
        "ALTER TABLE verify_items ADD COLUMN added_later int8 NOT NULL DEFAULT 7",
    );
    for on in BOTH {
        let (drifted, text, checked) = drift(&pool, on);
        assert_eq!(checked, 2, "{text}");
        assert_eq!(
            drifted,
            [(
                "SELECT * FROM verify_items",
                vec![Drift::ColumnAdded {
                    column: "added_later".into()
                }]
            )],
            "{on:?}: {text}"
        );
        assert!(text.contains("column `added_later` is new"), "{text}");
    }
    // The shared connection parsed `SELECT *` before the migration: PostgreSQL
    // refuses to run that parsed statement with a different result type (0A000,
    // "cached plan must not change result type"). One call may get that error; the
    // connection then parses the statement again and the next call is served.
    let row = (1, "one".to_owned(), 100, Some("first".to_owned()));
    match all_items(&pool) {
        Ok(rows) => assert_eq!(rows, std::slice::from_ref(&row)),
        Err(Error::Db(db)) if db.code == "0A000" => {}
        Err(other) => panic!("after ADD COLUMN: {other}"),
    }
    assert_eq!(all_items(&pool).unwrap(), [row]);
}

/// What `ColumnAdded` does not cover, as its documentation says: a renamed column is
/// `ColumnGone` for the old name (no `ColumnAdded` for the new one, since the count
/// is the same), and a statement naming the old column is rejected.
#[test]
fn verify_reports_a_renamed_column_as_gone_not_added() {
    let pool = migrated(
        "lifecycle_verify_renamed",
        "ALTER TABLE verify_items RENAME COLUMN note TO remark",
    );
    let (drifted, text, _) = drift(&pool, On::Thread);
    assert_eq!(drifted.len(), 2, "{text}");
    assert_eq!(drifted[0].0, "SELECT * FROM verify_items");
    assert_eq!(
        drifted[0].1,
        [Drift::ColumnGone {
            column: "note".into()
        }],
        "{text}"
    );
    assert!(
        matches!(&drifted[1].1[..], [Drift::Rejected { error }] if error.contains("note")),
        "{text}"
    );
}
