//! A one-shot answer slot: the I/O coroutine fills it, the caller waits on it with a
//! deadline. Built from may's `Blocker` and `AtomicOption`, so it parks a coroutine (or
//! a plain thread) without blocking a worker.

use std::time::Instant;

use bytes::BytesMut;
use may::sync::{AtomicOption, Blocker};

use crate::error::{Error, Timeout};

/// The raw bytes of one response (every message up to its ReadyForQuery), or why it
/// will never come.
pub(crate) type Answer = Result<BytesMut, Error>;

pub(crate) struct ResponseSlot {
    answer: AtomicOption<Answer>,
    blocker: Blocker,
    /// When the caller stops waiting; the connection's deadline keeper fills the slot
    /// with a timeout then, so the caller parks without a timer of its own.
    deadline: Option<Instant>,
    /// When the request was queued, for the keeper's stall check.
    queued_at: Instant,
}

impl ResponseSlot {
    /// A slot for the calling coroutine or thread to wait on, from `queued_at` until
    /// `deadline`.
    pub(crate) fn new(queued_at: Instant, deadline: Option<Instant>) -> ResponseSlot {
        ResponseSlot {
            answer: AtomicOption::none(),
            blocker: Blocker::new(false),
            deadline,
            queued_at,
        }
    }

    pub(crate) fn queued_at(&self) -> Instant {
        self.queued_at
    }

    /// Fills the slot with a timeout if its deadline has passed at `now`.
    pub(crate) fn expire(&self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.fill(Err(Error::Timeout(Timeout::Request)));
        }
    }

    /// Fills the slot and wakes its waiter (if it is still waiting).
    pub(crate) fn fill(&self, answer: Answer) {
        self.answer.store(answer);
        self.blocker.unpark();
    }

    /// Waits for the answer. With a deadline, the keeper (see `deadlines.rs`) answers
    /// with a timeout once it passes; the caller also checks on each wake-up, so a
    /// late keeper costs at most its tick.
    pub(crate) fn wait(&self) -> Answer {
        loop {
            if let Some(answer) = self.answer.take() {
                return answer;
            }
            // A spurious wake-up loops back to check the slot.
            let _ = self.blocker.park(None);
            if let Some(answer) = self.answer.take() {
                return answer;
            }
            // Woken with no answer: the clock is read only then, not per request.
            if self.deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(Error::Timeout(Timeout::Request));
            }
        }
    }
}
