//! Turning deadlines into the timeouts `may` accepts.
//!
//! `may` keeps every park and socket timeout in whole milliseconds, and a stored zero
//! means "no timeout": a coroutine parked (or a may socket read) with `Some(0.4 ms)`
//! waits forever. A wait loop that re-parks for "what is left" after an early wake-up
//! hits exactly that when less than a millisecond is left. Every timeout handed to may
//! goes through [`may_timeout`], which rounds up to whole milliseconds and never below
//! one, so a wait ends at most a millisecond late and never hangs.

use std::time::{Duration, Instant};

/// The client-side bound on an answer that holds with no configuration, 30 s: a call
/// on an exclusive [`Connection`](crate::Connection) that has not finished by then gives
/// the connection up (change it with
/// [`Connection::set_request_timeout`](crate::Connection::set_request_timeout)), and a
/// pipelined [`Client`](crate::Client) closes a connection whose oldest request has
/// heard nothing from the server for this long (its
/// [stall timeout](crate::Client::set_stall_timeout)).
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(lifeguard_pg::DEFAULT_REQUEST_TIMEOUT, Duration::from_secs(30));
/// ```
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The shortest timeout may can represent.
const MAY_RESOLUTION: Duration = Duration::from_millis(1);

/// `left` rounded up to whole milliseconds, at least one: safe to give to a may park,
/// `Blocker::park`, `recv_timeout` or a may socket's read or write timeout.
///
/// ```
/// use std::time::Duration;
/// use lifeguard_pg::may_timeout;
///
/// assert_eq!(may_timeout(Duration::ZERO), Duration::from_millis(1));
/// assert_eq!(may_timeout(Duration::from_micros(1_500)), Duration::from_millis(2));
/// assert_eq!(may_timeout(Duration::from_secs(3)), Duration::from_secs(3));
/// ```
pub fn may_timeout(left: Duration) -> Duration {
    let millis = left.as_nanos().div_ceil(MAY_RESOLUTION.as_nanos());
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX)).max(MAY_RESOLUTION)
}

/// What is left until `deadline` as a may timeout, or `None` once it has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// use lifeguard_pg::may_timeout_until;
///
/// assert_eq!(may_timeout_until(Instant::now() - Duration::from_millis(1)), None);
/// assert!(may_timeout_until(Instant::now() + Duration::from_secs(1)).is_some());
/// ```
pub fn may_timeout_until(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .map(may_timeout)
}
