//! Target `pool`: the `lifeguard` crate's [`Pool`] (pipelined shared connections) on
//! may coroutines, configured as for the `client` target
//! ([`configure_may`](super::client::configure_may)). The query is written as a user
//! writes it, with `query!`: checked at compile time and classed a read, so reads
//! queued together share a Sync.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use lifeguard::{Pool, PoolConfig};

use super::{Load, REQUEST_DEADLINE, check_row};
use crate::stats::Recorder;
use crate::workload::Window;

/// How long the pool may take to open all its connections before the run gives up.
const OPEN_DEADLINE: Duration = Duration::from_secs(10);

/// How long closing the pool waits for statements still in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Runs the load, reads sharing a Sync or not, the pool's Prometheus series registered
/// or not (`metrics`: only with feature `metrics`);
/// [`configure_may`](super::client::configure_may) must have been called first.
pub fn run(
    load: &Load,
    share_sync: bool,
    metrics: bool,
) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>> {
    let config = PoolConfig::new(&load.url)?
        .connections(load.connections)
        .share_sync(share_sync)
        // Every loop may be in flight at once on one connection: the pool never makes
        // a loop wait for room.
        .max_in_flight(load.concurrency)
        .acquire_timeout(REQUEST_DEADLINE)
        // The server cancels a statement that runs past the deadline.
        .statement_timeout(Some(REQUEST_DEADLINE));
    let pool = Pool::new(config)?;
    #[cfg(feature = "metrics")]
    let registry = lifeguard::metrics::prometheus::Registry::new();
    #[cfg(feature = "metrics")]
    if metrics {
        pool.register_metrics(&registry)?;
    }
    #[cfg(not(feature = "metrics"))]
    if metrics {
        return Err("--metrics needs lifeguard-bench built with feature metrics".into());
    }
    wait_until_open(&pool, load.connections)?;
    let (window, recorders) = super::run_coroutines(load, |i, window| {
        let pool = pool.clone();
        move || super::request_loop(i, window, |id| single_query(&pool, id, Instant::now()))
    })?;
    let stats = pool.stats();
    eprintln!(
        "pool: shared_open={} in_flight={} waiting={} acquire_timeouts={} reconnects={} \
         cache_hits={} cache_misses={}",
        stats.shared_open,
        stats.in_flight,
        stats.waiting,
        stats.acquire_timeouts,
        stats.reconnects,
        stats.cache_hits,
        stats.cache_misses
    );
    #[cfg(feature = "metrics")]
    if metrics {
        let text = lifeguard::metrics::encode(&registry)?;
        let queries = text
            .lines()
            .filter(|l| l.starts_with("lifeguard_queries_total"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>();
        eprintln!("metrics: lifeguard_queries_total sums to {queries}");
    }
    pool.close(CLOSE_GRACE);
    Ok((window, recorders))
}

/// The pool connects in the background: waits until all its shared connections are up.
fn wait_until_open(pool: &Pool, connections: usize) -> Result<(), Box<dyn StdError>> {
    let deadline = Instant::now() + OPEN_DEADLINE;
    loop {
        let open = pool.stats().shared_open;
        if open == connections {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the pool opened {open} of {connections} connections within {OPEN_DEADLINE:?}"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn single_query(pool: &Pool, id: i32, begin: Instant) -> Result<(), Box<dyn StdError>> {
    // The text of `workload::SINGLE_QUERY`, which the other targets run.
    let row = lifeguard::query!("SELECT id, randomnumber FROM world WHERE id = $1", id)
        .fetch_one(pool)?;
    check_row(id, row.id, row.randomnumber)?;
    // The pool bounds the wait for room (acquire timeout) and the server the statement
    // (statement timeout), not the whole request: an answer later than the deadline
    // counts as a failure, as it does on the other targets.
    if begin.elapsed() > REQUEST_DEADLINE {
        return Err(format!("id {id}: answered after {REQUEST_DEADLINE:?}").into());
    }
    Ok(())
}
