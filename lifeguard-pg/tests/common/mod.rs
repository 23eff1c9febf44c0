//! What every test file of this crate shares: a server to talk to.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use lifeguard_pg::Config;

/// A config for a fresh database of its own on the test server: `DATABASE_URL` when
/// set, else the process-wide private cluster.
pub fn fresh_config(prefix: &str) -> Config {
    let url = lifeguard_harness::test_server().fresh_database(prefix);
    url.parse().expect("harness URLs parse")
}

/// Polls `condition` until it holds or `limit` passes; false on timeout.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Runs `f` in a may coroutine and returns its result.
pub fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    may::go!(f).join().expect("the coroutine panicked")
}
