//! The pipelined side of the pool: a fixed number of shared connections, each with a
//! healer coroutine that replaces it when it dies or ages, and checks it when idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lifeguard_pg::{Client, ClientStats, Config};
use may::sync::RwLock;

use super::connect_error::ConnectError;
use crate::config::PoolConfig;
use crate::wait_queue::{Capacity, WaitQueue};

/// How often a healer looks at its connection.
const HEAL_TICK: Duration = Duration::from_millis(10);

/// One pipelined connection and its counters.
pub(crate) struct Slot {
    client: RwLock<Option<Client>>,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
    /// Requests finished on this slot, for the healer to see whether it is idle.
    served: AtomicU64,
    /// Statement cache hits and misses of the connections this slot held before its
    /// current one, changed only under the `client` write lock, so that a reader
    /// holding the read lock sees them and the current client's in step: the pool's
    /// counters never go down when a connection is replaced.
    retired_hits: AtomicU64,
    retired_misses: AtomicU64,
}

impl Slot {
    /// Puts `client` in the slot (or empties it) and returns the one it held, whose
    /// counts the slot keeps. A request still running on the old one when it is
    /// replaced goes uncounted.
    fn replace(&self, client: Option<Client>) -> Option<Client> {
        let mut current = write(&self.client);
        if let Some(old) = current.as_ref() {
            let s = old.stats();
            self.retired_hits.fetch_add(s.cache_hits, Ordering::Relaxed);
            self.retired_misses
                .fetch_add(s.cache_misses, Ordering::Relaxed);
        }
        std::mem::replace(&mut *current, client)
    }
}

/// The pipelined connections and the line of callers waiting for one of them.
pub(crate) struct Shared {
    pub(crate) slots: Vec<Slot>,
    pub(crate) queue: WaitQueue,
    max_in_flight: usize,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connect_error: ConnectError,
}

impl Shared {
    pub(crate) fn new(count: usize, max_in_flight: usize) -> Shared {
        Shared {
            slots: (0..count)
                .map(|_| Slot {
                    client: RwLock::new(None),
                    healthy: AtomicBool::new(false),
                    in_flight: AtomicUsize::new(0),
                    served: AtomicU64::new(0),
                    retired_hits: AtomicU64::new(0),
                    retired_misses: AtomicU64::new(0),
                })
                .collect(),
            queue: WaitQueue::new(),
            max_in_flight,
            reconnects: AtomicU64::new(0),
            connect_error: ConnectError::default(),
        }
    }

    /// Reserves room on the healthy connection with the fewest requests in flight.
    fn take_room(&self) -> Option<usize> {
        loop {
            let (index, load) = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.healthy.load(Ordering::SeqCst))
                .map(|(i, s)| (i, s.in_flight.load(Ordering::SeqCst)))
                .min_by_key(|&(_, load)| load)?;
            if load >= self.max_in_flight {
                return None;
            }
            let slot = &self.slots[index];
            if slot
                .in_flight
                .compare_exchange(load, load + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Some(index);
            }
        }
    }

    /// The client of a reserved slot, unless it died since.
    pub(crate) fn client(&self, index: usize) -> Option<Client> {
        let client = read(&self.slots[index].client).clone()?;
        if client.is_closed() {
            self.slots[index].healthy.store(false, Ordering::SeqCst);
            return None;
        }
        Some(client)
    }

    /// Gives back a reservation and hands the room to the oldest waiter.
    pub(crate) fn release(&self, index: usize, broken: bool) {
        let slot = &self.slots[index];
        if broken {
            slot.healthy.store(false, Ordering::SeqCst);
        }
        slot.served.fetch_add(1, Ordering::Relaxed);
        slot.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.queue.wake(self);
    }

    /// Requests in flight over all connections.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.in_flight.load(Ordering::Relaxed))
            .sum()
    }

    /// Healthy connections.
    pub(crate) fn open(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.healthy.load(Ordering::Relaxed))
            .count()
    }

    /// The client counters summed over the connections, those replaced included.
    pub(crate) fn client_stats(&self) -> ClientStats {
        let mut sum = ClientStats::default();
        for slot in &self.slots {
            let current = read(&slot.client);
            sum.cache_hits += slot.retired_hits.load(Ordering::Relaxed);
            sum.cache_misses += slot.retired_misses.load(Ordering::Relaxed);
            if let Some(client) = current.as_ref() {
                let s = client.stats();
                sum.cache_hits += s.cache_hits;
                sum.cache_misses += s.cache_misses;
            }
        }
        sum
    }

    /// Closes every connection; the healers end once `closing` is set.
    pub(crate) fn close_all(&self) {
        for slot in &self.slots {
            slot.healthy.store(false, Ordering::SeqCst);
            if let Some(client) = slot.replace(None) {
                let busy = slot.in_flight.load(Ordering::SeqCst) > 0;
                client.close();
                // A statement still running would keep its backend busy, unseen, until
                // it ends (a backend notices a closed socket only when it next writes):
                // cancelled, the session ends with the connection.
                if busy && let Some(token) = client.cancel_token() {
                    let _ = token.cancel();
                }
            }
        }
    }
}

impl Capacity for Shared {
    fn try_take(&self) -> Option<usize> {
        self.take_room()
    }

    fn give_back(&self, index: usize) {
        self.slots[index].in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps slot `index` connected until `closing` is set: connects with backoff,
/// replaces the connection when it dies or outlives its lifetime, and checks it with
/// a trivial query when it has been idle for the liveness interval.
///
/// Every request on the connection carries the request timeout as its deadline, and
/// the connection closes itself when its oldest request has heard nothing from the
/// server for as long (the client's stall timeout): a frozen server costs its callers
/// at most that, and the healer then replaces the connection.
pub(crate) fn heal(
    shared: Arc<Shared>,
    index: usize,
    config: PoolConfig,
    pg: Config,
    closing: Arc<AtomicBool>,
) {
    let slot = &shared.slots[index];
    let mut failures = 0u32;
    let mut born = Instant::now();
    let mut lifetime = config.lifetime_for(fastrand::f64());
    let mut last_served = 0;
    let mut idle_since = Instant::now();
    while !closing.load(Ordering::SeqCst) {
        let current = read(&slot.client).clone();
        let dead = current.as_ref().is_none_or(Client::is_closed);
        let aged = lifetime.is_some_and(|l| born.elapsed() >= l);
        if dead || aged {
            if dead {
                slot.healthy.store(false, Ordering::SeqCst);
            }
            match Client::connect(&pg) {
                Ok(client) => {
                    shared.connect_error.succeeded();
                    if closing.load(Ordering::SeqCst) {
                        client.close();
                        break;
                    }
                    let request_timeout = config.get_request_timeout();
                    client.set_stall_timeout(request_timeout);
                    client.refuse_session_changes(true);
                    client.set_max_response_bytes(config.get_max_response_bytes());
                    client.set_statement_cache_capacity(config.get_statement_cache_capacity());
                    let client = match request_timeout {
                        Some(timeout) => client.with_deadline(timeout),
                        None => client,
                    };
                    slot.replace(Some(client));
                    slot.healthy.store(true, Ordering::SeqCst);
                    if current.is_some() || failures > 0 {
                        shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    failures = 0;
                    born = Instant::now();
                    lifetime = config.lifetime_for(fastrand::f64());
                    idle_since = Instant::now();
                    shared.queue.wake(&*shared);
                }
                Err(e) => {
                    shared.connect_error.failed(&e);
                    let delay = config.backoff_delay(failures, fastrand::f64());
                    failures = failures.saturating_add(1);
                    may::coroutine::sleep(delay);
                    continue;
                }
            }
        } else if let Some(client) = current {
            let served = slot.served.load(Ordering::Relaxed);
            if served != last_served || slot.in_flight.load(Ordering::Relaxed) > 0 {
                last_served = served;
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= config.get_liveness_interval() {
                let probe = client.with_deadline(config.get_connect_timeout());
                if probe.batch_execute("").is_err() {
                    client.close();
                }
                idle_since = Instant::now();
            }
        }
        may::coroutine::sleep(HEAL_TICK);
    }
}

fn read<T>(lock: &RwLock<T>) -> may::sync::RwLockReadGuard<'_, T> {
    // The slot lock guards a swap of an `Option<Client>`; poisoning cannot leave it torn.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> may::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
