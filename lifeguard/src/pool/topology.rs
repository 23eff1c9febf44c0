//! The servers of a pool and what is known of each: which one is the primary, how far
//! behind it each replica is, and whether a replica may take reads now.
//!
//! Each [`Server`] has its own pipelined connections ([`Shared`]) and exclusive ones
//! ([`Exclusive`]). Its [`Health`] is written by its monitor (`monitor.rs`, one
//! coroutine per server, only when the pool has more than one) and read by routing
//! (`routing.rs`) on every read: plain atomics, so routing takes no lock.
//!
//! Why a read never reaches a replica that has not replayed the write it must see: a
//! replica's `replayed` position is what its last poll saw, and replay only moves
//! forward, so `replayed >= position` means the replica shows the write now.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lifeguard_pg::Config;

use super::exclusive::Exclusive;
use super::shared::Shared;
use crate::config::PoolConfig;
use crate::stats::{Ineligible, Role, ServerStats};
use std::sync::Arc;

/// No primary is known.
pub(crate) const NO_PRIMARY: usize = usize::MAX;

/// How many primary WAL positions the lag-in-seconds measure keeps: at the default
/// 100 ms poll, the last 100 s of writing (positions are kept only when they move).
const HISTORY: usize = 1000;

/// The longest a replica is banned after failing reads.
const MAX_BAN: Duration = Duration::from_secs(10);

/// One server and what the pool knows of it.
pub(crate) struct Server {
    /// `host:port`, for stats and labels.
    pub(crate) name: String,
    /// How the pool connects to it (with the pool's statement timeout).
    pub(crate) pg: Config,
    pub(crate) shared: Arc<Shared>,
    pub(crate) exclusive: Exclusive,
    pub(crate) health: Health,
    pub(crate) reads_routed: AtomicU64,
    pub(crate) read_retries: AtomicU64,
}

/// What the server's monitor saw at its last poll, and its bans.
#[derive(Default)]
pub(crate) struct Health {
    /// A poll has succeeded at least once.
    pub(crate) polled: AtomicBool,
    /// The last poll succeeded.
    pub(crate) reachable: AtomicBool,
    /// A poll was tried, whatever came of it: the pool knows something of the server.
    pub(crate) tried: AtomicBool,
    pub(crate) in_recovery: AtomicBool,
    pub(crate) paused: AtomicBool,
    /// A standby's replayed position; the primary's insert position.
    pub(crate) position: AtomicU64,
    /// Replicas: bytes behind the primary at the last poll.
    pub(crate) lag_bytes: AtomicU64,
    /// Replicas: microseconds behind the primary at the last poll.
    pub(crate) lag_micros: AtomicU64,
    /// Every rule but the ban and the connections allowed reads at the last poll.
    pub(crate) fresh: AtomicBool,
    /// Why not, when not ([`Ineligible`] as its index in [`REASONS`]).
    reason: AtomicU8,
    /// Microseconds since the topology's epoch until which the server is banned.
    banned_until: AtomicU64,
    /// Consecutive bans, for the backoff; cleared by a good poll after the ban.
    ban_level: AtomicU64,
    pub(crate) bans: AtomicU64,
}

/// [`Ineligible`] by index, for [`Health::reason`].
const REASONS: [Ineligible; 7] = [
    Ineligible::NotPolledYet,
    Ineligible::Unreachable,
    Ineligible::Banned,
    Ineligible::ReplayPaused,
    Ineligible::LagBytes,
    Ineligible::LagSeconds,
    Ineligible::NotInRecovery,
];

impl Health {
    pub(crate) fn set_reason(&self, reason: Option<Ineligible>) {
        self.fresh.store(reason.is_none(), Ordering::SeqCst);
        if let Some(reason) = reason {
            let index = REASONS.iter().position(|r| *r == reason).unwrap_or(0);
            self.reason.store(index as u8, Ordering::Relaxed);
        }
    }

    fn reason(&self) -> Ineligible {
        REASONS[usize::from(self.reason.load(Ordering::Relaxed)).min(REASONS.len() - 1)]
    }
}

/// The primary's WAL insert positions over time, oldest first: how long ago the
/// primary was where a replica is now gives the replica's lag in seconds, on the
/// pool's own clock (no clock shared with the servers is needed).
#[derive(Default)]
pub(crate) struct WalHistory {
    samples: VecDeque<(u64, Instant)>,
}

impl WalHistory {
    /// Records the primary at `position` at `at`, when it moved.
    pub(crate) fn record(&mut self, position: u64, at: Instant) {
        if self.samples.back().is_some_and(|&(p, _)| p >= position) {
            return;
        }
        if self.samples.len() == HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back((position, at));
    }

    /// The newest position.
    pub(crate) fn latest(&self) -> Option<u64> {
        self.samples.back().map(|&(p, _)| p)
    }

    /// How long a replica at `replayed` is behind at `now`: zero when it has replayed
    /// the newest position seen, else the time since the primary was first seen past
    /// it (a lower bound, within one poll interval).
    pub(crate) fn lag(&self, replayed: u64, now: Instant) -> Duration {
        self.samples
            .iter()
            .find(|&&(p, _)| p > replayed)
            .map_or(Duration::ZERO, |&(_, at)| now.saturating_duration_since(at))
    }
}

/// Every server of a pool, the primary's index, and the primary's WAL history.
pub(crate) struct Topology {
    pub(crate) servers: Vec<Server>,
    /// Index of the primary in `servers`, or [`NO_PRIMARY`].
    primary: AtomicUsize,
    pub(crate) history: Mutex<WalHistory>,
    epoch: Instant,
    pub(crate) poll_interval: Duration,
}

impl Topology {
    /// The servers of `config`, the first presumed primary only when it is the only one
    /// (with several, the monitors find the primary).
    pub(crate) fn new(config: &PoolConfig, pgs: Vec<Config>) -> Topology {
        let single = pgs.len() == 1;
        let servers = pgs
            .into_iter()
            .map(|pg| Server {
                name: super::server_name(&pg),
                shared: Arc::new(Shared::new(
                    config.get_connections(),
                    config.get_max_in_flight(),
                )),
                exclusive: Exclusive::new(config.get_max_exclusive()),
                pg,
                health: Health::default(),
                reads_routed: AtomicU64::new(0),
                read_retries: AtomicU64::new(0),
            })
            .collect();
        Topology {
            servers,
            primary: AtomicUsize::new(if single { 0 } else { NO_PRIMARY }),
            history: Mutex::new(WalHistory::default()),
            epoch: Instant::now(),
            poll_interval: config.get_replica_poll_interval(),
        }
    }

    /// The primary's index, if one is known.
    pub(crate) fn primary(&self) -> Option<usize> {
        let index = self.primary.load(Ordering::SeqCst);
        (index != NO_PRIMARY).then_some(index)
    }

    /// Makes `index` the primary if the primary is still `expected`; true when it did.
    pub(crate) fn switch_primary(&self, expected: usize, index: usize) -> bool {
        self.primary
            .compare_exchange(expected, index, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Whether every server's monitor has tried a poll: before that, "no primary"
    /// means "not known yet", after it, "none".
    pub(crate) fn settled(&self) -> bool {
        self.servers.len() == 1
            || self
                .servers
                .iter()
                .all(|s| s.health.tried.load(Ordering::SeqCst))
    }

    fn now_micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Whether replica `index` may take a read that must see `position` now.
    pub(crate) fn may_read(&self, index: usize, position: u64) -> bool {
        let server = &self.servers[index];
        let health = &server.health;
        Some(index) != self.primary()
            && health.fresh.load(Ordering::SeqCst)
            && health.position.load(Ordering::SeqCst) >= position
            && health.banned_until.load(Ordering::Relaxed) <= self.now_micros()
            && server.shared.open() > 0
    }

    /// The eligible replica with the fewest requests in flight that has replayed
    /// `position`.
    pub(crate) fn pick_replica(&self, position: u64) -> Option<usize> {
        (0..self.servers.len())
            .filter(|&i| self.may_read(i, position))
            .min_by_key(|&i| self.servers[i].shared.in_flight())
    }

    /// Bans replica `index` after a failed read, for twice the poll interval doubled
    /// per consecutive ban (at most 10 s); a good poll after the ban ends the series.
    pub(crate) fn ban(&self, index: usize) {
        let health = &self.servers[index].health;
        let level = health.ban_level.fetch_add(1, Ordering::SeqCst).min(16);
        let length = (self.poll_interval * 2)
            .saturating_mul(1 << level)
            .min(MAX_BAN);
        let until = self.now_micros() + length.as_micros() as u64;
        health.banned_until.fetch_max(until, Ordering::SeqCst);
        health.bans.fetch_add(1, Ordering::Relaxed);
    }

    /// A good poll of `index`: a ban that has run out no longer counts towards the next.
    pub(crate) fn forgive(&self, index: usize) {
        let health = &self.servers[index].health;
        if health.banned_until.load(Ordering::Relaxed) <= self.now_micros() {
            health.ban_level.store(0, Ordering::Relaxed);
        }
    }

    /// Each server's state and counters.
    pub(crate) fn stats(&self) -> Vec<ServerStats> {
        let primary = self.primary();
        let single = self.servers.len() == 1;
        self.servers
            .iter()
            .enumerate()
            .map(|(i, server)| {
                let health = &server.health;
                let role = if Some(i) == primary {
                    Role::Primary
                } else {
                    Role::Replica
                };
                let replica = role == Role::Replica;
                let ineligible = if role == Role::Primary {
                    None
                } else if !health.polled.load(Ordering::Relaxed) {
                    Some(Ineligible::NotPolledYet)
                } else if !health.fresh.load(Ordering::Relaxed) {
                    Some(health.reason())
                } else if health.banned_until.load(Ordering::Relaxed) > self.now_micros() {
                    Some(Ineligible::Banned)
                } else if server.shared.open() == 0 {
                    Some(Ineligible::Unreachable)
                } else {
                    None
                };
                let polled = health.polled.load(Ordering::Relaxed) && replica;
                ServerStats {
                    name: server.name.clone(),
                    role,
                    open: server.shared.open(),
                    in_flight: server.shared.in_flight(),
                    exclusive_open: server.exclusive.open.load(Ordering::Relaxed),
                    exclusive_in_use: server.exclusive.in_use.load(Ordering::Relaxed),
                    lag_bytes: polled.then(|| health.lag_bytes.load(Ordering::Relaxed)),
                    lag_seconds: polled
                        .then(|| health.lag_micros.load(Ordering::Relaxed) as f64 / 1e6),
                    eligible: ineligible.is_none() && (replica || single || primary.is_some()),
                    ineligible,
                    reads_routed: server.reads_routed.load(Ordering::Relaxed),
                    read_retries: server.read_retries.load(Ordering::Relaxed),
                    bans: health.bans.load(Ordering::Relaxed),
                    reconnects: server.shared.reconnects.load(Ordering::Relaxed),
                    connect_errors: server.shared.connect_error.count.load(Ordering::Relaxed)
                        + server.exclusive.connect_error.count.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}
