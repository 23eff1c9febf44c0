//! The load generator's own CPU time over the measured window (user + system, from
//! `getrusage(RUSAGE_SELF)`): sampled when recording starts and when it ends, so setup,
//! warm-up and teardown are left out. Divided by the requests measured it is the
//! client CPU per query, the figure a client controls when the server shares the cores.

use std::time::{Duration, Instant};

/// This process's CPU time so far, user and system together.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage writes only into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage; RUSAGE_SELF always exists.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Samples [`process_cpu`] at two instants on a thread of its own; [`CpuWindow::used`]
/// gives the difference once both have passed.
pub struct CpuWindow {
    samples: std::thread::JoinHandle<(Duration, Duration)>,
}

impl CpuWindow {
    /// Samples at `from` and at `to`.
    pub fn between(from: Instant, to: Instant) -> CpuWindow {
        let samples = std::thread::spawn(move || {
            std::thread::sleep(from.saturating_duration_since(Instant::now()));
            let start = process_cpu();
            std::thread::sleep(to.saturating_duration_since(Instant::now()));
            (start, process_cpu())
        });
        CpuWindow { samples }
    }

    /// The CPU time used between the two instants (waits for the second).
    pub fn used(self) -> Duration {
        match self.samples.join() {
            Ok((start, end)) => end.saturating_sub(start),
            Err(_) => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_window_uses_cpu_and_an_idle_one_little() {
        let now = Instant::now();
        let busy = CpuWindow::between(now, now + Duration::from_millis(200));
        let spin_until = now + Duration::from_millis(200);
        let mut x = 0u64;
        while Instant::now() < spin_until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(busy.used() >= Duration::from_millis(100));
        let later = Instant::now();
        let idle = CpuWindow::between(later, later + Duration::from_millis(200));
        assert!(idle.used() < Duration::from_millis(100));
    }
}
