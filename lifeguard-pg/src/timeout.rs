//! The exclusive connection's two bounds on a call.
//!
//! - The **request timeout** is hard and on by default ([`crate::DEFAULT_REQUEST_TIMEOUT`]):
//!   a call's writes and the reads of its answer must all finish before it, or the
//!   connection is given up (marked broken; its socket closes when it is dropped, and
//!   the server ends the session) and the call returns
//!   `Error::Timeout(Timeout::Request)`. A server that stopped answering cannot
//!   enforce its own `statement_timeout`, so only the client can bound this wait.
//! - The **statement timeout** is soft and off by default: when it runs out the
//!   statement is cancelled on the server, the answer is read on to its
//!   ReadyForQuery within a grace period, and the call returns
//!   `Error::Timeout(Timeout::Statement)` with the connection still usable. The cancel
//!   and the grace both end at the request deadline at the latest.
//!
//! Both are [`Deadline`]s on the [`Wire`], which sets the socket's timeout to what is
//! left before every read and write: a response trickled one byte at a time cannot
//! outlast them. A call that nests another (a query that first prepares its
//! statement) runs under the outer call's deadline.

use std::time::{Duration, Instant};

use postgres_protocol::message::backend::Message;

use crate::cancel::CancelToken;
use crate::connection::Connection;
use crate::error::{Error, Timeout};
use crate::response::Messages;
use crate::socket::Stream;
use crate::wire::{Deadline, Wire};

/// How long the server gets to answer a cancel before the connection is given up
/// (never past the request deadline).
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// SQLSTATE query_canceled.
const QUERY_CANCELED: &str = "57014";

impl<S: Stream> Connection<S> {
    /// Runs one call under the request timeout (unless an enclosing call already set
    /// the deadline). On failure nothing half-encoded stays buffered, and a protocol
    /// error gives the connection up: what the server sends next cannot be trusted.
    pub(crate) fn request<R>(
        &mut self,
        call: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let began = self.begin_request()?;
        let result = call(self);
        self.end_request(began, result.as_ref().err());
        result
    }

    /// Sets the request deadline unless one is set; true when this call set it.
    pub(crate) fn begin_request(&mut self) -> Result<bool, Error> {
        self.wire.check_open()?;
        if self.wire.deadline.is_some() {
            return Ok(false);
        }
        self.wire.deadline = self
            .request_timeout
            .map(|t| Deadline::hard(Instant::now() + t, Timeout::Request));
        Ok(true)
    }

    /// Ends what [`begin_request`](Self::begin_request) began.
    pub(crate) fn end_request(&mut self, began: bool, failure: Option<&Error>) {
        if began {
            self.wire.deadline = None;
        }
        if let Some(failure) = failure {
            self.wire.wbuf.clear();
            if let Error::Protocol(what) = failure {
                self.wire.mark_broken(format!("protocol error: {what}"));
            }
        }
    }

    /// Reads a response under the statement timeout (and the request deadline): on
    /// expiry, cancels on the server, reads on to the ReadyForQuery, and reports
    /// `Timeout::Statement`.
    pub(crate) fn with_timeout<R>(
        &mut self,
        read: impl FnOnce(&mut Timed<'_, S>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let hard = self.wire.deadline;
        let soft = self
            .statement_timeout
            .map(|t| Deadline::soft(Instant::now() + t, Timeout::Statement));
        let mut timed = Timed {
            wire: &mut self.wire,
            hard,
            soft,
            cancel: self.cancel.as_ref(),
            cancelled: false,
        };
        let result = read(&mut timed);
        let cancelled = timed.cancelled;
        self.wire.deadline = hard;
        match result {
            Err(Error::Db(db)) if cancelled && db.code == QUERY_CANCELED => {
                Err(Error::Timeout(Timeout::Statement))
            }
            other => other,
        }
    }
}

/// A message source that enforces the statement timeout by cancelling the statement,
/// within the request deadline.
pub(crate) struct Timed<'a, S> {
    wire: &'a mut Wire<S>,
    /// The request deadline.
    hard: Option<Deadline>,
    /// The statement timeout, then the grace period after the cancel.
    soft: Option<Deadline>,
    cancel: Option<&'a CancelToken>,
    cancelled: bool,
}

impl<S: Stream> Messages for Timed<'_, S> {
    fn next_message(&mut self) -> Result<Message, Error> {
        loop {
            self.wire.deadline = Deadline::earliest(self.hard, self.soft);
            match self.wire.next_message() {
                Err(Error::Timeout(Timeout::Statement)) if !self.wire.is_broken() => {
                    self.expired()?
                }
                other => return other,
            }
        }
    }
}

impl<S: Stream> Timed<'_, S> {
    /// The statement timeout (or the grace after the cancel) ran out.
    fn expired(&mut self) -> Result<(), Error> {
        let token = match (self.cancelled, self.cancel) {
            (false, Some(token)) => token,
            _ => {
                self.wire
                    .mark_broken("the server did not answer a cancelled statement in time");
                return Err(Error::Timeout(Timeout::Statement));
            }
        };
        self.cancelled = true;
        let sent = match self.hard {
            None => token.cancel(),
            Some(hard) => match hard.at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => token.cancel_within(left),
                _ => Err(Error::Timeout(Timeout::Request)),
            },
        };
        if let Err(e) = sent {
            if self.hard.is_some_and(|hard| hard.at <= Instant::now()) {
                self.wire.mark_broken(
                    "the request timeout expired while cancelling a timed-out statement",
                );
                return Err(Error::Timeout(Timeout::Request));
            }
            self.wire
                .mark_broken(format!("cancelling a timed-out statement failed: {e}"));
            return Err(Error::Timeout(Timeout::Statement));
        }
        self.soft = Some(Deadline::soft(
            Instant::now() + CANCEL_GRACE,
            Timeout::Statement,
        ));
        Ok(())
    }
}
