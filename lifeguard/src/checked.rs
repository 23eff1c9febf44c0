//! What the `query!` family expands to: a [`CheckedQuery`] (parameters already encoded,
//! rows decoded into typed values) and its [`StatementInfo`], the statement descriptor
//! the macro checked at compile time.

use std::fmt;

use lifeguard_pg::types::{Format, IsNull, ToSql, Type};
use lifeguard_pg::{Error, Row};

use crate::query::{Executor, at_most_one, collect, exactly_one, query_typed};

/// Whether a statement only reads (replica-safe) or may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// No ModifyTable or LockRows in the plan and no volatile function.
    Read,
    /// Writes, locks rows or calls a volatile function.
    Write,
}

/// A PostgreSQL type as a checked statement saw it at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeInfo {
    /// The OID on the server it was described on (stable for built-in types only).
    pub oid: u32,
    /// The type's name (`int4`, `_text` for `text[]`, `citext`).
    pub name: String,
}

/// One result column of a checked statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnInfo {
    /// The column's name, overrides (`!`, `?`, `: Type`) removed.
    pub name: String,
    /// Its type.
    pub type_: TypeInfo,
    /// Whether the generated code accepts NULL in it (overrides applied).
    pub nullable: bool,
}

/// The descriptor a `query!` call embeds as a `static`: the SQL, its read/write class,
/// and everything the compile-time check found.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// let q = lifeguard::query!("SELECT id, email FROM users WHERE id = $1", 1);
/// let info = q.statement();
/// assert_eq!(info.kind, lifeguard::StatementKind::Read);
/// assert!(info.columns()[1].nullable);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StatementInfo {
    /// The SQL text.
    pub sql: &'static str,
    /// Read or write: where a router may send it.
    pub kind: StatementKind,
    /// `file:line` of the macro call.
    pub location: &'static str,
    /// The types sent with Parse (`unknown` for types whose OID is not stable across
    /// databases: the server infers those).
    #[doc(hidden)]
    pub parse_types: &'static [Type],
    /// The `.lifeguard/` entry (JSON) the check produced: one string literal is far
    /// cheaper for the compiler than the same data as nested struct literals.
    #[doc(hidden)]
    pub metadata: &'static str,
}

impl StatementInfo {
    /// What the compile-time check found, as `lifeguard-offline` describes it.
    pub(crate) fn description(&self) -> lifeguard_offline::describe::Description {
        lifeguard_offline::store::Entry::from_json(self.metadata)
            .expect("the query! macro of this same build wrote this metadata")
            .description
    }

    /// Parameter types, `$1` first.
    pub fn params(&self) -> Vec<TypeInfo> {
        self.description()
            .params
            .into_iter()
            .map(|t| TypeInfo {
                oid: t.oid,
                name: t.name,
            })
            .collect()
    }

    /// Result columns, with the overrides of their aliases applied.
    pub fn columns(&self) -> Vec<ColumnInfo> {
        use lifeguard_offline::describe::Nullability;
        self.description()
            .columns
            .into_iter()
            .map(|c| {
                let (name, forced) = parse_override(&c.name);
                let nullable = forced.unwrap_or(c.nullable == Nullability::Nullable);
                ColumnInfo {
                    name: name.to_string(),
                    type_: TypeInfo {
                        oid: c.type_.oid,
                        name: c.type_.name,
                    },
                    nullable,
                }
            })
            .collect()
    }
}

/// A column alias's name without overrides, and the nullability `!` (false) or `?`
/// (true) forces.
pub(crate) fn parse_override(alias: &str) -> (&str, Option<bool>) {
    let head = alias.split_once(':').map_or(alias, |(h, _)| h).trim_end();
    if let Some(name) = head.strip_suffix('!') {
        (name, Some(false))
    } else if let Some(name) = head.strip_suffix('?') {
        (name, Some(true))
    } else {
        (head, None)
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
        }
    }

    /// What the compile-time check found.
    pub fn statement(&self) -> &'static StatementInfo {
        self.statement
    }

    /// Runs it and returns every row.
    pub fn fetch_all(&self, executor: impl Executor) -> Result<Vec<R>, Error> {
        collect(|push| self.for_each(executor, push))
    }

    /// Runs it; exactly one row must come back ([`Error::RowCount`] otherwise).
    pub fn fetch_one(&self, executor: impl Executor) -> Result<R, Error> {
        exactly_one(self.fetch_all(executor)?)
    }

    /// Runs it; at most one row may come back.
    pub fn fetch_optional(&self, executor: impl Executor) -> Result<Option<R>, Error> {
        at_most_one(self.fetch_all(executor)?)
    }

    /// Runs it and returns the number of rows affected (or returned).
    pub fn execute(&self, executor: impl Executor) -> Result<u64, Error> {
        self.run(executor, &mut |_| Ok(()))
    }

    /// Runs it and hands each row to `f` as it is decoded; returns the row count.
    pub fn for_each(
        &self,
        executor: impl Executor,
        mut f: impl FnMut(R) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let decode = self.decode;
        self.run(executor, &mut |row| f(decode(&row)?))
    }

    fn run(
        &self,
        executor: impl Executor,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut query = query_typed(self.statement.sql, self.statement.parse_types);
        for param in self.params.iter() {
            query = query.bind(param);
        }
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
