//! A primary and two real streaming standbys (lifeguard-harness): where reads and
//! writes go, replay paused and resumed, read-your-writes checked per read, standbys
//! stopped and frozen under read load, writes that are never retried, and a promotion.
//!
//! Every wait is bounded: conditions are polled with a deadline, never slept on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lifeguard::{Error, Ineligible, Pool, PoolConfig, Role, StatementKind};
use lifeguard_harness::{Cluster, StopMode};

const SCHEMA: &str = include_str!("../../queries/schema.sql");
const POLL: Duration = Duration::from_millis(100);
/// Stack of the test's own coroutines, in words: `query!` in a debug build wants room.
const STACK: usize = 64 * 1024;

/// A primary with the schema, its two standbys, and a pool over the three.
struct Servers {
    primary: Cluster,
    standbys: [Cluster; 2],
    pool: Pool,
}

fn servers(config: impl FnOnce(PoolConfig) -> PoolConfig) -> Servers {
    let primary = Cluster::start().unwrap();
    primary.psql("postgres", SCHEMA).unwrap();
    let standbys = [
        primary.start_standby().unwrap(),
        primary.start_standby().unwrap(),
    ];
    let base = PoolConfig::new(&primary.url())
        .unwrap()
        .replica(&standbys[0].url())
        .unwrap()
        .replica(&standbys[1].url())
        .unwrap()
        .connections(1)
        .replica_poll_interval(POLL);
    let pool = Pool::new(config(base)).unwrap();
    let servers = Servers {
        primary,
        standbys,
        pool,
    };
    assert!(
        eventually(Duration::from_secs(20), || servers.eligible().len() == 2),
        "both standbys eligible: {:?}",
        servers.pool.server_stats()
    );
    servers
}

impl Servers {
    /// Ports of the replicas that may take reads now.
    fn eligible(&self) -> BTreeSet<u16> {
        self.pool
            .server_stats()
            .iter()
            .filter(|s| s.role == Role::Replica && s.eligible)
            .map(|s| port_of(&s.name))
            .collect()
    }

    fn why_not(&self, port: u16) -> Option<Ineligible> {
        self.pool
            .server_stats()
            .into_iter()
            .find(|s| port_of(&s.name) == port)
            .and_then(|s| s.ineligible)
    }
}

fn port_of(name: &str) -> u16 {
    name.rsplit(':').next().unwrap().parse().unwrap()
}

/// Polls `condition` until it holds or `limit` passes.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The port of the server that answered a compile-time read.
fn read_port(pool: &Pool) -> Result<u16, Error> {
    let q = lifeguard::query!("SELECT current_setting('port')::int4 AS \"port!\"");
    assert_eq!(q.statement().kind(), StatementKind::Read);
    Ok(q.fetch_one(pool)?.port as u16)
}

/// Runs `calls` reads from `may` coroutines; returns the ports that answered, and the
/// errors.
fn read_load(pool: &Pool, calls: usize) -> (BTreeMap<u16, usize>, Vec<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..calls {
        let (pool, tx) = (pool.clone(), tx.clone());
        let builder = may::coroutine::Builder::new().stack_size(STACK);
        // SAFETY: the coroutine uses no thread-locals and blocks only on the pool.
        unsafe { builder.spawn(move || tx.send(read_port(&pool)).unwrap()) }.unwrap();
    }
    let mut ports = BTreeMap::new();
    let mut errors = Vec::new();
    for _ in 0..calls {
        match rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a read never returned")
        {
            Ok(port) => *ports.entry(port).or_default() += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    (ports, errors)
}

#[test]
fn reads_spread_over_both_standbys_and_writes_stay_on_the_primary() {
    let s = servers(|c| c);
    let standby_ports: BTreeSet<u16> = s.standbys.iter().map(Cluster::port).collect();
    let (ports, errors) = read_load(&s.pool, 400);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        ports.keys().copied().collect::<BTreeSet<_>>(),
        standby_ports,
        "{ports:?}"
    );
    // A statement whose class is a write (pg_is_in_recovery() is volatile), sent to a
    // replica by its override: the answer says where it ran.
    for _ in 0..20 {
        let on_replica = lifeguard::query!(
            "SELECT pg_is_in_recovery() AS \"in_recovery!\", current_setting('port')::int4 AS \"port!\""
        );
        assert_eq!(on_replica.statement().kind(), StatementKind::Write);
        let row = on_replica.on_replica().fetch_one(&s.pool).unwrap();
        assert!(row.in_recovery);
        assert!(standby_ports.contains(&(row.port as u16)));
        let row = lifeguard::query!(
            "SELECT pg_is_in_recovery() AS \"in_recovery!\", current_setting('port')::int4 AS \"port!\""
        )
        .fetch_one(&s.pool)
        .unwrap();
        assert!(!row.in_recovery);
        assert_eq!(row.port as u16, s.primary.port());
    }
    // Writes that a standby would refuse (25006) all run, so all ran on the primary.
    let id = lifeguard::query_scalar!(
        "INSERT INTO routing_items (call, note) VALUES ($1, 'x') RETURNING id",
        0
    )
    .fetch_one(&s.pool)
    .unwrap();
    let next = lifeguard::query_scalar!("SELECT nextval('routing_items_id_seq') AS \"n!\"");
    assert_eq!(next.statement().kind(), StatementKind::Write);
    assert!(next.fetch_one(&s.pool).unwrap() > i64::from(id));
    let cte = lifeguard::query_scalar!(
        "WITH touched AS (UPDATE routing_items SET note = note || '!' WHERE id = $1 RETURNING id) \
         SELECT count(*) AS \"n!\" FROM touched",
        id
    );
    assert_eq!(cte.statement().kind(), StatementKind::Write);
    assert_eq!(cte.fetch_one(&s.pool).unwrap(), 1);
    let locked =
        lifeguard::query_scalar!("SELECT id FROM routing_items WHERE id = $1 FOR UPDATE", id);
    assert_eq!(locked.statement().kind(), StatementKind::Write);
    assert_eq!(locked.fetch_one(&s.pool).unwrap(), id);
    let routed: u64 = s.pool.server_stats().iter().map(|s| s.reads_routed).sum();
    assert!(routed >= 420, "{:?}", s.pool.server_stats());
}

/// Writes rows on the primary every few milliseconds until dropped.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(pool: &Pool) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (pool, flag) = (pool.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let _ = lifeguard::query!(
                    "INSERT INTO routing_items (call, note) VALUES ($1, 'load')",
                    -1
                )
                .execute(&pool);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Writer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_paused_standby_gets_no_reads_until_replay_resumes() {
    let s = servers(|c| c);
    let _writer = Writer::start(&s.pool);
    let (paused, other) = (s.standbys[0].port(), s.standbys[1].port());
    let pausing = Instant::now();
    s.standbys[0].pause_replay().unwrap();
    let limit = POLL * 2 + Duration::from_secs(1);
    assert!(
        eventually(limit, || s.why_not(paused)
            == Some(Ineligible::ReplayPaused)),
        "paused standby still eligible after {:?}: {:?}",
        pausing.elapsed(),
        s.pool.server_stats()
    );
    let (ports, errors) = read_load(&s.pool, 300);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        ports.keys().copied().collect::<Vec<_>>(),
        [other],
        "{ports:?}"
    );
    s.standbys[0].resume_replay().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || s.eligible().contains(&paused)),
        "{:?}",
        s.pool.server_stats()
    );
    let (ports, errors) = read_load(&s.pool, 300);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(ports.contains_key(&paused), "{ports:?}");
}

/// One write and the read of it through `session`; the port that served the read, or
/// why the read did not see the write.
fn write_then_read(session: &lifeguard::Session, call: i32) -> Result<u16, String> {
    let note = format!("note {call}");
    let id = lifeguard::query_scalar!(
        "INSERT INTO routing_items (call, note) VALUES ($1, $2) RETURNING id",
        call,
        &note
    )
    .fetch_one(session)
    .map_err(|e| e.to_string())?;
    read_back(session, id, &note)
}

fn read_back(session: &lifeguard::Session, id: i32, note: &str) -> Result<u16, String> {
    let row = lifeguard::query!(
        "SELECT note, current_setting('port')::int4 AS \"port!\" FROM routing_items WHERE id = $1",
        id
    )
    .fetch_optional(session)
    .map_err(|e| e.to_string())?;
    match row {
        Some(row) if row.note == note => Ok(row.port as u16),
        Some(row) => Err(format!(
            "read {:?} on port {}, wrote {note:?}",
            row.note, row.port
        )),
        None => Err(format!("row {id} not there")),
    }
}

#[test]
fn a_session_reads_its_own_writes_whatever_the_standbys_replayed() {
    // Generous lag bounds: one standby applies WAL 300 ms late and stays eligible, so
    // only the session's position keeps its reads off it right after a write.
    let s = servers(|c| c.replica_max_lag(Duration::from_secs(30)));
    let delayed = &s.standbys[0];
    delayed
        .psql(
            "postgres",
            "ALTER SYSTEM SET recovery_min_apply_delay = '300ms'; SELECT pg_reload_conf()",
        )
        .unwrap();
    for standby in &s.standbys {
        standby.pause_replay().unwrap();
    }
    let session = s.pool.session();
    for call in 0..1000 {
        let port = write_then_read(&session, call).unwrap();
        assert_eq!(
            port,
            s.primary.port(),
            "replay is paused: only the primary has it"
        );
    }
    for standby in &s.standbys {
        standby.resume_replay().unwrap();
    }
    let mut served = BTreeMap::<u16, usize>::new();
    for call in 1000..2000 {
        let port = write_then_read(&session, call).unwrap();
        *served.entry(port).or_default() += 1;
    }
    // Once a standby has replayed a write, it serves the session's reads of it.
    let note = "replayed";
    let id = lifeguard::query_scalar!(
        "INSERT INTO routing_items (call, note) VALUES (-2, $1) RETURNING id",
        note
    )
    .fetch_one(&session)
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            let port = read_back(&session, id, note).unwrap();
            *served.entry(port).or_default() += 1;
            port != s.primary.port()
        }),
        "no standby served the session's read after replay: {served:?}"
    );
    // The token form carries the position to another session.
    let token = session.position().to_string();
    let other = s.pool.session_after(token.parse().unwrap());
    assert_eq!(other.position(), session.position());
    read_back(&other, id, note).unwrap();
    // A transaction's commit moves the position too.
    let before = session.position();
    session
        .transaction(|tx| {
            lifeguard::query!("INSERT INTO routing_items (call, note) VALUES (-3, 'tx')")
                .execute(tx)
        })
        .unwrap();
    assert!(session.position() > before);
}

/// Read load from coroutines until `stop`; counts reads and keeps every error.
fn background_reads(
    pool: &Pool,
    callers: usize,
    stop: &Arc<AtomicBool>,
) -> (
    Arc<AtomicUsize>,
    std::sync::mpsc::Receiver<String>,
    Vec<may::coroutine::JoinHandle<()>>,
) {
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let handles = (0..callers)
        .map(|_| {
            let (pool, stop, done, tx) = (pool.clone(), stop.clone(), done.clone(), tx.clone());
            let builder = may::coroutine::Builder::new().stack_size(STACK);
            // SAFETY: no thread-locals; blocks only on the pool and may's sleep.
            unsafe {
                builder.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match read_port(&pool) {
                            Ok(_) => {
                                done.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => tx.send(e.to_string()).unwrap(),
                        }
                        may::coroutine::sleep(Duration::from_millis(2));
                    }
                })
            }
            .unwrap()
        })
        .collect();
    (done, rx, handles)
}

/// Runs `fault` then `heal` on standby 0 under read load: no read error reaches a
/// caller, and the standby takes reads again afterwards.
fn survives(fault: impl FnOnce(&Cluster), heal: impl FnOnce(&Cluster)) {
    let s = servers(|c| c.request_timeout(Some(Duration::from_secs(2))));
    let stop = Arc::new(AtomicBool::new(false));
    let (done, errors, handles) = background_reads(&s.pool, 64, &stop);
    let victim = s.standbys[0].port();
    assert!(eventually(Duration::from_secs(10), || done
        .load(Ordering::SeqCst)
        > 200));
    fault(&s.standbys[0]);
    assert!(
        eventually(Duration::from_secs(10), || !s.eligible().contains(&victim)),
        "{:?}",
        s.pool.server_stats()
    );
    let during = done.load(Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(10), || done.load(Ordering::SeqCst)
            > during + 200),
        "reads go on while the standby is down"
    );
    heal(&s.standbys[0]);
    assert!(
        eventually(Duration::from_secs(20), || s.eligible().contains(&victim)),
        "{:?}",
        s.pool.server_stats()
    );
    let (ports, read_errors) = read_load(&s.pool, 200);
    stop.store(true, Ordering::SeqCst);
    for handle in handles {
        handle.join().unwrap();
    }
    let seen: Vec<String> = errors.try_iter().collect();
    assert!(seen.is_empty(), "read errors reached callers: {seen:?}");
    assert!(read_errors.is_empty(), "{read_errors:?}");
    assert!(
        ports.contains_key(&victim),
        "used again after it came back: {ports:?}"
    );
}

#[test]
fn a_standby_stopped_immediately_under_read_load_costs_no_read() {
    survives(
        |standby| standby.stop(StopMode::Immediate).unwrap(),
        |standby| standby.start_again().unwrap(),
    );
}

#[test]
fn a_frozen_standby_under_read_load_costs_no_read() {
    survives(
        |standby| standby.freeze().unwrap(),
        |standby| standby.thaw().unwrap(),
    );
}

#[test]
fn writes_are_never_retried_and_follow_a_promotion() {
    let s = servers(|c| c.acquire_timeout(Duration::from_secs(2)));
    // Writes under terminated backends: each call writes its own number once at most.
    let writes = 400;
    for call in 0..writes {
        if call % 50 == 25 {
            s.primary.terminate_backends("postgres").unwrap();
        }
        let _ = lifeguard::query!(
            "INSERT INTO routing_items (call, note) VALUES ($1, 'once')",
            call
        )
        .execute(&s.pool);
    }
    let twice = s
        .primary
        .psql(
            "postgres",
            "SELECT count(*) FROM (SELECT call FROM routing_items WHERE note = 'once' \
             GROUP BY call HAVING count(*) > 1) AS t",
        )
        .unwrap();
    assert_eq!(twice, "0", "a write ran twice");

    // The primary dies: writes fail at once, never on a standby.
    s.primary.stop(StopMode::Immediate).unwrap();
    let write = |call: i32| {
        lifeguard::query!(
            "INSERT INTO routing_items (call, note) VALUES ($1, 'after')",
            call
        )
        .execute(&s.pool)
    };
    assert!(
        eventually(Duration::from_secs(10), || {
            let started = Instant::now();
            let failed = write(-1).is_err();
            failed && started.elapsed() < Duration::from_millis(500)
        }),
        "writes fail fast with no primary"
    );
    let promoted = &s.standbys[0];
    let promoting = Instant::now();
    promoted.psql("postgres", "SELECT pg_promote()").unwrap();
    let promoted_at = Instant::now();
    let mut refused_by_a_standby = Vec::new();
    let resumed = eventually(Duration::from_secs(10), || match write(1) {
        Ok(_) => true,
        Err(e) => {
            if e.code() == Some("25006") {
                refused_by_a_standby.push(e.to_string());
            }
            false
        }
    });
    assert!(resumed, "{:?}", s.pool.server_stats());
    let took = promoted_at.elapsed();
    assert!(refused_by_a_standby.is_empty(), "{refused_by_a_standby:?}");
    assert!(
        took <= Duration::from_secs(2),
        "writes resumed {took:?} after the promotion ({:?} after it was asked)",
        promoting.elapsed()
    );
    let primary: Vec<u16> = s
        .pool
        .server_stats()
        .iter()
        .filter(|s| s.role == Role::Primary)
        .map(|s| port_of(&s.name))
        .collect();
    assert_eq!(primary, [promoted.port()]);
    let row = lifeguard::query!(
        "SELECT pg_is_in_recovery() AS \"in_recovery!\", current_setting('port')::int4 AS \"port!\""
    )
    .fetch_one(&s.pool)
    .unwrap();
    assert_eq!((row.in_recovery, row.port as u16), (false, promoted.port()));
}

#[test]
fn a_multi_host_url_read_only_transactions_and_read_preferences() {
    let s = servers(|c| c);
    // The standby listed first: the pool still finds the primary by asking each.
    let hosts: Vec<String> = [s.standbys[0].port(), s.primary.port(), s.standbys[1].port()]
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let url = s.primary.url().replacen(
        &format!("127.0.0.1:{}", s.primary.port()),
        &hosts.join(","),
        1,
    );
    let pool = Pool::new(PoolConfig::new(&url).unwrap().connections(1)).unwrap();
    let row = lifeguard::query!(
        "SELECT pg_is_in_recovery() AS \"in_recovery!\", current_setting('port')::int4 AS \"port!\""
    )
    .fetch_one(&pool)
    .unwrap();
    assert_eq!(
        (row.in_recovery, row.port as u16),
        (false, s.primary.port())
    );
    let multi = Servers {
        primary: s.primary,
        standbys: s.standbys,
        pool,
    };
    assert!(
        eventually(Duration::from_secs(20), || multi.eligible().len() == 2),
        "{:?}",
        multi.pool.server_stats()
    );
    // A read-only transaction runs on a standby and refuses writes.
    let mut tx = multi.pool.begin_read().unwrap();
    let in_recovery = lifeguard::query("SELECT pg_is_in_recovery()")
        .fetch_one(&mut tx)
        .unwrap()
        .get::<bool>(0)
        .unwrap();
    assert!(in_recovery);
    let lent: Vec<(Role, usize)> = multi
        .pool
        .server_stats()
        .iter()
        .filter(|s| s.exclusive_in_use > 0)
        .map(|s| (s.role, s.exclusive_in_use))
        .collect();
    assert_eq!(
        lent,
        [(Role::Replica, 1)],
        "the transaction's connection is a replica's"
    );
    let refused = lifeguard::query("INSERT INTO routing_items (call, note) VALUES (1, 'no')")
        .execute(&mut tx)
        .unwrap_err();
    assert_eq!(refused.code(), Some("25006"));
    drop(tx);
    // A read forced onto the primary.
    let port = lifeguard::query!("SELECT current_setting('port')::int4 AS \"port!\"")
        .on_primary()
        .fetch_one(&multi.pool)
        .unwrap()
        .port;
    assert_eq!(port as u16, multi.primary.port());
    // replica_only with no eligible replica fails at once; prefer_replica falls back.
    let url = multi.primary.url();
    let only = Pool::new(
        PoolConfig::new(&url)
            .unwrap()
            .replica(&multi.standbys[0].url())
            .unwrap()
            .read_preference(lifeguard::ReadPreference::ReplicaOnly)
            .replica_poll_interval(POLL),
    )
    .unwrap();
    assert!(eventually(Duration::from_secs(20), || {
        only.server_stats()
            .iter()
            .any(|s| s.role == Role::Replica && s.eligible)
    }));
    assert_ne!(read_port(&only).unwrap(), multi.primary.port());
    multi.standbys[0].pause_replay().unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        let started = Instant::now();
        matches!(read_port(&only), Err(Error::Unavailable { .. }))
            && started.elapsed() < Duration::from_millis(500)
    }));
    assert_ne!(read_port(&multi.pool).unwrap(), multi.primary.port());
}

#[test]
fn a_standby_behind_its_lag_bound_gets_no_reads_and_an_idle_primary_shows_no_lag() {
    let s = servers(|c| c.replica_max_lag(Duration::from_millis(200)));
    let delayed = &s.standbys[0];
    delayed
        .psql(
            "postgres",
            "ALTER SYSTEM SET recovery_min_apply_delay = '600ms'; SELECT pg_reload_conf()",
        )
        .unwrap();
    let lag_of = |port: u16| {
        let stats = s.pool.server_stats();
        let server = stats
            .into_iter()
            .find(|s| port_of(&s.name) == port)
            .unwrap();
        (
            server.lag_seconds.unwrap_or(0.0),
            server.lag_bytes.unwrap_or(0),
        )
    };
    let writer = Writer::start(&s.pool);
    assert!(
        eventually(Duration::from_secs(10), || {
            s.why_not(delayed.port()) == Some(Ineligible::LagSeconds)
        }),
        "{:?}",
        s.pool.server_stats()
    );
    let (seconds, bytes) = lag_of(delayed.port());
    assert!(
        seconds >= 0.2 && bytes > 0,
        "lag {seconds} s, {bytes} bytes"
    );
    let (ports, errors) = read_load(&s.pool, 200);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!ports.contains_key(&delayed.port()), "{ports:?}");
    drop(writer);
    // The primary is idle: once the standby has applied everything, it is 0 s behind
    // however long ago the last write was, and takes reads again.
    assert!(
        eventually(Duration::from_secs(10), || {
            s.eligible().contains(&delayed.port()) && lag_of(delayed.port()) == (0.0, 0)
        }),
        "{:?}",
        s.pool.server_stats()
    );
    let (ports, errors) = read_load(&s.pool, 200);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(ports.contains_key(&delayed.port()), "{ports:?}");
}
