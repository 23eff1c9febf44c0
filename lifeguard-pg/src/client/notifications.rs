//! The pipelined connection's notifications, bounded: the I/O coroutine queues each one for
//! the [`Notifications`] receiver, and drops (and counts) what arrives while
//! [`MAX_NOTIFICATIONS`] are waiting to be read, so a channel nobody reads cannot grow
//! the client's memory without end. Unlike the exclusive connection's backlog it drops
//! the newest, not the oldest: the queued ones are already in the receiver's channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use may::sync::mpsc;

use crate::backlog::MAX_NOTIFICATIONS;
use crate::deadline::may_timeout;
use crate::notify::Notification;

/// What the I/O coroutine and the receiver share: how many wait, how many were dropped.
#[derive(Default)]
struct Backlog {
    queued: AtomicUsize,
    dropped: AtomicU64,
}

/// The I/O coroutine's end.
pub(crate) struct Sender {
    tx: mpsc::Sender<Notification>,
    backlog: Arc<Backlog>,
}

impl Sender {
    /// Queues `notification`, or drops it when the backlog is full.
    pub(crate) fn send(&self, notification: Notification) {
        let backlog = &self.backlog;
        if backlog.queued.load(Ordering::Relaxed) >= MAX_NOTIFICATIONS {
            backlog.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        backlog.queued.fetch_add(1, Ordering::Relaxed);
        // A closed receiver means nobody listens any more; nothing to keep.
        if self.tx.send(notification).is_err() {
            backlog.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The notifications of the channels a [`Client`](crate::Client) `LISTEN`s to, in
/// order. At most 100,000 wait to be read; [`dropped`](Self::dropped) counts those
/// lost because the backlog was full, so a reader knows when it missed some.
///
/// ```no_run
/// # fn demo(client: &lifeguard_pg::Client) -> Result<(), lifeguard_pg::Error> {
/// use std::time::Duration;
///
/// let notifications = client.notifications().expect("taken only once");
/// client.batch_execute("LISTEN jobs")?;
/// if let Some(n) = notifications.recv_timeout(Duration::from_secs(1)) {
///     println!("{}: {}", n.channel(), n.payload());
/// }
/// assert_eq!(notifications.dropped(), 0);
/// # Ok(()) }
/// ```
pub struct Notifications {
    rx: mpsc::Receiver<Notification>,
    backlog: Arc<Backlog>,
}

impl Notifications {
    /// The next notification, waiting up to `timeout`; `None` when none came in time
    /// or the connection has closed.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Notification> {
        self.took(self.rx.recv_timeout(may_timeout(timeout)).ok())
    }

    /// The next notification if one is waiting.
    pub fn try_recv(&self) -> Option<Notification> {
        self.took(self.rx.try_recv().ok())
    }

    /// Notifications dropped so far because 100,000 were waiting to be read.
    pub fn dropped(&self) -> u64 {
        self.backlog.dropped.load(Ordering::Relaxed)
    }

    fn took(&self, notification: Option<Notification>) -> Option<Notification> {
        if notification.is_some() {
            self.backlog.queued.fetch_sub(1, Ordering::Relaxed);
        }
        notification
    }
}

/// A connected pair.
pub(crate) fn channel() -> (Sender, Notifications) {
    let (tx, rx) = mpsc::channel();
    let backlog = Arc::new(Backlog::default());
    (
        Sender {
            tx,
            backlog: backlog.clone(),
        },
        Notifications { rx, backlog },
    )
}
