//! The one error type of the client.
//!
//! Every failure is a value of [`Error`]: a server error with all its fields, an I/O
//! failure, a closed connection, a timeout (saying which one), a failed decode or an
//! unexpected NULL (saying which column), a bad configuration, a failed authentication,
//! or bytes from the server that break the protocol. Nothing in this crate panics on
//! server input.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use postgres_protocol::message::backend::ErrorFields;

/// A boxed error from a `FromSql`/`ToSql` implementation.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Which bound ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// Opening the socket and authenticating took longer than `connect_timeout`.
    Connect,
    /// The statement ran longer than its timeout; it was cancelled on the server.
    Statement,
    /// A pipelined request got no answer before its deadline; or a call of an exclusive
    /// [`Connection`](crate::Connection) did not finish within its request timeout
    /// (see [`Connection::set_request_timeout`](crate::Connection::set_request_timeout)),
    /// and the connection was given up.
    Request,
    /// No pool capacity (a connection or a pipelining slot) freed up in time.
    Acquire,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Connect => "connect timeout",
            Timeout::Statement => "statement timeout",
            Timeout::Request => "request deadline",
            Timeout::Acquire => "acquire timeout",
        })
    }
}

/// Everything that can go wrong talking to PostgreSQL.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an ErrorResponse.
    Db(Box<DbError>),
    /// The socket failed.
    Io(io::Error),
    /// The connection is closed (or broke while the request was queued or in flight).
    Closed {
        /// Why the connection closed.
        reason: String,
    },
    /// A bound ran out.
    Timeout(Timeout),
    /// A pool had no connection to give because connecting fails: at once while every
    /// connection is down, or when the acquire timeout ran out meanwhile. `cause` is
    /// the last connect error (refused, authentication, connect timeout, ...).
    /// [`Error::timeout`] reports it as [`Timeout::Acquire`].
    Unavailable {
        /// The last error connecting to the server (shared by every caller it failed).
        cause: std::sync::Arc<Error>,
    },
    /// A column value could not be converted to the requested Rust type.
    Decode {
        /// The column's name.
        column: String,
        /// What the `FromSql` implementation said.
        source: BoxError,
    },
    /// A parameter could not be encoded.
    Encode {
        /// The parameter's position, starting at 1 (`$1`).
        index: usize,
        /// What the `ToSql` implementation said.
        source: BoxError,
    },
    /// A column was NULL where the Rust type cannot hold NULL.
    UnexpectedNull {
        /// The column's name.
        column: String,
    },
    /// A query that must return one row (or at most one) returned another number.
    RowCount {
        /// What the call expects: "exactly one" or "at most one".
        expected: &'static str,
        /// How many rows came back.
        found: usize,
    },
    /// A column name or index that the row does not have.
    ColumnNotFound(String),
    /// A column name that more than one column of the row has (`SELECT a.id, b.id`):
    /// pick the column by index, or give the columns distinct aliases.
    AmbiguousColumn {
        /// The name asked for.
        name: String,
        /// Where the columns of that name are (0-based).
        positions: Vec<usize>,
    },
    /// The statement expects a different number of parameters.
    ParameterCount {
        /// What the statement expects.
        expected: usize,
        /// What was given.
        given: usize,
    },
    /// The request cannot be sent as given, whatever its parameter values: the SQL text
    /// holds a NUL byte or is too long for one message, or there are more parameters
    /// than the protocol can carry (65,535). Nothing was sent; the connection stays
    /// usable.
    ///
    /// ```
    /// let err = lifeguard_pg::Error::Statement("the SQL text contains a NUL byte".into());
    /// assert_eq!(err.to_string(), "cannot send the statement: the SQL text contains a NUL byte");
    /// ```
    Statement(String),
    /// A configuration value or connection string is invalid.
    Config(String),
    /// The server refused the credentials, or asked for a method this client lacks (or
    /// one `channel_binding=require` refuses).
    Authentication(String),
    /// TLS could not be set up: the server's certificate is untrusted, expired or for
    /// another host, or the server refused the session. The message says what to
    /// change.
    ///
    /// ```
    /// let err = lifeguard_pg::Error::Tls("the certificate has expired".into());
    /// assert_eq!(err.to_string(), "TLS failed: the certificate has expired");
    /// ```
    Tls(String),
    /// The server sent bytes that break the protocol.
    Protocol(String),
    /// COMMIT found the transaction aborted by an earlier statement's error, so the
    /// server rolled it back: nothing was saved. (PostgreSQL answers such a COMMIT
    /// with a plain `ROLLBACK` and no error; this client does not let it pass.)
    RolledBack {
        /// The error that aborted the transaction, when the client saw it.
        cause: Option<String>,
    },
    /// The statement cannot run on this kind of connection (such as `COPY FROM STDIN`
    /// on a shared pipelined one); nothing was sent, and the message says what to use
    /// instead.
    Unsupported(String),
}

impl Error {
    /// The server's error fields, when this is a server error.
    pub fn as_db(&self) -> Option<&DbError> {
        match self {
            Error::Db(db) => Some(db),
            _ => None,
        }
    }

    /// The SQLSTATE code, when this is a server error.
    ///
    /// ```
    /// let err = lifeguard_pg::Error::Config("bad".into());
    /// assert_eq!(err.code(), None);
    /// ```
    pub fn code(&self) -> Option<&str> {
        self.as_db().map(|db| db.code.as_str())
    }

    /// True when the connection can no longer be used: a socket failure, a closed
    /// connection or a protocol violation. A server error or a decode error leaves the
    /// connection usable.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Io(_) | Error::Closed { .. } | Error::Protocol(_)
        ) || self
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08"))
    }

    /// Which bound ran out, when this is a timeout ([`Error::Unavailable`] included).
    ///
    /// ```
    /// use lifeguard_pg::{Error, Timeout};
    ///
    /// let cause = std::sync::Arc::new(Error::Authentication("password authentication failed".into()));
    /// assert_eq!(Error::Unavailable { cause }.timeout(), Some(Timeout::Acquire));
    /// assert_eq!(Error::Timeout(Timeout::Request).timeout(), Some(Timeout::Request));
    /// assert_eq!(Error::Config("bad".into()).timeout(), None);
    /// ```
    pub fn timeout(&self) -> Option<Timeout> {
        match self {
            Error::Timeout(t) => Some(*t),
            Error::Unavailable { .. } => Some(Timeout::Acquire),
            _ => None,
        }
    }

    pub(crate) fn closed(reason: impl Into<String>) -> Error {
        Error::Closed {
            reason: reason.into(),
        }
    }

    pub(crate) fn protocol(what: impl Into<String>) -> Error {
        Error::Protocol(what.into())
    }

    pub(crate) fn statement(what: impl Into<String>) -> Error {
        Error::Statement(what.into())
    }

    pub(crate) fn config(what: impl Into<String>) -> Error {
        Error::Config(what.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(db) => fmt::Display::fmt(db, f),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Closed { reason } => write!(f, "connection closed: {reason}"),
            Error::Timeout(t) => write!(f, "{t} expired"),
            Error::Unavailable { cause } => {
                write!(f, "no connection to the server could be opened: {cause}")
            }
            Error::Decode { column, source } => {
                write!(f, "cannot decode column \"{column}\": {source}")
            }
            Error::Encode { index, source } => {
                write!(f, "cannot encode parameter ${index}: {source}")
            }
            Error::UnexpectedNull { column } => {
                write!(
                    f,
                    "column \"{column}\" is NULL but its Rust type cannot hold NULL"
                )
            }
            Error::RowCount { expected, found } => {
                write!(f, "expected {expected} row, the query returned {found}")
            }
            Error::ColumnNotFound(c) => write!(f, "no column {c} in the row"),
            Error::AmbiguousColumn { name, positions } => {
                let (last, rest) = positions.split_last().unwrap_or((&0, &[]));
                let rest: Vec<String> = rest.iter().map(usize::to_string).collect();
                write!(
                    f,
                    "column name \"{name}\" is ambiguous: the row has it as columns {} and {last}; \
                     pick one by index or give the columns distinct aliases",
                    rest.join(", ")
                )
            }
            Error::ParameterCount { expected, given } => write!(
                f,
                "the statement takes {expected} parameter(s) but {given} were given"
            ),
            Error::Statement(what) => write!(f, "cannot send the statement: {what}"),
            Error::Config(what) => write!(f, "invalid configuration: {what}"),
            Error::Authentication(what) => write!(f, "authentication failed: {what}"),
            Error::Tls(what) => write!(f, "TLS failed: {what}"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::Unsupported(what) => write!(f, "not supported here: {what}"),
            Error::RolledBack { cause } => {
                f.write_str("the transaction was rolled back and nothing was saved: ")?;
                match cause {
                    Some(cause) => write!(f, "an earlier statement failed: {cause}"),
                    None => f.write_str("an earlier statement in it failed"),
                }
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Decode { source, .. } | Error::Encode { source, .. } => Some(&**source),
            Error::Unavailable { cause } => Some(&**cause),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// The fields of a server ErrorResponse (or NoticeResponse).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    /// `ERROR`, `FATAL`, `PANIC`, `WARNING`, `NOTICE`, ... (localized).
    pub severity: String,
    /// The SQLSTATE code, e.g. `23505`.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// Optional secondary message.
    pub detail: Option<String>,
    /// Optional suggestion what to do.
    pub hint: Option<String>,
    /// 1-based character position in the statement text.
    pub position: Option<u32>,
    /// Position in an internally generated query.
    pub internal_position: Option<u32>,
    /// The internally generated query.
    pub internal_query: Option<String>,
    /// Call stack context.
    pub where_: Option<String>,
    /// Schema of the object concerned.
    pub schema: Option<String>,
    /// Table of the object concerned.
    pub table: Option<String>,
    /// Column of the object concerned.
    pub column: Option<String>,
    /// Data type of the object concerned.
    pub datatype: Option<String>,
    /// Constraint concerned.
    pub constraint: Option<String>,
    /// Server source file.
    pub file: Option<String>,
    /// Server source line.
    pub line: Option<u32>,
    /// Server source routine.
    pub routine: Option<String>,
}

impl DbError {
    /// Reads the fields of an ErrorResponse or NoticeResponse body.
    pub(crate) fn parse(fields: &mut ErrorFields<'_>) -> Result<DbError, Error> {
        use fallible_iterator::FallibleIterator;
        let mut db = DbError::default();
        while let Some(field) = fields
            .next()
            .map_err(|e| Error::protocol(format!("malformed error fields: {e}")))?
        {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            let number = || value.parse::<u32>().ok();
            match field.type_() {
                b'S' if db.severity.is_empty() => db.severity = value,
                b'V' => db.severity = value,
                b'C' => db.code = value,
                b'M' => db.message = value,
                b'D' => db.detail = Some(value),
                b'H' => db.hint = Some(value),
                b'P' => db.position = number(),
                b'p' => db.internal_position = number(),
                b'q' => db.internal_query = Some(value),
                b'W' => db.where_ = Some(value),
                b's' => db.schema = Some(value),
                b't' => db.table = Some(value),
                b'c' => db.column = Some(value),
                b'd' => db.datatype = Some(value),
                b'n' => db.constraint = Some(value),
                b'F' => db.file = Some(value),
                b'L' => db.line = number(),
                b'R' => db.routine = Some(value),
                _ => {}
            }
        }
        if db.code.is_empty() || db.message.is_empty() {
            return Err(Error::protocol("error response without code or message"));
        }
        Ok(db)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            self.severity, self.message, self.code
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

impl StdError for DbError {}
