//! COPY FROM STDIN and COPY TO STDOUT on an exclusive connection, text or binary: the
//! bytes are passed through as the server sends or expects them.

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
        self.wire.check_open()?;
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
        frontend::copy_done(&mut self.conn.wire.wbuf);
        self.conn.wire.flush()?;
        self.conn.finish_copy()
    }
}

impl<S: Stream> Write for CopyIn<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let wire = &mut self.conn.wire;
        frontend::CopyData::new(data)?.write(&mut wire.wbuf);
        if wire.wbuf.len() >= FLUSH_AT {
            wire.flush().map_err(io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.wire.flush().map_err(io::Error::other)
    }
}

impl<S: Stream> Drop for CopyIn<'_, S> {
    fn drop(&mut self) {
        if self.done || self.conn.is_closed() {
            return;
        }
        let wire = &mut self.conn.wire;
        if frontend::copy_fail("COPY abandoned by the client", &mut wire.wbuf).is_ok()
            && wire.flush().is_ok()
        {
            // The server answers CopyFail with an error; read it away to stay in step.
            let _ = self.conn.finish_copy();
        }
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
        while !self.done && !self.conn.is_closed() {
            if self.next_chunk().is_err() {
                break;
            }
            self.chunk.clear();
        }
    }
}
