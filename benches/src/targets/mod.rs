//! The clients under test. Each target opens its connections, then runs `concurrency`
//! workers in a [`Window`](crate::workload::Window), each looping on the single query
//! until the window closes, and returns their recorders. Without a pool (`client`,
//! `tokio-postgres`) worker `i` uses connection `i % connections`; with one (`pool`,
//! `deadpool`, `sqlx`) the pool, of `connections` connections, picks.

pub mod client;
pub mod deadpool;
pub mod pool;
pub mod sqlx;
pub mod tokio_postgres;

use std::time::Duration;

/// How one run is shaped, whatever the target.
#[derive(Debug, Clone)]
pub struct Load {
    /// Where the server is.
    pub url: String,
    /// OS worker threads of the runtime (may or tokio).
    pub workers: usize,
    /// Concurrent request loops (coroutines or tasks).
    pub concurrency: usize,
    /// Connections the loops share.
    pub connections: usize,
    /// Time before recording starts.
    pub warmup: Duration,
    /// Recorded time.
    pub measure: Duration,
}

/// The longest one request may take before it counts as failed: no loop waits forever
/// on a connection that stopped answering.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// Checks a decoded row against the id that was asked for: a pipelined client that
/// handed an answer to the wrong caller shows up here.
pub(crate) fn check_row(asked: i32, id: i32, randomnumber: i32) -> Result<(), String> {
    if id != asked {
        return Err(format!("asked for id {asked}, got the row of id {id}"));
    }
    if !(1..=10_000).contains(&randomnumber) {
        return Err(format!(
            "id {id} has randomnumber {randomnumber}, outside 1..=10000"
        ));
    }
    Ok(())
}

/// One request loop, the same for every synchronous target: runs `request` with a fresh
/// random id until the window ends or a request fails; records what it saw.
pub(crate) fn request_loop<E: std::fmt::Display>(
    index: usize,
    window: crate::workload::Window,
    mut request: impl FnMut(i32) -> Result<(), E>,
) -> crate::stats::Recorder {
    let mut recorder = crate::stats::Recorder::new();
    let mut ids = crate::workload::Ids::for_worker(index);
    loop {
        let begin = std::time::Instant::now();
        if begin >= window.until {
            break;
        }
        if let Err(e) = request(ids.next_id()) {
            recorder.error(e);
            break;
        }
        if begin >= window.measure_from {
            recorder.record(begin, std::time::Instant::now());
        }
    }
    recorder
}

/// [`request_loop`] for the async peers.
pub(crate) async fn request_loop_async<E: std::fmt::Display, F: Future<Output = Result<(), E>>>(
    index: usize,
    window: crate::workload::Window,
    mut request: impl FnMut(i32) -> F,
) -> crate::stats::Recorder {
    let mut recorder = crate::stats::Recorder::new();
    let mut ids = crate::workload::Ids::for_worker(index);
    loop {
        let begin = std::time::Instant::now();
        if begin >= window.until {
            break;
        }
        if let Err(e) = request(ids.next_id()).await {
            recorder.error(e);
            break;
        }
        if begin >= window.measure_from {
            recorder.record(begin, std::time::Instant::now());
        }
    }
    recorder
}

/// The multi-thread tokio runtime every async peer runs on.
pub(crate) fn tokio_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}
