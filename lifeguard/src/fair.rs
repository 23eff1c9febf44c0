//! First-come, first-served waiting for pool capacity.
//!
//! A caller first tries to take capacity without queueing, but only while nobody waits
//! (no barging past waiters). Otherwise it queues and parks, bounded by its deadline.
//! Whoever frees capacity calls [`Fair::wake`], which hands capacity to the oldest
//! waiters directly. Both sides try to take capacity under the queue lock, so a wake-up
//! cannot be lost between a failed try and the enqueue.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use may::sync::{AtomicOption, Blocker, Mutex};

/// One parked caller.
struct Waiter {
    grant: AtomicOption<usize>,
    blocker: Blocker,
}

/// A FIFO queue of callers waiting for a ticket (a slot index, or a permit).
pub(crate) struct Fair {
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    waiting: AtomicUsize,
}

impl Fair {
    pub(crate) fn new() -> Fair {
        Fair {
            queue: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Number of parked callers.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Takes a ticket with `try_take`, waiting in line until `deadline` if there is
    /// none. `None` when the deadline passed first.
    pub(crate) fn acquire(
        &self,
        try_take: &dyn Fn() -> Option<usize>,
        deadline: Instant,
    ) -> Option<usize> {
        if self.waiting.load(Ordering::SeqCst) == 0
            && let Some(ticket) = try_take()
        {
            return Some(ticket);
        }
        let waiter = {
            let mut queue = self.lock();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            if queue.is_empty()
                && let Some(ticket) = try_take()
            {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return Some(ticket);
            }
            let waiter = Arc::new(Waiter {
                grant: AtomicOption::none(),
                blocker: Blocker::new(false),
            });
            queue.push_back(waiter.clone());
            waiter
        };
        loop {
            if let Some(ticket) = waiter.grant.take() {
                return Some(ticket);
            }
            let now = Instant::now();
            if now >= deadline {
                let mut queue = self.lock();
                // A grant happens under the lock: decide under it too.
                if let Some(ticket) = waiter.grant.take() {
                    return Some(ticket);
                }
                if let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, &waiter)) {
                    queue.remove(at);
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                }
                return None;
            }
            let _ = waiter.blocker.park(Some(deadline - now));
        }
    }

    /// Hands freed capacity to the oldest waiters, for as long as `try_take` finds some.
    ///
    /// During a panic it never parks: a coroutine parked halfway through unwinding may
    /// resume on another thread, which corrupts the panic bookkeeping. It then only
    /// wakes when the queue lock is free at once; otherwise the next release (or the
    /// waiters' own deadline) serves the queue.
    pub(crate) fn wake(&self, try_take: &dyn Fn() -> Option<usize>) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut queue = if std::thread::panicking() {
            match self.queue.try_lock() {
                Ok(queue) => queue,
                Err(_) => return,
            }
        } else {
            self.lock()
        };
        while !queue.is_empty() {
            let Some(ticket) = try_take() else {
                break;
            };
            if let Some(waiter) = queue.pop_front() {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                waiter.grant.store(ticket);
                waiter.blocker.unpark();
            }
        }
    }

    fn lock(&self) -> may::sync::MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        // Never held across I/O or user code: a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}
