//! A primary and two streaming standbys on this machine (private clusters from
//! lifeguard-harness), and what routing costs and gains, measured in one run:
//!
//! - read throughput of a compile-time read from many coroutines, with the reads on the
//!   two standbys and with every read on the primary (`read_preference = primary`);
//! - write throughput with and without a [`Session`](lifeguard::Session), whose writes
//!   read the WAL position right behind them (read-your-writes).
//!
//! ```sh
//! cargo run --release -p lifeguard --example replicas [SECONDS]
//! ```
//!
//! It reports; it asserts nothing. Three servers and the load share the machine's
//! cores, so compare the rows of one run, not runs on different machines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeguard::{Pool, PoolConfig, ReadPreference, Role};
use lifeguard_harness::Cluster;

/// Coroutines issuing requests.
const CALLERS: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(5), |s| s.parse())
        .map_err(|_| "the argument is the seconds per measurement")?;
    let window = Duration::from_secs(seconds);
    may::config().set_workers(2).set_stack_size(0x10000);
    let primary = Cluster::start()?;
    primary.psql("postgres", include_str!("../../queries/schema.sql"))?;
    let standbys = [primary.start_standby()?, primary.start_standby()?];
    let config = |preference| -> Result<PoolConfig, lifeguard::Error> {
        Ok(PoolConfig::new(&primary.url())?
            .replica(&standbys[0].url())?
            .replica(&standbys[1].url())?
            .connections(2)
            .read_preference(preference))
    };
    let replicas = Pool::new(config(ReadPreference::PreferReplica)?)?;
    let on_primary = Pool::new(config(ReadPreference::Primary)?)?;
    for pool in [&replicas, &on_primary] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while pool
            .server_stats()
            .iter()
            .filter(|s| s.role == Role::Replica && s.eligible)
            .count()
            < 2
        {
            if Instant::now() > deadline {
                return Err(format!("standbys never eligible: {:?}", pool.server_stats()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    println!("{CALLERS} coroutines, 2 may workers, 2 connections per server, {seconds} s each");
    println!("{:<34} {:>10} {:>12}", "target", "q/s", "cpu µs/q");
    for round in 1..=2 {
        for (name, pool) in [
            ("reads on 2 standbys", &replicas),
            ("reads on the primary", &on_primary),
        ] {
            let (qps, cpu) = measure(window, pool, |pool, _| {
                lifeguard::query!("SELECT current_setting('port')::int4 AS \"port!\"")
                    .fetch_one(pool)
                    .map(drop)
            });
            println!(
                "{:<34} {qps:>10.0} {cpu:>12.1}",
                format!("{name} (round {round})")
            );
        }
        let (qps, cpu) = measure(window, &replicas, |pool, call| {
            lifeguard::query!(
                "INSERT INTO routing_items (call, note) VALUES ($1, 'bench')",
                call
            )
            .execute(pool)
            .map(drop)
        });
        println!(
            "{:<34} {qps:>10.0} {cpu:>12.1}",
            format!("writes (round {round})")
        );
        let (qps, cpu) = measure(window, &replicas, |pool, call| {
            let session = pool.session();
            lifeguard::query!(
                "INSERT INTO routing_items (call, note) VALUES ($1, 'bench')",
                call
            )
            .execute(&session)
            .map(drop)
        });
        println!(
            "{:<34} {qps:>10.0} {cpu:>12.1}",
            format!("writes in a Session (round {round})")
        );
    }
    Ok(())
}

/// Runs `op` from [`CALLERS`] coroutines for `window`; queries per second and the
/// process's CPU microseconds per query.
fn measure(
    window: Duration,
    pool: &Pool,
    op: impl Fn(&Pool, i32) -> Result<(), lifeguard::Error> + Send + Sync + 'static,
) -> (f64, f64) {
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_time();
    let started = Instant::now();
    let handles: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (op, stop, done, pool) = (op.clone(), stop.clone(), done.clone(), pool.clone());
            may::go!(move || {
                let mut call = caller as i32;
                while !stop.load(Ordering::Relaxed) {
                    if op(&pool, call).is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    call += CALLERS as i32;
                }
            })
        })
        .collect();
    std::thread::sleep(window);
    stop.store(true, Ordering::SeqCst);
    let count = done.load(Ordering::SeqCst);
    let elapsed = started.elapsed();
    let cpu = cpu_time() - cpu_before;
    for handle in handles {
        let _ = handle.join();
    }
    let queries = count.max(1) as f64;
    (
        queries / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / queries,
    )
}

/// User and system CPU time of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}
