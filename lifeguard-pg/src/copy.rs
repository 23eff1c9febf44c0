//! COPY FROM STDIN and COPY TO STDOUT on an exclusive connection, text or binary: the
//! bytes are passed through as the server sends or expects them.
//!
//! A COPY can run as long as its data lasts, so the request timeout bounds each of its
//! calls rather than the whole: starting it, every write that sends, `finish`, every
//! chunk read, and the clean-up when one is dropped unfinished.

use std::io::{self, Read, Write};

use bytes::{Buf, Bytes};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::connection::Connection;
use crate::encode;
use crate::error::{DbError, Error};
use crate::response::{self, Messages};
use crate::socket::Stream;

/// Buffered COPY data is sent once it reaches this size.
const FLUSH_AT: usize = 64 * 1024;

/// A COPY FROM STDIN in progress: write the data, then [`finish`](Self::finish).
/// Dropped unfinished, it aborts the COPY (CopyFail) and nothing is inserted.
///
/// ```no_run
/// # use std::io::Write;
/// # fn demo(conn: &mut lifeguard_pg::Connection) -> Result<(), lifeguard_pg::Error> {
/// let mut copy = conn.copy_in("COPY t (id, name) FROM STDIN")?;
/// copy.write_all(b"1\tone\n2\ttwo\n")?;
/// assert_eq!(copy.finish()?, 2);
/// # Ok(()) }
/// ```
pub struct CopyIn<'a, S: Stream> {
    conn: &'a mut Connection<S>,
    done: bool,
}

/// A COPY TO STDOUT in progress: read the data until the end. Dropped early, the rest
/// of the data is read and discarded so the connection stays usable.
pub struct CopyOut<'a, S: Stream> {
    conn: &'a mut Connection<S>,
    chunk: Bytes,
    done: bool,
    rows: u64,
}

impl<S: Stream> Connection<S> {
    /// Starts `COPY ... FROM STDIN`.
    pub fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_, S>, Error> {
        self.start_copy(sql, |m| matches!(m, Message::CopyInResponse(_)))?;
        Ok(CopyIn {
            conn: self,
            done: false,
        })
    }

    /// Starts `COPY ... TO STDOUT`.
    pub fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_, S>, Error> {
        self.start_copy(sql, |m| matches!(m, Message::CopyOutResponse(_)))?;
        Ok(CopyOut {
            conn: self,
            chunk: Bytes::new(),
            done: false,
            rows: 0,
        })
    }

    fn start_copy(&mut self, sql: &str, expected: fn(&Message) -> bool) -> Result<(), Error> {
        self.request(|conn| conn.start_copy_now(sql, expected))
    }

    fn start_copy_now(&mut self, sql: &str, expected: fn(&Message) -> bool) -> Result<(), Error> {
        encode::query(sql, &mut self.wire.wbuf)?;
        self.wire.flush()?;
        let message = self.wire.next_message()?;
        if expected(&message) {
            return Ok(());
        }
        match message {
            Message::ErrorResponse(body) => {
                let db = DbError::parse(&mut body.fields())?;
                self.skip_to_ready()?;
                Err(Error::Db(Box::new(db)))
            }
            other => {
                self.wire.mark_broken("COPY did not start as expected");
                Err(response::unexpected(&other))
            }
        }
    }

    /// Reads the rest of a response to its ReadyForQuery, returning the first error and
    /// the row count.
    fn finish_copy(&mut self) -> Result<u64, Error> {
        let outcome = response::read_extended(&mut self.wire, None, &mut |_| Ok(()))?;
        Ok(outcome.rows_affected)
    }

    fn skip_to_ready(&mut self) -> Result<(), Error> {
        loop {
            if let Message::ReadyForQuery(_) = self.wire.next_message()? {
                return Ok(());
            }
        }
    }
}

impl<S: Stream> CopyIn<'_, S> {
    /// Ends the data and returns the number of rows copied.
    pub fn finish(mut self) -> Result<u64, Error> {
        self.done = true;
        self.conn.request(|conn| {
            frontend::copy_done(&mut conn.wire.wbuf);
            conn.wire.flush()?;
            conn.finish_copy()
        })
    }
}

impl<S: Stream> Write for CopyIn<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.conn.wire.check_open().map_err(io::Error::other)?;
        frontend::CopyData::new(data)?.write(&mut self.conn.wire.wbuf);
        if self.conn.wire.wbuf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn
            .request(|conn| conn.wire.flush())
            .map_err(io::Error::other)
    }
}

impl<S: Stream> Drop for CopyIn<'_, S> {
    fn drop(&mut self) {
        if self.done || self.conn.is_closed() {
            return;
        }
        // A failure leaves the connection broken (it fails fast from then on); there is
        // no caller to report it to.
        let _ = self.conn.request(|conn| {
            frontend::copy_fail("COPY abandoned by the client", &mut conn.wire.wbuf)
                .map_err(Error::Io)?;
            conn.wire.flush()?;
            // The server answers CopyFail with an error; read it away to stay in step.
            conn.finish_copy()
        });
    }
}

impl<S: Stream> CopyOut<'_, S> {
    /// The next chunk of data as the server sent it (one row in text format), or `None`
    /// at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        if !self.chunk.is_empty() {
            return Ok(Some(std::mem::take(&mut self.chunk)));
        }
        if self.done {
            return Ok(None);
        }
        let began = self.conn.begin_request()?;
        let next = self.read_chunk();
        self.conn.end_request(began, next.as_ref().err());
        next
    }

    fn read_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self.conn.wire.next_message()? {
            Message::CopyData(body) => Ok(Some(body.into_bytes())),
            Message::CopyDone => {
                self.done = true;
                self.rows = self.conn.finish_copy()?;
                Ok(None)
            }
            Message::ErrorResponse(body) => {
                self.done = true;
                let db = DbError::parse(&mut body.fields())?;
                self.conn.skip_to_ready()?;
                Err(Error::Db(Box::new(db)))
            }
            other => {
                self.done = true;
                self.conn.wire.mark_broken("unexpected message in COPY OUT");
                Err(response::unexpected(&other))
            }
        }
    }

    /// The number of rows copied, known once the data has been read to the end.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl<S: Stream> Read for CopyOut<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            match self.next_chunk().map_err(io::Error::other)? {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

impl<S: Stream> Drop for CopyOut<'_, S> {
    fn drop(&mut self) {
        // One request deadline for the whole drain: a server that sends without end
        // cannot keep the drop going.
        let Ok(began) = self.conn.begin_request() else {
            return;
        };
        let mut failure = None;
        while !self.done && !self.conn.is_closed() {
            if let Err(e) = self.next_chunk() {
                failure = Some(e);
                break;
            }
            self.chunk.clear();
        }
        self.conn.end_request(began, failure.as_ref());
    }
}
