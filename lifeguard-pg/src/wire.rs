//! The exclusive connection's side of the socket: buffered writes, message reads, the
//! deadline every read and write honours, and the asynchronous messages
//! (notifications, notices, parameter status) set aside as they arrive.
//!
//! Bounding a wait: when [`Wire::deadline`] is set, every read and every write first
//! sets the stream's timeout to what is left of it, so a server that trickles one byte
//! at a time cannot stretch a wait past the deadline (a timeout per read would restart
//! with every byte). With no deadline nothing is set; the first read or write after a
//! deadline is cleared takes the stream's timeouts off again.
//!
//! Memory: the asynchronous messages are kept in [`Backlog`]s, the newest
//! [`MAX_NOTICES`] notices and [`MAX_NOTIFICATIONS`] notifications, the dropped ones
//! counted.

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use crate::backlog::{Backlog, MAX_NOTICES, MAX_NOTIFICATIONS};
use crate::codec::parse_message;
use crate::error::{DbError, Error, Timeout};
use crate::notify::Notification;
use crate::response::Messages;
use crate::socket::Stream;

const READ_CHUNK: usize = 16 * 1024;

/// A bound on the wire's reads and writes, and what running out of it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// When it runs out.
    pub(crate) at: Instant,
    /// What running out reports: `Error::Timeout(timeout)`.
    pub(crate) timeout: Timeout,
    /// A hard deadline gives the connection up when it runs out (it is marked broken);
    /// a soft one only fails the read, leaving the connection in step for the caller
    /// to decide (the bytes read so far stay buffered). A write that runs out always
    /// breaks the connection: part of a message may have left.
    pub(crate) hard: bool,
}

impl Deadline {
    /// A hard deadline `timeout` reports when it runs out at `at`.
    pub(crate) fn hard(at: Instant, timeout: Timeout) -> Deadline {
        Deadline {
            at,
            timeout,
            hard: true,
        }
    }

    /// A soft deadline (see [`Deadline::hard`]).
    pub(crate) fn soft(at: Instant, timeout: Timeout) -> Deadline {
        Deadline {
            at,
            timeout,
            hard: false,
        }
    }

    /// The earlier of two deadlines (`None` is no bound).
    pub(crate) fn earliest(a: Option<Deadline>, b: Option<Deadline>) -> Option<Deadline> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// A stream plus its buffers and the asynchronous messages it has received.
pub(crate) struct Wire<S> {
    pub(crate) stream: S,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) notifications: Backlog<Notification>,
    pub(crate) notices: Backlog<DbError>,
    pub(crate) parameters: HashMap<String, String>,
    /// The status byte of the last ReadyForQuery: `I` idle, `T` in a transaction,
    /// `E` in a failed transaction.
    pub(crate) status: u8,
    /// The bound on every read and write while it is set.
    pub(crate) deadline: Option<Deadline>,
    /// The stream has a read (write) timeout set that a read (write) without a
    /// deadline must take off first.
    read_timeout_set: bool,
    write_timeout_set: bool,
    broken: Option<String>,
}

impl<S: Stream> Wire<S> {
    pub(crate) fn new(stream: S) -> Wire<S> {
        Wire {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(1024),
            notifications: Backlog::new(MAX_NOTIFICATIONS),
            notices: Backlog::new(MAX_NOTICES),
            parameters: HashMap::new(),
            status: b'I',
            deadline: None,
            read_timeout_set: false,
            write_timeout_set: false,
            broken: None,
        }
    }

    /// Fails fast once the connection is known to be broken.
    pub(crate) fn check_open(&self) -> Result<(), Error> {
        match &self.broken {
            Some(reason) => Err(Error::closed(reason.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Marks the connection unusable; later calls fail with `Error::Closed`.
    pub(crate) fn mark_broken(&mut self, reason: impl Into<String>) {
        self.broken.get_or_insert(reason.into());
    }

    /// Takes any timeout a deadline left on the stream off it, so the stream can be
    /// handed on (to the pipelined client's reader) waiting as long as it must.
    pub(crate) fn clear_timeouts(&mut self) -> Result<(), Error> {
        self.deadline = None;
        self.stream.set_read_timeout(None)?;
        self.stream.set_write_timeout(None)?;
        self.read_timeout_set = false;
        self.write_timeout_set = false;
        Ok(())
    }

    /// Writes everything buffered, within the deadline if one is set.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        let result = self.write_buffered();
        self.wbuf.clear();
        result
    }

    fn write_buffered(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let mut written = 0;
        while written < self.wbuf.len() {
            self.arm(Direction::Write)?;
            match self.stream.write(&self.wbuf[written..]) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes");
                    return Err(self.fail(e));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(match self.deadline {
                        Some(deadline) if is_timeout(&e) => self.expire(deadline, true),
                        _ => self.fail(e),
                    });
                }
            }
        }
        self.stream.flush().map_err(|e| self.fail(e))
    }

    /// Reads the next message of any kind, asynchronous ones included.
    pub(crate) fn read_any(&mut self) -> Result<Message, Error> {
        self.check_open()?;
        loop {
            match parse_message(&mut self.rbuf) {
                Ok(Some(message)) => {
                    if let Message::ReadyForQuery(body) = &message {
                        self.status = body.status();
                    }
                    return Ok(message);
                }
                Ok(None) => {}
                Err(e) => {
                    self.mark_broken(e.to_string());
                    return Err(e);
                }
            }
            self.fill()?;
        }
    }

    /// Reads more bytes from the socket into the read buffer, within the deadline.
    fn fill(&mut self) -> Result<(), Error> {
        self.arm(Direction::Read)?;
        let start = self.rbuf.len();
        self.rbuf.resize(start + READ_CHUNK, 0);
        let read = self.stream.read(&mut self.rbuf[start..]);
        let got = match read {
            Ok(n) => n,
            Err(e) => {
                self.rbuf.truncate(start);
                return match self.deadline {
                    Some(deadline) if is_timeout(&e) => Err(self.expire(deadline, false)),
                    // A read timeout the caller set: the connection is intact.
                    None if is_timeout(&e) => Err(Error::Io(e)),
                    _ if e.kind() == io::ErrorKind::Interrupted => Ok(()),
                    _ => Err(self.fail(e)),
                };
            }
        };
        self.rbuf.truncate(start + got);
        if got == 0 {
            self.mark_broken("the server closed the connection");
            return Err(Error::closed("the server closed the connection"));
        }
        Ok(())
    }

    /// Gives the stream what is left of the deadline as its timeout for one read or
    /// write; a deadline already passed is its timeout error.
    fn arm(&mut self, direction: Direction) -> Result<(), Error> {
        let set = match direction {
            Direction::Read => self.read_timeout_set,
            Direction::Write => self.write_timeout_set,
        };
        let timeout = match self.deadline {
            None if !set => return Ok(()),
            None => None,
            Some(deadline) => match deadline
                .at
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
            {
                Some(left) => Some(left),
                None => return Err(self.expire(deadline, direction == Direction::Write)),
            },
        };
        let applied = match direction {
            Direction::Read => {
                self.read_timeout_set = timeout.is_some();
                self.stream.set_read_timeout(timeout)
            }
            Direction::Write => {
                self.write_timeout_set = timeout.is_some();
                self.stream.set_write_timeout(timeout)
            }
        };
        applied.map_err(|e| self.fail(e))
    }

    /// The error for a deadline that ran out; a hard one (or any during a write) marks
    /// the connection broken.
    fn expire(&mut self, deadline: Deadline, writing: bool) -> Error {
        if deadline.hard || writing {
            self.mark_broken(format!(
                "the {} expired; the connection was given up",
                deadline.timeout
            ));
        }
        Error::Timeout(deadline.timeout)
    }

    fn fail(&mut self, e: io::Error) -> Error {
        self.mark_broken(format!("I/O error: {e}"));
        Error::Io(e)
    }

    /// Sets an asynchronous message aside; returns it back when it is not one.
    pub(crate) fn divert(&mut self, message: Message) -> Result<Option<Message>, Error> {
        match message {
            Message::NotificationResponse(body) => {
                self.notifications.push(Notification::from_body(&body)?);
                Ok(None)
            }
            Message::NoticeResponse(body) => {
                self.notices.push(DbError::parse(&mut body.fields())?);
                Ok(None)
            }
            Message::ParameterStatus(body) => {
                let name = body.name().map_err(bad_status)?.to_owned();
                let value = body.value().map_err(bad_status)?.to_owned();
                self.parameters.insert(name, value);
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Read,
    Write,
}

/// True for the errors a stream's read or write timeout produces.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn bad_status(e: io::Error) -> Error {
    Error::protocol(format!("malformed ParameterStatus: {e}"))
}

impl<S: Stream> Messages for Wire<S> {
    fn next_message(&mut self) -> Result<Message, Error> {
        loop {
            let message = self.read_any()?;
            if let Some(message) = self.divert(message)? {
                return Ok(message);
            }
        }
    }
}
