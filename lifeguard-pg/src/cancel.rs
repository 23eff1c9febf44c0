//! Cancelling a running statement from outside its connection.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::frontend;

use crate::error::Error;
use crate::socket::{Address, Runtime, Stream, open};
use crate::startup::BackendKey;

/// What it takes to ask the server to cancel a connection's running statement: its
/// address and the backend's key. Cheap to clone and send to another thread or
/// coroutine.
#[derive(Debug, Clone)]
pub struct CancelToken {
    address: Address,
    key: BackendKey,
    connect_timeout: Option<Duration>,
}

impl CancelToken {
    pub(crate) fn new(
        address: Address,
        key: BackendKey,
        connect_timeout: Option<Duration>,
    ) -> Self {
        CancelToken {
            address,
            key,
            connect_timeout,
        }
    }

    /// Sends a CancelRequest on a new socket. The server acts on it asynchronously: the
    /// statement running at that moment (if any) fails with SQLSTATE 57014.
    pub fn cancel(&self) -> Result<(), Error> {
        let timeout = self.connect_timeout.or(Some(Duration::from_secs(10)));
        let mut socket = open(&self.address, Runtime::current(), timeout)?;
        let mut buf = BytesMut::with_capacity(16);
        frontend::cancel_request(self.key.process_id, self.key.secret_key, &mut buf);
        socket.write_all(&buf)?;
        socket.flush()?;
        // The server closes the socket once it has read the request; waiting for that
        // means the cancel has been delivered when this returns.
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        let _ = socket.read(&mut [0u8; 1]);
        Ok(())
    }
}
