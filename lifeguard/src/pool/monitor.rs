//! One monitor coroutine per server (when the pool has more than one): it polls the
//! server on a connection of its own every `replica_poll_interval` and records what it
//! saw in the server's [`Health`](super::topology::Health).
//!
//! One query answers everything: whether the server is in recovery, its WAL position
//! (the replayed one on a standby, the insert position on a primary) and whether replay
//! is paused. The primary's positions go into the WAL history; a replica's lag in bytes
//! is the newest primary position less its replayed one, and its lag in seconds is how
//! long ago the primary was first seen past its replayed position (zero once it has
//! replayed all the primary wrote, so an idle primary shows no lag).
//!
//! Roles follow the polls: a server that is not in recovery becomes the primary when
//! there is none, or when the primary is unreachable or itself in recovery (a standby
//! promoted after the primary died). A primary that reports it is in recovery is a
//! primary no more: writes then fail fast until another server reports it is not.
//! Waiters queued on a server that stops being the primary are released to be routed
//! again ([`WaitQueue::redirect`](crate::wait_queue::WaitQueue::redirect)).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifeguard_pg::types::PgLsn;
use lifeguard_pg::{Client, Error};

use super::topology::Topology;
use crate::config::PoolConfig;
use crate::stats::Ineligible;

/// The poll: recovery state, WAL position, replay paused.
const POLL_SQL: &str = "SELECT pg_is_in_recovery(), \
     CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
          ELSE pg_current_wal_insert_lsn() END, \
     CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END";

/// The least time a poll may take before the server counts as unreachable.
const MIN_POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// One poll's answer.
struct Seen {
    in_recovery: bool,
    position: u64,
    paused: bool,
}

/// Polls server `index` until `closing` is set.
pub(crate) fn watch(
    topology: Arc<Topology>,
    index: usize,
    config: PoolConfig,
    closing: Arc<AtomicBool>,
) {
    let interval = config.get_replica_poll_interval();
    let timeout = (interval * 10).max(MIN_POLL_TIMEOUT);
    let server = &topology.servers[index];
    let mut client: Option<Client> = None;
    let mut failures = 0u32;
    while !closing.load(Ordering::SeqCst) {
        let started = Instant::now();
        let seen = poll(&mut client, &server.pg, timeout);
        server.health.tried.store(true, Ordering::SeqCst);
        match seen {
            Ok(seen) => {
                failures = 0;
                record(&topology, index, &config, seen);
            }
            Err(_) => {
                unreachable(&topology, index);
                client = None;
                failures = failures.saturating_add(1);
                let delay = config.backoff_delay(failures - 1, fastrand::f64());
                may::coroutine::sleep(delay.min(interval * 10));
                continue;
            }
        }
        may::coroutine::sleep(interval.saturating_sub(started.elapsed()));
    }
}

/// Polls once on `client`, connecting first when there is none.
fn poll(
    client: &mut Option<Client>,
    pg: &lifeguard_pg::Config,
    timeout: Duration,
) -> Result<Seen, Error> {
    let current = match client.take().filter(|c| !c.is_closed()) {
        Some(current) => current,
        None => {
            let mut pg = pg.clone();
            pg.connect_timeout(timeout.min(pg.get_connect_timeout().unwrap_or(timeout)));
            let fresh = Client::connect(&pg)?;
            fresh.set_stall_timeout(Some(timeout));
            fresh.with_deadline(timeout)
        }
    };
    let row = current.query_typed(POLL_SQL, &[], &[])?;
    let row = row
        .first()
        .ok_or_else(|| Error::Protocol("the poll returned no row".into()))?;
    let seen = Seen {
        in_recovery: row.get(0)?,
        position: row.get::<Option<PgLsn>>(1)?.map_or(0, u64::from),
        paused: row.get(2)?,
    };
    *client = Some(current);
    Ok(seen)
}

/// A poll of `index` failed: it takes no reads, and as the primary it takes no writes
/// once its connections are down too.
fn unreachable(topology: &Topology, index: usize) {
    let health = &topology.servers[index].health;
    health.reachable.store(false, Ordering::SeqCst);
    health.set_reason(Some(Ineligible::Unreachable));
}

/// Records a good poll of `index` and follows a change of primary.
fn record(topology: &Topology, index: usize, config: &PoolConfig, seen: Seen) {
    let server = &topology.servers[index];
    let health = &server.health;
    let now = Instant::now();
    health.in_recovery.store(seen.in_recovery, Ordering::SeqCst);
    health.paused.store(seen.paused, Ordering::SeqCst);
    health.position.store(seen.position, Ordering::SeqCst);
    health.reachable.store(true, Ordering::SeqCst);
    health.polled.store(true, Ordering::SeqCst);
    topology.forgive(index);
    let primary = topology.primary();
    if !seen.in_recovery {
        if primary == Some(index) {
            crate::brief::lock(&topology.history).record(seen.position, now);
        } else if primary.is_none_or(|p| gone(topology, p)) {
            promote(topology, primary, index, seen.position, now);
        }
        health.set_reason(Some(Ineligible::NotInRecovery));
        return;
    }
    if primary == Some(index) && topology.switch_primary(index, super::topology::NO_PRIMARY) {
        // A primary that is in recovery now (demoted, or a standby by mistake) takes
        // no more writes: whoever waits for it is routed again.
        server.shared.queue.redirect();
        server.exclusive.queue.redirect();
    }
    let (latest, lag) = {
        let history = crate::brief::lock(&topology.history);
        (history.latest(), history.lag(seen.position, now))
    };
    let lag_bytes = latest.map_or(0, |p| p.saturating_sub(seen.position));
    health.lag_bytes.store(lag_bytes, Ordering::Relaxed);
    health
        .lag_micros
        .store(lag.as_micros() as u64, Ordering::Relaxed);
    let reason = if seen.paused {
        Some(Ineligible::ReplayPaused)
    } else if latest.is_none() {
        // Nothing is known of the primary: the lag cannot be bounded.
        Some(Ineligible::Unreachable)
    } else if lag_bytes > config.get_replica_max_lag_bytes() {
        Some(Ineligible::LagBytes)
    } else if lag > config.get_replica_max_lag() {
        Some(Ineligible::LagSeconds)
    } else {
        None
    };
    health.set_reason(reason);
}

/// Whether primary `index` can no longer take writes: its last poll failed and it has
/// no healthy connection, or it reported it is in recovery.
pub(crate) fn gone(topology: &Topology, index: usize) -> bool {
    let server = &topology.servers[index];
    let health = &server.health;
    (!health.reachable.load(Ordering::SeqCst) && server.shared.open() == 0)
        || health.in_recovery.load(Ordering::SeqCst)
}

/// Makes `index` (not in recovery, at `position`) the primary in place of `old`.
fn promote(topology: &Topology, old: Option<usize>, index: usize, position: u64, now: Instant) {
    let expected = old.unwrap_or(super::topology::NO_PRIMARY);
    if !topology.switch_primary(expected, index) {
        return;
    }
    let mut history = crate::brief::lock(&topology.history);
    *history = Default::default();
    history.record(position, now);
    drop(history);
    if let Some(old) = old {
        let old = &topology.servers[old];
        old.shared.queue.redirect();
        old.exclusive.queue.redirect();
    }
}
