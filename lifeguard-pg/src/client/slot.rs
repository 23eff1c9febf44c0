//! A one-shot answer slot: the reader coroutine fills it, the caller waits on it with a
//! deadline. Built from may's `Blocker` and `AtomicOption`, so it parks a coroutine (or
//! a plain thread) without blocking a worker.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use may::sync::{AtomicOption, Blocker};

use crate::error::{Error, Timeout};

/// The raw bytes of one response (every message up to its ReadyForQuery), or why it
/// will never come.
pub(crate) type Answer = Result<BytesMut, Error>;

pub(crate) struct Slot {
    answer: AtomicOption<Answer>,
    blocker: Blocker,
}

impl Slot {
    /// A slot for the calling coroutine or thread to wait on.
    pub(crate) fn new() -> Slot {
        Slot {
            answer: AtomicOption::none(),
            blocker: Blocker::new(false),
        }
    }

    /// Fills the slot and wakes its waiter (if it is still waiting).
    pub(crate) fn fill(&self, answer: Answer) {
        self.answer.store(answer);
        self.blocker.unpark();
    }

    /// Waits for the answer until `deadline` (none: until it comes; the reader always
    /// answers, if only with an error when the connection dies).
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Answer {
        loop {
            if let Some(answer) = self.answer.take() {
                return answer;
            }
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if left > Duration::ZERO => Some(left),
                    _ => return Err(Error::Timeout(Timeout::Request)),
                },
            };
            // A timeout or a spurious wake-up both loop back to check the slot.
            let _ = self.blocker.park(left);
        }
    }
}
