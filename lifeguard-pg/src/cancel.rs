//! Cancelling a running statement from outside its connection.
//!
//! A cancel is a new connection carrying one CancelRequest; the server reads it, acts
//! asynchronously and closes the socket. Every step is bounded: the connect by the
//! connect timeout (10 s when none is configured), the wait for the server to close by
//! [`CLOSE_WAIT`], and all of it by the caller's limit when it has one (a statement
//! timeout cancels within what is left of its request timeout).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres_protocol::message::frontend;

use crate::error::{Error, Timeout};
use crate::socket::{Address, Runtime, Stream, TcpOptions, open};
use crate::startup::BackendKey;

/// The connect bound of a cancel when the connection has no connect timeout.
const DEFAULT_CONNECT: Duration = Duration::from_secs(10);

/// How long a cancel waits for the server to close the socket (its sign that the
/// request was read).
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What it takes to ask the server to cancel a connection's running statement: its
/// address and the backend's key. Cheap to clone and send to another thread or
/// coroutine.
#[derive(Debug, Clone)]
pub struct CancelToken {
    address: Address,
    key: BackendKey,
    connect_timeout: Option<Duration>,
    tcp: TcpOptions,
}

impl CancelToken {
    pub(crate) fn new(
        address: Address,
        key: BackendKey,
        connect_timeout: Option<Duration>,
        tcp: TcpOptions,
    ) -> Self {
        CancelToken {
            address,
            key,
            connect_timeout,
            tcp,
        }
    }

    /// Sends a CancelRequest on a new socket. The server acts on it asynchronously: the
    /// statement running at that moment (if any) fails with SQLSTATE 57014.
    ///
    /// Bounded: the connect takes at most the connect timeout (10 s when none is
    /// configured), and the wait for the server to acknowledge by closing at most 2 s.
    pub fn cancel(&self) -> Result<(), Error> {
        self.cancel_within(self.connect_bound() + CLOSE_WAIT)
    }

    /// [`cancel`](Self::cancel), all of it within `limit`: a connect that does not
    /// finish in time is `Error::Timeout(Timeout::Connect)`; a server that does not
    /// close in time is taken to have the request.
    pub(crate) fn cancel_within(&self, limit: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        let connect = self.connect_bound().min(limit);
        let mut socket = open(&self.address, Runtime::current(), Some(connect), &self.tcp)?;
        let mut buf = BytesMut::with_capacity(16);
        frontend::cancel_request(self.key.process_id, self.key.secret_key, &mut buf);
        let left = left_until(deadline).ok_or(Error::Timeout(Timeout::Connect))?;
        socket.set_write_timeout(Some(left))?;
        socket.write_all(&buf)?;
        socket.flush()?;
        // The server closes the socket once it has read the request; waiting for that
        // means the cancel has been delivered when this returns.
        if let Some(left) = left_until(deadline) {
            socket.set_read_timeout(Some(left.min(CLOSE_WAIT)))?;
            let _ = socket.read(&mut [0u8; 1]);
        }
        Ok(())
    }

    fn connect_bound(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT)
    }
}

fn left_until(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}
