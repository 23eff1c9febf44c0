//! The pool: pipelined shared connections for autocommit statements, exclusive
//! connections for transactions and pinned sessions, on one server or on a primary
//! and its replicas.
//!
//! An autocommit statement goes to the healthy shared connection with the fewest
//! requests in flight. When every one is at `max_in_flight`, callers wait in arrival
//! order, up to the acquire timeout (a server restart shorter than that costs its
//! callers a wait, not an error); when connecting is what failed meanwhile, the error
//! is [`Error::Unavailable`] naming the connect error. A transaction takes an
//! exclusive connection, also in arrival order and with the same bound. Healer
//! coroutines keep the shared connections up: a pool can be built while the server is
//! down and serves as soon as it is back.
//!
//! With replicas, each server has its own connections and a monitor
//! (`monitor.rs`), and `routing.rs` picks the server for each statement: see
//! [`Pool`]'s docs.

mod connect_error;
mod exclusive;
mod monitor;
mod routing;
mod shared;
mod topology;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeguard_pg::{Config, Error, Row};

pub use exclusive::PooledConnection;

use crate::config::PoolConfig;
use crate::listener::Listener;
use crate::observe::Observer;
use crate::query::{Executor, Query};
use crate::stats::{PoolStats, ServerStats};
use topology::Topology;

/// Stack of each healer and monitor coroutine, in words (may's unit): 64 Ki words =
/// 512 KiB; it connects, and SCRAM needs room in debug builds.
const HEALER_STACK_WORDS: usize = 64 * 1024;

/// A pool of connections to one PostgreSQL server, or to a primary and its replicas.
/// Cheap to clone; clones share it.
///
/// ```no_run
/// use lifeguard::{Pool, PoolConfig, query};
///
/// let pool = Pool::new(PoolConfig::new("postgres://postgres@127.0.0.1/postgres")?)?;
/// let row = query("SELECT $1::int4 + 1").bind(&41i32).fetch_one(&pool)?;
/// assert_eq!(row.get::<i32>(0)?, 42);
///
/// pool.transaction(|tx| {
///     query("CREATE TEMP TABLE t (id int)").execute(&mut *tx)?;
///     query("INSERT INTO t VALUES (1)").execute(&mut *tx)
/// })?;
/// # Ok::<(), lifeguard::Error>(())
/// ```
///
/// # Primary and replicas
///
/// Give replicas with [`PoolConfig::replica`] (or a multi-host URL, or the `replicas`
/// setting). Routing needs no SQL parsing, since `query!` classes each statement at
/// compile time:
///
/// - a statement classed as a read goes to an eligible replica, the one with the fewest
///   requests in flight, or to the primary when none is eligible (see
///   [`ReadPreference`](crate::ReadPreference));
/// - writes, SQL built at run time ([`query()`](crate::query()), whose class is unknown),
///   transactions ([`Pool::begin`]) and pinned sessions ([`Pool::acquire`]) go to the
///   primary; [`Pool::begin_read`] opens a read-only transaction on a replica;
/// - `.on_primary()` and `.on_replica()` on a query override its class;
/// - a replica is eligible once its monitor has polled it, while it is reachable, its
///   replay is not paused and it is within `replica_max_lag` and
///   `replica_max_lag_bytes` of the primary (lag in seconds is measured against the
///   primary's WAL positions over time, so an idle primary shows no lag); after a
///   failed read it is banned for a while, with backoff;
/// - a read that fails on a replica because its connection died or timed out, or with
///   SQLSTATE 25006 or 40001 (recovery conflict), before any row reached the caller,
///   is retried once on the primary; a write is never retried;
/// - a [`Session`](crate::Session) gives read-your-writes: its reads go only to replicas
///   that have replayed its last write;
/// - the primary is the server that reports it is not in recovery: when it is gone
///   and a replica is promoted, the pool follows; writes fail at once while no server
///   is the primary, and never go to a server in recovery.
#[derive(Clone)]
pub struct Pool {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: PoolConfig,
    pub(crate) topology: Arc<Topology>,
    closing: Arc<AtomicBool>,
    pub(crate) acquire_timeouts: AtomicU64,
    pub(crate) observe: Observer,
}

impl Inner {
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.is_closing() {
            return Err(pool_closed());
        }
        Ok(())
    }
}

impl Drop for Inner {
    /// The last handle is gone: the healers and monitors see the flag and end, and
    /// with them the shared connections; idle exclusive connections close with `Inner`.
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

/// Spawns a coroutine of the pool's machinery, with a roomy stack.
fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    let builder = may::coroutine::Builder::new()
        .name(name)
        .stack_size(HEALER_STACK_WORDS);
    // SAFETY: healers and monitors use no thread-locals and block only on may
    // primitives (may sockets, may sleep, may locks).
    unsafe { builder.spawn(f) }?;
    Ok(())
}

impl Pool {
    /// Builds the pool and starts connecting in the background; it does not wait for
    /// the servers, so it can be built while they are down. Only an invalid
    /// configuration fails here.
    pub fn new(config: PoolConfig) -> Result<Pool, Error> {
        config.validate()?;
        let servers = config
            .servers()
            .iter()
            .map(|pg| server_config(&config, pg))
            .collect();
        let topology = Arc::new(Topology::new(&config, servers));
        let closing = Arc::new(AtomicBool::new(false));
        for (s, server) in topology.servers.iter().enumerate() {
            for index in 0..config.get_connections() {
                let (shared, config, pg, closing) = (
                    server.shared.clone(),
                    config.clone(),
                    server.pg.clone(),
                    closing.clone(),
                );
                spawn(format!("lifeguard healer {s}.{index}"), move || {
                    shared::heal(shared, index, config, pg, closing)
                })?;
            }
            if topology.servers.len() > 1 {
                let (topology, config, closing) =
                    (topology.clone(), config.clone(), closing.clone());
                spawn(format!("lifeguard monitor {s}"), move || {
                    monitor::watch(topology, s, config, closing)
                })?;
            }
        }
        let pgs: Vec<Config> = topology.servers.iter().map(|s| s.pg.clone()).collect();
        Ok(Pool {
            inner: Arc::new(Inner {
                observe: Observer::new(&pgs),
                config,
                topology,
                closing,
                acquire_timeouts: AtomicU64::new(0),
            }),
        })
    }

    /// Listens to `channels` on a connection of its own to the primary (not one of the
    /// pool's, and not counted in `max_exclusive`), which reconnects after a failure
    /// and reports when notifications may have been missed: see [`Listener`]. The
    /// pool's shared connections refuse `LISTEN`.
    pub fn listen(&self, channels: &[&str]) -> Result<Listener, Error> {
        self.inner.check_open()?;
        let pg = self.server_config();
        Listener::open(pg, self.inner.config.clone(), channels)
    }

    /// Lends an exclusive connection to the primary (a pinned session) until it is
    /// dropped.
    pub fn acquire(&self) -> Result<PooledConnection, Error> {
        self.acquire_on_primary(None)
    }

    /// The server configuration of the primary (the first server until one is known).
    pub(crate) fn server_config(&self) -> Config {
        let topology = &self.inner.topology;
        topology.servers[topology.primary().unwrap_or(0)].pg.clone()
    }

    /// The pool's counters now, summed over its servers.
    pub fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let mut stats = PoolStats {
            acquire_timeouts: inner.acquire_timeouts.load(Ordering::Relaxed),
            ..PoolStats::default()
        };
        for server in &inner.topology.servers {
            let (shared, exclusive) = (&server.shared, &server.exclusive);
            let cache = shared.client_stats();
            let exclusive_open = exclusive.open.load(Ordering::Relaxed);
            stats.open += shared.open() + exclusive_open;
            stats.shared_open += shared.open();
            stats.exclusive_open += exclusive_open;
            stats.exclusive_in_use += exclusive.in_use.load(Ordering::Relaxed);
            stats.in_flight += shared.in_flight();
            stats.waiting += shared.queue.waiting() + exclusive.queue.waiting();
            stats.reconnects += shared.reconnects.load(Ordering::Relaxed);
            stats.discarded += exclusive.discarded.load(Ordering::Relaxed);
            stats.cache_hits += cache.cache_hits;
            stats.cache_misses += cache.cache_misses;
        }
        stats
    }

    /// Each server's role, state and counters: the primary's and each replica's lag,
    /// eligibility (and why not), reads routed, retries and bans.
    pub fn server_stats(&self) -> Vec<ServerStats> {
        self.inner.topology.stats()
    }

    /// Refuses new work (callers waiting for capacity get `Error::Closed` at once),
    /// waits up to `grace` for the work in flight (statements and lent connections),
    /// then closes every connection: autocommit statements still running are
    /// cancelled on the server and their callers get `Error::Closed`, so no session is
    /// left running. Connections lent out still are closed when they come back.
    pub fn close(&self, grace: Duration) {
        let inner = &self.inner;
        let servers = &inner.topology.servers;
        inner.closing.store(true, Ordering::SeqCst);
        for server in servers {
            server.shared.queue.close();
            server.exclusive.queue.close();
        }
        let deadline = Instant::now() + grace;
        let busy = || {
            servers
                .iter()
                .any(|s| s.shared.in_flight() > 0 || s.exclusive.in_use.load(Ordering::SeqCst) > 0)
        };
        while Instant::now() < deadline && busy() {
            may::coroutine::sleep(Duration::from_millis(2));
        }
        for server in servers {
            server.shared.close_all();
            server.exclusive.close_idle();
        }
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closing()
    }
}

/// What a caller of a closed pool gets.
pub(crate) fn pool_closed() -> Error {
    Error::Closed {
        reason: "the pool is closed".into(),
    }
}

/// A server's name in stats and labels: `host:port`, or the socket directory and port.
pub(crate) fn server_name(pg: &Config) -> String {
    match pg.get_host() {
        Some(host) => format!("{host}:{}", pg.get_port()),
        None => format!("{}:{}", pg.host_or_default(), pg.get_port()),
    }
}

/// The server config the pool connects with: the statement timeout is enforced by the
/// server (`-c statement_timeout`), which cancels the statement and keeps the
/// connection.
fn server_config(config: &PoolConfig, server: &Config) -> Config {
    let mut pg = server.clone();
    pg.connect_timeout(config.get_connect_timeout());
    if let Some(timeout) = config.get_statement_timeout() {
        let setting = format!("-c statement_timeout={}", timeout.as_millis());
        let options = match pg.get_options() {
            Some(existing) => format!("{existing} {setting}"),
            None => setting,
        };
        pg.options(&options);
    }
    pg
}

impl Executor for &Pool {
    fn run(
        self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        self.run_routed(query, None, on_row)
    }
}
