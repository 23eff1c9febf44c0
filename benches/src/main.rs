//! `lifeguard-bench`: a load generator for the TechEmpower "single query" workload
//! (`SELECT id, randomnumber FROM world WHERE id = $1`, a random id out of 10,000),
//! with the same number of worker threads, request loops and connections, against:
//!
//! - `--target client`: lifeguard-pg's pipelined client on may coroutines;
//! - `--target pool`: the `lifeguard` crate's pool (pipelined shared connections) on
//!   may coroutines, reads sharing a Sync (its default);
//! - `--target pool-one-sync`: the same pool with a Sync per request
//!   (`share_sync(false)`);
//! - `--target tokio-postgres`: tokio-postgres on tokio, one prepared statement per
//!   connection;
//! - `--target deadpool`: deadpool-postgres on tokio (`get`, `prepare_cached`,
//!   `query_one` per request);
//! - `--target sqlx`: sqlx's `PgPool` on tokio (`query_as(..).fetch_one(&pool)`).
//!
//! ```text
//! cargo run --release -p lifeguard-bench -- --target client --concurrency 256 --connections 2 --seconds 10
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --release -p lifeguard-bench -- --target tokio-postgres --seconds 5
//! ```
//!
//! Built with features `metrics` and `tracing`, the pool targets carry Lifeguard's
//! observability: spans compiled in (no subscriber), and with `--metrics` the pool's
//! Prometheus series registered; `benches/observability.sh` measures both on and off.
//!
//! The server is `--url`, else `DATABASE_URL`, else a private server started by
//! lifeguard-harness. The `world` table is created and filled when absent. Each loop
//! runs `--warmup-seconds` unrecorded, then `--seconds` recorded, and stops by itself;
//! a request unanswered after 5 s fails, and a loop stops at its first failure.
//!
//! Human-readable lines go to stderr; the last line on stdout is
//! `qps=<n> p50_us=<n> p99_us=<n> cpu_us_per_query=<x.y>`: integers, and the process's
//! CPU time (user + system, `getrusage`) over the measured window per measured query. The exit status is 1 when any request
//! failed, 2 when the run could not start or did not end in time.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};

use lifeguard_bench::cpu::CpuWindow;
use lifeguard_bench::stats::Summary;
use lifeguard_bench::targets::{self, Load};
use lifeguard_bench::{default_database_url, workload};

/// Load generator: the TechEmpower single-query workload against a PostgreSQL client.
#[derive(Debug, Parser)]
#[command(name = "lifeguard-bench", version)]
struct Args {
    /// The client under test.
    #[arg(long, value_enum, default_value_t = Target::Client)]
    target: Target,
    /// Concurrent request loops (coroutines or tasks).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Connections the loops share (without a pool, loop i uses connection i % N; with
    /// one, the pool's size).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Recorded seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Seconds run before recording starts.
    #[arg(long, default_value_t = 1)]
    warmup_seconds: u64,
    /// Worker threads of the runtime (may or tokio) [default: the number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    workers: Option<u32>,
    /// PostgreSQL URL [default: DATABASE_URL, else a private server from lifeguard-harness].
    #[arg(long)]
    url: Option<String>,
    /// Stack of each request coroutine, in words of 8 bytes (targets on may only).
    #[arg(long, default_value_t = targets::client::STACK_WORDS, value_parser = parse_words)]
    stack_words: usize,
    /// Registers the pool's Prometheus series (targets pool and pool-one-sync; built
    /// with feature `metrics`).
    #[cfg(feature = "metrics")]
    #[arg(long)]
    metrics: bool,
}

/// A positive count of words, decimal or `0x` hexadecimal.
fn parse_words(text: &str) -> Result<usize, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => usize::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(0) => Err("must be at least 1".into()),
        Ok(words) => Ok(words),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// lifeguard-pg's pipelined `Client` on may coroutines.
    Client,
    /// The `lifeguard` crate's pool on may coroutines.
    Pool,
    /// The pool with one Sync per request (`PoolConfig::share_sync(false)`).
    PoolOneSync,
    /// tokio-postgres on a tokio multi-thread runtime.
    TokioPostgres,
    /// deadpool-postgres (tokio-postgres) on a tokio multi-thread runtime.
    Deadpool,
    /// sqlx's PostgreSQL pool on a tokio multi-thread runtime.
    Sqlx,
}

/// How long past the end of the window the run may take before it is declared hung:
/// one request deadline, plus time to close connections.
const GRACE: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    let args = Args::parse();
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    if matches!(
        args.target,
        Target::Client | Target::Pool | Target::PoolOneSync
    ) {
        // Before anything starts a coroutine.
        targets::client::configure_may(workers, args.stack_words);
    }
    let url = match args.url.clone().map_or_else(default_database_url, Ok) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("no server to load: {e}");
            return ExitCode::from(2);
        }
    };
    let load = Load {
        url,
        workers,
        concurrency: args.concurrency as usize,
        connections: args.connections as usize,
        warmup: Duration::from_secs(args.warmup_seconds),
        measure: Duration::from_secs(args.seconds),
    };
    eprintln!(
        "target={:?} workers={} concurrency={} connections={} warmup={}s seconds={} \
         stack_words={:#x} metrics={} tracing={}",
        args.target,
        load.workers,
        load.concurrency,
        load.connections,
        args.warmup_seconds,
        args.seconds,
        args.stack_words,
        observed(&args),
        cfg!(feature = "tracing")
    );
    if let Err(e) = workload::setup(&load.url) {
        eprintln!("setup of table world failed: {e}");
        return ExitCode::from(2);
    }

    let done = Arc::new(AtomicBool::new(false));
    start_watchdog(load.warmup + load.measure + GRACE, done.clone());
    let started = std::time::Instant::now();
    let cpu = CpuWindow::between(started + load.warmup, started + load.warmup + load.measure);
    let outcome = match args.target {
        Target::Client => targets::client::run(&load),
        Target::Pool => targets::pool::run(&load, true, observed(&args)),
        Target::PoolOneSync => targets::pool::run(&load, false, observed(&args)),
        Target::TokioPostgres => targets::tokio_postgres::run(&load),
        Target::Deadpool => targets::deadpool::run(&load),
        Target::Sqlx => targets::sqlx::run(&load),
    };
    done.store(true, Ordering::SeqCst);
    let (window, recorders) = match outcome {
        Ok(result) => result,
        Err(e) => {
            eprintln!("run failed: {e}");
            return ExitCode::from(2);
        }
    };

    let summary = Summary::merge(window.measure_from, recorders);
    let cpu = cpu.used();
    eprintln!("{}", summary.details());
    eprintln!(
        "client cpu: {:.3}s over the measured window, {:.1} us per query",
        cpu.as_secs_f64(),
        summary.cpu_us_per_request(cpu)
    );
    for e in &summary.error_samples {
        eprintln!("error: {e}");
    }
    println!("{}", summary.result_line(cpu));
    if summary.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether the pool's metrics are registered (`--metrics`).
fn observed(args: &Args) -> bool {
    #[cfg(feature = "metrics")]
    return args.metrics;
    #[cfg(not(feature = "metrics"))]
    {
        let _ = args;
        false
    }
}

/// Ends the process when the run has not finished `limit` after it started: a request
/// loop that never returns is a result to report, not a reason to hang.
fn start_watchdog(limit: Duration, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        if !done.load(Ordering::SeqCst) {
            eprintln!(
                "watchdog: the run did not finish within {limit:?}; some request loop is stuck"
            );
            std::process::exit(2);
        }
    });
}
