//! The exclusive side of the pool: connections lent whole to one caller, for a
//! transaction or a pinned session, up to `max_exclusive` at a time.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use lifeguard_pg::{Config, Connection, Error, Row, Runtime, TransactionStatus};
use std::sync::{Mutex, MutexGuard};

use super::connect_error::ConnectError;
use super::{Inner, pool_closed};
use crate::config::SessionReset;
use crate::query::{Executor, Query};
use crate::wait_queue::{Capacity, Wait, WaitQueue};

/// A connection as the pool holds it: boxed, so that lending it, taking it back and
/// checking it move a pointer. A `Connection` is several hundred bytes, and every move
/// of one is a copy in the frame of the caller's coroutine, whose stack is small (32
/// KiB by default in may, and debug builds keep each copy).
type Held = Box<Connection>;

/// An idle exclusive connection and when it must be retired.
struct Idle {
    conn: Held,
    retire_at: Option<Instant>,
    idle_since: Instant,
    /// [`Exclusive::faults`] when it came back.
    faults_seen: u64,
}

/// The idle exclusive connections and the permits to hold one.
pub(crate) struct Exclusive {
    idle: Mutex<Vec<Idle>>,
    pub(crate) in_use: AtomicUsize,
    pub(crate) open: AtomicUsize,
    pub(crate) queue: WaitQueue,
    max: usize,
    pub(crate) discarded: AtomicU64,
    pub(crate) connect_error: ConnectError,
    /// Lent connections that came back broken: when this moved since an idle
    /// connection came back, the fault may have hit it too, and it is checked before
    /// it is lent.
    faults: AtomicU64,
}

impl Exclusive {
    pub(crate) fn new(max: usize) -> Exclusive {
        Exclusive {
            idle: Mutex::new(Vec::new()),
            in_use: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            queue: WaitQueue::new(),
            max,
            discarded: AtomicU64::new(0),
            connect_error: ConnectError::default(),
            faults: AtomicU64::new(0),
        }
    }

    /// Takes a permit to hold a connection, if one is free.
    fn take_permit(&self) -> Option<usize> {
        let mut used = self.in_use.load(Ordering::SeqCst);
        while used < self.max {
            match self
                .in_use
                .compare_exchange(used, used + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(0),
                Err(now) => used = now,
            }
        }
        None
    }

    fn release_permit(&self) {
        self.in_use.fetch_sub(1, Ordering::SeqCst);
        self.queue.wake(self);
    }

    /// Closes the idle connections.
    pub(crate) fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        for entry in idle {
            self.open.fetch_sub(1, Ordering::SeqCst);
            let _ = entry.conn.close();
        }
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        // Pushes and pops only (see `brief.rs`).
        crate::brief::lock(&self.idle)
    }
}

impl Capacity for Exclusive {
    fn try_take(&self) -> Option<usize> {
        self.take_permit()
    }

    fn give_back(&self, _permit: usize) {
        self.in_use.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection lent by the pool. It dereferences to [`Connection`]; dropped, it goes
/// back to the pool with its session reset (settings, `LISTEN`s, advisory locks,
/// temporary tables: see [`SessionReset`]), or is closed when it broke, is still
/// inside a transaction, or is dropped during a panic (the server then rolls back
/// whatever was open).
pub struct PooledConnection {
    conn: Option<Held>,
    retire_at: Option<Instant>,
    pool: Arc<Inner>,
    /// The server it is connected to, by index in the pool's topology.
    server: usize,
}

impl PooledConnection {
    /// Closes the connection instead of returning it to the pool.
    pub fn discard(mut self) {
        self.drop_connection();
    }

    fn exclusive(&self) -> &Exclusive {
        &self.pool.topology.servers[self.server].exclusive
    }

    fn drop_connection(&mut self) {
        if let Some(conn) = self.conn.take() {
            let exclusive = self.exclusive();
            exclusive.open.fetch_sub(1, Ordering::SeqCst);
            exclusive.discarded.fetch_add(1, Ordering::Relaxed);
            // Closing sends Terminate; an error only means the socket is already gone.
            let _ = conn.close();
        }
    }
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a PooledConnection holds its connection until dropped")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("a PooledConnection holds its connection until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Nothing that can park runs during a panic (a coroutine parked halfway
            // through unwinding may resume on another thread): a fresh coroutine closes
            // the connection, so the server rolls back, and returns the permit.
            let conn = self.conn.take();
            let pool = self.pool.clone();
            let server = self.server;
            may::go!(move || {
                let exclusive = &pool.topology.servers[server].exclusive;
                if let Some(conn) = conn {
                    exclusive.open.fetch_sub(1, Ordering::SeqCst);
                    exclusive.discarded.fetch_add(1, Ordering::Relaxed);
                    let _ = conn.close();
                }
                exclusive.release_permit();
            });
            return;
        }
        let policy = self.pool.config.get_session_reset();
        let reusable = policy != SessionReset::Close
            && self.conn.as_mut().is_some_and(|c| {
                !c.is_closed()
                    && c.transaction_status() == TransactionStatus::Idle
                    && self.retire_at.is_none_or(|at| Instant::now() < at)
                    && !self.pool.is_closing()
                    && (policy == SessionReset::None || reset(c).is_ok())
            });
        let pool = self.pool.clone();
        let exclusive = &pool.topology.servers[self.server].exclusive;
        if reusable {
            if let Some(conn) = self.conn.take() {
                let faults_seen = exclusive.faults.load(Ordering::SeqCst);
                exclusive.lock_idle().push(Idle {
                    conn,
                    retire_at: self.retire_at,
                    idle_since: Instant::now(),
                    faults_seen,
                });
            }
        } else {
            if self.conn.as_ref().is_some_and(|c| c.is_closed()) {
                exclusive.faults.fetch_add(1, Ordering::SeqCst);
            }
            self.drop_connection();
        }
        exclusive.release_permit();
    }
}

/// What a session can leave behind for the next borrower, cleared in one round trip
/// (what `DISCARD ALL` does, less `DEALLOCATE ALL`: the connection's prepared
/// statements stay, so its statement cache stays true).
const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; \
     DISCARD SEQUENCES";

/// Clears a returned session: the server's state, and the notices and notifications
/// it buffered for the borrower.
fn reset(conn: &mut Connection) -> Result<(), Error> {
    conn.batch_execute(RESET_SESSION)?;
    conn.take_notifications();
    conn.take_notices();
    Ok(())
}

/// Lends an exclusive connection to server `index`: waits in line for a permit, then
/// reuses an idle connection that is still good or opens a new one, all before
/// `deadline` (a connect gets what is left of it, at most the connect timeout). `None`:
/// the wait was redirected (the server stopped being the primary), so nothing was
/// taken and the caller routes again.
pub(crate) fn acquire(
    pool: &Arc<Inner>,
    index: usize,
    deadline: Instant,
) -> Option<Result<PooledConnection, Error>> {
    if let Err(e) = pool.check_open() {
        return Some(Err(e));
    }
    let server = &pool.topology.servers[index];
    let exclusive = &server.exclusive;
    match exclusive.queue.acquire(exclusive, deadline) {
        Wait::Ticket(_) => {}
        Wait::Closed if pool.is_closing() => return Some(Err(pool_closed())),
        Wait::Closed => return None,
        Wait::TimedOut => {
            pool.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
            return Some(Err(exclusive.connect_error.acquire_timeout()));
        }
    }
    // From here the permit is ours: the guard gives it back on every path that does
    // not hand it to a PooledConnection, unwinding included (a caller cancelled while
    // its connection is being opened). A pool closed meanwhile opens nothing new.
    let mut permit = Permit {
        exclusive,
        held: true,
    };
    let opened = pool
        .check_open()
        .and_then(|()| reuse_or_open(pool, exclusive, &server.pg, deadline));
    Some(opened.map(|(conn, retire_at)| {
        permit.held = false;
        PooledConnection {
            conn: Some(conn),
            retire_at,
            pool: pool.clone(),
            server: index,
        }
    }))
}

/// A permit not yet handed to a [`PooledConnection`]: given back when dropped.
struct Permit<'a> {
    exclusive: &'a Exclusive,
    held: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.held {
            self.exclusive.release_permit();
        }
    }
}

fn reuse_or_open(
    pool: &Inner,
    exclusive: &Exclusive,
    pg: &Config,
    deadline: Instant,
) -> Result<(Held, Option<Instant>), Error> {
    loop {
        let Some(entry) = exclusive.lock_idle().pop() else {
            break;
        };
        if let Some(conn) = check_idle(pool, exclusive, entry) {
            return Ok(conn);
        }
        exclusive.open.fetch_sub(1, Ordering::SeqCst);
        exclusive.discarded.fetch_add(1, Ordering::Relaxed);
    }
    let conn = connect_before(pool, exclusive, pg, deadline)?;
    exclusive.open.fetch_add(1, Ordering::SeqCst);
    let retire_at = pool
        .config
        .lifetime_for(fastrand::f64())
        .map(|l| Instant::now() + l);
    Ok((conn, retire_at))
}

/// Opens a connection within the connect timeout and before the acquire `deadline`.
/// A connect cut short by the deadline is an acquire timeout whose cause is the
/// connect timeout; any other failure is returned as it is (refused, authentication).
fn connect_before(
    pool: &Inner,
    exclusive: &Exclusive,
    pg: &Config,
    deadline: Instant,
) -> Result<Held, Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    let connect_timeout = pool.config.get_connect_timeout();
    let cut_short = left < connect_timeout;
    let result = if cut_short {
        if left.is_zero() {
            pool.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(exclusive.connect_error.acquire_timeout());
        }
        let mut pg = pg.clone();
        pg.connect_timeout(left);
        Connection::connect_with(&pg, Runtime::May)
    } else {
        Connection::connect_with(pg, Runtime::May)
    };
    match result {
        Ok(mut conn) => {
            exclusive.connect_error.succeeded();
            // Each call on the lent connection is bounded as a pipelined request is.
            conn.set_request_timeout(pool.config.get_request_timeout());
            conn.set_statement_cache_capacity(pool.config.get_statement_cache_capacity());
            Ok(Box::new(conn))
        }
        Err(e) => {
            let timed_out = e.timeout() == Some(lifeguard_pg::Timeout::Connect);
            let cause = exclusive.connect_error.failed(&e);
            if cut_short && timed_out {
                pool.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(Error::Unavailable { cause });
            }
            Err(e)
        }
    }
}

/// An idle connection fit to lend: not broken, not past its lifetime, and answering a
/// trivial query when there is reason to doubt it: the server sent it something while
/// it was idle (a terminated backend's FATAL and end of stream), another lent
/// connection broke since it came back, or it has been idle longer than the liveness
/// interval.
fn check_idle(pool: &Inner, exclusive: &Exclusive, entry: Idle) -> Option<(Held, Option<Instant>)> {
    let Idle {
        conn,
        retire_at,
        idle_since,
        faults_seen,
    } = entry;
    if conn.is_closed() || retire_at.is_some_and(|at| Instant::now() >= at) {
        let _ = conn.close();
        return None;
    }
    let doubtful = conn.has_pending_input()
        || faults_seen != exclusive.faults.load(Ordering::SeqCst)
        || idle_since.elapsed() >= pool.config.get_liveness_interval();
    if doubtful {
        return probe(pool, conn).map(|conn| (conn, retire_at));
    }
    Some((conn, retire_at))
}

/// Stack of the coroutine that checks a doubtful idle connection, in words (may's
/// unit): 64 Ki words = 512 KiB. Reading a terminated session's FATAL error and
/// closing it takes more than a caller's 32 KiB in debug builds.
const PROBE_STACK_WORDS: usize = 64 * 1024;

/// Runs a trivial query on `conn` within the connect timeout, on a coroutine with a
/// roomy stack (the caller waits for it); the connection back when it answered.
fn probe(pool: &Inner, mut conn: Held) -> Option<Held> {
    let bound = pool.config.get_connect_timeout();
    let request_timeout = pool.config.get_request_timeout();
    let check = move || {
        conn.set_request_timeout(Some(bound));
        let alive = conn.batch_execute("").is_ok();
        conn.set_request_timeout(request_timeout);
        if alive {
            return Some(conn);
        }
        let _ = conn.close();
        None
    };
    let builder = may::coroutine::Builder::new()
        .name("lifeguard probe".to_owned())
        .stack_size(PROBE_STACK_WORDS);
    // SAFETY: the probe uses no thread-locals and blocks only on its may socket.
    let handle = unsafe { builder.spawn(check) }.ok()?;
    handle.join().ok().flatten()
}

impl Executor for &mut PooledConnection {
    fn run(
        self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let server = self.server;
        let route = if self.pool.topology.primary() == Some(server) {
            crate::labels::Route::Primary
        } else {
            crate::labels::Route::Replica
        };
        let PooledConnection { conn, pool, .. } = self;
        let watch = pool.observe.session_query(query, server, route);
        let conn = conn
            .as_mut()
            .expect("a PooledConnection holds its connection until dropped");
        let result = (&mut **conn).run(query, on_row);
        watch.finish(&result);
        result
    }
}
