//! The exclusive, blocking-style connection.
//!
//! One caller at a time drives it with `&mut self`. Over a may socket it parks only the
//! calling coroutine; over a std socket it blocks the calling thread (the compile-time
//! describe path). Statements are prepared once per connection and cached by their SQL
//! text, up to a bound (`statements.rs`); parameters go in binary through `ToSql`,
//! results come back in binary.
//!
//! Every wait is bounded: the connect timeout bounds the whole connect and handshake,
//! the request timeout (30 s unless changed) every call, the optional statement
//! timeout cancels a statement on the server, and what the server sends on its own
//! (notices, notifications) is kept only up to a cap. `timeout.rs` holds the request
//! and statement timeouts, `wire.rs` the deadline every read and write honours.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::config::{Config, SslMode};
use crate::deadline::DEFAULT_REQUEST_TIMEOUT;
use crate::encode::{self, Param};
use crate::error::{DbError, Error, Timeout};
use crate::lru::{DEFAULT_STATEMENT_CACHE_CAPACITY, Lru};
use crate::notify::Notification;
use crate::response::{self, Outcome};
use crate::row::{Row, SimpleQueryMessage, at_most_one, collect, exactly_one};
use crate::socket::{self, Address, Runtime, Socket, Stream, TcpOptions};
use crate::startup::{self, BackendKey};
use crate::statement::{Column, Statement, StatementRef, ToStatement};
use crate::tls;

mod statements;

use crate::wire::{Deadline, Wire, is_timeout};
use statements::cache_key;

/// How long [`Connection::close`] may take to hand its goodbye to a server that
/// stopped reading.
const CLOSE_BOUND: Duration = Duration::from_secs(1);

/// What [`Connection::describe_then`] returns besides a connection failure: the
/// statement (or why it failed to describe), and the simple query's outcome.
pub type DescribedThen = (
    Result<Statement, Error>,
    Result<Vec<SimpleQueryMessage>, Error>,
);

/// Whether a session is inside a transaction block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block.
    Idle,
    /// In a transaction block.
    InTransaction,
    /// In a failed transaction block: only ROLLBACK is accepted.
    Failed,
}

/// An exclusive connection to PostgreSQL over a stream `S`.
///
/// No call waits without bound, whatever the server does:
///
/// - Connecting: the connect timeout ([`Config::connect_timeout`]) bounds opening the
///   socket and the whole handshake, authentication included; running out is
///   `Error::Timeout(Timeout::Connect)`.
/// - Every call (its writes and the reads of its answer): the request timeout,
///   [`DEFAULT_REQUEST_TIMEOUT`](crate::DEFAULT_REQUEST_TIMEOUT) (30 s) unless changed
///   with [`set_request_timeout`](Self::set_request_timeout). Running out gives the
///   connection up ([`is_closed`](Self::is_closed) is true, later calls fail with
///   `Error::Closed` saying why) and returns `Error::Timeout(Timeout::Request)`. A
///   COPY bounds each of its calls (every write that sends, `finish`, every chunk read)
///   the same way.
/// - Optionally, the statement timeout ([`set_statement_timeout`](Self::set_statement_timeout)):
///   cancels a slow statement on the server and keeps the connection.
/// - [`wait_for_notification`](Self::wait_for_notification) and
///   [`close`](Self::close) have bounds of their own.
///
/// The bounds hold for a server that trickles its answer a byte at a time: the
/// socket's timeout is set to what is left before every read and write. (A custom
/// [`Stream`] without timeouts is bounded between reads only.) TCP sockets have
/// keepalive and `TCP_USER_TIMEOUT` on ([`Config`] has the settings).
///
/// Memory: at most the newest 10,000 notices and 100,000 notifications are kept until
/// taken; [`notices_dropped`](Self::notices_dropped) and
/// [`notifications_dropped`](Self::notifications_dropped) count the ones dropped.
///
/// ```no_run
/// use lifeguard_pg::{Config, Connection};
///
/// let config: Config = "postgres://postgres@127.0.0.1/postgres".parse()?;
/// let mut conn = Connection::connect(&config)?;
/// let row = conn.query_one("SELECT $1::int4 + 1", &[&41i32])?;
/// assert_eq!(row.get::<i32>(0)?, 42);
/// # Ok::<(), lifeguard_pg::Error>(())
/// ```
pub struct Connection<S = Socket> {
    pub(crate) wire: Wire<S>,
    key: BackendKey,
    pub(crate) cancel: Option<CancelToken>,
    statements: Lru<String, Statement>,
    /// Statements the cache let go of, closed on the server with the next request.
    closing: Vec<String>,
    next_statement: u64,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) transaction_depth: u32,
}

impl Connection<Socket> {
    /// Connects with std sockets on a plain thread and may sockets inside a coroutine.
    pub fn connect(config: &Config) -> Result<Connection<Socket>, Error> {
        Connection::connect_with(config, Runtime::current())
    }

    /// Connects with the given kind of socket, within the configured connect timeout
    /// (which bounds the whole handshake, authentication included).
    pub fn connect_with(config: &Config, runtime: Runtime) -> Result<Connection<Socket>, Error> {
        match runtime {
            Runtime::Std => Connection::open(config, Runtime::Std),
            Runtime::May => connect_in_coroutine(config),
        }
    }

    fn open(config: &Config, runtime: Runtime) -> Result<Connection<Socket>, Error> {
        let plan = tls::Plan::from_config(config)?;
        let timeout = config.get_connect_timeout();
        // One deadline for the socket, TLS and the whole handshake.
        let deadline = timeout.map(|t| Instant::now() + t);
        let address = Address::from_config(config);
        let tcp = TcpOptions::from_config(config);
        let attempt = |with_tls: bool| -> Result<Connection<Socket>, Error> {
            let stream = socket::open(&address, runtime, socket::remaining(deadline)?, &tcp)?;
            let stream = match (&address, with_tls) {
                (Address::Tcp { host, .. }, true) => {
                    let left = socket::remaining(deadline)?;
                    stream.set_read_timeout(left).map_err(Error::Io)?;
                    stream.set_write_timeout(left).map_err(Error::Io)?;
                    match tls::negotiate(stream, &plan, host)? {
                        Ok(tls) => Socket::Tls(Box::new(tls)),
                        Err(plain) => plain,
                    }
                }
                // libpq never uses TLS over a Unix-domain socket.
                _ => stream,
            };
            Connection::handshake_until(stream, config, deadline)
        };
        let first_tls = plan.tries_tls_first();
        let mut conn = match (attempt(first_tls), config.get_ssl_mode()) {
            // As libpq: allow tries plain text first and TLS when the server refuses
            // it; prefer tries TLS first and plain text when the server refuses that.
            (Err(Error::Authentication(_)), SslMode::Allow | SslMode::Prefer) => {
                attempt(!first_tls)?
            }
            (other, _) => other?,
        };
        conn.cancel = Some(CancelToken::new(address, conn.key, timeout, tcp));
        Ok(conn)
    }
}

/// Stack of the coroutine that connects, in words (may's unit): 64 Ki words = 512 KiB.
/// SCRAM's key derivation needs far more than may's default 32 KiB in debug builds.
const CONNECT_STACK_WORDS: usize = 64 * 1024;

/// Opens a may socket and runs the handshake in a coroutine of its own, and waits for
/// it (parking only the caller). The roomy stack keeps SCRAM from overflowing a small
/// caller stack, and a plain-thread caller never drives may's connect itself, which
/// races with may's event loop (see `socket::in_coroutine`).
fn connect_in_coroutine(config: &Config) -> Result<Connection<Socket>, Error> {
    let config = config.clone();
    let builder = may::coroutine::Builder::new()
        .name("lifeguard-pg connect".to_owned())
        .stack_size(CONNECT_STACK_WORDS);
    // SAFETY: the coroutine uses no thread-locals and makes no thread-blocking calls:
    // DNS runs on a helper thread and the socket is a may socket.
    // Boxed on the way back: the join copies its result through the caller's stack
    // more than once, and a caller's coroutine stack is small.
    let handle =
        unsafe { builder.spawn(move || Connection::open(&config, Runtime::May).map(Box::new)) }?;
    match handle.join() {
        Ok(Ok(conn)) => Ok(*conn),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::closed("the connecting coroutine panicked")),
    }
}

impl<S: Stream> Connection<S> {
    /// Runs the startup handshake on an already open stream, all of it within the
    /// configured connect timeout (`Error::Timeout(Timeout::Connect)` when it runs out).
    ///
    /// A connection made this way has no [`cancel_token`](Self::cancel_token), since the
    /// server's address is unknown, so its statement timeout cannot cancel.
    pub fn handshake(stream: S, config: &Config) -> Result<Connection<S>, Error> {
        let deadline = config.get_connect_timeout().map(|t| Instant::now() + t);
        Connection::handshake_until(stream, config, deadline)
    }

    fn handshake_until(
        stream: S,
        config: &Config,
        deadline: Option<Instant>,
    ) -> Result<Connection<S>, Error> {
        let mut wire = Wire::new(stream);
        wire.deadline = deadline.map(|at| Deadline::hard(at, Timeout::Connect));
        let key = startup::handshake(&mut wire, config)?;
        wire.clear_timeouts()?;
        Ok(Connection {
            wire,
            key,
            cancel: None,
            statements: Lru::new(DEFAULT_STATEMENT_CACHE_CAPACITY),
            closing: Vec::new(),
            next_statement: 0,
            statement_timeout: None,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            transaction_depth: 0,
        })
    }

    /// Runs a statement and returns all its rows.
    pub fn query<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Error> {
        collect(|push| Ok(self.run(statement, params, push)?.rows_affected))
    }

    /// Runs a statement and hands each row to `f` as it arrives, without collecting them.
    /// An error from `f` is returned once the response is read to its end.
    pub fn for_each<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
        mut f: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        Ok(self.run(statement, params, &mut f)?.rows_affected)
    }

    /// Runs a statement that must return exactly one row.
    pub fn query_one<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Row, Error> {
        exactly_one(self.query(statement, params)?)
    }

    /// Runs a statement that returns at most one row.
    pub fn query_opt<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, Error> {
        at_most_one(self.query(statement, params)?)
    }

    /// Runs a statement and returns the number of rows it affected.
    pub fn execute<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<u64, Error> {
        Ok(self.run(statement, params, &mut |_| Ok(()))?.rows_affected)
    }

    /// Runs one or more statements separated by `;` with the simple protocol (no
    /// parameters), returning text rows.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.request(|conn| {
            encode::query(sql, &mut conn.wire.wbuf)?;
            conn.wire.flush()?;
            conn.with_timeout(|wire| response::read_simple(wire))
        })
    }

    /// Runs one or more statements separated by `;`, discarding their rows.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.simple_query(sql).map(drop)
    }

    /// Bounds every later statement: when one runs longer, it is cancelled on the server
    /// and the call returns `Error::Timeout(Timeout::Statement)`; the connection stays
    /// usable. `None` (the default) waits as long as the server takes, within the
    /// request timeout. The cancel and the grace period the server gets to answer it
    /// end at the request deadline at the latest.
    pub fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.statement_timeout = timeout;
    }

    /// Bounds every later call, its writes and the reads of its answer, client side:
    /// when a call has not finished in time the connection is given up
    /// ([`is_closed`](Self::is_closed) turns true and later calls fail fast with
    /// `Error::Closed` saying why) and the call returns
    /// `Error::Timeout(Timeout::Request)`; the server ends the session when the
    /// socket closes. The default is
    /// [`DEFAULT_REQUEST_TIMEOUT`](crate::DEFAULT_REQUEST_TIMEOUT) (30 s); `None` waits
    /// as long as the server takes.
    ///
    /// Unlike the statement timeout it needs nothing from the server, so it holds for
    /// a server that froze or stopped reading. Set it above the statement timeout to
    /// let a cancel keep the connection.
    ///
    /// ```no_run
    /// # fn demo(conn: &mut lifeguard_pg::Connection) {
    /// use std::time::Duration;
    ///
    /// conn.set_statement_timeout(Some(Duration::from_secs(5)));
    /// conn.set_request_timeout(Some(Duration::from_secs(10)));
    /// assert_eq!(conn.request_timeout(), Some(Duration::from_secs(10)));
    /// # }
    /// ```
    pub fn set_request_timeout(&mut self, timeout: Option<Duration>) {
        self.request_timeout = timeout;
    }

    /// The request timeout every call runs under (see
    /// [`set_request_timeout`](Self::set_request_timeout)).
    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// Notifications received so far (on any call), oldest first, removed from the
    /// connection. At most the newest 100,000 are kept;
    /// [`notifications_dropped`](Self::notifications_dropped) counts the rest.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.wire.notifications.take()
    }

    /// How many notifications were dropped, since the connection opened, because more
    /// than 100,000 waited to be taken: when it grows, notifications were lost.
    pub fn notifications_dropped(&self) -> u64 {
        self.wire.notifications.dropped()
    }

    /// Waits up to `timeout` for a notification when none is buffered.
    pub fn wait_for_notification(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Notification>, Error> {
        if let Some(n) = self.wire.notifications.pop() {
            return Ok(Some(n));
        }
        self.wire.check_open()?;
        let outer = self.wire.deadline;
        // A soft deadline: running out only ends the wait (its kind never shows).
        self.wire.deadline = Some(Deadline::soft(Instant::now() + timeout, Timeout::Request));
        let waited = self.wait_for_notification_now();
        self.wire.deadline = outer;
        waited
    }

    fn wait_for_notification_now(&mut self) -> Result<Option<Notification>, Error> {
        loop {
            match self.wire.read_any() {
                Ok(message) => {
                    if let Some(other) = self.wire.divert(message)? {
                        self.wire.mark_broken("unexpected message while idle");
                        return Err(response::unexpected(&other));
                    }
                    if let Some(n) = self.wire.notifications.pop() {
                        return Ok(Some(n));
                    }
                }
                Err(Error::Timeout(_)) if !self.wire.is_broken() => return Ok(None),
                Err(Error::Io(e)) if is_timeout(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Notices and warnings the server sent (`RAISE NOTICE`, ...), oldest first,
    /// removed from the connection. At most the newest 10,000 are kept;
    /// [`notices_dropped`](Self::notices_dropped) counts the rest.
    pub fn take_notices(&mut self) -> Vec<DbError> {
        self.wire.notices.take()
    }

    /// How many notices were dropped, since the connection opened, because more than
    /// 10,000 waited to be taken.
    pub fn notices_dropped(&self) -> u64 {
        self.wire.notices.dropped()
    }

    /// A server parameter reported at startup or since (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.wire.parameters.get(name).map(String::as_str)
    }

    /// The backend's process ID (`pg_backend_pid()`).
    pub fn process_id(&self) -> i32 {
        self.key.process_id
    }

    /// A token that cancels this connection's running statement from elsewhere.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        self.cancel.clone()
    }

    /// Where the session stands between statements, as the server last reported.
    pub fn transaction_status(&self) -> TransactionStatus {
        match self.wire.status {
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => TransactionStatus::Idle,
        }
    }

    /// Whether the server sent something (or closed the connection) that nobody has
    /// read yet, found without waiting. Between calls that means a notification, a
    /// notice, or a session the server ended (an idle connection whose backend was
    /// terminated holds its FATAL error and the end of the stream): a pool looks
    /// before it lends an idle connection.
    ///
    /// ```no_run
    /// # fn demo(conn: &mut lifeguard_pg::Connection) -> Result<(), lifeguard_pg::Error> {
    /// if conn.has_pending_input() {
    ///     conn.batch_execute("")?; // reads it: a closed session fails here
    /// }
    /// # Ok(()) }
    /// ```
    pub fn has_pending_input(&self) -> bool {
        !self.wire.rbuf.is_empty() || self.wire.stream.has_pending_input().unwrap_or(true)
    }

    /// True once the connection has failed; every call then fails fast.
    pub fn is_closed(&self) -> bool {
        self.wire.is_broken()
    }

    /// Says goodbye to the server and closes the stream. Handing the goodbye over
    /// takes at most a second (less when the request timeout is shorter): a server
    /// that stopped reading cannot hold it up.
    pub fn close(mut self) -> Result<(), Error> {
        self.wire.check_open()?;
        let bound = self
            .request_timeout
            .map_or(CLOSE_BOUND, |t| t.min(CLOSE_BOUND));
        self.wire.deadline = Some(Deadline::hard(Instant::now() + bound, Timeout::Request));
        postgres_protocol::message::frontend::terminate(&mut self.wire.wbuf);
        self.wire.flush()
    }

    pub(crate) fn into_wire(self) -> Wire<S> {
        self.wire
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        &self.wire.stream
    }

    fn run<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        // A statement by its SQL: the cached one, or prepared again when the cache
        // has closed it since (or it came from `describe`).
        let statement = match statement.to_statement_ref() {
            StatementRef::Sql(sql) => self.prepare(sql)?,
            StatementRef::Statement(s) => self.prepare_typed(s.sql(), s.parsed_with())?,
        };
        self.request(|conn| {
            encode::bind(
                statement.name(),
                statement.params(),
                params,
                &mut conn.wire.wbuf,
            )?;
            encode::execute(&mut conn.wire.wbuf)?;
            let closes = conn.sync_with_closes()?;
            conn.wire.flush()?;
            let outcome = conn.read_response(Some(statement.shared_columns()), on_row);
            conn.closes_done(closes, &outcome);
            if let Err(Error::Db(db)) = &outcome
                && crate::statement::must_prepare_again(db)
            {
                // The next call prepares it again.
                conn.statements
                    .remove(&cache_key(statement.sql(), statement.parsed_with()));
            }
            outcome
        })
    }

    fn read_response(
        &mut self,
        columns: Option<Arc<[Column]>>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        self.with_timeout(|wire| response::read_extended(wire, columns, on_row))
    }
}
