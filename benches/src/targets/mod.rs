//! The clients under test, one module each, and what they share: the request loop, the
//! runners of `concurrency` loops on may coroutines or tokio tasks, the tokio runtime.
//! Each target opens its connections, then runs `concurrency` workers in a [`Window`],
//! each looping on the single query until the window closes, and returns their
//! recorders. Without a pool (`client`, `tokio-postgres`) worker `i` uses connection
//! `i % connections`; with one (`pool`, `deadpool`, `sqlx`) the pool, of `connections`
//! connections, picks.

pub mod client;
pub mod deadpool;
pub mod pool;
pub mod sqlx;
pub mod tokio_postgres;

use std::error::Error as StdError;
use std::fmt::Display;
use std::future::ready;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::stats::Recorder;
use crate::workload::{Ids, Window};

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

/// One request loop, the same for every synchronous target: [`request_loop_async`]
/// with requests that are answered by the time they return.
pub(crate) fn request_loop<E: Display>(
    index: usize,
    window: Window,
    mut request: impl FnMut(i32) -> Result<(), E>,
) -> Recorder {
    let run = pin!(request_loop_async(index, window, |id| ready(request(id))));
    // Every request is ready at once, so the first poll runs the loop to its end.
    let Poll::Ready(recorder) = run.poll(&mut Context::from_waker(Waker::noop())) else {
        unreachable!("a loop of ready requests never waits");
    };
    recorder
}

/// One request loop, the same for every target: runs `request` with a fresh random id
/// until the window ends or a request fails; records what it saw.
pub(crate) async fn request_loop_async<E: Display, F: Future<Output = Result<(), E>>>(
    index: usize,
    window: Window,
    mut request: impl FnMut(i32) -> F,
) -> Recorder {
    let mut recorder = Recorder::new();
    let mut ids = Ids::for_worker(index);
    loop {
        let begin = Instant::now();
        if begin >= window.until {
            break;
        }
        if let Err(e) = request(ids.next_id()).await {
            recorder.error(e);
            break;
        }
        if begin >= window.measure_from {
            recorder.record(begin, Instant::now());
        }
    }
    recorder
}

/// Opens the window and runs `load.concurrency` request loops on may coroutines, loop
/// `i` being `make_loop(i, window)`; returns the window and their recorders.
pub(crate) fn run_coroutines<L>(
    load: &Load,
    mut make_loop: impl FnMut(usize, Window) -> L,
) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>>
where
    L: FnOnce() -> Recorder + Send + 'static,
{
    let window = Window::starting_now(load.warmup, load.measure);
    let handles: Vec<_> = (0..load.concurrency)
        .map(|i| may::go!(make_loop(i, window)))
        .collect();
    let mut recorders = Vec::with_capacity(handles.len());
    for (i, handle) in handles.into_iter().enumerate() {
        let recorder = handle
            .join()
            .map_err(|_| format!("request coroutine {i} panicked"))?;
        recorders.push(recorder);
    }
    Ok((window, recorders))
}

/// [`run_coroutines`] on tokio tasks.
pub(crate) async fn run_tasks<L>(
    load: &Load,
    mut make_loop: impl FnMut(usize, Window) -> L,
) -> Result<(Window, Vec<Recorder>), Box<dyn StdError>>
where
    L: Future<Output = Recorder> + Send + 'static,
{
    let window = Window::starting_now(load.warmup, load.measure);
    let tasks: Vec<_> = (0..load.concurrency)
        .map(|i| tokio::spawn(make_loop(i, window)))
        .collect();
    let mut recorders = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        let recorder = task
            .await
            .map_err(|e| format!("request task {i} failed: {e}"))?;
        recorders.push(recorder);
    }
    Ok((window, recorders))
}

/// Opens all `connections` of a pool that connects on demand (`deadpool`, `sqlx`)
/// before the window: takes them all at once, so each `take` has to open another, then
/// hands them back.
pub(crate) async fn open_all<C, E, F>(
    connections: usize,
    mut take: impl FnMut() -> F,
) -> Result<(), E>
where
    F: Future<Output = Result<C, E>>,
{
    let mut held = Vec::with_capacity(connections);
    for _ in 0..connections {
        held.push(take().await?);
    }
    Ok(())
}

/// The multi-thread tokio runtime every async peer runs on.
pub(crate) fn tokio_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}
