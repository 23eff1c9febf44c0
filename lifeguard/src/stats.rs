//! The pool's counters.

/// A snapshot of the pool's counters (see [`Pool::stats`](crate::Pool::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Open connections, shared and exclusive.
    pub open: usize,
    /// Healthy shared (pipelined) connections.
    pub shared_open: usize,
    /// Open exclusive connections, lent or idle.
    pub exclusive_open: usize,
    /// Exclusive connections lent out now, counting one still being opened for the
    /// caller it is for (so for a moment it can exceed `exclusive_open`).
    pub exclusive_in_use: usize,
    /// Statements in flight on the shared connections.
    pub in_flight: usize,
    /// Callers waiting for capacity.
    pub waiting: usize,
    /// Callers that gave up after the acquire timeout.
    pub acquire_timeouts: u64,
    /// Shared connections replaced after dying or aging.
    pub reconnects: u64,
    /// Exclusive connections closed instead of reused (broken, mid-transaction, panic).
    pub discarded: u64,
    /// Statement executions on the shared connections that found their statement
    /// prepared (those replaced since included; exclusive connections keep their own
    /// caches, not counted here).
    pub cache_hits: u64,
    /// Statement executions on the shared connections that had to prepare it.
    pub cache_misses: u64,
}
