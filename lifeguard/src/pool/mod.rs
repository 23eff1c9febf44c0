//! The pool: pipelined shared connections for autocommit statements, exclusive
//! connections for transactions and pinned sessions.
//!
//! An autocommit statement goes to the healthy shared connection with the fewest
//! requests in flight. When every one is at `max_in_flight`, callers wait in arrival
//! order, up to the acquire timeout (a server restart shorter than that costs its
//! callers a wait, not an error); when connecting is what failed meanwhile, the error
//! is [`Error::Unavailable`] naming the connect error. A transaction takes an
//! exclusive connection, also in arrival order and with the same bound. Healer coroutines keep the shared
//! connections up: a pool can be built while the server is down and serves as soon as
//! it is back.

mod connect_error;
mod exclusive;
mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeguard_pg::{Config, Error, Row, Timeout};

pub use exclusive::PooledConnection;

use crate::config::PoolConfig;
use crate::labels::Route;
use crate::listener::Listener;
use crate::observe::{Observer, PRIMARY, QueryWatch, TransactionWatch};
use crate::query::{Executor, Query};
use crate::stats::{PoolStats, Role, ServerStats};
use crate::wait_queue::Wait;
use exclusive::Exclusive;
use shared::Shared;

/// Stack of each healer coroutine, in words (may's unit): 64 Ki words = 512 KiB; it
/// connects, and SCRAM needs room in debug builds.
const HEALER_STACK_WORDS: usize = 64 * 1024;

/// A pool of connections to one PostgreSQL server. Cheap to clone; clones share it.
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
#[derive(Clone)]
pub struct Pool {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: PoolConfig,
    pub(crate) pg: Config,
    shared: Arc<Shared>,
    pub(crate) exclusive: Exclusive,
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
    /// The last handle is gone: the healers see the flag and end, and with them the
    /// shared connections; idle exclusive connections close with `Inner`.
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

impl Pool {
    /// Builds the pool and starts connecting in the background; it does not wait for
    /// the server, so it can be built while the server is down. Only an invalid
    /// configuration fails here.
    pub fn new(config: PoolConfig) -> Result<Pool, Error> {
        config.validate()?;
        let pg = server_config(&config);
        let shared = Arc::new(Shared::new(
            config.get_connections(),
            config.get_max_in_flight(),
        ));
        let closing = Arc::new(AtomicBool::new(false));
        for index in 0..config.get_connections() {
            let (shared, config, pg, closing) =
                (shared.clone(), config.clone(), pg.clone(), closing.clone());
            let builder = may::coroutine::Builder::new()
                .name(format!("lifeguard healer {index}"))
                .stack_size(HEALER_STACK_WORDS);
            // SAFETY: the healer uses no thread-locals and blocks only on may
            // primitives (may sockets, may sleep, may locks).
            unsafe { builder.spawn(move || shared::heal(shared, index, config, pg, closing)) }?;
        }
        Ok(Pool {
            inner: Arc::new(Inner {
                exclusive: Exclusive::new(config.get_max_exclusive()),
                observe: Observer::new(&pg),
                config,
                pg,
                shared,
                closing,
                acquire_timeouts: AtomicU64::new(0),
            }),
        })
    }

    /// Listens to `channels` on a connection of its own (not one of the pool's, and
    /// not counted in `max_exclusive`), which reconnects after a failure and reports
    /// when notifications may have been missed: see [`Listener`]. The pool's shared
    /// connections refuse `LISTEN`.
    pub fn listen(&self, channels: &[&str]) -> Result<Listener, Error> {
        self.inner.check_open()?;
        Listener::open(self.inner.pg.clone(), self.inner.config.clone(), channels)
    }

    /// Lends an exclusive connection (a pinned session) until it is dropped.
    pub fn acquire(&self) -> Result<PooledConnection, Error> {
        self.acquire_under(None)
    }

    /// [`acquire`](Self::acquire) for the transaction `parent`, when there is one.
    pub(crate) fn acquire_under(
        &self,
        parent: Option<&TransactionWatch>,
    ) -> Result<PooledConnection, Error> {
        let inner = &self.inner;
        inner
            .observe
            .exclusive_acquire(parent, || exclusive::acquire(inner))
    }

    /// The server configuration its connections use (see `server_config`).
    pub(crate) fn server_config(&self) -> Config {
        server_config(&self.inner.config)
    }

    /// The pool's counters now.
    pub fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let cache = inner.shared.client_stats();
        PoolStats {
            open: inner.shared.open() + inner.exclusive.open.load(Ordering::Relaxed),
            shared_open: inner.shared.open(),
            exclusive_open: inner.exclusive.open.load(Ordering::Relaxed),
            exclusive_in_use: inner.exclusive.in_use.load(Ordering::Relaxed),
            in_flight: inner.shared.in_flight(),
            waiting: inner.shared.queue.waiting() + inner.exclusive.queue.waiting(),
            acquire_timeouts: inner.acquire_timeouts.load(Ordering::Relaxed),
            reconnects: inner.shared.reconnects.load(Ordering::Relaxed),
            discarded: inner.exclusive.discarded.load(Ordering::Relaxed),
            cache_hits: cache.cache_hits,
            cache_misses: cache.cache_misses,
        }
    }

    /// Each server's state and counters: today one, the primary.
    pub fn server_stats(&self) -> Vec<ServerStats> {
        let inner = &self.inner;
        vec![ServerStats {
            name: server_name(&inner.pg),
            role: Role::Primary,
            open: inner.shared.open(),
            in_flight: inner.shared.in_flight(),
            lag_bytes: None,
            lag_seconds: None,
            eligible: true,
            ineligible: None,
            reads_routed: 0,
            read_retries: 0,
            bans: 0,
            reconnects: inner.shared.reconnects.load(Ordering::Relaxed),
            connect_errors: inner.shared.connect_error.count() + inner.exclusive.connect_errors(),
        }]
    }

    /// Refuses new work (callers waiting for capacity get `Error::Closed` at once),
    /// waits up to `grace` for the work in flight (statements and lent connections),
    /// then closes every connection: autocommit statements still running are
    /// cancelled on the server and their callers get `Error::Closed`, so no session is
    /// left running. Connections lent out still are closed when they come back.
    pub fn close(&self, grace: Duration) {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::SeqCst);
        inner.shared.queue.close();
        inner.exclusive.queue.close();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline
            && (inner.shared.in_flight() > 0 || inner.exclusive.in_use.load(Ordering::SeqCst) > 0)
        {
            may::coroutine::sleep(Duration::from_millis(2));
        }
        inner.shared.close_all();
        inner.exclusive.close_idle();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closing()
    }

    /// Runs an autocommit statement on a shared connection.
    pub(crate) fn run(
        &self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let started = Instant::now();
        let mut watch = self
            .inner
            .observe
            .shared_query(query, Route::Primary, PRIMARY, started);
        let result = self.run_shared(query, on_row, &mut watch, started);
        watch.finish(&result);
        result
    }

    fn run_shared(
        &self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
        watch: &mut QueryWatch<'_>,
        started: Instant,
    ) -> Result<u64, Error> {
        let inner = &self.inner;
        inner.check_open()?;
        let shared = &inner.shared;
        let deadline = started + inner.config.get_acquire_timeout();
        let index = match shared.queue.acquire(&**shared, deadline) {
            Wait::Ticket(index) => {
                watch.acquired();
                index
            }
            Wait::Closed => return Err(pool_closed()),
            Wait::TimedOut => {
                inner.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                if shared.open() > 0 {
                    // Connections are up, only busy: the cause is load, not the server.
                    return Err(Error::Timeout(Timeout::Acquire));
                }
                return Err(shared.connect_error.acquire_timeout());
            }
        };
        let reservation = Reservation {
            shared,
            index,
            broken: false,
            share_sync: inner.config.get_share_sync(),
        };
        reservation.run(query, on_row)
    }
}

/// A server's name in stats and labels: `host:port`, or the socket directory and port.
pub(crate) fn server_name(pg: &Config) -> String {
    match pg.get_host() {
        Some(host) => format!("{host}:{}", pg.get_port()),
        None => format!("{}:{}", pg.host_or_default(), pg.get_port()),
    }
}

/// What a caller of a closed pool gets.
pub(crate) fn pool_closed() -> Error {
    Error::Closed {
        reason: "the pool is closed".into(),
    }
}

/// A reserved place on a shared connection, given back when dropped (also on panic).
struct Reservation<'a> {
    shared: &'a Shared,
    index: usize,
    broken: bool,
    /// Reads classed at compile time may share a Sync (`PoolConfig::share_sync`).
    share_sync: bool,
}

impl Reservation<'_> {
    fn run(
        mut self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let Some(client) = self.shared.client(self.index) else {
            self.broken = true;
            return Err(Error::Closed {
                reason: "the pooled connection died before the statement was sent".into(),
            });
        };
        let share_sync = self.share_sync;
        let result = query.run_on_client(&client, share_sync, on_row);
        self.broken = client.is_closed();
        result
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.shared.release(self.index, self.broken);
    }
}

/// The server config the pool connects with: the statement timeout is enforced by the
/// server (`-c statement_timeout`), which cancels the statement and keeps the
/// connection.
fn server_config(config: &PoolConfig) -> Config {
    let mut pg = config.pg().clone();
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
        Pool::run(self, query, on_row)
    }
}
