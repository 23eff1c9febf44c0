//! The service's life after start-up: every request is counted while it runs, so that a
//! shutdown can stop taking work, wait (within a bound) for the requests in flight, and
//! only then close the pool under them.
//!
//! Why no request is missed: a request adds itself to `in_flight` *before* it reads
//! `draining`, and a drain sets `draining` *before* it reads `in_flight` (all
//! `SeqCst`, one total order). So either the request sees `draining` and leaves (503), or
//! its increment comes before the shutdown's first read of the count, which then waits
//! for it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often a drain looks at the count.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Requests in flight, and whether the service is shutting down.
#[derive(Debug, Default)]
pub struct Lifecycle {
    in_flight: AtomicUsize,
    draining: AtomicBool,
}

/// A request being served; it stops counting when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Lifecycle);

impl Lifecycle {
    /// Counts a request in, or `None` when the service is shutting down.
    pub fn enter(&self) -> Option<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.draining.load(Ordering::SeqCst) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(InFlight(self))
    }

    /// The requests being served now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// From now on every request is refused ([`Lifecycle::enter`] gives `None`).
    pub fn refuse_new(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Refuses new requests, then waits up to `bound` for those in flight; returns how
    /// many were still running when it gave up (0: all done).
    pub fn drain(&self, bound: Duration) -> usize {
        self.refuse_new();
        let deadline = Instant::now() + bound;
        loop {
            let running = self.in_flight.load(Ordering::SeqCst);
            if running == 0 || Instant::now() >= deadline {
                return running;
            }
            may::coroutine::sleep(DRAIN_POLL);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Lifecycle;

    #[test]
    fn a_drain_waits_for_requests_in_flight_and_refuses_new_ones() {
        let lifecycle = Lifecycle::default();
        let request = lifecycle.enter().expect("open before the drain");
        assert_eq!(lifecycle.drain(Duration::from_millis(50)), 1);
        assert!(lifecycle.enter().is_none(), "draining refuses new requests");
        drop(request);
        assert_eq!(lifecycle.drain(Duration::from_millis(50)), 0);
    }
}
