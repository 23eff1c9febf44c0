//! The pool against a real server: pipelining, fair bounded waiting, transactions,
//! panics, and recovery from real faults (terminated backends, a restarted server).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeguard::pg::Timeout;
use lifeguard::{Error, Pool, PoolConfig, query};
use lifeguard_harness::{Cluster, StopMode};

fn fresh_pool(prefix: &str, tune: impl FnOnce(PoolConfig) -> PoolConfig) -> Pool {
    let url = lifeguard_harness::test_server().fresh_database(prefix);
    Pool::new(tune(PoolConfig::new(&url).unwrap())).unwrap()
}

/// Polls `condition` until it holds or `limit` passes.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

fn world(pool: &Pool) {
    query("CREATE TABLE IF NOT EXISTS world (id int PRIMARY KEY, randomnumber int NOT NULL)")
        .execute(pool)
        .unwrap();
    query(
        "INSERT INTO world SELECT g, g * 3 FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .unwrap();
}

#[test]
fn ten_thousand_coroutines_on_four_connections_all_get_their_own_results() {
    let pool = fresh_pool("pool_10k", |c| {
        c.connections(4).acquire_timeout(Duration::from_secs(60))
    });
    world(&pool);
    let handles: Vec<_> = (0..10_000)
        .map(|i: i32| {
            let pool = pool.clone();
            may::go!(move || {
                let id = i % 10_000 + 1;
                let row = query("SELECT id, randomnumber FROM world WHERE id = $1")
                    .bind(&id)
                    .fetch_one(&pool)
                    .unwrap();
                assert_eq!(row.get::<i32>(0).unwrap(), id);
                assert_eq!(row.get::<i32>(1).unwrap(), id * 3);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a caller failed");
    }
    let stats = pool.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.shared_open, 4);
}

#[test]
fn executor_runs_the_same_query_on_pool_transaction_and_connection() {
    let pool = fresh_pool("pool_exec", |c| c);
    query("CREATE TABLE t (id int)").execute(&pool).unwrap();
    let insert = query("INSERT INTO t VALUES ($1)");
    let one = 1i32;
    assert_eq!(insert.clone().bind(&one).execute(&pool).unwrap(), 1);
    let mut tx = pool.begin().unwrap();
    let two = 2i32;
    insert.clone().bind(&two).execute(&mut tx).unwrap();
    tx.commit().unwrap();
    let mut conn = pool.acquire().unwrap();
    let three = 3i32;
    insert.clone().bind(&three).execute(&mut conn).unwrap();
    drop(conn);
    let ids: Vec<i32> = query("SELECT id FROM t ORDER BY id")
        .fetch_all(&pool)
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(
        query("SELECT 1 WHERE false")
            .fetch_optional(&pool)
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        query("SELECT * FROM t").fetch_one(&pool),
        Err(Error::RowCount { found: 3, .. })
    ));
    let mut sum = 0;
    query("SELECT id FROM t")
        .for_each(&pool, |row| {
            sum += row.get::<i32>(0)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(sum, 6);
}

#[test]
fn a_pool_over_tls_encrypts_its_shared_and_exclusive_connections() {
    let cluster = Cluster::builder().tls().start().unwrap();
    let certs = cluster.tls().unwrap();
    let url = format!("{}?{}", cluster.url(), certs.verify_full_params());
    let pool = Pool::new(PoolConfig::new(&url).unwrap().connections(2)).unwrap();
    let ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let shared: Vec<_> = (0..200)
        .map(|_| {
            let pool = pool.clone();
            may::go!(move || query(ssl).fetch_one(&pool).unwrap().get::<bool>(0).unwrap())
        })
        .collect();
    for h in shared {
        assert!(h.join().unwrap(), "a shared connection without TLS");
    }
    let mut tx = pool.begin().unwrap();
    assert!(
        query(ssl)
            .fetch_one(&mut tx)
            .unwrap()
            .get::<bool>(0)
            .unwrap()
    );
    tx.commit().unwrap();
    // A restart: the pool opens new TLS connections.
    cluster.restart(StopMode::Fast).unwrap();
    assert!(eventually(Duration::from_secs(20), || {
        query(ssl)
            .fetch_one(&pool)
            .is_ok_and(|row| row.get::<bool>(0).unwrap_or(false))
    }));
}

#[test]
fn transaction_closure_commits_on_ok_and_rolls_back_on_err_with_savepoints() {
    let pool = fresh_pool("pool_tx", |c| c);
    query("CREATE TABLE t (id int PRIMARY KEY)")
        .execute(&pool)
        .unwrap();
    pool.transaction(|tx| {
        query("INSERT INTO t VALUES (1)").execute(&mut *tx)?;
        let dup = tx.savepoint(|tx| query("INSERT INTO t VALUES (1)").execute(tx));
        assert_eq!(dup.unwrap_err().code(), Some("23505"));
        query("INSERT INTO t VALUES (2)").execute(&mut *tx)
    })
    .unwrap();
    let failed: Result<(), Error> = pool.transaction(|tx| {
        query("INSERT INTO t VALUES (3)").execute(&mut *tx)?;
        Err(Error::Config("the caller changed its mind".into()))
    });
    assert!(failed.is_err());
    {
        let mut tx = pool.begin().unwrap();
        query("INSERT INTO t VALUES (4)").execute(&mut tx).unwrap();
        // dropped unfinished: rolled back
    }
    let ids: Vec<i32> = query("SELECT id FROM t ORDER BY id")
        .fetch_all(&pool)
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(pool.stats().exclusive_in_use, 0);
}

#[test]
fn a_commit_the_server_turned_into_a_rollback_is_an_error_naming_the_failed_statement() {
    let pool = fresh_pool("pool_rolled_back", |c| c);
    query("CREATE TABLE t (id int PRIMARY KEY)")
        .execute(&pool)
        .unwrap();
    let mut tx = pool.begin().unwrap();
    query("INSERT INTO t VALUES (1)").execute(&mut tx).unwrap();
    let _ = query("INSERT INTO t VALUES (1)").execute(&mut tx);
    let err = tx.commit().unwrap_err();
    match &err {
        Error::RolledBack { cause: Some(cause) } => {
            assert!(cause.contains("23505"), "{cause}");
            assert!(cause.contains("INSERT INTO t VALUES (1)"), "{cause}");
        }
        other => panic!("expected RolledBack naming the statement, got {other}"),
    }
    assert!(err.to_string().contains("nothing was saved"), "{err}");

    // The closure form: an error swallowed inside is no success either.
    let swallowed: Result<(), Error> = pool.transaction(|tx| {
        query("INSERT INTO t VALUES (2)").execute(&mut *tx)?;
        let _ = query("SELECT 1/0").execute(&mut *tx);
        Ok(())
    });
    assert!(
        matches!(swallowed, Err(Error::RolledBack { .. })),
        "{swallowed:?}"
    );

    // An error rolled back to a savepoint leaves the transaction healthy.
    pool.transaction(|tx| {
        query("INSERT INTO t VALUES (3)").execute(&mut *tx)?;
        let inner: Result<u64, Error> =
            tx.savepoint(|tx| query("INSERT INTO t VALUES (3)").execute(tx));
        assert!(inner.is_err());
        Ok::<(), Error>(())
    })
    .unwrap();
    let ids: Vec<i32> = query("SELECT id FROM t ORDER BY id")
        .fetch_all(&pool)
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(ids, vec![3]);
    assert_eq!(pool.stats().exclusive_in_use, 0);
}

#[test]
fn a_returned_session_is_reset_before_the_next_borrower_sees_it() {
    let pool = fresh_pool("pool_reset", |c| c.max_exclusive(1));
    let pid = {
        let mut conn = pool.acquire().unwrap();
        conn.batch_execute(
            "SET application_name = 'leaky'; SET search_path = nowhere;
             CREATE TEMP TABLE scratch (id int); LISTEN leaky_channel;
             SELECT pg_advisory_lock(42); DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        )
        .unwrap();
        conn.query_one("SELECT 7::int8", &[]).unwrap();
        conn.process_id()
    };
    let mut conn = pool.acquire().unwrap();
    assert_eq!(conn.process_id(), pid, "the same session is lent again");
    let text = |conn: &mut lifeguard::PooledConnection, sql: &str| {
        conn.query_one(sql, &[]).unwrap().get::<String>(0).unwrap()
    };
    assert_eq!(
        text(&mut conn, "SELECT current_setting('application_name')"),
        ""
    );
    assert_eq!(
        text(&mut conn, "SELECT current_setting('search_path')"),
        "\"$user\", public"
    );
    let count = |conn: &mut lifeguard::PooledConnection, sql: &str| {
        conn.query_one(sql, &[]).unwrap().get::<i64>(0).unwrap()
    };
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM pg_listening_channels()"),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_class WHERE relname = 'scratch' AND relpersistence = 't'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_cursors WHERE name = 'c'"
        ),
        0
    );
    // The statement the connection prepared before still runs (its cache is in step).
    assert_eq!(count(&mut conn, "SELECT 7::int8"), 7);
}

#[test]
fn session_reset_close_never_lends_a_session_twice() {
    let pool = fresh_pool("pool_reset_close", |c| {
        c.max_exclusive(1)
            .session_reset(lifeguard::SessionReset::Close)
    });
    let first = pool.acquire().unwrap().process_id();
    let second = pool.acquire().unwrap().process_id();
    assert_ne!(first, second);
    assert_eq!(pool.stats().exclusive_open, 0);
}

#[test]
fn exhausted_exclusive_connections_fail_begin_with_an_acquire_timeout() {
    let bound = Duration::from_millis(300);
    let pool = fresh_pool("pool_exhaust", |c| {
        c.max_exclusive(2).acquire_timeout(bound)
    });
    let _a = pool.begin().unwrap();
    let _b = pool.begin().unwrap();
    let started = Instant::now();
    let err = pool.begin().map(drop).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout(Timeout::Acquire)), "{err}");
    assert!(
        took >= bound && took < bound + Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(pool.stats().acquire_timeouts, 1);
    // Autocommit statements still run on the shared connections meanwhile.
    assert_eq!(
        query("SELECT 1")
            .fetch_one(&pool)
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );
}

#[test]
fn waiters_for_exclusive_connections_are_served_in_arrival_order() {
    let pool = fresh_pool("pool_fifo_x", |c| {
        c.max_exclusive(1).acquire_timeout(Duration::from_secs(30))
    });
    let held = pool.acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..20 {
        let (p, o) = (pool.clone(), order.clone());
        handles.push(may::go!(move || {
            let conn = p.acquire().unwrap();
            o.lock().unwrap().push(i);
            drop(conn);
        }));
        assert!(
            eventually(Duration::from_secs(10), || pool.stats().waiting == i + 1),
            "waiter {i} did not queue"
        );
    }
    drop(held);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn waiters_for_pipelining_room_are_served_in_arrival_order() {
    let pool = fresh_pool("pool_fifo_s", |c| {
        c.connections(1)
            .max_in_flight(1)
            .acquire_timeout(Duration::from_secs(30))
    });
    assert_eq!(
        query("SELECT 1")
            .fetch_one(&pool)
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );
    let blocker = {
        let p = pool.clone();
        may::go!(move || query("SELECT pg_sleep(0.3)").execute(&p).map(drop))
    };
    assert!(eventually(Duration::from_secs(10), || pool
        .stats()
        .in_flight
        == 1));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..20i32 {
        let (p, o) = (pool.clone(), order.clone());
        handles.push(may::go!(move || {
            let row = query("SELECT $1::int4").bind(&i).fetch_one(&p).unwrap();
            assert_eq!(row.get::<i32>(0).unwrap(), i);
            o.lock().unwrap().push(i);
        }));
        assert!(
            eventually(Duration::from_secs(10), || pool.stats().waiting
                == i as usize + 1),
            "waiter {i} did not queue"
        );
    }
    blocker.join().unwrap().unwrap();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_hundred_coroutines_panicking_in_transactions_leave_nothing_behind() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"deliberate panic") {
            previous(info);
        }
    }));
    let pool = fresh_pool("pool_panic", |c| {
        c.max_exclusive(8).acquire_timeout(Duration::from_secs(30))
    });
    query("CREATE TABLE t (id int)").execute(&pool).unwrap();
    let handles: Vec<_> = (0..100)
        .map(|i: i32| {
            let pool = pool.clone();
            may::go!(move || {
                if i % 2 == 0 {
                    let mut tx = pool.begin().unwrap();
                    query("INSERT INTO t VALUES ($1)")
                        .bind(&i)
                        .execute(&mut tx)
                        .unwrap();
                    panic!("deliberate panic");
                } else {
                    let _: Result<(), Error> = pool.transaction(|tx| {
                        query("INSERT INTO t VALUES ($1)")
                            .bind(&i)
                            .execute(&mut *tx)?;
                        panic!("deliberate panic");
                    });
                }
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().is_err(), "every coroutine panicked");
    }
    // Connections dropped during a panic are closed by a cleanup coroutine, soon after.
    assert!(
        eventually(Duration::from_secs(10), || pool.stats().exclusive_in_use
            == 0),
        "connections still lent: {:?}",
        pool.stats()
    );
    assert_eq!(pool.stats().waiting, 0);
    let open_transactions = || {
        query(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&pool)
        .unwrap()
        .get::<i64>(0)
        .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(10), || open_transactions() == 0),
        "transactions left open on the server"
    );
    let rows = query("SELECT count(*) FROM t").fetch_one(&pool).unwrap();
    assert_eq!(rows.get::<i64>(0).unwrap(), 0, "nothing committed");
    // The pool still lends connections.
    pool.transaction(|tx| query("INSERT INTO t VALUES (1)").execute(&mut *tx))
        .unwrap();
}

#[test]
fn close_waits_for_work_in_flight_then_refuses_new_work() {
    let pool = fresh_pool("pool_close", |c| c);
    assert_eq!(query("SELECT 1").execute(&pool).unwrap(), 1);
    let slow = {
        let p = pool.clone();
        may::go!(move || query("SELECT pg_sleep(0.3)").execute(&p))
    };
    assert!(eventually(Duration::from_secs(10), || pool
        .stats()
        .in_flight
        == 1));
    pool.close(Duration::from_secs(10));
    assert_eq!(
        pool.stats().in_flight,
        0,
        "close returned before the statement in flight finished"
    );
    assert!(
        slow.join().unwrap().is_ok(),
        "the statement in flight finished"
    );
    let err = query("SELECT 1").execute(&pool).unwrap_err();
    assert!(
        matches!(&err, Error::Closed { reason } if reason.contains("pool is closed")),
        "{err}"
    );
    assert!(pool.begin().is_err());
}

#[test]
fn close_answers_every_queued_caller_at_once_in_coroutines_and_threads() {
    let pool = fresh_pool("pool_close_queued", |c| {
        c.connections(1)
            .max_in_flight(1)
            .max_exclusive(1)
            .acquire_timeout(Duration::from_secs(60))
    });
    query("SELECT 1").execute(&pool).unwrap();
    let held = pool.acquire().unwrap();
    let busy = {
        let p = pool.clone();
        may::go!(move || query("SELECT pg_sleep(0.5)").execute(&p).map(drop))
    };
    assert!(eventually(Duration::from_secs(10), || pool
        .stats()
        .in_flight
        == 1));
    let (tx, rx) = std::sync::mpsc::channel();
    let callers = 40;
    for i in 0..callers {
        let (pool, tx) = (pool.clone(), tx.clone());
        let call = move || {
            let result = if i % 2 == 0 {
                pool.begin().map(drop)
            } else {
                query("SELECT 1").execute(&pool).map(drop)
            };
            let _ = tx.send(result);
        };
        if i % 4 < 2 {
            may::go!(call);
        } else {
            std::thread::spawn(call);
        }
    }
    assert!(
        eventually(Duration::from_secs(10), || pool.stats().waiting == callers),
        "callers did not queue: {:?}",
        pool.stats()
    );
    // close() itself waits out its grace for the connection still lent; the queued
    // callers must not.
    let closer = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.close(Duration::from_secs(3)))
    };
    for _ in 0..callers {
        let result = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("a queued caller still waits after close");
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::Closed { reason } if reason.contains("pool is closed")),
            "{err}"
        );
    }
    drop(held);
    closer.join().unwrap();
    let _ = busy.join();
    let stats = pool.stats();
    assert_eq!(
        (stats.waiting, stats.exclusive_in_use, stats.exclusive_open),
        (0, 0, 0),
        "{stats:?}"
    );
}

/// Load from 256 coroutines until `stop`; counts successes, records failures.
struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    handles: Vec<may::coroutine::JoinHandle<()>>,
}

impl Load {
    fn start(pool: &Pool) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let handles = (0..256)
            .map(|c: i32| {
                let (pool, stop, ok, failures) =
                    (pool.clone(), stop.clone(), ok.clone(), failures.clone());
                may::go!(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let id = (c * 37 + n) % 10_000 + 1;
                        n += 1;
                        match query("SELECT id FROM world WHERE id = $1")
                            .bind(&id)
                            .fetch_one(&pool)
                        {
                            Ok(row) => {
                                assert_eq!(row.get::<i32>(0).unwrap(), id);
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                assert!(e.is_connection_error(), "not a connection error: {e}");
                                failures.lock().unwrap().push(e.to_string());
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            handles,
        }
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    fn failures(&self) -> usize {
        self.failures.lock().unwrap().len()
    }

    fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles {
            h.join().expect("a load coroutine failed");
        }
    }
}

/// Waits until a query succeeds again; the time it took.
fn recovery(pool: &Pool) -> Duration {
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(20), || query("SELECT 1")
            .execute(pool)
            .is_ok()),
        "the pool did not recover"
    );
    started.elapsed()
}

fn fault_pool(cluster: &Cluster) -> Pool {
    let config = PoolConfig::new(&cluster.url())
        .unwrap()
        .connections(2)
        .acquire_timeout(Duration::from_secs(30));
    let pool = Pool::new(config).unwrap();
    world(&pool);
    pool
}

#[test]
fn terminated_backends_fail_only_requests_in_flight_and_the_pool_recovers() {
    let cluster = Cluster::start().unwrap();
    let pool = fault_pool(&cluster);
    let load = Load::start(&pool);
    assert!(eventually(Duration::from_secs(20), || load.ok() > 2_000));
    assert_eq!(load.failures(), 0);
    let terminated = cluster.terminate_backends("postgres").unwrap();
    assert!(terminated >= 2, "terminated {terminated} backends");
    let took = recovery(&pool);
    eprintln!("recovery after pg_terminate_backend: {took:?}");
    let failed = load.failures();
    assert!(failed <= 256, "only the requests in flight fail: {failed}");
    let ok = load.ok();
    assert!(eventually(Duration::from_secs(20), || load.ok() > ok + 2_000));
    assert_eq!(load.failures(), failed, "no failure after recovery");
    load.finish();
    assert!(pool.stats().reconnects >= 2);
}

#[test]
fn a_server_restarted_under_load_fails_only_requests_in_flight_and_the_pool_recovers() {
    let cluster = Cluster::start().unwrap();
    let pool = fault_pool(&cluster);
    let load = Load::start(&pool);
    assert!(eventually(Duration::from_secs(20), || load.ok() > 2_000));
    cluster.stop(StopMode::Fast).unwrap();
    let ok_while_down = load.ok();
    cluster.start_again().unwrap();
    let took = recovery(&pool);
    eprintln!("recovery after the server accepted connections again: {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let failed = load.failures();
    assert!(failed <= 256, "only the requests in flight fail: {failed}");
    assert!(eventually(Duration::from_secs(20), || load.ok()
        > ok_while_down + 2_000));
    assert_eq!(load.failures(), failed, "no failure after recovery");
    load.finish();
}

#[test]
fn a_pool_built_while_the_server_is_down_serves_once_it_is_up() {
    let cluster = Cluster::start().unwrap();
    cluster.stop(StopMode::Fast).unwrap();
    let config = PoolConfig::new(&cluster.url())
        .unwrap()
        .acquire_timeout(Duration::from_secs(30));
    let pool = Pool::new(config).unwrap();
    let waiting = {
        let p = pool.clone();
        may::go!(move || query("SELECT 42")
            .fetch_one(&p)
            .and_then(|r| r.get::<i32>(0)))
    };
    assert!(eventually(Duration::from_secs(10), || pool.stats().waiting == 1));
    cluster.start_again().unwrap();
    assert_eq!(waiting.join().unwrap().unwrap(), 42);
}

#[test]
fn dropping_the_last_pool_handle_closes_its_connections() {
    let url = lifeguard_harness::test_server().fresh_database("pool_drop");
    let pool = Pool::new(PoolConfig::new(&url).unwrap().connections(3)).unwrap();
    assert!(eventually(Duration::from_secs(10), || pool
        .stats()
        .shared_open
        == 3));
    drop(pool.acquire().unwrap());
    let path = url.split('?').next().unwrap();
    let dbname = path.rsplit('/').next().unwrap().to_owned();
    let sessions = || {
        lifeguard_harness::psql(
            &url,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
            ),
        )
        .unwrap()
    };
    assert_eq!(sessions(), "4");
    drop(pool);
    assert!(
        eventually(Duration::from_secs(10), || sessions() == "0"),
        "sessions left: {}",
        sessions()
    );
}

#[test]
fn session_changing_statements_are_refused_on_shared_connections_with_the_way_out() {
    let pool = fresh_pool("pool_refuse", |c| c);
    for (sql, hint) in [
        ("LISTEN jobs", "pool.listen()"),
        ("SET application_name = 'x'", "pool.acquire()"),
        ("BEGIN", "pool.begin()"),
        ("CREATE TEMP TABLE t (id int)", "pool.acquire()"),
        ("SELECT pg_advisory_lock(7)", "pool.acquire()"),
    ] {
        let err = query(sql).execute(&pool).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{sql}: {err}");
        assert!(err.to_string().contains(hint), "{sql}: {err}");
    }
    // Nothing reached the server: the shared connections are as they were.
    let name: String = query("SELECT current_setting('application_name')")
        .fetch_one(&pool)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(name, "");
    // A pinned session may change itself.
    let mut conn = pool.acquire().unwrap();
    query("SET application_name = 'mine'")
        .execute(&mut conn)
        .unwrap();
}

#[test]
fn a_pool_listener_reconnects_and_reports_the_gap() {
    let cluster = Cluster::start().unwrap();
    let pool = Pool::new(
        PoolConfig::new(&cluster.url())
            .unwrap()
            .backoff(Duration::from_millis(10), Duration::from_millis(100)),
    )
    .unwrap();
    let mut listener = pool.listen(&["jobs"]).unwrap();
    let notify = |payload: &str| {
        query("SELECT pg_notify('jobs', $1)")
            .bind(&payload)
            .execute(&pool)
    };
    let next = |listener: &mut lifeguard::Listener| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "no event within 20 s");
            if let Some(event) = listener.recv(Duration::from_millis(500)).unwrap_or(None) {
                return event;
            }
        }
    };
    assert!(eventually(Duration::from_secs(10), || notify("one").is_ok()));
    match next(&mut listener) {
        lifeguard::ListenEvent::Notification(n) => assert_eq!(n.payload(), "one"),
        other => panic!("expected the notification, got {other:?}"),
    }
    // The listener's backend dies: it reconnects, LISTENs again and says so.
    let pid = listener.process_id().unwrap();
    query("SELECT pg_terminate_backend($1)")
        .bind(&pid)
        .execute(&pool)
        .unwrap();
    match next(&mut listener) {
        lifeguard::ListenEvent::Gap { reason } => assert!(reason.contains("missed"), "{reason}"),
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_ne!(listener.process_id(), Some(pid));
    notify("two").unwrap();
    match next(&mut listener) {
        lifeguard::ListenEvent::Notification(n) => assert_eq!(n.payload(), "two"),
        other => panic!("expected the notification, got {other:?}"),
    }
    // A whole server restart too, with the listener in a coroutine: it reports the
    // gap once it listens again, and hears what is sent after that.
    cluster.restart(StopMode::Fast).unwrap();
    let p = pool.clone();
    let events = may::go!(move || {
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while events.len() < 2 && Instant::now() < deadline {
            if let Ok(Some(event)) = listener.recv(Duration::from_millis(500)) {
                if matches!(event, lifeguard::ListenEvent::Gap { .. }) {
                    let sent = eventually(Duration::from_secs(10), || {
                        query("SELECT pg_notify('jobs', 'three')")
                            .execute(&p)
                            .is_ok()
                    });
                    assert!(sent, "the pool did not come back");
                }
                events.push(event);
            }
        }
        events
    })
    .join()
    .unwrap();
    assert!(
        matches!(&events[..], [lifeguard::ListenEvent::Gap { .. }, lifeguard::ListenEvent::Notification(n)] if n.payload() == "three"),
        "{events:?}"
    );
}

#[test]
fn begin_right_after_idle_exclusive_connections_were_terminated_succeeds_first_time() {
    let pool = fresh_pool("pool_idle_terminated", |c| c.max_exclusive(4));
    for round in 0..2 {
        let pids: Vec<i32> = {
            let mut held: Vec<_> = (0..4).map(|_| pool.begin().unwrap()).collect();
            let pids = held
                .iter_mut()
                .map(|tx| tx.connection().process_id())
                .collect();
            for tx in held {
                tx.commit().unwrap();
            }
            pids
        };
        for pid in &pids {
            query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&pool)
                .unwrap();
        }
        let gone = || {
            query("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                .bind(&pids)
                .fetch_one(&pool)
                .unwrap()
                .get::<i64>(0)
                .unwrap()
                == 0
        };
        assert!(
            eventually(Duration::from_secs(10), gone),
            "backends still there"
        );
        // Every begin succeeds on its first try: from threads in round 0, from
        // coroutines (may's default stack) in round 1.
        let begin = {
            let pool = pool.clone();
            move || {
                let mut tx = pool.begin().map_err(|e| e.to_string())?;
                query("SELECT 1")
                    .execute(&mut tx)
                    .map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())
            }
        };
        let results: Vec<Result<(), String>> = if round == 0 {
            (0..4)
                .map(|_| std::thread::spawn(begin.clone()))
                .map(|h| h.join().unwrap())
                .collect()
        } else {
            (0..4)
                .map(|_| may::go!(begin.clone()))
                .map(|h| h.join().unwrap())
                .collect()
        };
        for r in results {
            r.unwrap();
        }
    }
}

/// `close(grace)` with a long statement still running: when the grace runs out the
/// statement's caller gets a connection error at once (not when the statement would
/// have ended), a connection still lent is closed when it comes back, nothing new is
/// opened afterwards, and no session of the pool is left on the server. The close runs
/// in a coroutine, the long statement in another, the lent connection on a thread.
#[test]
fn close_past_its_grace_ends_running_statements_and_leaves_no_session() {
    let url = lifeguard_harness::test_server().fresh_database("pool_close_grace");
    let database = url.rsplit('/').next().unwrap().to_owned();
    let pool = Pool::new(PoolConfig::new(&url).unwrap().connections(1)).unwrap();
    let watcher = lifeguard_pg::Connection::connect(&url.parse().unwrap());
    let mut watcher = watcher.unwrap();
    let mut sessions = move || {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )
            .unwrap()
            .get::<i64>(0)
            .unwrap()
    };
    let long = {
        let p = pool.clone();
        may::go!(move || {
            let result = query("SELECT pg_sleep(30)").execute(&p).map(drop);
            (Instant::now(), result)
        })
    };
    let (lent_tx, lent_rx) = std::sync::mpsc::channel();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<()>();
    let lender = {
        let p = pool.clone();
        std::thread::spawn(move || {
            let mut tx = p.begin().unwrap();
            query("SELECT 1").execute(&mut tx).unwrap();
            lent_tx.send(()).unwrap();
            back_rx.recv_timeout(Duration::from_secs(30)).unwrap();
            drop(tx);
        })
    };
    lent_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || pool.stats().in_flight == 1),
        "the long statement never started: {:?}",
        pool.stats()
    );
    let grace = Duration::from_millis(300);
    let closer = {
        let p = pool.clone();
        may::go!(move || {
            p.close(grace);
            Instant::now()
        })
    };
    let closed_at = closer.join().unwrap();
    let (failed_at, result) = long.join().unwrap();
    let err = result.unwrap_err();
    assert!(err.is_connection_error(), "{err}");
    assert!(
        failed_at < closed_at + Duration::from_secs(2),
        "the long statement's caller waited {:?} after close returned",
        failed_at.saturating_duration_since(closed_at)
    );
    // The lent connection is still open until it comes back.
    assert_eq!(pool.stats().exclusive_open, 1, "{:?}", pool.stats());
    back_tx.send(()).unwrap();
    lender.join().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || sessions() == 0),
        "sessions left on the server: {}",
        sessions()
    );
    let stats = pool.stats();
    assert_eq!((stats.open, stats.exclusive_open), (0, 0), "{stats:?}");
    // Nothing opens after close.
    assert!(query("SELECT 1").execute(&pool).is_err());
    assert!(pool.begin().is_err());
    assert_eq!(pool.stats().open, 0);
    assert_eq!(sessions(), 0);
}
