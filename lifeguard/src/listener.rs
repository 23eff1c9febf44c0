//! A pool-level listener: `LISTEN` on a connection of its own that survives failures.
//!
//! The pool's shared connections refuse `LISTEN` (their callers do not know each
//! other, and notifications would pile up where nobody reads them). A [`Listener`]
//! holds one pipelined connection for its channels. When that connection fails it
//! reconnects, with the pool's backoff, and `LISTEN`s again; notifications sent while
//! it was gone are lost (PostgreSQL keeps none for a session that is not there), so it
//! says so with [`ListenEvent::Gap`] before the first notification after the gap. It
//! says the same when its backlog overflowed because nobody read for too long. A
//! reader that sees a gap re-reads whatever state the notifications were about.

use std::time::{Duration, Instant};

use lifeguard_pg::{Client, Config, Error, Notification, Notifications};

use crate::config::PoolConfig;

/// How often a waiting [`Listener::recv`] looks whether its connection died.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What [`Listener::recv`] hands out.
#[derive(Debug)]
pub enum ListenEvent {
    /// A notification on one of the channels.
    Notification(Notification),
    /// Notifications may have been missed since the last event: the connection was
    /// lost and re-established, or the backlog overflowed. `reason` says which.
    Gap {
        /// What happened.
        reason: String,
    },
}

/// Notifications of some channels, on a connection of the listener's own (not one of
/// the pool's). Made by [`Pool::listen`](crate::Pool::listen).
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// use std::time::Duration;
/// use lifeguard::ListenEvent;
///
/// let mut listener = pool.listen(&["jobs"])?;
/// loop {
///     match listener.recv(Duration::from_secs(1))? {
///         Some(ListenEvent::Notification(n)) => println!("job {}", n.payload()),
///         Some(ListenEvent::Gap { reason }) => println!("re-reading the jobs: {reason}"),
///         None => {} // nothing within a second
///     }
/// #   break;
/// }
/// # Ok(()) }
/// ```
pub struct Listener {
    pg: Config,
    config: PoolConfig,
    channels: Vec<String>,
    live: Option<Live>,
    /// Reconnect attempts failed in a row, for the backoff.
    failures: u32,
    /// No reconnect attempt before this.
    next_attempt: Instant,
    gap: Option<String>,
}

/// The connection in use and what has been seen of its backlog.
struct Live {
    client: Client,
    notifications: Notifications,
    dropped_seen: u64,
}

impl Listener {
    /// Connects and `LISTEN`s to `channels`; fails with the connect or LISTEN error.
    pub(crate) fn open(
        pg: Config,
        config: PoolConfig,
        channels: &[&str],
    ) -> Result<Listener, Error> {
        let mut listener = Listener {
            pg,
            config,
            channels: channels.iter().map(|&c| c.to_owned()).collect(),
            live: None,
            failures: 0,
            next_attempt: Instant::now(),
            gap: None,
        };
        listener.live = Some(listener.connect()?);
        Ok(listener)
    }

    /// The next event, waiting up to `timeout`: `Ok(None)` when none came. A lost
    /// connection is re-established within the wait (an error only when that fails
    /// and the wait is over: call again to keep trying, with backoff).
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<ListenEvent>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(reason) = self.gap.take() {
                return Ok(Some(ListenEvent::Gap { reason }));
            }
            let live = match &mut self.live {
                Some(live) if !live.client.is_closed() => live,
                _ => {
                    if !self.reconnect(deadline)? {
                        return Ok(None);
                    }
                    continue;
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let got = live.notifications.recv_timeout(left.min(CHECK_INTERVAL));
            let dropped = live.notifications.dropped();
            if dropped > live.dropped_seen {
                let lost = dropped - live.dropped_seen;
                live.dropped_seen = dropped;
                self.gap = Some(format!(
                    "{lost} notification(s) dropped: the backlog was full (read more often)"
                ));
            }
            // A notification queued before an overflow comes before its gap.
            if let Some(n) = got {
                return Ok(Some(ListenEvent::Notification(n)));
            }
            if Instant::now() >= deadline {
                return Ok(self.gap.take().map(|reason| ListenEvent::Gap { reason }));
            }
        }
    }

    /// Adds a channel (`LISTEN`), also after any reconnect.
    pub fn listen(&mut self, channel: &str) -> Result<(), Error> {
        if let Some(live) = &self.live {
            live.client
                .batch_execute(&format!("LISTEN {}", quote(channel)))?;
        }
        self.channels.push(channel.to_owned());
        Ok(())
    }

    /// Removes a channel (`UNLISTEN`).
    pub fn unlisten(&mut self, channel: &str) -> Result<(), Error> {
        if let Some(live) = &self.live {
            live.client
                .batch_execute(&format!("UNLISTEN {}", quote(channel)))?;
        }
        self.channels.retain(|c| c != channel);
        Ok(())
    }

    /// The channels listened to.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The backend's process ID of the connection in use, if connected.
    pub fn process_id(&self) -> Option<i32> {
        self.live.as_ref().map(|live| live.client.process_id())
    }

    /// Tries to reconnect before `deadline`, with backoff between attempts; true once
    /// connected (and a gap queued), false when the deadline came first.
    fn reconnect(&mut self, deadline: Instant) -> Result<bool, Error> {
        self.live = None;
        loop {
            let now = Instant::now();
            if now < self.next_attempt {
                if self.next_attempt >= deadline {
                    may::coroutine::sleep(deadline.saturating_duration_since(now));
                    return Ok(false);
                }
                may::coroutine::sleep(self.next_attempt - now);
            }
            match self.connect() {
                Ok(live) => {
                    self.live = Some(live);
                    self.failures = 0;
                    self.gap = Some(
                        "the connection was lost and re-established: notifications sent \
                         meanwhile were missed"
                            .to_owned(),
                    );
                    return Ok(true);
                }
                Err(e) => {
                    let delay = self.config.backoff_delay(self.failures, fastrand::f64());
                    self.failures = self.failures.saturating_add(1);
                    self.next_attempt = Instant::now() + delay;
                    if self.next_attempt >= deadline {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn connect(&self) -> Result<Live, Error> {
        let client = Client::connect(&self.pg)?;
        let notifications = client
            .notifications()
            .ok_or_else(|| Error::Protocol("a new connection's notifications were taken".into()))?;
        if !self.channels.is_empty() {
            let sql: Vec<String> = self
                .channels
                .iter()
                .map(|c| format!("LISTEN {}", quote(c)))
                .collect();
            client.batch_execute(&sql.join("; "))?;
        }
        Ok(Live {
            client,
            notifications,
            dropped_seen: 0,
        })
    }
}

/// A channel name as a quoted identifier (channel names are identifiers, not values,
/// so they cannot be bound as parameters).
fn quote(channel: &str) -> String {
    format!("\"{}\"", channel.replace('"', "\"\""))
}
