//! Callers for the fault suite (`tests/faults.rs`): many callers of one kind — `may`
//! coroutines, or plain OS threads making calls in sequence — each call timed, each
//! result reported through a channel, and every wait of the test itself bounded.
//!
//! Nothing here can hang the test binary: callers report through a `may` channel the
//! test reads with `recv_timeout`, and gives up on when the overall limit passes or when
//! no caller has finished for longer than one call may take. A caller that never
//! returns is left behind (a parked coroutine or thread costs nothing once the test
//! ends) and counted as missing. Work the test does itself on the pool runs on a helper
//! thread through [`bounded`], for the same reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeguard::{Error, Pool, query};

/// How much longer than its configured bound a call may take (scheduling on 2 cores).
pub const SLACK: Duration = Duration::from_secs(1);

/// What one call can end with besides success.
#[derive(Debug)]
pub enum Failure {
    /// The pool returned an error.
    Pool(Error),
    /// The call succeeded with somebody else's answer.
    Wrong(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Pool(e)
    }
}

/// The result of one call.
pub type Outcome = Result<(), Failure>;

/// One call a caller makes; its argument is the call's number (unique in a run).
pub type Op = Arc<dyn Fn(usize) -> Outcome + Send + Sync>;

/// Who makes the calls.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One `may` coroutine per call.
    Coroutines,
    /// This many OS threads, each making its share of the calls in sequence.
    Threads(usize),
}

impl Kind {
    /// How the table names it for `calls` calls.
    pub fn label(self, calls: usize) -> String {
        match self {
            Kind::Coroutines => "coroutines".to_owned(),
            Kind::Threads(threads) => format!("threads {threads}x{}", calls.div_ceil(threads)),
        }
    }

    /// How many calls one caller makes in sequence.
    pub fn rounds(self, calls: usize) -> u32 {
        match self {
            Kind::Coroutines => 1,
            Kind::Threads(threads) => calls.div_ceil(threads) as u32,
        }
    }
}

/// One finished call.
pub struct Call {
    pub wait: Duration,
    pub outcome: Outcome,
}

/// Callers at work; [`Running::collect`] gathers what they report.
pub struct Running {
    /// A std channel, not may's: may's queue spins while a producer is preempted
    /// mid-push, and 2,000 producing threads on 2 cores turn that into seconds of
    /// spinning (found with perf) that would be charged to the pool.
    rx: std::sync::mpsc::Receiver<Call>,
    calls: usize,
    kind: Kind,
    /// When each call now in progress started (a std lock, held for one insert or
    /// remove, never across a call).
    out: Out,
}

type Out = Arc<Mutex<HashMap<usize, Instant>>>;

/// Starts `calls` calls of `op` made by callers of `kind`; coroutines get stacks of
/// `stack_words` words (may's unit).
pub fn start(kind: Kind, calls: usize, stack_words: usize, op: Op) -> Running {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = Out::default();
    match kind {
        Kind::Coroutines => {
            for call in 0..calls {
                spawn_call(call, stack_words, &op, &tx, &out);
            }
        }
        Kind::Threads(threads) => {
            let per = calls.div_ceil(threads);
            for thread in 0..threads {
                let (tx, op, out) = (tx.clone(), op.clone(), out.clone());
                let first = thread * per;
                let last = calls.min(first + per);
                std::thread::Builder::new()
                    .stack_size(1 << 20)
                    .spawn(move || (first..last).for_each(|call| timed(call, &*op, &tx, &out)))
                    .expect("spawn a caller thread");
            }
        }
    }
    Running {
        rx,
        calls,
        kind,
        out,
    }
}

/// Starts `calls` calls of `op`, one coroutine each, one at a time: after each it
/// waits until `started(calls started so far)` holds (or fails the test).
pub fn start_in_order(calls: usize, op: Op, mut started: impl FnMut(usize) -> bool) -> Running {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = Out::default();
    for call in 0..calls {
        spawn_call(call, 0x1000, &op, &tx, &out);
        assert!(started(call + 1), "call {call} did not start");
    }
    Running {
        rx,
        calls,
        kind: Kind::Coroutines,
        out,
    }
}

fn spawn_call(
    call: usize,
    stack_words: usize,
    op: &Op,
    tx: &std::sync::mpsc::Sender<Call>,
    out: &Out,
) {
    let (tx, op, out) = (tx.clone(), op.clone(), out.clone());
    let builder = may::coroutine::Builder::new().stack_size(stack_words);
    // SAFETY: the caller uses no thread-locals and blocks only on may primitives (the
    // pool, a may channel).
    let spawned = unsafe { builder.spawn(move || timed(call, &*op, &tx, &out)) };
    spawned.expect("spawn a caller coroutine");
}

fn timed(
    call: usize,
    op: &(dyn Fn(usize) -> Outcome + Send + Sync),
    tx: &std::sync::mpsc::Sender<Call>,
    out: &Out,
) {
    let started = Instant::now();
    lock(out).insert(call, started);
    let outcome = op(call);
    lock(out).remove(&call);
    let _ = tx.send(Call {
        wait: started.elapsed(),
        outcome,
    });
}

impl Running {
    /// Gathers the reports of calls each bounded by `bound`: until all are in, or the
    /// overall limit (every round of calls at `bound` + [`SLACK`], plus 2 s) passes, or
    /// no call has finished for `bound` + [`SLACK`] + 1 s (a call still out then is
    /// over its bound already).
    pub fn collect(self, bound: Duration) -> Report {
        let started = Instant::now();
        let limit = (bound + SLACK) * self.kind.rounds(self.calls) + Duration::from_secs(2);
        let quiet = bound + SLACK + Duration::from_secs(1);
        let mut calls = Vec::with_capacity(self.calls);
        while calls.len() < self.calls {
            let left = limit.saturating_sub(started.elapsed());
            match self.rx.recv_timeout(left.min(quiet)) {
                Ok(call) => calls.push(call),
                Err(_) => break,
            }
        }
        let (in_progress, longest_in_progress) = {
            let out = lock(&self.out);
            let now = Instant::now();
            let longest = out.values().map(|&s| now - s).max().unwrap_or_default();
            (out.len(), longest)
        };
        Report {
            missing: self.calls - calls.len(),
            in_progress,
            longest_in_progress,
            calls,
            gave_up_after: started.elapsed(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the callers reported.
pub struct Report {
    pub calls: Vec<Call>,
    /// Calls that had not returned when the test stopped waiting.
    pub missing: usize,
    /// Of those, the calls begun (the others wait behind them on their thread).
    pub in_progress: usize,
    /// How long the oldest call in progress had been out then.
    pub longest_in_progress: Duration,
    pub gave_up_after: Duration,
}

/// How a result is named in the table: `Ok`, `Timeout(Acquire)`,
/// `Unavailable(Io(ConnectionRefused))`, `Db(57P01)`, ...
pub fn class(outcome: &Outcome) -> String {
    match outcome {
        Ok(()) => "Ok".to_owned(),
        Err(Failure::Wrong(_)) => "WRONG ANSWER".to_owned(),
        Err(Failure::Pool(e)) => error_class(e),
    }
}

/// A result in words, for messages: the error's text, or what the wrong answer was.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Ok(()) => "Ok".to_owned(),
        Err(Failure::Wrong(what)) => format!("wrong answer: {what}"),
        Err(Failure::Pool(e)) => e.to_string(),
    }
}

fn error_class(e: &Error) -> String {
    match e {
        Error::Timeout(t) => format!("Timeout({t:?})"),
        Error::Unavailable { cause } => format!("Unavailable({})", error_class(cause)),
        Error::Io(io) => format!("Io({:?})", io.kind()),
        Error::Closed { .. } => "Closed".to_owned(),
        Error::Db(db) => format!("Db({})", db.code),
        Error::Authentication(_) => "Authentication".to_owned(),
        Error::Protocol(_) => "Protocol".to_owned(),
        other => format!("other: {other}"),
    }
}

/// One row of the fault table and what it must show.
pub struct Row<'a> {
    pub fault: &'a str,
    pub calls: usize,
    pub kind: Kind,
    /// The configured bound on one call.
    pub bound: Duration,
    /// What a call may end with, in words, and as a check.
    pub allowed: &'a str,
    pub check: &'a dyn Fn(&Outcome) -> bool,
}

impl Row<'_> {
    /// Prints the table line for `report` and returns what went wrong, if anything:
    /// calls missing, calls over `bound` + [`SLACK`], outcomes not allowed.
    pub fn judge(&self, report: &Report) -> Option<String> {
        let mut classes: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
        let mut over = 0;
        let mut wrong: BTreeMap<String, usize> = BTreeMap::new();
        let mut example = None;
        for call in &report.calls {
            let class = class(&call.outcome);
            let entry = classes.entry(class.clone()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(call.wait);
            if call.wait > self.bound + SLACK {
                over += 1;
            }
            if !(self.check)(&call.outcome) {
                *wrong.entry(class).or_default() += 1;
                if example.is_none() {
                    example = Some(describe(&call.outcome));
                }
            }
        }
        let longest = report
            .calls
            .iter()
            .map(|c| c.wait)
            .max()
            .unwrap_or_default();
        let seen: Vec<String> = classes
            .iter()
            .map(|(class, (n, max))| format!("{class} x{n} (<= {max:.2?})"))
            .collect();
        let mut problems = Vec::new();
        if report.missing > 0 {
            problems.push(format!(
                "{} callers still waiting after {:.1?} ({} calls in progress, the oldest for \
                 {:.1?}; {} not begun, queued behind them on their threads)",
                report.missing,
                report.gave_up_after,
                report.in_progress,
                report.longest_in_progress,
                report.missing - report.in_progress
            ));
        }
        if over > 0 {
            problems.push(format!(
                "{over} calls over the bound {:?} + {SLACK:?} (longest {longest:.2?})",
                self.bound
            ));
        }
        if !wrong.is_empty() {
            let wrong: Vec<String> = wrong.iter().map(|(c, n)| format!("{c} x{n}")).collect();
            problems.push(format!(
                "outcomes not allowed: {} (allowed: {}; e.g. {})",
                wrong.join(", "),
                self.allowed,
                example.unwrap_or_default()
            ));
        }
        let verdict = if problems.is_empty() { "ok" } else { "FAIL" };
        let kind = self.kind.label(self.calls);
        println!(
            "{} | {} | {kind} | {} | {longest:.2?} | {:?}+{SLACK:?} | {verdict}: {}{}",
            self.fault,
            self.calls,
            report.calls.len(),
            self.bound,
            seen.join(", "),
            if problems.is_empty() {
                String::new()
            } else {
                format!(" -- {}", problems.join("; "))
            }
        );
        (!problems.is_empty()).then(|| {
            format!(
                "{} | {} {kind}: {}",
                self.fault,
                self.calls,
                problems.join("; ")
            )
        })
    }
}

/// Runs `f` on a helper thread and waits at most `limit` for it; `None` when it did not
/// finish in time (it is left running) or panicked.
pub fn bounded<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// `SELECT $1::int4` with the call's own number; anything else back is a wrong answer.
pub fn select_own(pool: &Pool, call: usize) -> Outcome {
    select_value(pool, call as i32, "SELECT $1::int4")
}

/// Runs `sql` (returning `$1::int4`) with `value` and checks the answer.
pub fn select_value(pool: &Pool, value: i32, sql: &str) -> Outcome {
    let got: i32 = query(sql).bind(&value).fetch_one(pool)?.get(0)?;
    if got != value {
        return Err(Failure::Wrong(format!("sent {value}, got {got}")));
    }
    Ok(())
}

/// Polls a query until it answers correctly, at most `limit`; how long it took.
pub fn serves_again(pool: &Pool, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = String::from("no attempt finished");
    while started.elapsed() < limit {
        let p = pool.clone();
        let left = limit
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        match bounded(left, move || select_own(&p, 7)) {
            Some(Ok(())) => return Ok(started.elapsed()),
            Some(outcome) => last = format!("{outcome:?}"),
            None => last = "a query did not return".to_owned(),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "the pool did not serve again within {limit:?} (last: {last})"
    ))
}

/// Polls until nothing is in flight, lent or waiting, at most `limit`.
pub fn settles_idle(pool: &Pool, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let s = pool.stats();
        if s.in_flight == 0 && s.exclusive_in_use == 0 && s.waiting == 0 {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(format!(
                "not idle after {limit:?}: in_flight {}, exclusive_in_use {}, waiting {}",
                s.in_flight, s.exclusive_in_use, s.waiting
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `condition` every 5 ms until it holds, at most `limit`.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// One fault case at a time: the timings are measured on 2 cores, and two 10,000-caller
/// cases at once would measure each other.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    lock(&SERIAL)
}
