//! What the `query!` family expands to: a [`CheckedQuery`] (parameters already encoded,
//! rows decoded into typed values) and its [`StatementInfo`], the statement descriptor
//! the macro checked at compile time. The description inside it is
//! `lifeguard_offline::description`'s, the one model every stage shares.

use std::fmt;

use lifeguard_offline::description::{ColumnInfo, Description, PgType, StatementKind};
use lifeguard_pg::types::{Format, IsNull, ToSql, Type};
use lifeguard_pg::{Error, Row};
use once_cell::race::OnceBox;

use crate::query::{Executor, query_read, query_typed, run_methods};
use crate::route::Route;

/// The descriptor a `query!` call embeds as a `static`: the SQL, where it was written,
/// and the [`Description`] the compile-time check found (embedded as one string, read on
/// first use).
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// use lifeguard::{Nullability, StatementKind};
///
/// let q = lifeguard::query!("SELECT id, email FROM users WHERE id = $1", 1);
/// let info = q.statement();
/// assert_eq!(info.kind(), StatementKind::Read);
/// assert_eq!(info.columns()[1].nullability_in_code(), Nullability::Nullable);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StatementInfo {
    /// The SQL text.
    pub sql: &'static str,
    /// `file:line` of the macro call.
    pub location: &'static str,
    /// The description as [`Description::pack`] wrote it.
    packed: &'static str,
    /// The description, read from `packed` on first use. Callers that race there each
    /// read it and one wins: no caller ever waits for another (a coroutine must not park
    /// its worker thread).
    description: OnceBox<Description>,
    /// The types sent with Parse, worked out from the description on first use (the
    /// same way).
    parse_types: OnceBox<Box<[Type]>>,
}

impl StatementInfo {
    /// The descriptor of the statement `sql`, written at `location` and described as
    /// `packed` ([`Description::pack`]). Only the `query!` family calls it, in a `static`.
    #[doc(hidden)]
    pub const fn new(
        sql: &'static str,
        location: &'static str,
        packed: &'static str,
    ) -> StatementInfo {
        StatementInfo {
            sql,
            location,
            packed,
            description: OnceBox::new(),
            parse_types: OnceBox::new(),
        }
    }

    /// What the compile-time check found: parameter and column types, nullability, the
    /// read/write class.
    pub fn description(&self) -> &Description {
        self.description.get_or_init(|| {
            Box::new(Description::unpack(self.packed).unwrap_or_else(|| {
                panic!(
                    "the descriptor of the statement at {} is not in the form this lifeguard \
                     reads (lifeguard and lifeguard-macros of different versions?)",
                    self.location
                )
            }))
        })
    }

    /// The types sent with Parse: each parameter's built-in type, or `unknown` for types
    /// whose OID is not stable across databases (the server infers those).
    fn parse_types(&self) -> &[Type] {
        self.parse_types.get_or_init(|| {
            Box::new(
                self.params()
                    .iter()
                    .map(|p| p.builtin().unwrap_or(Type::UNKNOWN))
                    .collect(),
            )
        })
    }

    /// Read or write: where a router may send it.
    pub fn kind(&self) -> StatementKind {
        self.description().kind
    }

    /// Parameter types, `$1` first.
    pub fn params(&self) -> &[PgType] {
        &self.description().params
    }

    /// Result columns; [`ColumnInfo::alias`] and [`ColumnInfo::nullability_in_code`] give
    /// each one's name and nullability with the overrides of its alias applied.
    pub fn columns(&self) -> &[ColumnInfo] {
        &self.description().columns
    }
}

/// One parameter, encoded when the query value was built.
pub struct Encoded {
    value: Result<Option<bytes::Bytes>, lifeguard_pg::BoxError>,
    format: Format,
}

impl Encoded {
    /// Encodes `value` as PostgreSQL type `ty`. An encoding error is kept and returned
    /// when the query runs.
    pub fn new<T: ToSql>(value: &T, ty: &Type) -> Encoded {
        let format = value.encode_format(ty);
        let mut buf = bytes::BytesMut::new();
        let value = match value.to_sql(ty, &mut buf) {
            Ok(IsNull::No) => Ok(Some(buf.freeze())),
            Ok(IsNull::Yes) => Ok(None),
            Err(e) => Err(e),
        };
        Encoded { value, format }
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Ok(Some(bytes)) => write!(f, "Encoded({} bytes)", bytes.len()),
            Ok(None) => f.write_str("Encoded(NULL)"),
            Err(e) => write!(f, "Encoded(error: {e})"),
        }
    }
}

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, lifeguard_pg::BoxError> {
        match &self.value {
            Ok(Some(bytes)) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            Ok(None) => Ok(IsNull::Yes),
            Err(e) => Err(e.to_string().into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        self.format
    }

    lifeguard_pg::types::to_sql_checked!();
}

/// A statement checked at compile time, its parameters encoded, its rows decoded into
/// `R` (the row struct `query!` generated, the type `query_as!` named, or the single
/// column of `query_scalar!`). Run it on any [`Executor`].
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// let user = lifeguard::query!("SELECT id, name FROM users WHERE id = $1", 7i32)
///     .fetch_one(pool)?;
/// println!("{} is {}", user.id, user.name);
/// # Ok(()) }
/// ```
#[must_use = "a query does nothing until it is run with fetch_*, execute or for_each"]
pub struct CheckedQuery<R> {
    statement: &'static StatementInfo,
    params: Box<[Encoded]>,
    decode: fn(&Row) -> Result<R, Error>,
    route: Route,
}

impl<R> CheckedQuery<R> {
    #[doc(hidden)]
    pub fn new(
        statement: &'static StatementInfo,
        params: impl Into<Box<[Encoded]>>,
        decode: fn(&Row) -> Result<R, Error>,
    ) -> CheckedQuery<R> {
        CheckedQuery {
            statement,
            params: params.into(),
            decode,
            route: Route::Auto,
        }
    }

    /// What the compile-time check found.
    pub fn statement(&self) -> &'static StatementInfo {
        self.statement
    }

    run_methods!(R);

    fn route_mut(&mut self) -> &mut Route {
        &mut self.route
    }

    fn decode(&self, row: Row) -> Result<R, Error> {
        (self.decode)(&row)
    }

    fn run_raw(
        &self,
        executor: impl Executor,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let (sql, types) = (self.statement.sql, self.statement.parse_types());
        let mut query = match self.statement.kind() {
            StatementKind::Read => query_read(sql, types),
            StatementKind::Write => query_typed(sql, types),
        }
        .described(self.statement.description());
        for param in self.params.iter() {
            query = query.bind(param);
        }
        query = match self.route {
            Route::Auto => query,
            Route::Primary => query.on_primary(),
            Route::Replica => query.on_replica(),
        };
        executor.run(&query, on_row)
    }
}

impl<R> fmt::Debug for CheckedQuery<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedQuery")
            .field("sql", &self.statement.sql)
            .field("params", &self.params)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Coroutines and threads reading a statement's description for the first time at
    /// once all get the one description, none waiting on another.
    #[test]
    fn a_description_read_by_many_callers_at_once_is_one_and_the_same() {
        static STATEMENT: StatementInfo = StatementInfo::new(
            "SELECT id FROM users WHERE email = $1",
            "checked.rs:1",
            "r\x001\x0025\x00text\x00id\x0023\x00int4\x000\x00users\x00id",
        );
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..200 {
            let tx = tx.clone();
            let read = move || {
                let description: *const Description = STATEMENT.description();
                tx.send((description as usize, STATEMENT.parse_types().to_vec()))
                    .unwrap();
            };
            if i % 4 == 0 {
                std::thread::spawn(read);
            } else {
                may::go!(read);
            }
        }
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        for _ in 1..200 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), first);
        }
        assert_eq!(first.1, [Type::TEXT]);
        assert_eq!(STATEMENT.kind(), StatementKind::Read);
        assert_eq!(STATEMENT.columns()[0].origin.unwrap().0, "users");
    }
}
