//! First-come, first-served waiting for pool capacity.
//!
//! A caller first tries to take capacity without queueing, but only while nobody waits
//! (no barging past waiters). Otherwise it queues and parks, bounded by its deadline.
//! Whoever frees capacity calls [`Fair::wake`], which hands capacity to the oldest
//! waiters directly.
//!
//! Why no wake-up is lost: both sides try to take capacity under the queue lock, so
//! capacity freed between a failed try and the enqueue is seen by the enqueue's own
//! second try, and capacity freed after the enqueue finds the waiter in the queue.
//!
//! Why no ticket is lost: a waiter's state moves once, by compare-and-swap, from
//! waiting to either granted (by a waker, under the lock) or abandoned (by the waiter:
//! its deadline passed, or it is unwinding because its coroutine was cancelled or it
//! panicked). A waker that finds a waiter abandoned passes the ticket to the next one,
//! or gives it back when none is left; a waiter that abandons after being granted gives
//! its ticket back and wakes the queue. Abandoned waiters still queued are skipped and
//! dropped by the next waker.
//!
//! Closing the queue ([`Fair::close`]) moves every waiting caller to closed the same
//! way, under the lock, so a close and a grant never both reach one waiter.
//!
//! Why no wait outlasts its deadline: every park goes through
//! [`lifeguard_pg::may_timeout_until`], since may parks forever on a timeout below a
//! millisecond, the "little left" a re-park after an early wake-up asks for.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use lifeguard_pg::may_timeout_until;
use may::sync::{Blocker, Mutex, MutexGuard};

/// Capacity that callers wait for: tickets (a slot index, or a permit) taken and given
/// back.
pub(crate) trait Capacity {
    /// Takes a ticket, if one is free.
    fn try_take(&self) -> Option<usize>;
    /// Returns a ticket nobody will use, without waking anyone (the caller does).
    fn give_back(&self, ticket: usize);
}

/// A waiter's state: [`WAITING`], [`ABANDONED`], [`CLOSED`] or `GRANTED + ticket`.
const WAITING: usize = 0;
const ABANDONED: usize = 1;
/// The queue was closed while it waited: it gets no ticket.
const CLOSED: usize = 2;
const GRANTED: usize = 3;

/// How a wait in line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A ticket, now the caller's to give back.
    Ticket(usize),
    /// The deadline passed first.
    TimedOut,
    /// The queue was closed ([`Fair::close`]): no ticket will come.
    Closed,
}

/// How often an unwinding waiter tries the queue lock before leaving the wake-up to
/// the next release: it must not park.
const UNWIND_LOCK_TRIES: usize = 1000;

/// One parked caller.
struct Waiter {
    state: AtomicUsize,
    blocker: Blocker,
}

impl Waiter {
    /// Hands `ticket` over; false when the waiter has abandoned already.
    fn grant(&self, ticket: usize) -> bool {
        self.state
            .compare_exchange(
                WAITING,
                GRANTED + ticket,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// The ticket granted, if any, without changing the state.
    fn granted(&self) -> Option<usize> {
        self.state.load(Ordering::Acquire).checked_sub(GRANTED)
    }

    /// Stops waiting: the ticket granted before, if any, is now the caller's to return.
    fn abandon(&self) -> Option<usize> {
        self.state
            .swap(ABANDONED, Ordering::AcqRel)
            .checked_sub(GRANTED)
    }

    fn is_abandoned(&self) -> bool {
        self.state.load(Ordering::Acquire) == ABANDONED
    }

    fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    /// Tells a waiting caller the queue closed; false when it abandoned already.
    fn close(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// A FIFO queue of callers waiting for a ticket.
pub(crate) struct Fair {
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// Queued waiters, abandoned ones not yet dropped included.
    waiting: AtomicUsize,
    /// Set by [`Fair::close`]: nobody queues any more.
    closed: AtomicBool,
}

impl Fair {
    pub(crate) fn new() -> Fair {
        Fair {
            queue: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Number of queued callers.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Takes a ticket from `capacity`, waiting in line until `deadline` if there is
    /// none.
    pub(crate) fn acquire(&self, capacity: &dyn Capacity, deadline: Instant) -> Wait {
        if self.waiting.load(Ordering::SeqCst) == 0
            && let Some(ticket) = capacity.try_take()
        {
            return Wait::Ticket(ticket);
        }
        let waiter = {
            let mut queue = self.lock();
            if self.closed.load(Ordering::SeqCst) {
                return Wait::Closed;
            }
            if queue.is_empty()
                && let Some(ticket) = capacity.try_take()
            {
                return Wait::Ticket(ticket);
            }
            let waiter = Arc::new(Waiter {
                state: AtomicUsize::new(WAITING),
                blocker: Blocker::new(false),
            });
            queue.push_back(waiter.clone());
            self.waiting.fetch_add(1, Ordering::SeqCst);
            waiter
        };
        // Gives the ticket back if this caller unwinds while parked (its coroutine
        // was cancelled): nothing is left behind.
        let mut guard = Abandon {
            fair: self,
            waiter: &waiter,
            capacity,
            armed: true,
        };
        loop {
            if let Some(ticket) = waiter.granted() {
                guard.armed = false;
                return Wait::Ticket(ticket);
            }
            if waiter.is_closed() {
                guard.armed = false;
                return Wait::Closed;
            }
            let Some(left) = may_timeout_until(deadline) else {
                guard.armed = false;
                return self.give_up(&waiter);
            };
            // An early or spurious wake-up loops back to look at the state.
            let _ = waiter.blocker.park(Some(left));
        }
    }

    /// The deadline passed: leaves the queue, unless a ticket (or the close) came just
    /// in time.
    fn give_up(&self, waiter: &Arc<Waiter>) -> Wait {
        let mut queue = self.lock();
        // Grants and closes happen under the lock: the state cannot change meanwhile.
        if waiter.is_closed() {
            return Wait::Closed;
        }
        if let Some(ticket) = waiter.abandon() {
            return Wait::Ticket(ticket);
        }
        self.remove(&mut queue, waiter);
        Wait::TimedOut
    }

    /// Closes the queue: every waiter gets [`Wait::Closed`] now, and later callers who
    /// find no free capacity get it at once instead of queueing.
    pub(crate) fn close(&self) {
        let mut queue = self.lock();
        self.closed.store(true, Ordering::SeqCst);
        for waiter in queue.drain(..) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            if waiter.close() {
                waiter.blocker.unpark();
            }
        }
    }

    fn remove(&self, queue: &mut VecDeque<Arc<Waiter>>, waiter: &Arc<Waiter>) {
        if let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(at);
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Hands freed capacity to the oldest waiters, for as long as `capacity` has some.
    ///
    /// During a panic it never parks: a coroutine parked halfway through unwinding may
    /// resume on another thread, which corrupts the panic bookkeeping. It then only
    /// wakes when the queue lock comes free within a few tries; otherwise the next
    /// release (or the waiters' own deadline) serves the queue.
    pub(crate) fn wake(&self, capacity: &dyn Capacity) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Some(mut queue) = self.lock_for_wake() else {
            return;
        };
        let mut ticket = None;
        while let Some(front) = queue.front() {
            if !front.is_abandoned() {
                let Some(t) = ticket.take().or_else(|| capacity.try_take()) else {
                    break;
                };
                if front.grant(t) {
                    front.blocker.unpark();
                } else {
                    // It abandoned between our look and the grant: the next one gets it.
                    ticket = Some(t);
                }
            }
            queue.pop_front();
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(t) = ticket {
            capacity.give_back(t);
        }
    }

    fn lock_for_wake(&self) -> Option<MutexGuard<'_, VecDeque<Arc<Waiter>>>> {
        if !std::thread::panicking() {
            return Some(self.lock());
        }
        for _ in 0..UNWIND_LOCK_TRIES {
            if let Ok(queue) = self.queue.try_lock() {
                return Some(queue);
            }
            std::thread::yield_now();
        }
        None
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        // Never held across I/O or user code: a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Leaves the queue when a waiting caller unwinds (its coroutine was cancelled at the
/// park, or it panicked): a ticket granted meanwhile goes back, and the queue is served.
struct Abandon<'a> {
    fair: &'a Fair,
    waiter: &'a Arc<Waiter>,
    capacity: &'a dyn Capacity,
    armed: bool,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.waiter.abandon() {
            Some(ticket) => {
                self.capacity.give_back(ticket);
                self.fair.wake(self.capacity);
            }
            None => {
                // Still queued: drop the entry now if the lock is free, else the next
                // waker skips it.
                if let Ok(mut queue) = self.fair.queue.try_lock() {
                    self.fair.remove(&mut queue, self.waiter);
                }
            }
        }
    }
}
