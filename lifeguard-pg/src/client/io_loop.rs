//! The I/O coroutine: one per pipelined connection, the only code that touches its
//! socket. It writes what callers queued, reads what the server sends, cuts it into
//! responses at each ReadyForQuery (or, for a read that shared a Sync, at its
//! CommandComplete: see `pipeline.rs`) and hands each to the oldest waiting caller;
//! notices and notifications are taken out wherever they appear. Both directions run
//! without parking; when neither can go on it parks until the socket has an event or
//! a caller wakes it, so requests that arrive meanwhile leave together in one write.
//!
//! The deadline keeper also wakes it on every tick (`deadlines.rs`). may 0.3.51's
//! edge-triggered registration was seen to miss the end of a connection, and the
//! answer that came with it, after connections churned (servers stopped, backends
//! terminated: `lifeguard/tests/faults.rs`), which left callers waiting for their
//! deadline; it was not reproduced on a lone socket. With the tick, a missed event
//! costs at most one tick, and [`ClientStats::missed_events`](crate::ClientStats)
//! counts the ticks that found bytes which had waited a tick with no event.
//!
//! A response is buffered whole before its caller sees it, so its size is bounded by
//! the connection's response limit: past it, the rest of the response is read and
//! dropped as it arrives (a message longer than the limit is never buffered whole
//! either), and the caller gets an error at its ReadyForQuery. The connection stays in
//! step for everyone else.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf, BytesMut};

use crate::codec::{frame_len, is_async_tag, parse_message};
use crate::error::{DbError, Error};
use crate::socket::{Driven, Readiness};

use super::pipeline::{End, Pipeline};
use super::response_slot::{Answer, ResponseSlot};

const READ_CHUNK: usize = 64 * 1024;

/// Runs until the socket fails or the connection closes, then fails every waiter.
pub(crate) fn run(shared: Arc<Pipeline>, mut socket: Driven, leftover: BytesMut) {
    let mut io = Io {
        scratch: vec![0u8; READ_CHUNK],
        input: leftover,
        output: BytesMut::with_capacity(16 * 1024),
        ends: VecDeque::new(),
        cut: Cutter::default(),
        done: Vec::new(),
        slots: Vec::new(),
    };
    let mut poked = false;
    let mut ready = Readiness {
        read: true,
        write: true,
    };
    let reason = loop {
        match io.turn(&shared, &mut socket, ready, poked) {
            Ok(Turn { closed: true, .. }) => {
                // Closed by a caller: say goodbye if the socket takes it now.
                if !io.output.is_empty() {
                    let _ = socket.try_write(&io.output);
                }
                break None;
            }
            Ok(turn) => {
                if poked && turn.read && turn.quiet_before {
                    shared.missed_events.fetch_add(1, Ordering::Relaxed);
                }
                if turn.read_more {
                    poked = false;
                    ready.read = true;
                    ready.write = !turn.write_blocked;
                    continue;
                }
                let woke = socket.wait();
                poked = shared.take_poke();
                // A poke tries both directions, in case their events were missed.
                ready = Readiness {
                    read: woke.read || poked,
                    write: woke.write || poked || !turn.write_blocked,
                };
            }
            Err(reason) => break Some(reason),
        }
    };
    if let Some(reason) = reason {
        shared.fail(&reason);
    }
    let _ = socket.shutdown();
    drop(shared);
    // may's `wait_io` still reads the socket's registration on the parking thread
    // after it handed this coroutine to whoever woke it (may 0.3.51,
    // `src/io/sys/unix/wait_io.rs`, `RawIoBlock::subscribe`): this coroutine can reach
    // here first. Freeing the socket at once would leave that read on freed memory;
    // the socket is shut down already, so keeping it a little longer costs nothing.
    may::coroutine::sleep(SOCKET_LINGER);
    drop(socket);
}

/// How long the ended I/O coroutine keeps its socket (see the end of [`run`]).
const SOCKET_LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// What one turn of the I/O coroutine did.
struct Turn {
    /// It read bytes.
    read: bool,
    /// Poked, and nothing had been read for a whole keeper tick before.
    quiet_before: bool,
    /// It filled its read chunk: more may be waiting.
    read_more: bool,
    /// The socket took less than there was to write.
    write_blocked: bool,
    /// The connection was closed by a caller; the output holds the goodbye, if any.
    closed: bool,
}

struct Io {
    scratch: Vec<u8>,
    /// Bytes read and not yet cut into responses.
    input: BytesMut,
    /// Bytes taken from the callers and not yet written.
    output: BytesMut,
    /// Where each response not yet cut ends, oldest first.
    ends: VecDeque<End>,
    cut: Cutter,
    done: Vec<Answer>,
    slots: Vec<Arc<ResponseSlot>>,
}

impl Io {
    /// Writes what it can and reads what is there, in the directions `ready` says may
    /// go on, without parking, and answers whoever is complete. The error is the
    /// reason the connection must close.
    fn turn(
        &mut self,
        shared: &Pipeline,
        socket: &mut Driven,
        ready: Readiness,
        poked: bool,
    ) -> Result<Turn, String> {
        // TLS records encrypted but not yet written count as output too.
        let had_output = !self.output.is_empty() || socket.wants_write();
        if !shared.take_pending(&mut self.output, &mut self.ends) {
            if had_output {
                // Part of a request may be on the wire: a goodbye after it would be
                // read as its rest.
                self.output.clear();
            }
            return Ok(Turn {
                read: false,
                quiet_before: false,
                read_more: false,
                write_blocked: false,
                closed: true,
            });
        }
        // New output is written at once; the rest of a blocked write waits for its event.
        let output = !self.output.is_empty() || socket.wants_write();
        if output && (ready.write || !had_output) {
            self.write(socket)?;
        }
        let write_blocked = !self.output.is_empty() || socket.wants_write();
        // Only a poked turn asks: the clock is not read on every turn.
        let quiet_before = poked && shared.silent_for() >= super::deadlines::TICK;
        let read = if ready.read { self.read(socket)? } else { 0 };
        if read > 0 {
            shared.note_read();
        }
        self.cut
            .responses(&mut self.input, &mut self.ends, shared, &mut self.done)
            .and_then(|()| shared.deliver(&mut self.done, &mut self.slots))
            .map_err(|e| e.to_string())?;
        Ok(Turn {
            read: read > 0,
            quiet_before,
            read_more: read == self.scratch.len(),
            write_blocked,
            closed: false,
        })
    }

    /// Writes until done or the socket is full.
    fn write(&mut self, socket: &mut Driven) -> Result<(), String> {
        while !self.output.is_empty() {
            match socket.try_write(&self.output) {
                Ok(0) => return Err("I/O error: the socket accepts no more bytes".into()),
                Ok(n) => self.output.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("I/O error: {e}")),
            }
        }
        match socket.flush_pending() {
            Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                Err(format!("I/O error: {e}"))
            }
            _ => Ok(()),
        }
    }

    /// Reads one chunk at most; the bytes read, zero when there were none.
    fn read(&mut self, socket: &mut Driven) -> Result<usize, String> {
        loop {
            match socket.try_read(&mut self.scratch) {
                Ok(0) => return Err(closed_reason(&mut self.input)),
                Ok(n) => {
                    self.input.extend_from_slice(&self.scratch[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("I/O error: {e}")),
            }
        }
    }
}

/// Where the I/O coroutine is within the current response.
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
    /// A read of a group failed: the server skipped the rest of the group, and the
    /// next ReadyForQuery ends it, answering no request.
    skipped_to_sync: bool,
}

/// The ReadyForQuery a shared-Sync read's response gets, so that it reads as any other.
const READY: [u8; 6] = [b'Z', 0, 0, 0, 5, b'I'];

impl Cutter {
    /// Moves every complete response in `buf` to `done`; `ends` says where each ends.
    fn responses(
        &mut self,
        buf: &mut BytesMut,
        ends: &mut VecDeque<End>,
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
            // A response nobody sent is found when it is delivered.
            let end = ends.front().copied().unwrap_or(End::Ready);
            let ends_here = match end {
                End::Ready => tag == b'Z',
                End::Complete => matches!(tag, b'C' | b'I' | b'E'),
            };
            let part_of_response = !is_async_tag(tag) && !ends_here && tag != b'Z';
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
            } else if tag == b'Z' && std::mem::take(&mut self.skipped_to_sync) {
                // The end of a group whose members after a failed one were skipped.
                let _ = buf.split_to(self.scanned + len);
                self.scanned = 0;
            } else if self.skipped_to_sync {
                return Err(Error::protocol(
                    "the server answered a request it should have skipped",
                ));
            } else if ends_here {
                self.scanned += len;
                let mut response = buf.split_to(self.scanned);
                self.scanned = 0;
                ends.pop_front();
                let mut skipped = 0;
                if end == End::Complete {
                    response.extend_from_slice(&READY);
                    if tag == b'E' {
                        skipped = skip_rest_of_group(ends);
                        self.skipped_to_sync = true;
                    }
                }
                if std::mem::take(&mut self.dropping) {
                    done.push(Err(too_large(limit)));
                } else {
                    if !self.partial.is_empty() {
                        self.partial.extend_from_slice(&response);
                        response = std::mem::take(&mut self.partial);
                    }
                    done.push(Ok(response));
                }
                // After the failed read: its group's later members, each to send again.
                done.extend((0..skipped).map(|_| Ok(BytesMut::new())));
            } else if tag == b'Z' {
                return Err(Error::protocol(
                    "ReadyForQuery in the middle of a group of reads",
                ));
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

/// A read of a group failed: the server skips the reads after it, up to the group's
/// Sync. Takes their ends off `ends` and says how many there were.
fn skip_rest_of_group(ends: &mut VecDeque<End>) -> usize {
    let mut skipped = 0;
    while let Some(end) = ends.pop_front() {
        skipped += 1;
        if end == End::Ready {
            break;
        }
    }
    skipped
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
