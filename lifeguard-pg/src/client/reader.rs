//! The reader coroutine: one per pipelined connection. It reads what the server sends,
//! cuts it into responses at each ReadyForQuery and hands each to the oldest waiting
//! caller; notices and notifications are taken out wherever they appear.

use std::io::Read;
use std::sync::Arc;

use bytes::BytesMut;

use crate::codec::{frame_len, is_async_tag, parse_message};
use crate::error::{DbError, Error};
use crate::socket::Socket;

use super::pipeline::Shared;

const READ_CHUNK: usize = 64 * 1024;

/// Runs until the socket fails or closes, then fails every waiter.
pub(crate) fn run(shared: Arc<Shared>, mut socket: Socket, leftover: BytesMut) {
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut buf = leftover;
    let mut cut = Cutter::default();
    let mut done = Vec::new();
    let reason = loop {
        if let Err(e) = cut
            .responses(&mut buf, &shared, &mut done)
            .and_then(|()| shared.deliver(&mut done))
        {
            break e.to_string();
        }
        match socket.read(&mut scratch) {
            Ok(0) => break closed_reason(&mut buf),
            Ok(n) => {
                shared.note_read();
                buf.extend_from_slice(&scratch[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break format!("I/O error: {e}"),
        }
    };
    shared.fail(&reason);
}

/// Where the reader is within the current response.
#[derive(Default)]
struct Cutter {
    /// Bytes of `buf` already scanned that belong to the current response.
    scanned: usize,
    /// Parts of the current response set aside when an asynchronous message interrupted.
    partial: BytesMut,
}

impl Cutter {
    /// Moves every complete response in `buf` to `done`.
    fn responses(
        &mut self,
        buf: &mut BytesMut,
        shared: &Shared,
        done: &mut Vec<BytesMut>,
    ) -> Result<(), Error> {
        while let Some(len) = frame_len(&buf[self.scanned..])? {
            let tag = buf[self.scanned];
            if is_async_tag(tag) {
                let head = buf.split_to(self.scanned);
                self.partial.extend_from_slice(&head);
                self.scanned = 0;
                let mut message = buf.split_to(len);
                shared.asynchronous(&mut message)?;
            } else if tag == b'Z' {
                self.scanned += len;
                let mut response = buf.split_to(self.scanned);
                self.scanned = 0;
                if !self.partial.is_empty() {
                    self.partial.extend_from_slice(&response);
                    response = std::mem::take(&mut self.partial);
                }
                done.push(response);
            } else if tag == b'G' || tag == b'W' {
                return Err(Error::protocol(
                    "COPY FROM STDIN and replication cannot run on the pipelined client; use an exclusive Connection",
                ));
            } else {
                self.scanned += len;
            }
        }
        Ok(())
    }
}

/// Why the server closed: the FATAL error it sent last, if any.
fn closed_reason(buf: &mut BytesMut) -> String {
    let mut reason = "the server closed the connection".to_owned();
    while let Ok(Some(message)) = parse_message(buf) {
        if let postgres_protocol::message::backend::Message::ErrorResponse(body) = message
            && let Ok(db) = DbError::parse(&mut body.fields())
        {
            reason = format!(
                "{reason}: {}: {} (SQLSTATE {})",
                db.severity, db.message, db.code
            );
        }
    }
    reason
}
