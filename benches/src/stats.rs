//! Latency recording: each worker keeps its raw samples (4 bytes each, so 10,000
//! workers cost memory in proportion to the requests, not to the workers); they are
//! merged into one histogram once the run is over.

use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Significant digits kept by the histograms (0.1% resolution).
const SIGFIG: u8 = 3;

/// The largest latency told apart, in microseconds (60 s); longer ones count as this.
const HIGHEST_US: u64 = 60_000_000;

/// A histogram of fixed range. Not `Histogram::new`: hdrhistogram 7.5's auto-resizing
/// histograms were seen here to report values far below any recorded one (a minimum of
/// 2 µs for requests of 30 µs and more) once they had grown.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// What one worker saw.
pub struct Recorder {
    latencies_us: Vec<u32>,
    last_done: Option<Instant>,
    errors: u64,
    first_error: Option<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            latencies_us: Vec::new(),
            last_done: None,
            errors: 0,
            first_error: None,
        }
    }

    /// One request that succeeded, from `begin` to `end`.
    pub fn record(&mut self, begin: Instant, end: Instant) {
        let micros = u32::try_from(end.duration_since(begin).as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(micros);
        self.last_done = Some(end);
    }

    /// One request that failed.
    pub fn error(&mut self, error: impl fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }
}

/// The merged result of a run.
pub struct Summary {
    latencies_us: Histogram<u64>,
    elapsed: Duration,
    /// Failed requests, all workers together.
    pub errors: u64,
    /// The first few distinct error messages.
    pub error_samples: Vec<String>,
}

impl Summary {
    /// Merges the workers' recorders; the measured time runs from `measure_from` to the
    /// last recorded completion.
    pub fn merge(measure_from: Instant, recorders: impl IntoIterator<Item = Recorder>) -> Summary {
        let mut latencies_us = histogram();
        let mut last = measure_from;
        let mut errors = 0;
        let mut error_samples: Vec<String> = Vec::new();
        for r in recorders {
            for &micros in &r.latencies_us {
                latencies_us.saturating_record(u64::from(micros));
            }
            last = last.max(r.last_done.unwrap_or(measure_from));
            errors += r.errors;
            if let Some(e) = r.first_error
                && error_samples.len() < 5
                && !error_samples.contains(&e)
            {
                error_samples.push(e);
            }
        }
        Summary {
            latencies_us,
            elapsed: last.duration_since(measure_from),
            errors,
            error_samples,
        }
    }

    /// Successful requests in the measured window.
    pub fn requests(&self) -> u64 {
        self.latencies_us.len()
    }

    /// Successful requests per second of the measured window.
    pub fn qps(&self) -> u64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.requests() as f64 / secs).round() as u64
        } else {
            0
        }
    }

    /// The latency at `quantile` (0.0..=1.0), in microseconds.
    pub fn quantile_us(&self, quantile: f64) -> u64 {
        self.latencies_us.value_at_quantile(quantile)
    }

    /// The human lines, for stderr.
    pub fn details(&self) -> String {
        let h = &self.latencies_us;
        format!(
            "requests={} errors={} measured={:.3}s qps={}\n\
             latency_us: min={} p50={} p90={} p99={} p99.9={} max={} mean={:.1}",
            self.requests(),
            self.errors,
            self.elapsed.as_secs_f64(),
            self.qps(),
            h.min(),
            self.quantile_us(0.50),
            self.quantile_us(0.90),
            self.quantile_us(0.99),
            self.quantile_us(0.999),
            h.max(),
            h.mean(),
        )
    }

    /// The client CPU time per measured request, in microseconds (one decimal), from
    /// the CPU time the process used over the measured window.
    pub fn cpu_us_per_request(&self, cpu: Duration) -> f64 {
        match self.requests() {
            0 => 0.0,
            n => (cpu.as_secs_f64() * 1e7 / n as f64).round() / 10.0,
        }
    }

    /// The machine-read result line:
    /// `qps=<n> p50_us=<n> p99_us=<n> cpu_us_per_query=<x.y>`.
    pub fn result_line(&self, cpu: Duration) -> String {
        format!(
            "qps={} p50_us={} p99_us={} cpu_us_per_query={:.1}",
            self.qps(),
            self.quantile_us(0.50),
            self.quantile_us(0.99),
            self.cpu_us_per_request(cpu)
        )
    }
}
