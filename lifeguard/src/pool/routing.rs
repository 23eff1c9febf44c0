//! Which server runs a statement, and running it there.
//!
//! The class comes from the statement ([`Query`]'s compile-time read flag, or its
//! `.on_primary()`/`.on_replica()` override), the preference from the configuration,
//! the freshness from the monitors (`topology.rs`). A read goes to an eligible replica
//! that has replayed the caller's session position, else to the primary; it is retried
//! once on the primary when the replica failed it before any row reached the caller
//! (its connection died or timed out, or SQLSTATE 25006 or 40001). Everything else goes
//! to the primary and is never retried.
//!
//! A caller waiting for capacity on a server that stops being the primary is released
//! ([`WaitQueue::redirect`](crate::wait_queue::WaitQueue::redirect)) and routed again,
//! so writes move to a promoted replica without waiting out their timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeguard_pg::{Client, Error, Row, Timeout};

use super::exclusive::{self, PooledConnection};
use super::shared::Shared;
use super::{Pool, monitor, pool_closed};
use crate::config::ReadPreference;
use crate::labels::Route as RouteLabel;
use crate::observe::TransactionWatch;
use crate::query::Query;
use crate::route::Route;
use crate::wait_queue::Wait;

/// How often a write waiting for the first polls looks again.
const FIRST_POLL_STEP: Duration = Duration::from_millis(2);

/// SQLSTATEs a replica answers that mean "try the primary": read-only transaction
/// (a write the class missed) and serialization failure (a recovery conflict).
const REPLICA_ONLY_ERRORS: [&str; 2] = ["25006", "40001"];

impl Pool {
    /// Runs `query` where routing sends it; with `session`, a read sees the session's
    /// last write, and a write moves the session's position past it.
    pub(crate) fn run_routed(
        &self,
        query: &Query<'_>,
        session: Option<&AtomicU64>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let inner = &self.inner;
        inner.check_open()?;
        let read = match query.route() {
            Route::Auto => query.is_read(),
            Route::Primary => false,
            Route::Replica => true,
        };
        if read && inner.topology.servers.len() > 1 {
            return self.read(query, session, on_row);
        }
        match session {
            Some(position) if !read => self.on_primary(query, |client, share_sync| {
                write_recorded(client, share_sync, query, position, on_row)
            }),
            _ => self.on_primary(query, |client, share_sync| {
                query.run_on_client(client, share_sync, on_row)
            }),
        }
    }

    /// Runs `f` (which runs `query`) on a shared connection of the primary, following
    /// the primary when the wait is redirected.
    fn on_primary<T>(
        &self,
        query: &Query<'_>,
        mut f: impl FnMut(&Client, bool) -> Result<T, Error>,
    ) -> Result<T, Error> {
        loop {
            let started = Instant::now();
            let deadline = started + self.inner.config.get_acquire_timeout();
            let primary = self.primary_before(deadline)?;
            if let Some(result) = self.on_shared(primary, started, query, &mut f) {
                return result;
            }
        }
    }

    /// A read on a pool with replicas.
    fn read(
        &self,
        query: &Query<'_>,
        session: Option<&AtomicU64>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let inner = &self.inner;
        let topology = &inner.topology;
        let preference = match (query.route(), inner.config.get_read_preference()) {
            (Route::Replica, ReadPreference::Primary) => ReadPreference::PreferReplica,
            (_, preference) => preference,
        };
        let position = session.map_or(0, |p| p.load(Ordering::SeqCst));
        let mut tries = 0;
        while preference != ReadPreference::Primary && tries < 2 {
            let Some(replica) = topology.pick_replica(position) else {
                break;
            };
            tries += 1;
            let server = &topology.servers[replica];
            server.reads_routed.fetch_add(1, Ordering::Relaxed);
            let mut delivered = false;
            let result = self.on_shared(replica, Instant::now(), query, |client, share_sync| {
                query.run_on_client(client, share_sync, &mut |row| {
                    delivered = true;
                    on_row(row)
                })
            });
            match result {
                Some(Err(e)) if !delivered && worth_retrying(&e) => {
                    server.read_retries.fetch_add(1, Ordering::Relaxed);
                    if !matches!(e, Error::Db(_)) {
                        topology.ban(replica);
                    }
                    if preference != ReadPreference::ReplicaOnly {
                        break;
                    }
                }
                Some(result) => return result,
                None => {}
            }
        }
        if preference == ReadPreference::ReplicaOnly {
            return Err(unavailable(
                "no replica is eligible for reads (read_preference = replica_only)",
            ));
        }
        self.on_primary(query, |client, share_sync| {
            query.run_on_client(client, share_sync, on_row)
        })
    }

    /// The primary's index: waits (until `deadline`) only while the monitors have not
    /// yet polled every server; fails at once when no server is the primary or the
    /// primary is known to be down.
    pub(crate) fn primary_before(&self, deadline: Instant) -> Result<usize, Error> {
        let topology = &self.inner.topology;
        loop {
            if let Some(primary) = topology.primary() {
                if topology.servers.len() > 1 && monitor::gone(topology, primary) {
                    let shared = &topology.servers[primary].shared;
                    return Err(match shared.connect_error.failing() {
                        Some(cause) => Error::Unavailable { cause },
                        None => unavailable("the primary is unreachable"),
                    });
                }
                return Ok(primary);
            }
            if topology.settled() || Instant::now() >= deadline {
                return Err(unavailable(
                    "no server is the primary: every one is in recovery or unreachable",
                ));
            }
            may::coroutine::sleep(FIRST_POLL_STEP);
        }
    }

    /// Runs `f` (which runs `query`) on a shared connection of server `index`,
    /// called at `started` and waiting for room up to the acquire timeout; observed as
    /// one query (metrics, spans). `None`: the wait was redirected (the server stopped
    /// being the primary), nothing ran.
    fn on_shared<T>(
        &self,
        index: usize,
        started: Instant,
        query: &Query<'_>,
        f: impl FnOnce(&Client, bool) -> Result<T, Error>,
    ) -> Option<Result<T, Error>> {
        let inner = &self.inner;
        let mut watch = inner
            .observe
            .shared_query(query, self.route_to(index), index, started);
        let result = self.on_shared_watched(index, started, f, || watch.acquired());
        if let Some(result) = &result {
            watch.finish(result);
        }
        result
    }

    /// [`on_shared`](Self::on_shared) without the watch; `acquired` is called when room
    /// was found.
    fn on_shared_watched<T>(
        &self,
        index: usize,
        started: Instant,
        f: impl FnOnce(&Client, bool) -> Result<T, Error>,
        acquired: impl FnOnce(),
    ) -> Option<Result<T, Error>> {
        let inner = &self.inner;
        let shared = &inner.topology.servers[index].shared;
        let deadline = started + inner.config.get_acquire_timeout();
        let slot = match shared.queue.acquire(&**shared, deadline) {
            Wait::Ticket(slot) => {
                acquired();
                slot
            }
            Wait::Closed if inner.is_closing() => return Some(Err(pool_closed())),
            Wait::Closed => return None,
            Wait::TimedOut => {
                inner.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                if shared.open() > 0 {
                    // Connections are up, only busy: the cause is load, not the server.
                    return Some(Err(Error::Timeout(Timeout::Acquire)));
                }
                return Some(Err(shared.connect_error.acquire_timeout()));
            }
        };
        let mut reservation = Reservation {
            shared,
            slot,
            broken: false,
        };
        let Some(client) = shared.client(slot) else {
            reservation.broken = true;
            return Some(Err(Error::Closed {
                reason: "the pooled connection died before the statement was sent".into(),
            }));
        };
        let result = f(&client, inner.config.get_share_sync());
        reservation.broken = client.is_closed();
        Some(result)
    }

    /// The route label of a statement on server `index`.
    pub(crate) fn route_to(&self, index: usize) -> RouteLabel {
        if self.inner.topology.primary() == Some(index) {
            RouteLabel::Primary
        } else {
            RouteLabel::Replica
        }
    }

    /// Lends an exclusive connection to the primary, following it if it moves; its
    /// wait is observed under the transaction `parent`, if any.
    pub(crate) fn acquire_on_primary(
        &self,
        parent: Option<&TransactionWatch>,
    ) -> Result<PooledConnection, Error> {
        let inner = &self.inner;
        loop {
            let deadline = Instant::now() + inner.config.get_acquire_timeout();
            let primary = self.primary_before(deadline)?;
            let lent = inner.observe.exclusive_acquire(parent, primary, || {
                exclusive::acquire(inner, primary, deadline).transpose()
            })?;
            if let Some(conn) = lent {
                return Ok(conn);
            }
        }
    }

    /// The replica a read-only transaction would go to now: an eligible one, unless the
    /// read preference is `Primary`.
    pub(crate) fn replica_for_reads(&self) -> Option<usize> {
        let inner = &self.inner;
        if inner.config.get_read_preference() == ReadPreference::Primary {
            return None;
        }
        inner.topology.pick_replica(0)
    }

    /// Lends an exclusive connection to `replica` (see
    /// [`replica_for_reads`](Self::replica_for_reads)), or to the primary when there is
    /// none or it fails; observed under `parent`.
    pub(crate) fn acquire_for_reads(
        &self,
        replica: Option<usize>,
        parent: Option<&TransactionWatch>,
    ) -> Result<PooledConnection, Error> {
        let inner = &self.inner;
        if let Some(replica) = replica {
            let deadline = Instant::now() + inner.config.get_acquire_timeout();
            let lent = inner.observe.exclusive_acquire(parent, replica, || {
                exclusive::acquire(inner, replica, deadline).transpose()
            });
            if let Ok(Some(conn)) = lent {
                inner.topology.servers[replica]
                    .reads_routed
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(conn);
            }
        }
        if inner.config.get_read_preference() == ReadPreference::ReplicaOnly {
            return Err(unavailable(
                "no replica is eligible for reads (read_preference = replica_only)",
            ));
        }
        self.acquire_on_primary(parent)
    }
}

/// Runs a write on `client` and moves `position` past it: the server's WAL insert
/// position is read right behind the write, in the same pipeline (SQL built at run time
/// without parameter types is described first, so the position costs a round trip of
/// its own there).
fn write_recorded(
    client: &Client,
    share_sync: bool,
    query: &Query<'_>,
    position: &AtomicU64,
    on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
) -> Result<u64, Error> {
    let (rows, lsn) = match query.types() {
        Some(types) => client.for_each_typed_then_wal_position(
            query.sql(),
            types,
            query.params(),
            &mut *on_row,
        )?,
        None => {
            let rows = query.run_on_client(client, share_sync, on_row)?;
            let row = client.query_typed("SELECT pg_current_wal_insert_lsn()", &[], &[])?;
            let lsn = row
                .first()
                .map(|r| r.get::<lifeguard_pg::types::PgLsn>(0))
                .transpose()?
                .map_or(0, u64::from);
            (rows, lsn)
        }
    };
    position.fetch_max(lsn, Ordering::SeqCst);
    Ok(rows)
}

/// Whether a read that failed on a replica may run on the primary: it did not run
/// (its connection died, it timed out) or the replica refused it for being one.
fn worth_retrying(e: &Error) -> bool {
    e.is_connection_error()
        || e.timeout().is_some()
        || e.code().is_some_and(|c| REPLICA_ONLY_ERRORS.contains(&c))
}

/// [`Error::Unavailable`] for a routing reason.
fn unavailable(reason: &str) -> Error {
    Error::Unavailable {
        cause: Arc::new(Error::Closed {
            reason: reason.to_owned(),
        }),
    }
}

/// A reserved place on a shared connection, given back when dropped (also on panic).
struct Reservation<'a> {
    shared: &'a Shared,
    slot: usize,
    broken: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.shared.release(self.slot, self.broken);
    }
}
