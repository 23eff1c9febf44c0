//! The deadline keeper: one coroutine per pipelined connection that wakes every
//! [`TICK`], answers the callers whose deadline has passed with a timeout, and closes
//! the connection when the server has been silent past the stall timeout with
//! requests in flight. On every tick it also wakes the I/O coroutine to look at the
//! socket, in case an event was missed (see `io_loop.rs`).
//!
//! A timed park per request would register a timer with may's timer thread for every
//! query; one coarse timer per connection costs nothing per request.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::pipeline::Pipeline;

/// How often deadlines are checked: a deadline fires at most this late.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Runs until the connection closes (or is dropped).
pub(crate) fn run(shared: Weak<Pipeline>) {
    loop {
        may::coroutine::sleep(TICK);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.is_closed() {
            return;
        }
        shared.check_deadlines(Instant::now());
        shared.poke();
    }
}
