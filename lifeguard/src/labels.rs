//! The values of the bounded labels and span fields that metrics and tracing share:
//! the route a query took, how it ended, and what a caller waited for. Each is a short
//! fixed word, never SQL text, a value or anything a user typed.

use lifeguard_pg::Error;

/// Where a query went: the `route` label and the `lifeguard.route` span field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The primary: writes, transactions, sessions and reads no replica may take.
    Primary,
    /// A replica: a read it was eligible for.
    Replica,
}

impl Route {
    /// Every route, in [`Route::index`] order.
    pub(crate) const ALL: [Route; 2] = [Route::Primary, Route::Replica];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Route::Primary => "primary",
            Route::Replica => "replica",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// How a query ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It ran.
    Ok,
    /// The server answered with an error (any SQLSTATE).
    DbError,
    /// A bound ran out: acquire, request, connect (a pool that cannot connect
    /// included: [`Error::Unavailable`]).
    Timeout,
    /// The connection failed or closed under it, or the pool is closed.
    Connection,
    /// The client refused it or could not decode its rows (encode, decode, NULL,
    /// parameter count, unsupported statement).
    Client,
}

impl Outcome {
    /// Every outcome, in [`Outcome::index`] order.
    pub(crate) const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::DbError,
        Outcome::Timeout,
        Outcome::Connection,
        Outcome::Client,
    ];

    /// The outcome of a query that returned `result`.
    pub(crate) fn of<T>(result: &Result<T, Error>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.timeout().is_some() => Outcome::Timeout,
            Err(e) if e.is_connection_error() => Outcome::Connection,
            Err(Error::Db(_)) => Outcome::DbError,
            Err(_) => Outcome::Client,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::DbError => "db_error",
            Outcome::Timeout => "timeout",
            Outcome::Connection => "connection",
            Outcome::Client => "client",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What a caller waited for: the `kind` label of the wait histogram and the
/// `lifeguard.wait` field of an acquire span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitKind {
    /// Room on a shared (pipelined) connection.
    Pipelining,
    /// An exclusive connection (a transaction or a session).
    Exclusive,
}

impl WaitKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitKind::Pipelining => "pipelining",
            WaitKind::Exclusive => "exclusive",
        }
    }
}

/// The `error.type` of a failed call: its SQLSTATE for a server error (`23505`), else
/// a fixed word for the kind of failure. Never the message, which can quote a value.
pub(crate) fn error_type(error: &Error) -> &str {
    match error {
        Error::Db(db) => db.code.as_str(),
        Error::Io(_) => "io",
        Error::Closed { .. } => "closed",
        Error::Timeout(_) => "timeout",
        Error::Unavailable { .. } => "unavailable",
        Error::Decode { .. } => "decode",
        Error::Encode { .. } => "encode",
        Error::UnexpectedNull { .. } => "unexpected_null",
        Error::RowCount { .. } => "row_count",
        Error::ParameterCount { .. } => "parameter_count",
        Error::Statement(_) => "statement",
        Error::Authentication(_) => "authentication",
        Error::Tls(_) => "tls",
        Error::Protocol(_) => "protocol",
        Error::RolledBack { .. } => "rolled_back",
        Error::Unsupported(_) => "unsupported",
        _ => "other",
    }
}
