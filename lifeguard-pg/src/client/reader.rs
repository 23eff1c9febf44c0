//! The reader coroutine: one per pipelined connection. It reads what the server sends,
//! cuts it into responses at each ReadyForQuery and hands each to the oldest waiting
//! caller; notices and notifications are taken out wherever they appear.
//!
//! A response is buffered whole before its caller sees it, so its size is bounded by
//! the connection's response limit: past it, the rest of the response is read and
//! dropped as it arrives (a message longer than the limit is never buffered whole
//! either), and the caller gets an error at its ReadyForQuery. The connection stays in
//! step for everyone else.

use std::io::Read;
use std::sync::Arc;

use bytes::BytesMut;

use crate::codec::{frame_len, is_async_tag, parse_message};
use crate::error::{DbError, Error};
use crate::socket::Socket;

use super::pipeline::Pipeline;
use super::response_slot::Answer;

const READ_CHUNK: usize = 64 * 1024;

/// Runs until the socket fails or closes, then fails every waiter.
pub(crate) fn run(shared: Arc<Pipeline>, mut socket: Socket, leftover: BytesMut) {
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
    /// The current response outgrew the limit: its messages are dropped, not kept.
    dropping: bool,
    /// Bytes of an oversized message still to come, to be dropped as they arrive.
    skip: usize,
}

impl Cutter {
    /// Moves every complete response in `buf` to `done`.
    fn responses(
        &mut self,
        buf: &mut BytesMut,
        shared: &Pipeline,
        done: &mut Vec<Answer>,
    ) -> Result<(), Error> {
        let limit = shared.max_response_bytes();
        loop {
            if self.skip > 0 {
                let n = self.skip.min(buf.len());
                let _ = buf.split_to(n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(());
                }
            }
            let rest = &buf[self.scanned..];
            if rest.len() < 5 {
                return Ok(());
            }
            let tag = rest[0];
            let len = frame_len_field(rest)?;
            let part_of_response = !is_async_tag(tag) && tag != b'Z';
            if part_of_response && !self.dropping && self.partial.len() + self.scanned + len > limit
            {
                // Too large to hand over: drop what was kept, and the rest as it comes.
                self.dropping = true;
                let _ = buf.split_to(self.scanned);
                self.scanned = 0;
                self.partial = BytesMut::new();
            }
            let rest = &buf[self.scanned..];
            if self.dropping && part_of_response {
                if rest.len() >= len {
                    let _ = buf.split_to(len);
                } else {
                    self.skip = len - rest.len();
                    buf.clear();
                }
                continue;
            }
            if rest.len() < len {
                return Ok(());
            }
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
                if std::mem::take(&mut self.dropping) {
                    done.push(Err(too_large(limit)));
                    continue;
                }
                if !self.partial.is_empty() {
                    self.partial.extend_from_slice(&response);
                    response = std::mem::take(&mut self.partial);
                }
                done.push(Ok(response));
            } else if tag == b'G' || tag == b'W' {
                return Err(Error::protocol(
                    "COPY FROM STDIN and replication cannot run on the pipelined client; use an exclusive Connection",
                ));
            } else {
                self.scanned += len;
            }
        }
    }
}

/// The whole length (tag included) the message at the start of `buf` declares, checked
/// as [`frame_len`] checks it; `buf` holds at least its 5-byte header.
fn frame_len_field(buf: &[u8]) -> Result<usize, Error> {
    frame_len(&buf[..5])?;
    Ok(u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize + 1)
}

fn too_large(limit: usize) -> Error {
    Error::Unsupported(format!(
        "the response is larger than a pipelined connection buffers ({limit} bytes, \
         max_response_bytes): stream it with for_each on an exclusive Connection \
         (in a pool: pool.acquire()), or raise the limit"
    ))
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
