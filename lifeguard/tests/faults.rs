//! The pool's bounds under faults, each on a private server (or an address with none):
//! a frozen server, a stopped one, one restarted by an immediate shutdown, terminated
//! backends, a refused port, a listener that never answers, a wrong password, and
//! exhausted exclusive and pipelining capacity; then cancelled waits and calls.
//!
//! Each fault runs with 64 and with 10,000 callers, once as `may` coroutines (one call
//! each) and once on OS threads (64 threads with one call each; 2,000 threads with five
//! calls each in sequence). Every call must return within its configured bound + 1 s
//! with an error that names the cause; after the fault ends the pool serves again and
//! its counters return to idle. Each case prints one line of the table
//! `fault | callers | kind | count | longest wait | bound | outcome` (`--nocapture`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Failure, Kind, Op, Outcome, Row, bounded, eventually, select_own, select_value};
use lifeguard::pg::Timeout;
use lifeguard::{Error, Pool, PoolConfig, query};
use lifeguard_harness::{AuthMethod, Cluster, RefusingPort, SilentListener, StopMode};

const ACQUIRE: Duration = Duration::from_secs(1);
const CONNECT: Duration = Duration::from_secs(1);
const REQUEST: Duration = Duration::from_secs(2);
const CONNECTIONS: usize = 2;
/// Stack of each caller coroutine, in words: may's default (32 KiB).
const STACK: usize = 0x1000;
/// A caller coroutine that may open a connection itself (exclusive side): 256 KiB.
const BIG_STACK: usize = 0x8000;

/// The caller counts and kinds every fault runs with.
const SIZES: [(usize, Kind); 4] = [
    (64, Kind::Coroutines),
    (64, Kind::Threads(64)),
    (10_000, Kind::Coroutines),
    (10_000, Kind::Threads(2_000)),
];

fn config(url: &str) -> PoolConfig {
    PoolConfig::new(url)
        .unwrap()
        .connections(CONNECTIONS)
        .acquire_timeout(ACQUIRE)
        .connect_timeout(CONNECT)
        .request_timeout(Some(REQUEST))
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
}

/// A pool whose shared connections are all open and answering.
fn warm_pool(config: PoolConfig) -> Pool {
    let pool = Pool::new(config).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || pool.stats().shared_open
            == CONNECTIONS),
        "the pool did not connect: {:?}",
        pool.stats()
    );
    common::serves_again(&pool, Duration::from_secs(10)).unwrap();
    pool
}

fn op(pool: &Pool, f: fn(&Pool, usize) -> Outcome) -> Op {
    let pool = pool.clone();
    Arc::new(move |call| f(&pool, call))
}

/// A transaction: BEGIN, `SELECT $1`, COMMIT.
fn transact(pool: &Pool, call: usize) -> Outcome {
    let mut tx = pool.begin()?;
    let value = call as i32;
    let got: i32 = query("SELECT $1::int4")
        .bind(&value)
        .fetch_one(&mut tx)?
        .get(0)?;
    if got != value {
        return Err(Failure::Wrong(format!("sent {value}, got {got}")));
    }
    tx.commit()?;
    Ok(())
}

/// Waits until the pool has seen its first connects fail: a call then fails at once
/// with `Unavailable` (before that it would wait for capacity).
fn connecting_fails(pool: &Pool) {
    assert!(
        eventually(Duration::from_secs(10), || matches!(
            query("SELECT 1").execute(pool),
            Err(Error::Unavailable { .. })
        )),
        "the pool's connects did not fail: {:?}",
        pool.stats()
    );
}

fn pool_error(outcome: &Outcome) -> Option<&Error> {
    match outcome {
        Err(Failure::Pool(e)) => Some(e),
        _ => None,
    }
}

fn unavailable_because(outcome: &Outcome, cause: impl Fn(&Error) -> bool) -> bool {
    matches!(pool_error(outcome), Some(Error::Unavailable { cause: c }) if cause(c))
}

fn refused(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused)
}

fn acquire_timeout(outcome: &Outcome) -> bool {
    matches!(pool_error(outcome), Some(Error::Timeout(Timeout::Acquire)))
}

fn connection_error(outcome: &Outcome) -> bool {
    pool_error(outcome).is_some_and(Error::is_connection_error)
}

/// Collects the problems of one fault's rows and fails the test with all of them.
#[derive(Default)]
struct Verdict(Vec<String>);

impl Verdict {
    fn add(&mut self, context: &str, result: Result<impl Sized, String>) {
        if let Err(problem) = result {
            println!("    {context}: {problem}");
            self.0.push(format!("{context}: {problem}"));
        }
    }

    fn judge(&mut self, row: &Row<'_>, report: &common::Report) {
        if let Some(problem) = row.judge(report) {
            self.0.push(problem);
        }
    }

    fn after(&mut self, fault: &str, calls: usize, kind: Kind, pool: &Pool, recover: bool) {
        let context = format!("{fault} | {calls} {}", kind.label(calls));
        if recover {
            let serves = common::serves_again(pool, Duration::from_secs(10));
            if let Ok(took) = &serves {
                println!("    {context}: serves again after {took:.2?}");
            }
            self.add(&context, serves);
        }
        self.add(&context, common::settles_idle(pool, Duration::from_secs(3)));
        pool.close(Duration::from_secs(1));
    }

    fn finish(self) {
        assert!(self.0.is_empty(), "\n{}", self.0.join("\n"));
    }
}

#[test]
fn frozen_server() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    let check = |o: &Outcome| {
        pool_error(o).is_some_and(|e| {
            e.is_connection_error()
                || matches!(
                    e.timeout(),
                    Some(Timeout::Request | Timeout::Acquire | Timeout::Connect)
                )
        })
    };
    let allowed = "Timeout(Request|Acquire|Connect), Unavailable, a connection error";
    let mut rows: Vec<(usize, Kind, &str)> = SIZES.iter().map(|&(n, k)| (n, k, "query")).collect();
    rows.push((64, Kind::Coroutines, "transaction"));
    rows.push((64, Kind::Threads(64), "transaction"));
    for (calls, kind, what) in rows {
        let transactions = what == "transaction";
        let pool = warm_pool(config(&cluster.url()).max_exclusive(4));
        if transactions {
            // Idle exclusive connections, so that callers reuse them and send BEGIN.
            let p = pool.clone();
            let held = bounded(Duration::from_secs(10), move || {
                (0..4).map(|_| p.acquire()).collect::<Result<Vec<_>, _>>()
            });
            assert!(matches!(held, Some(Ok(_))), "warming the exclusive side");
        }
        cluster.freeze().unwrap();
        let (f, bound, stack): (fn(&Pool, usize) -> Outcome, _, _) = if transactions {
            (transact, ACQUIRE + CONNECT + REQUEST, BIG_STACK)
        } else {
            (select_own, ACQUIRE + REQUEST, STACK)
        };
        let report = common::start(kind, calls, stack, op(&pool, f)).collect(bound);
        cluster.thaw().unwrap();
        let fault = format!("frozen ({what})");
        let row = Row {
            fault: &fault,
            calls,
            kind,
            bound,
            allowed,
            check: &check,
        };
        verdict.judge(&row, &report);
        verdict.after(&fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

#[test]
fn stopped_server() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    // A connect that reaches the server while it shuts down is told so (57P03) or
    // reset, later ones are refused.
    let check =
        |o: &Outcome| unavailable_because(o, Error::is_connection_error) || connection_error(o);
    for (calls, kind) in SIZES {
        let pool = warm_pool(config(&cluster.url()));
        cluster.stop(StopMode::Fast).unwrap();
        assert!(
            eventually(Duration::from_secs(10), || pool.stats().shared_open == 0),
            "the pool did not see its connections end"
        );
        let report = common::start(kind, calls, STACK, op(&pool, select_own)).collect(ACQUIRE);
        let row = Row {
            fault: "stopped (Fast)",
            calls,
            kind,
            bound: ACQUIRE,
            allowed: "Unavailable(a connection error: refused, reset, 57P03), a connection error",
            check: &check,
        };
        verdict.judge(&row, &report);
        cluster.start_again().unwrap();
        verdict.after(row.fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

#[test]
fn server_restarted_by_an_immediate_shutdown() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    let check = |o: &Outcome| {
        o.is_ok()
            || connection_error(o)
            || acquire_timeout(o)
            || matches!(pool_error(o), Some(Error::Unavailable { .. }))
    };
    for (calls, kind) in SIZES {
        let pool = warm_pool(config(&cluster.url()));
        cluster.stop(StopMode::Immediate).unwrap();
        let running = common::start(kind, calls, STACK, op(&pool, select_own));
        cluster.start_again().unwrap();
        let report = running.collect(ACQUIRE + REQUEST);
        let row = Row {
            fault: "restarted (Immediate)",
            calls,
            kind,
            bound: ACQUIRE + REQUEST,
            allowed: "Ok, a connection error, Unavailable, Timeout(Acquire)",
            check: &check,
        };
        verdict.judge(&row, &report);
        verdict.after(row.fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

/// `SELECT $1`, where the first few calls also sleep, so that requests are in flight
/// when the backends are terminated.
fn select_some_slowly(pool: &Pool, call: usize) -> Outcome {
    if call < 64 && call.is_multiple_of(16) {
        select_value(pool, call as i32, "SELECT $1::int4 FROM pg_sleep(0.3)")
    } else {
        select_own(pool, call)
    }
}

#[test]
fn terminated_backends() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    for (calls, kind) in SIZES {
        // More callers than pipelining room may time out waiting for it.
        let crowded = calls > CONNECTIONS * 128;
        let check =
            |o: &Outcome| o.is_ok() || connection_error(o) || (crowded && acquire_timeout(o));
        let pool = warm_pool(config(&cluster.url()));
        let running = common::start(kind, calls, STACK, op(&pool, select_some_slowly));
        assert!(
            eventually(Duration::from_secs(10), || pool.stats().in_flight > 0),
            "no request went out"
        );
        let terminated = cluster.terminate_backends("postgres").unwrap();
        let report = running.collect(ACQUIRE + REQUEST);
        let fault = format!("backends terminated ({terminated})");
        let row = Row {
            fault: &fault,
            calls,
            kind,
            bound: ACQUIRE + REQUEST,
            allowed: if crowded {
                "Ok, a connection error, Timeout(Acquire)"
            } else {
                "Ok, a connection error"
            },
            check: &check,
        };
        verdict.judge(&row, &report);
        verdict.after(&fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

#[test]
fn refused_port() {
    let _serial = common::serial();
    let refusing = RefusingPort::new().unwrap();
    let mut verdict = Verdict::default();
    let check = |o: &Outcome| unavailable_because(o, refused);
    for (calls, kind) in SIZES {
        let pool = Pool::new(config(&refusing.url())).unwrap();
        connecting_fails(&pool);
        let report = common::start(kind, calls, STACK, op(&pool, select_own)).collect(ACQUIRE);
        let row = Row {
            fault: "port refused",
            calls,
            kind,
            bound: ACQUIRE,
            allowed: "Unavailable(Io(ConnectionRefused))",
            check: &check,
        };
        verdict.judge(&row, &report);
        verdict.after(row.fault, calls, kind, &pool, false);
    }
    verdict.finish();
}

#[test]
fn listener_that_never_answers() {
    let _serial = common::serial();
    let silent = SilentListener::start().unwrap();
    let mut verdict = Verdict::default();
    let check = |o: &Outcome| unavailable_because(o, |c| c.timeout() == Some(Timeout::Connect));
    for (calls, kind) in SIZES {
        let pool = Pool::new(config(&silent.url())).unwrap();
        connecting_fails(&pool);
        let report = common::start(kind, calls, STACK, op(&pool, select_own)).collect(ACQUIRE);
        let row = Row {
            fault: "silent listener",
            calls,
            kind,
            bound: ACQUIRE,
            allowed: "Unavailable(Timeout(Connect))",
            check: &check,
        };
        verdict.judge(&row, &report);
        verdict.after(row.fault, calls, kind, &pool, false);
    }
    assert!(silent.accepted() > 0, "the pool never connected");
    verdict.finish();
}

#[test]
fn wrong_password() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    cluster
        .create_role_with("app", Some("right"), AuthMethod::ScramSha256)
        .unwrap();
    let url = cluster.url_for("app", Some("wrong"), "postgres");
    let mut verdict = Verdict::default();
    let check = |o: &Outcome| unavailable_because(o, |c| matches!(c, Error::Authentication(_)));
    for (calls, kind) in SIZES {
        cluster
            .psql("postgres", "ALTER ROLE app PASSWORD 'right'")
            .unwrap();
        let pool = Pool::new(config(&url)).unwrap();
        connecting_fails(&pool);
        let report = common::start(kind, calls, STACK, op(&pool, select_own)).collect(ACQUIRE);
        let row = Row {
            fault: "wrong password",
            calls,
            kind,
            bound: ACQUIRE,
            allowed: "Unavailable(Authentication)",
            check: &check,
        };
        verdict.judge(&row, &report);
        // The fault ends: the pool's password becomes the right one.
        cluster
            .psql("postgres", "ALTER ROLE app PASSWORD 'wrong'")
            .unwrap();
        verdict.after(row.fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

/// Holds `n` transactions on a helper thread until the returned flag is set; `None`
/// when they could not all be begun.
fn hold_transactions(
    pool: &Pool,
    n: usize,
) -> Option<(Arc<AtomicBool>, std::sync::mpsc::Receiver<()>)> {
    let release = Arc::new(AtomicBool::new(false));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (p, r) = (pool.clone(), release.clone());
    std::thread::spawn(move || {
        let held: Result<Vec<_>, _> = (0..n).map(|_| p.begin()).collect();
        let ok = held.is_ok();
        let _ = held_tx.send(ok);
        let deadline = Instant::now() + Duration::from_secs(60);
        while ok && !r.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(held);
        let _ = done_tx.send(());
    });
    matches!(held_rx.recv_timeout(Duration::from_secs(10)), Ok(true)).then_some((release, done_rx))
}

/// `n` transactions held at the same time, each on its own thread: proof that all of
/// `max_exclusive` can be lent.
fn lends_all_exclusive(pool: &Pool, n: usize) -> Result<(), String> {
    let held = hold_transactions(pool, n).ok_or_else(|| {
        format!(
            "{n} transactions could not be held at once: {:?}",
            pool.stats()
        )
    })?;
    held.0.store(true, Ordering::SeqCst);
    held.1
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the held transactions did not end within 10s".to_owned())
}

#[test]
fn exclusive_connections_exhausted() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    const MAX: usize = 4;
    for (calls, kind) in SIZES {
        let pool = warm_pool(config(&cluster.url()).max_exclusive(MAX));
        let (release, done) =
            hold_transactions(&pool, MAX).expect("hold every exclusive connection");
        let begin: Op = {
            let pool = pool.clone();
            Arc::new(move |_| pool.begin().map(drop).map_err(Failure::from))
        };
        let report = common::start(kind, calls, STACK, begin).collect(ACQUIRE);
        let row = Row {
            fault: "max_exclusive exhausted (begin)",
            calls,
            kind,
            bound: ACQUIRE,
            allowed: "Timeout(Acquire)",
            check: &acquire_timeout,
        };
        verdict.judge(&row, &report);
        release.store(true, Ordering::SeqCst);
        let context = format!("{} | {calls} {}", row.fault, kind.label(calls));
        verdict.add(
            &context,
            done.recv_timeout(Duration::from_secs(10))
                .map_err(|_| "holders did not finish".to_owned()),
        );
        verdict.add(&context, lends_all_exclusive(&pool, MAX));
        verdict.after(row.fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

/// Fills every pipelining place: on each connection one `pg_sleep(sleep)` and behind it
/// quick statements, which wait for its answer. Returns the fillers' reports.
fn fill_pipelines(pool: &Pool, per_connection: usize, sleep: Duration) -> common::Running {
    let total = CONNECTIONS * per_connection;
    let seconds = sleep.as_secs_f64();
    let filler: Op = {
        let pool = pool.clone();
        Arc::new(move |call| {
            if call < CONNECTIONS {
                let sql = format!("SELECT $1::int4 FROM pg_sleep({seconds})");
                select_value(&pool, call as i32, &sql)
            } else {
                select_own(&pool, call)
            }
        })
    };
    // One by one, so that the sleeps land on different connections (fewest in flight).
    common::start_in_order(total, filler, |started| {
        eventually(Duration::from_secs(5), || pool.stats().in_flight >= started)
    })
}

/// `connections x max_in_flight` requests in flight at the same time (a sleep heads
/// each pipeline): proof that all pipelining room can be used, and that they all get
/// their own answers.
fn fits_all_shared(pool: &Pool, per_connection: usize) -> Result<(), String> {
    let total = CONNECTIONS * per_connection;
    // The sleeps heading each pipeline must outlast starting the rest one by one, which
    // on a loaded machine takes far longer than the requests themselves (once a sleep
    // ends, the requests behind it finish and "in flight" no longer counts them), and
    // must end well inside the request timeout (REQUEST, the stall bound too).
    let sleep = Duration::from_millis(1200);
    let running = fill_pipelines(pool, per_connection, sleep);
    let all_in = eventually(sleep, || pool.stats().in_flight == total);
    let in_flight = pool.stats().in_flight;
    let report = running.collect(sleep + Duration::from_secs(3));
    let failed: Vec<String> = report
        .calls
        .iter()
        .filter(|c| c.outcome.is_err())
        .map(|c| common::class(&c.outcome))
        .collect();
    if !all_in || report.missing > 0 || !failed.is_empty() {
        return Err(format!(
            "{total} requests did not fit at once: {in_flight} in flight, {} missing, failed: {failed:?}",
            report.missing
        ));
    }
    Ok(())
}

#[test]
fn pipelining_room_exhausted() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    const MAX_IN_FLIGHT: usize = 4;
    for (calls, kind) in SIZES {
        // The fill outlasts every round of callers.
        let sleep = (ACQUIRE + common::SLACK) * kind.rounds(calls) + Duration::from_secs(2);
        let pool = warm_pool(
            config(&cluster.url())
                .max_in_flight(MAX_IN_FLIGHT)
                .request_timeout(Some(sleep + Duration::from_secs(10))),
        );
        let fill = fill_pipelines(&pool, MAX_IN_FLIGHT, sleep);
        let report = common::start(kind, calls, STACK, op(&pool, select_own)).collect(ACQUIRE);
        let row = Row {
            fault: "max_in_flight exhausted (pg_sleep)",
            calls,
            kind,
            bound: ACQUIRE,
            allowed: "Timeout(Acquire)",
            check: &acquire_timeout,
        };
        verdict.judge(&row, &report);
        let context = format!("{} | {calls} {}", row.fault, kind.label(calls));
        let fill = fill.collect(sleep + Duration::from_secs(2));
        let fill_ok = fill.missing == 0 && fill.calls.iter().all(|c| c.outcome.is_ok());
        verdict.add(
            &context,
            if fill_ok {
                Ok(())
            } else {
                Err(format!("the fill failed: {} missing", fill.missing))
            },
        );
        verdict.add(&context, fits_all_shared(&pool, MAX_IN_FLIGHT));
        verdict.after(row.fault, calls, kind, &pool, true);
    }
    verdict.finish();
}

/// 100 concurrent queries on the shared connections, each checking that it got its own
/// parameter back (a request left half-done on a connection shifts the answers).
fn answers_in_step(pool: &Pool) -> Result<(), String> {
    let own: Op = {
        let pool = pool.clone();
        Arc::new(move |call| select_own(&pool, 1_000 + call))
    };
    let report = common::start(Kind::Coroutines, 100, STACK, own).collect(ACQUIRE + REQUEST);
    let bad: Vec<String> = report
        .calls
        .iter()
        .filter(|c| c.outcome.is_err())
        .map(|c| common::describe(&c.outcome))
        .collect();
    if report.missing > 0 || !bad.is_empty() {
        return Err(format!(
            "of 100 queries, {} did not return and {} failed: {:?}",
            report.missing,
            bad.len(),
            bad.iter().take(3).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// Spawns a coroutine that runs `f`, waits until `ready` holds (it is parked where the
/// case wants it), cancels it and waits until it is done. How long it took to end.
fn cancel_when(
    f: impl FnOnce() + Send + 'static,
    ready: impl FnMut() -> bool,
) -> Result<Duration, String> {
    let builder = may::coroutine::Builder::new().stack_size(BIG_STACK);
    // SAFETY: `f` uses no thread-locals and blocks only on may primitives.
    let handle = unsafe { builder.spawn(f) }.expect("spawn the coroutine to cancel");
    if !eventually(Duration::from_secs(5), ready) {
        return Err("the coroutine never got where it should be cancelled".to_owned());
    }
    // Cancelled before it parks, it unwinds at the park all the same.
    let started = Instant::now();
    // SAFETY: cancelling raises a panic in the coroutine at its next blocking point;
    // what it holds is released by unwinding, which is what the case checks.
    unsafe { handle.coroutine().cancel() };
    if !eventually(Duration::from_secs(5), || handle.is_done()) {
        return Err("the cancelled coroutine did not end within 5s".to_owned());
    }
    let took = started.elapsed();
    if handle.join().is_ok() {
        return Err("the coroutine finished instead of being cancelled".to_owned());
    }
    Ok(took)
}

/// Prints the table line of a cancellation case and records its problems.
fn cancellation_row(
    verdict: &mut Verdict,
    fault: &str,
    took: &Result<Duration, String>,
    checks: Vec<Result<(), String>>,
) {
    let problems: Vec<&String> = checks.iter().filter_map(|c| c.as_ref().err()).collect();
    let longest = took.as_ref().map_or("-".to_owned(), |t| format!("{t:.2?}"));
    let verdict_word = if took.is_ok() && problems.is_empty() {
        "ok"
    } else {
        "FAIL"
    };
    println!("{fault} | 1 | coroutine | 1 | {longest} | 5s | {verdict_word}");
    verdict.add(fault, took.as_ref().map(drop).map_err(Clone::clone));
    for check in checks {
        verdict.add(fault, check);
    }
}

#[test]
fn cancelled_while_waiting_for_an_exclusive_connection() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    const MAX: usize = 2;
    let pool = warm_pool(
        config(&cluster.url())
            .max_exclusive(MAX)
            .acquire_timeout(Duration::from_secs(30)),
    );
    let (release, done) = hold_transactions(&pool, MAX).expect("hold every exclusive connection");
    let p = pool.clone();
    let took = cancel_when(move || drop(p.begin()), || pool.stats().waiting == 1);
    let left = eventually(Duration::from_secs(2), || pool.stats().waiting == 0);
    release.store(true, Ordering::SeqCst);
    let ended = done
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "holders did not finish".to_owned());
    cancellation_row(
        &mut verdict,
        "cancelled in the fair queue (exclusive)",
        &took,
        vec![
            if left {
                Ok(())
            } else {
                Err(format!(
                    "the cancelled waiter is still queued: {:?}",
                    pool.stats()
                ))
            },
            ended,
            lends_all_exclusive(&pool, MAX),
            common::settles_idle(&pool, Duration::from_secs(5)),
        ],
    );
    pool.close(Duration::from_secs(1));
    verdict.finish();
}

#[test]
fn cancelled_while_waiting_for_pipelining_room() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    const MAX_IN_FLIGHT: usize = 2;
    let pool = warm_pool(
        config(&cluster.url())
            .max_in_flight(MAX_IN_FLIGHT)
            .acquire_timeout(Duration::from_secs(30)),
    );
    let fill = fill_pipelines(&pool, MAX_IN_FLIGHT, Duration::from_millis(1500));
    let p = pool.clone();
    let took = cancel_when(
        move || drop(select_own(&p, 5)),
        || pool.stats().waiting == 1,
    );
    let left = eventually(Duration::from_secs(2), || pool.stats().waiting == 0);
    let fill = fill.collect(Duration::from_secs(3));
    let fill_ok = fill.missing == 0 && fill.calls.iter().all(|c| c.outcome.is_ok());
    cancellation_row(
        &mut verdict,
        "cancelled in the fair queue (shared)",
        &took,
        vec![
            if left {
                Ok(())
            } else {
                Err(format!(
                    "the cancelled waiter is still queued: {:?}",
                    pool.stats()
                ))
            },
            if fill_ok {
                Ok(())
            } else {
                Err(format!("the fill failed: {} missing", fill.missing))
            },
            fits_all_shared(&pool, MAX_IN_FLIGHT),
            answers_in_step(&pool),
            common::settles_idle(&pool, Duration::from_secs(5)),
        ],
    );
    pool.close(Duration::from_secs(1));
    verdict.finish();
}

#[test]
fn cancelled_inside_a_transaction() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    const MAX: usize = 2;
    let pool = warm_pool(config(&cluster.url()).max_exclusive(MAX));
    let p = pool.clone();
    let took = cancel_when(
        move || {
            let mut tx = p.begin().unwrap();
            let _ = query("SELECT pg_sleep(1)").execute(&mut tx);
        },
        || pool.stats().exclusive_in_use == 1,
    );
    let returned = eventually(Duration::from_secs(3), || {
        pool.stats().exclusive_in_use == 0
    });
    let open_transactions = || {
        let p = pool.clone();
        bounded(Duration::from_secs(5), move || {
            query("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' OR query = 'SELECT pg_sleep(1)' AND state = 'active'")
                .fetch_one(&p)
                .and_then(|r| r.get::<i64>(0))
        })
    };
    let rolled_back = eventually(Duration::from_secs(5), || {
        matches!(open_transactions(), Some(Ok(0)))
    });
    cancellation_row(
        &mut verdict,
        "cancelled inside a transaction (pg_sleep)",
        &took,
        vec![
            if returned {
                Ok(())
            } else {
                Err(format!(
                    "the connection was not given back: {:?}",
                    pool.stats()
                ))
            },
            if rolled_back {
                Ok(())
            } else {
                Err(format!(
                    "the transaction stayed open on the server: {:?}",
                    open_transactions()
                ))
            },
            lends_all_exclusive(&pool, MAX),
            answers_in_step(&pool),
            common::settles_idle(&pool, Duration::from_secs(5)),
        ],
    );
    pool.close(Duration::from_secs(1));
    verdict.finish();
}

#[test]
fn cancelled_during_a_pipelined_request() {
    let _serial = common::serial();
    let cluster = Cluster::start().unwrap();
    let mut verdict = Verdict::default();
    const MAX_IN_FLIGHT: usize = 8;
    let pool = warm_pool(config(&cluster.url()).max_in_flight(MAX_IN_FLIGHT));
    let p = pool.clone();
    let took = cancel_when(
        move || {
            drop(select_value(
                &p,
                999_999,
                "SELECT $1::int4 FROM pg_sleep(1)",
            ))
        },
        || pool.stats().in_flight == 1,
    );
    // At once, while the cancelled request's answer is still to come.
    let in_step = answers_in_step(&pool);
    cancellation_row(
        &mut verdict,
        "cancelled during a pipelined request (pg_sleep)",
        &took,
        vec![
            in_step,
            answers_in_step(&pool),
            fits_all_shared(&pool, MAX_IN_FLIGHT),
            common::settles_idle(&pool, Duration::from_secs(5)),
        ],
    );
    pool.close(Duration::from_secs(1));
    verdict.finish();
}
