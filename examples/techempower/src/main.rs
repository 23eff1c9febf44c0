//! TechEmpower's database tests as a service: may_minihttp handlers whose every
//! statement is written with the `query!` family (checked at compile time), on a
//! `lifeguard::Pool`. Lifeguard in real handlers.
//!
//! ```sh
//! cargo run --release -p lifeguard-techempower                  # 127.0.0.1:8080
//! cargo run --release -p lifeguard-techempower -- 0.0.0.0:8080
//! ```
//!
//! Routes, as the benchmark's rules give them: `/json`, `/plaintext`, `/db` (one random
//! `world` row), `/queries?queries=N` (N rows by N statements, pipelined; N below 1 or
//! not a number is 1, above 500 is 500), `/fortunes` (an escaped HTML table) and
//! `/updates?queries=N` (N rows given new random numbers, stored in one statement).
//!
//! Without `DATABASE_URL` it starts a private PostgreSQL, removed when it stops; either
//! way it applies `queries/schema.sql` and `queries/techempower.sql` (both idempotent)
//! and checks its statements against the live schema before it listens. The pool's
//! settings come from the `LIFEGUARD_*` variables (the table in `lifeguard::config`),
//! except that each statement has its own Sync unless `LIFEGUARD_SHARE_SYNC=true`.
//!
//! It prints `listening on http://ADDR` once it accepts connections. SIGINT or SIGTERM
//! stops it gracefully: it answers 503 to requests that still arrive on open
//! connections, stops accepting, waits up to 10 s for the requests in flight, closes the
//! pool, then prints `stopped` and exits 0.
//!
//! Modules: `database` (the server, its schema and rows), `routes` (the HTTP service:
//! routing, headers, failures as 500s), `failure` (why a request failed), `world`
//! (`/db`, `/queries`, `/updates`), `fortunes`, `params` (the `queries` parameter),
//! `lifecycle` (requests in flight and the drain).

mod database;
mod failure;
mod fortunes;
mod lifecycle;
mod params;
mod routes;
mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeguard::Pool;
use may_minihttp::HttpServiceFactory;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::database::Database;
use crate::lifecycle::Lifecycle;
use crate::routes::Factory;

/// Where it listens without an argument.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Each coroutine's stack, in words (may's unit; stacks do not grow): handlers render
/// JSON and HTML on it, and debug builds need more room than release ones.
const STACK_WORDS: usize = if cfg!(debug_assertions) {
    32 * 1024
} else {
    8 * 1024
};
/// How long a shutdown waits for the listener to stop.
const STOP_ACCEPTING_BOUND: Duration = Duration::from_secs(5);
/// How long a shutdown waits for the requests in flight.
const DRAIN_BOUND: Duration = Duration::from_secs(10);
/// How long the pool then waits for statements still running.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

fn main() {
    if let Err(e) = run() {
        eprintln!("techempower: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    // Before the first coroutine: may reads its configuration once.
    may::config().set_stack_size(STACK_WORDS);
    let database = Database::open()?;
    if let Some(url) = database.private_url() {
        eprintln!("database: {url}");
    }
    let config = database.pool_config()?;
    eprintln!(
        "pool: {} connections, max_in_flight {}, share_sync {}",
        config.get_connections(),
        config.get_max_in_flight(),
        config.get_share_sync()
    );
    let pool_capacity = config.get_connections() * config.get_max_in_flight();
    let pool = Pool::new(config)?;
    database::prepare(&pool)?;

    // Registered before the service listens: a signal from then on stops it gracefully.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let lifecycle = Arc::new(Lifecycle::default());
    let listener = Factory {
        pool: pool.clone(),
        lifecycle: lifecycle.clone(),
        pool_capacity,
    }
    .start(addr.as_str())?;
    println!("listening on http://{addr}");

    let signal = signals.forever().next();
    eprintln!("signal {signal:?}: stopping");
    // Refused before the listener closes: once a connect is refused, so is every request
    // on a connection still open.
    lifecycle.refuse_new();
    // SAFETY: the listener coroutine owns only the listening socket and the factory; the
    // cancel ends its accept loop and drops both (no lock held, nothing half-done). The
    // connections it started run on in coroutines of their own.
    unsafe { listener.coroutine().cancel() };
    let deadline = Instant::now() + STOP_ACCEPTING_BOUND;
    while !listener.is_done() && Instant::now() < deadline {
        may::coroutine::sleep(Duration::from_millis(10));
    }
    let unfinished = lifecycle.drain(DRAIN_BOUND);
    if unfinished > 0 {
        eprintln!("{unfinished} requests still running after {DRAIN_BOUND:?}");
    }
    pool.close(CLOSE_GRACE);
    drop(database);
    println!("stopped");
    Ok(())
}
