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

/// What a server is to the pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Takes writes, transactions, sessions and the reads no replica may serve.
    Primary,
    /// A streaming standby: takes reads while it is eligible.
    Replica,
}

impl Role {
    /// `"primary"` or `"replica"`: the value of a `role` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

/// Why a replica gets no reads now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ineligible {
    /// Not polled successfully yet.
    NotPolledYet,
    /// Its last poll failed, or it has no healthy connection.
    Unreachable,
    /// Banned for a while after failures (with backoff).
    Banned,
    /// Replay is paused (`pg_wal_replay_pause()`).
    ReplayPaused,
    /// Further behind the primary than `replica_max_lag_bytes`.
    LagBytes,
    /// Further behind the primary than `replica_max_lag`.
    LagSeconds,
    /// It reports that it is not in recovery: not a standby (any more).
    NotInRecovery,
}

impl Ineligible {
    /// A short stable name, for logs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Ineligible::NotPolledYet => "not_polled_yet",
            Ineligible::Unreachable => "unreachable",
            Ineligible::Banned => "banned",
            Ineligible::ReplayPaused => "replay_paused",
            Ineligible::LagBytes => "lag_bytes",
            Ineligible::LagSeconds => "lag_seconds",
            Ineligible::NotInRecovery => "not_in_recovery",
        }
    }
}

/// One server's counters and state (see [`Pool::server_stats`](crate::Pool::server_stats)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerStats {
    /// `host:port` (or the socket directory) as configured: the value of a `server`
    /// label.
    pub name: String,
    /// What the pool uses it for now.
    pub role: Role,
    /// Healthy shared (pipelined) connections to it.
    pub open: usize,
    /// Statements in flight on its shared connections.
    pub in_flight: usize,
    /// Its exclusive connections open, lent or idle.
    pub exclusive_open: usize,
    /// Its exclusive connections lent out now (counting one still being opened).
    pub exclusive_in_use: usize,
    /// Bytes of WAL it is behind the primary, at its last poll (replicas only).
    pub lag_bytes: Option<u64>,
    /// Seconds it is behind the primary, at its last poll (replicas only, and only
    /// while it is behind: a replica that has replayed all the primary wrote is 0).
    pub lag_seconds: Option<f64>,
    /// Whether it may take reads now (the primary always may).
    pub eligible: bool,
    /// Why it may not, when it may not.
    pub ineligible: Option<Ineligible>,
    /// Reads routed to it.
    pub reads_routed: u64,
    /// Reads that failed on it and were retried on the primary.
    pub read_retries: u64,
    /// Times it was banned after a failure.
    pub bans: u64,
    /// Its shared connections replaced after dying or aging.
    pub reconnects: u64,
    /// Failed connection attempts to it.
    pub connect_errors: u64,
}
