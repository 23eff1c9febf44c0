//! How much a connection keeps for its caller between calls, and what it drops.
//!
//! Notices and notifications arrive whenever the server likes, and a caller may never
//! take them: a loop of a million `RAISE NOTICE` would otherwise hold every one of
//! them in memory. Each connection keeps at most the newest [`MAX_NOTICES`] notices and
//! [`MAX_NOTIFICATIONS`] notifications, drops the oldest beyond that, and counts what it
//! dropped so the loss is visible. One home for the caps, shared by the exclusive
//! [`Connection`](crate::Connection) and the pipelined [`Client`](crate::Client).

use std::collections::VecDeque;

/// At most this many notices are kept until taken; older ones are dropped and counted.
pub(crate) const MAX_NOTICES: usize = 10_000;

/// At most this many notifications are kept until taken; older ones are dropped and
/// counted.
pub(crate) const MAX_NOTIFICATIONS: usize = 100_000;

/// A queue that keeps the newest `cap` items and counts the ones it dropped.
#[derive(Debug)]
pub(crate) struct Backlog<T> {
    items: VecDeque<T>,
    cap: usize,
    dropped: u64,
}

impl<T> Backlog<T> {
    /// An empty backlog keeping at most `cap` items (at least one).
    pub(crate) fn new(cap: usize) -> Backlog<T> {
        Backlog {
            items: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    /// Adds `item` as the newest, dropping the oldest when full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(item);
    }

    /// The oldest item, removed.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Every item, oldest first, removed.
    pub(crate) fn take(&mut self) -> Vec<T> {
        self.items.drain(..).collect()
    }

    /// How many items were dropped since the backlog was made.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_the_rest() {
        let mut backlog = Backlog::new(3);
        for i in 0..10 {
            backlog.push(i);
        }
        assert_eq!(backlog.dropped(), 7);
        assert_eq!(backlog.pop(), Some(7));
        assert_eq!(backlog.take(), vec![8, 9]);
        assert_eq!(backlog.pop(), None);
        assert_eq!(backlog.dropped(), 7);
    }
}
