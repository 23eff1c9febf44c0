//! The exclusive connection's side of the socket: buffered writes, message reads, and
//! the asynchronous messages (notifications, notices, parameter status) set aside as
//! they arrive so none is lost.

use std::collections::{HashMap, VecDeque};
use std::io;

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use crate::codec::parse_message;
use crate::error::{DbError, Error};
use crate::notify::Notification;
use crate::response::Messages;
use crate::socket::Stream;

const READ_CHUNK: usize = 16 * 1024;

/// A stream plus its buffers and the asynchronous messages it has received.
pub(crate) struct Wire<S> {
    pub(crate) stream: S,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) notifications: VecDeque<Notification>,
    pub(crate) notices: VecDeque<DbError>,
    pub(crate) parameters: HashMap<String, String>,
    /// The status byte of the last ReadyForQuery: `I` idle, `T` in a transaction,
    /// `E` in a failed transaction.
    pub(crate) status: u8,
    broken: Option<String>,
}

impl<S: Stream> Wire<S> {
    pub(crate) fn new(stream: S) -> Wire<S> {
        Wire {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(1024),
            notifications: VecDeque::new(),
            notices: VecDeque::new(),
            parameters: HashMap::new(),
            status: b'I',
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

    /// Writes everything buffered.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let result = self
            .stream
            .write_all(&self.wbuf)
            .and_then(|()| self.stream.flush());
        self.wbuf.clear();
        result.map_err(|e| self.fail(e))
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

    /// Reads more bytes from the socket into the read buffer.
    fn fill(&mut self) -> Result<(), Error> {
        let start = self.rbuf.len();
        self.rbuf.resize(start + READ_CHUNK, 0);
        let read = self.stream.read(&mut self.rbuf[start..]);
        let got = match read {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) => {
                self.rbuf.truncate(start);
                return Err(match e.kind() {
                    // A read timeout: the connection is intact, the caller decides.
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Io(e),
                    io::ErrorKind::Interrupted => return Ok(()),
                    _ => self.fail(e),
                });
            }
        };
        self.rbuf.truncate(start + got);
        if got == 0 {
            self.mark_broken("the server closed the connection");
            return Err(Error::closed("the server closed the connection"));
        }
        Ok(())
    }

    fn fail(&mut self, e: io::Error) -> Error {
        self.mark_broken(format!("I/O error: {e}"));
        Error::Io(e)
    }

    /// Sets an asynchronous message aside; returns it back when it is not one.
    pub(crate) fn divert(&mut self, message: Message) -> Result<Option<Message>, Error> {
        match message {
            Message::NotificationResponse(body) => {
                self.notifications
                    .push_back(Notification::from_body(&body)?);
                Ok(None)
            }
            Message::NoticeResponse(body) => {
                self.notices.push_back(DbError::parse(&mut body.fields())?);
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
