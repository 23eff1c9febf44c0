//! The exclusive, blocking-style connection.
//!
//! One caller at a time drives it with `&mut self`. Over a may socket it parks only the
//! calling coroutine; over a std socket it blocks the calling thread (the compile-time
//! describe path). Statements are prepared once per connection and cached by their SQL
//! text; parameters go in binary through `ToSql`, results come back in binary.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres_protocol::message::backend::Message;
use postgres_types::Type;

use crate::cancel::CancelToken;
use crate::config::Config;
use crate::encode::{self, Param};
use crate::error::{DbError, Error, Timeout};
use crate::notify::Notification;
use crate::response::{self, Messages, Outcome};
use crate::row::{Row, SimpleQueryMessage, at_most_one, exactly_one};
use crate::socket::{self, Address, Runtime, Socket, Stream};
use crate::startup::{BackendKey, handshake};
use crate::statement::{Column, Statement};
use crate::wire::Wire;

/// How long the server gets to answer a cancel before the connection is given up.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// SQLSTATE query_canceled.
const QUERY_CANCELED: &str = "57014";

/// What the query methods accept: SQL text (prepared and cached on first use) or a
/// [`Statement`] prepared earlier on the same connection.
pub trait ToStatement {
    /// The SQL text or the statement.
    fn to_query(&self) -> Query<'_>;
}

/// See [`ToStatement`].
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// SQL text.
    Sql(&'a str),
    /// A prepared statement.
    Statement(&'a Statement),
}

impl ToStatement for str {
    fn to_query(&self) -> Query<'_> {
        Query::Sql(self)
    }
}

impl ToStatement for String {
    fn to_query(&self) -> Query<'_> {
        Query::Sql(self)
    }
}

impl ToStatement for Statement {
    fn to_query(&self) -> Query<'_> {
        Query::Statement(self)
    }
}

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
    cancel: Option<CancelToken>,
    statements: HashMap<String, Statement>,
    next_statement: u64,
    statement_timeout: Option<Duration>,
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
        config.check_ssl()?;
        let timeout = config.get_connect_timeout();
        let deadline = timeout.map(|t| Instant::now() + t);
        let address = Address::from_config(config);
        // The socket's own timeouts bound the connect and the whole handshake.
        let stream = socket::open(&address, runtime, timeout)?;
        stream.set_read_timeout(socket::remaining(deadline)?)?;
        stream.set_write_timeout(socket::remaining(deadline)?)?;
        let mut conn = Connection::handshake(stream, config).map_err(|e| match e {
            Error::Io(io) if is_timeout(&io) => Error::Timeout(Timeout::Connect),
            other => other,
        })?;
        conn.wire.stream.set_read_timeout(None)?;
        conn.wire.stream.set_write_timeout(None)?;
        conn.cancel = Some(CancelToken::new(address, conn.key, timeout));
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
    let handle = unsafe { builder.spawn(move || Connection::open(&config, Runtime::May)) }?;
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::closed("the connecting coroutine panicked")))
}

impl<S: Stream> Connection<S> {
    /// Runs the startup handshake on an already open stream.
    ///
    /// A connection made this way has no [`cancel_token`](Self::cancel_token), since the
    /// server's address is unknown, so its statement timeout cannot cancel.
    pub fn handshake(stream: S, config: &Config) -> Result<Connection<S>, Error> {
        let mut wire = Wire::new(stream);
        let key = handshake(&mut wire, config)?;
        Ok(Connection {
            wire,
            key,
            cancel: None,
            statements: HashMap::new(),
            next_statement: 0,
            statement_timeout: None,
            transaction_depth: 0,
        })
    }

    /// Prepares a statement, or returns the one this connection prepared for the same
    /// SQL before (no round trip then).
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[])
    }

    /// Prepares with some parameter types given (the rest are inferred by the server).
    pub fn prepare_typed(&mut self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        let key = cache_key(sql, types);
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        let statement = self.describe(sql, types)?;
        self.statements.insert(key, statement.clone());
        Ok(statement)
    }

    /// Parses and describes a statement on the server without caching it: its parameter
    /// types and result columns (with their source table and column).
    pub fn describe(&mut self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        self.wire.check_open()?;
        self.next_statement += 1;
        let name = format!("lg{}", self.next_statement);
        encode::parse(&name, sql, types, &mut self.wire.wbuf)?;
        encode::describe(b'S', &name, &mut self.wire.wbuf)?;
        postgres_protocol::message::frontend::sync(&mut self.wire.wbuf);
        self.wire.flush()?;
        let outcome = self.read_response(None, &mut |_| Ok(()))?;
        let params = outcome.params.unwrap_or_default();
        let columns = outcome.columns.map(|c| c.to_vec()).unwrap_or_default();
        Ok(Statement::new(name, params, columns))
    }

    /// Describes `sql` like [`describe`](Self::describe) and, in the same write, runs the
    /// simple query `then` builds from the new statement's name: one round trip for
    /// both. Each outcome comes back on its own (the query runs even when the describe
    /// failed); the outer error is a connection failure.
    ///
    /// ```no_run
    /// # fn demo(conn: &mut lifeguard_pg::Connection) -> Result<(), lifeguard_pg::Error> {
    /// let (statement, dealloc) =
    ///     conn.describe_then("SELECT $1::int4", |name| format!("DEALLOCATE \"{name}\""))?;
    /// assert_eq!(statement?.params().len(), 1);
    /// dealloc?;
    /// # Ok(()) }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn describe_then(
        &mut self,
        sql: &str,
        then: impl FnOnce(&str) -> String,
    ) -> Result<
        (
            Result<Statement, Error>,
            Result<Vec<SimpleQueryMessage>, Error>,
        ),
        Error,
    > {
        self.wire.check_open()?;
        self.next_statement += 1;
        let name = format!("lg{}", self.next_statement);
        encode::parse(&name, sql, &[], &mut self.wire.wbuf)?;
        encode::describe(b'S', &name, &mut self.wire.wbuf)?;
        postgres_protocol::message::frontend::sync(&mut self.wire.wbuf);
        encode::query(&then(&name), &mut self.wire.wbuf)?;
        self.wire.flush()?;
        let described = match self.read_response(None, &mut |_| Ok(())) {
            Ok(outcome) => Ok(Statement::new(
                name,
                outcome.params.unwrap_or_default(),
                outcome.columns.map(|c| c.to_vec()).unwrap_or_default(),
            )),
            Err(e @ Error::Db(_)) => Err(e),
            Err(fatal) => return Err(fatal),
        };
        let queried = match self.with_timeout(|wire| response::read_simple(wire)) {
            Err(fatal) if !matches!(fatal, Error::Db(_)) => return Err(fatal),
            other => other,
        };
        Ok((described, queried))
    }

    /// Runs a statement and returns all its rows.
    pub fn query<T: ToStatement + ?Sized>(
        &mut self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Error> {
        let mut rows = Vec::new();
        self.run(statement, params, &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
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
        self.wire.check_open()?;
        encode::query(sql, &mut self.wire.wbuf)?;
        self.wire.flush()?;
        self.with_timeout(|wire| response::read_simple(wire))
    }

    /// Runs one or more statements separated by `;`, discarding their rows.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.simple_query(sql).map(drop)
    }

    /// Bounds every later statement: when one runs longer, it is cancelled on the server
    /// and the call returns `Error::Timeout(Timeout::Statement)`; the connection stays
    /// usable. `None` (the default) waits as long as the server takes.
    pub fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.statement_timeout = timeout;
    }

    /// Notifications received so far (on any call), oldest first, removed from the
    /// connection.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        self.wire.notifications.drain(..).collect()
    }

    /// Waits up to `timeout` for a notification when none is buffered.
    pub fn wait_for_notification(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Notification>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = self.wire.notifications.pop_front() {
                return Ok(Some(n));
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Ok(None);
            };
            self.wire.stream.set_read_timeout(Some(left))?;
            let read = self.wire.read_any();
            self.wire.stream.set_read_timeout(None)?;
            match read {
                Ok(message) => {
                    if let Some(other) = self.wire.divert(message)? {
                        self.wire.mark_broken("unexpected message while idle");
                        return Err(response::unexpected(&other));
                    }
                }
                Err(Error::Io(e)) if is_timeout(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Notices and warnings the server sent (`RAISE NOTICE`, ...), removed from the
    /// connection.
    pub fn take_notices(&mut self) -> Vec<DbError> {
        self.wire.notices.drain(..).collect()
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

    /// True once the connection has failed; every call then fails fast.
    pub fn is_closed(&self) -> bool {
        self.wire.is_broken()
    }

    /// Says goodbye to the server and closes the stream.
    pub fn close(mut self) -> Result<(), Error> {
        self.wire.check_open()?;
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
        let statement = match statement.to_query() {
            Query::Sql(sql) => self.prepare(sql)?,
            Query::Statement(s) => s.clone(),
        };
        self.wire.check_open()?;
        encode::bind(
            statement.name(),
            statement.params(),
            params,
            &mut self.wire.wbuf,
        )
        .inspect_err(|_| self.wire.wbuf.clear())?;
        encode::execute_sync(&mut self.wire.wbuf)?;
        self.wire.flush()?;
        self.read_response(Some(statement.shared_columns()), on_row)
    }

    fn read_response(
        &mut self,
        columns: Option<Arc<[Column]>>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        self.with_timeout(|wire| response::read_extended(wire, columns, on_row))
    }

    /// Reads a response under the statement timeout: on expiry, cancels on the server,
    /// reads on to the ReadyForQuery, and reports `Timeout::Statement`.
    pub(crate) fn with_timeout<R>(
        &mut self,
        read: impl FnOnce(&mut Timed<'_, S>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let Some(timeout) = self.statement_timeout else {
            let mut timed = Timed {
                wire: &mut self.wire,
                deadline: None,
                cancel: None,
                cancelled: false,
            };
            return read(&mut timed);
        };
        let mut timed = Timed {
            wire: &mut self.wire,
            deadline: Some(Instant::now() + timeout),
            cancel: self.cancel.as_ref(),
            cancelled: false,
        };
        let result = read(&mut timed);
        let cancelled = timed.cancelled;
        let reset = self.wire.stream.set_read_timeout(None);
        match result {
            Err(Error::Db(db)) if cancelled && db.code == QUERY_CANCELED => {
                Err(Error::Timeout(Timeout::Statement))
            }
            other => {
                reset?;
                other
            }
        }
    }
}

/// A message source that enforces a deadline by cancelling the statement.
pub(crate) struct Timed<'a, S> {
    wire: &'a mut Wire<S>,
    deadline: Option<Instant>,
    cancel: Option<&'a CancelToken>,
    cancelled: bool,
}

impl<S: Stream> Messages for Timed<'_, S> {
    fn next_message(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(deadline) = self.deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                self.wire
                    .stream
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            }
            match self.wire.next_message() {
                Err(Error::Io(e)) if is_timeout(&e) => self.expired()?,
                other => return other,
            }
        }
    }
}

impl<S: Stream> Timed<'_, S> {
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
        self.deadline = Some(Instant::now() + CANCEL_GRACE);
        if let Err(e) = token.cancel() {
            self.wire
                .mark_broken(format!("cancelling a timed-out statement failed: {e}"));
            return Err(Error::Timeout(Timeout::Statement));
        }
        Ok(())
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn cache_key(sql: &str, types: &[Type]) -> String {
    if types.is_empty() {
        return sql.to_owned();
    }
    let oids: Vec<String> = types.iter().map(|t| t.oid().to_string()).collect();
    format!("{}\0{sql}", oids.join(","))
}
