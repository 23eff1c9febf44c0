//! First-come, first-served waiting for pool capacity.
//!
//! A caller first tries to take capacity without queueing, but only while nobody waits
//! (no barging past waiters). Otherwise it queues and parks, bounded by its deadline.
//! Whoever frees capacity calls [`WaitQueue::wake`], which hands capacity to the oldest
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
//! its ticket back and wakes the queue. Abandoning takes no lock (a crowd whose
//! deadlines pass together must not line up for it): abandoned waiters still queued
//! are skipped and dropped by the next waker or by the next caller to queue, and are
//! not counted as waiting.
//!
//! Closing the queue ([`WaitQueue::close`]) moves every waiting caller to closed the same
//! way, under the lock, so a close and a grant never both reach one waiter;
//! [`WaitQueue::redirect`] does the same without closing the queue (the pool's primary
//! moved: its waiters are routed again).
//!
//! Why no wait outlasts its deadline: every park goes through
//! [`lifeguard_pg::may_timeout_until`], since may parks forever on a timeout below a
//! millisecond, the "little left" a re-park after an early wake-up asks for.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::time::Instant;

use lifeguard_pg::may_timeout_until;
use std::sync::{Mutex, MutexGuard};

use may::sync::Blocker;

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
    /// The queue was closed ([`WaitQueue::close`]): no ticket will come.
    Closed,
}

/// How often an unwinding waiter tries the queue lock before leaving the wake-up to
/// the next release: it must not park.
const UNWIND_LOCK_TRIES: usize = 1000;

/// What a waiter that stops waiting had been given.
enum Left {
    /// A ticket: now the caller's to use or give back.
    Granted(usize),
    /// The queue closed (and dropped it).
    Closed,
    /// Nothing: it is still queued, marked abandoned.
    Abandoned,
}

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

    /// Stops waiting, and says what happened before. Only a waiter still waiting
    /// becomes abandoned: a granted or closed state stays as it is, so that whoever
    /// takes the entry out of the queue books it by what it was (a waker between its
    /// grant and its pop must not count a granted waiter as abandoned).
    fn leave(&self) -> Left {
        match self
            .state
            .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(ABANDONED) => Left::Abandoned,
            Err(CLOSED) => Left::Closed,
            Err(granted) => Left::Granted(granted - GRANTED),
        }
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
pub(crate) struct WaitQueue {
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// Queued waiters, abandoned ones not yet dropped included.
    waiting: AtomicUsize,
    /// Abandoned waiters not yet dropped from the queue (may dip below zero for a
    /// moment: the waker that drops one can come before the count of it).
    abandoned: AtomicIsize,
    /// Set by [`WaitQueue::close`]: nobody queues any more.
    closed: AtomicBool,
}

impl WaitQueue {
    pub(crate) fn new() -> WaitQueue {
        WaitQueue {
            queue: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
            abandoned: AtomicIsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Number of callers waiting in line.
    pub(crate) fn waiting(&self) -> usize {
        let queued = self.waiting.load(Ordering::SeqCst) as isize;
        (queued - self.abandoned.load(Ordering::SeqCst)).max(0) as usize
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
            self.drop_abandoned_front(&mut queue);
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
            queue: self,
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

    /// The deadline passed: leaves the line, unless a ticket (or the close) came just
    /// in time. Without waiting for the queue lock: callers whose deadlines pass
    /// together (a server down under load, thousands of them on OS threads) would
    /// otherwise line up for it one by one, each past its deadline.
    fn give_up(&self, waiter: &Arc<Waiter>) -> Wait {
        match waiter.leave() {
            Left::Granted(ticket) => Wait::Ticket(ticket),
            Left::Closed => Wait::Closed,
            Left::Abandoned => {
                self.abandoned_one(waiter);
                Wait::TimedOut
            }
        }
    }

    /// Counts `waiter` as abandoned, and drops it from the queue if the lock is free
    /// at once; otherwise the next waker or caller in line drops it.
    fn abandoned_one(&self, waiter: &Arc<Waiter>) {
        self.abandoned.fetch_add(1, Ordering::SeqCst);
        if let Some(mut queue) = crate::brief::try_lock(&self.queue)
            && let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, waiter))
            && let Some(entry) = queue.remove(at)
        {
            self.dropped(&entry);
        }
    }

    /// Drops abandoned waiters from the front of the queue.
    fn drop_abandoned_front(&self, queue: &mut VecDeque<Arc<Waiter>>) {
        while let Some(front) = queue.front()
            && front.is_abandoned()
        {
            if let Some(entry) = queue.pop_front() {
                self.dropped(&entry);
            }
        }
    }

    /// Books an entry taken out of the queue.
    fn dropped(&self, entry: &Waiter) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if entry.is_abandoned() {
            self.abandoned.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Closes the queue: every waiter gets [`Wait::Closed`] now, and later callers who
    /// find no free capacity get it at once instead of queueing.
    pub(crate) fn close(&self) {
        let mut queue = self.lock();
        self.closed.store(true, Ordering::SeqCst);
        self.release_all(&mut queue);
    }

    /// Sends every waiter away with [`Wait::Closed`] without closing the queue: the
    /// capacity they wait for will not come (their server stopped being the primary),
    /// and each is routed again. Later callers queue as before.
    pub(crate) fn redirect(&self) {
        let mut queue = self.lock();
        self.release_all(&mut queue);
    }

    /// Moves every queued waiter to closed and wakes it, under the lock (so a close
    /// and a grant never both reach one waiter).
    fn release_all(&self, queue: &mut VecDeque<Arc<Waiter>>) {
        for waiter in queue.drain(..) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            if waiter.close() {
                waiter.blocker.unpark();
            } else {
                // Only an abandoned waiter refuses the close; its owner counted it.
                self.abandoned.fetch_sub(1, Ordering::SeqCst);
            }
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
            if let Some(entry) = queue.pop_front() {
                self.dropped(&entry);
            }
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
            if let Some(queue) = crate::brief::try_lock(&self.queue) {
                return Some(queue);
            }
            std::thread::yield_now();
        }
        None
    }

    /// The queue lock: held for a few instructions only (see `brief.rs`).
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        crate::brief::lock(&self.queue)
    }
}

/// Leaves the queue when a waiting caller unwinds (its coroutine was cancelled at the
/// park, or it panicked): a ticket granted meanwhile goes back, and the queue is served.
struct Abandon<'a> {
    queue: &'a WaitQueue,
    waiter: &'a Arc<Waiter>,
    capacity: &'a dyn Capacity,
    armed: bool,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.waiter.leave() {
            Left::Granted(ticket) => {
                self.capacity.give_back(ticket);
                self.queue.wake(self.capacity);
            }
            Left::Closed => {}
            Left::Abandoned => self.queue.abandoned_one(self.waiter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// `n` interchangeable tickets.
    struct Tickets(AtomicUsize);

    impl Capacity for Tickets {
        fn try_take(&self) -> Option<usize> {
            self.0
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .ok()
                .map(|_| 0)
        }
        fn give_back(&self, _ticket: usize) {
            self.0.fetch_add(1, Ordering::AcqRel);
        }
    }

    #[test]
    fn a_granted_waiter_that_leaves_keeps_its_ticket_and_is_not_abandoned() {
        let waiter = Waiter {
            state: AtomicUsize::new(WAITING),
            blocker: Blocker::new(false),
        };
        assert!(waiter.grant(7));
        assert!(matches!(waiter.leave(), Left::Granted(7)));
        assert!(!waiter.is_abandoned());
        assert!(!waiter.grant(8));
    }

    #[test]
    fn a_closed_waiter_that_leaves_stays_closed() {
        let waiter = Waiter {
            state: AtomicUsize::new(WAITING),
            blocker: Blocker::new(false),
        };
        assert!(waiter.close());
        assert!(matches!(waiter.leave(), Left::Closed));
        assert!(waiter.is_closed());
    }

    /// Deadlines passing while tickets are handed over: every ticket comes back and
    /// nobody is counted as waiting once every caller has returned.
    #[test]
    fn timeouts_racing_grants_leave_nothing_counted() {
        let queue = Arc::new(WaitQueue::new());
        let tickets = Arc::new(Tickets(AtomicUsize::new(2)));
        let callers: Vec<_> = (0..32)
            .map(|_| {
                let (queue, tickets) = (queue.clone(), tickets.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let deadline = Instant::now() + Duration::from_micros(1500);
                        if let Wait::Ticket(t) = queue.acquire(&*tickets, deadline) {
                            std::thread::sleep(Duration::from_micros(100));
                            tickets.give_back(t);
                            queue.wake(&*tickets);
                        }
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().expect("caller panicked");
        }
        assert_eq!(queue.waiting(), 0);
        assert_eq!(tickets.0.load(Ordering::Acquire), 2);
    }
    /// Waiters sent away by `redirect` (coroutines and threads alike) return at once
    /// with `Closed`, far before their deadline; the queue stays open, and a caller
    /// after them gets a ticket as usual.
    #[test]
    fn redirect_releases_every_waiter_and_keeps_the_queue_open() {
        let queue = Arc::new(WaitQueue::new());
        let tickets = Arc::new(Tickets(AtomicUsize::new(0)));
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..40 {
            let (queue, tickets, tx) = (queue.clone(), tickets.clone(), tx.clone());
            let wait = move || {
                let started = Instant::now();
                let deadline = started + Duration::from_secs(30);
                let result = queue.acquire(&*tickets, deadline);
                tx.send((result, started.elapsed())).unwrap();
            };
            if i % 2 == 0 {
                may::go!(wait);
            } else {
                std::thread::spawn(wait);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.waiting() < 40 {
            assert!(Instant::now() < deadline, "waiters never queued");
            std::thread::sleep(Duration::from_millis(1));
        }
        queue.redirect();
        for _ in 0..40 {
            let (result, waited) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(result, Wait::Closed);
            assert!(waited < Duration::from_secs(10), "{waited:?}");
        }
        assert_eq!(queue.waiting(), 0);
        tickets.give_back(0);
        let deadline = Instant::now() + Duration::from_secs(1);
        assert_eq!(queue.acquire(&*tickets, deadline), Wait::Ticket(0));
    }
}
