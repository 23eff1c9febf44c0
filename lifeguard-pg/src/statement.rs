//! Prepared statements and the columns they return.

use std::sync::Arc;

use postgres_types::{Oid, Type};

use crate::error::DbError;

/// One column of a statement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_: Type,
    table_oid: Option<Oid>,
    column_id: Option<i16>,
}

impl Column {
    pub(crate) fn new(name: String, type_: Type, table_oid: Oid, column_id: i16) -> Column {
        Column {
            name,
            type_,
            table_oid: (table_oid != 0).then_some(table_oid),
            column_id: (column_id != 0).then_some(column_id),
        }
    }

    /// The column's name (its alias, when the SQL gives one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's PostgreSQL type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }

    /// The OID of the table the column comes from, when it comes straight from one.
    pub fn table_oid(&self) -> Option<Oid> {
        self.table_oid
    }

    /// The column's attribute number in that table.
    pub fn column_id(&self) -> Option<i16> {
        self.column_id
    }
}

/// A statement prepared on a connection: its server-side name, parameter types and
/// result columns, and the SQL it was prepared from. Cheap to clone.
///
/// Running a `Statement` runs its SQL as that connection prepared it: when the
/// connection's statement cache has since closed it to make room, or it came from
/// [`Connection::describe`](crate::Connection::describe), it is prepared again first.
#[derive(Debug, Clone)]
pub struct Statement(Arc<StatementInner>);

#[derive(Debug)]
struct StatementInner {
    name: String,
    sql: Box<str>,
    /// The types it was parsed with (empty: all inferred by the server).
    parsed_with: Box<[Type]>,
    params: Vec<Type>,
    columns: Arc<[Column]>,
}

impl Statement {
    pub(crate) fn new(
        name: String,
        sql: &str,
        parsed_with: &[Type],
        params: Vec<Type>,
        columns: Vec<Column>,
    ) -> Statement {
        Statement(Arc::new(StatementInner {
            name,
            sql: sql.into(),
            parsed_with: parsed_with.into(),
            params,
            columns: columns.into(),
        }))
    }

    /// The SQL it was prepared from.
    pub fn sql(&self) -> &str {
        &self.0.sql
    }

    pub(crate) fn parsed_with(&self) -> &[Type] {
        &self.0.parsed_with
    }

    /// The name the server knows it by.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The types of `$1`, `$2`, ...
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The result columns (empty for a statement that returns no rows).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }

    pub(crate) fn shared_columns(&self) -> Arc<[Column]> {
        self.0.columns.clone()
    }
}

/// What the query methods of both connection kinds accept: SQL text (prepared and
/// cached on first use) or a [`Statement`] prepared earlier.
pub trait ToStatement {
    /// The SQL text or the statement.
    fn to_statement_ref(&self) -> StatementRef<'_>;
}

/// See [`ToStatement`].
#[derive(Debug, Clone, Copy)]
pub enum StatementRef<'a> {
    /// SQL text.
    Sql(&'a str),
    /// A prepared statement.
    Statement(&'a Statement),
}

impl ToStatement for str {
    fn to_statement_ref(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for String {
    fn to_statement_ref(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for Statement {
    fn to_statement_ref(&self) -> StatementRef<'_> {
        StatementRef::Statement(self)
    }
}

/// Whether the server's answer to running a cached statement means it must be parsed
/// again, the statement not having run: the session lost it (SQLSTATE 26000, after
/// `DISCARD ALL` or `DEALLOCATE`), or the schema changed its result columns (0A000,
/// "cached plan must not change result type", a `SELECT *` after `ADD COLUMN`).
pub(crate) fn must_prepare_again(error: &DbError) -> bool {
    matches!(error.code.as_str(), "26000" | "0A000")
}

/// The type for an OID; types the crate does not know (user enums, composites) get a
/// placeholder named after the OID, which only raw or text-accepting decoders take.
pub(crate) fn type_for_oid(oid: Oid) -> Type {
    Type::from_oid(oid).unwrap_or_else(|| {
        Type::new(
            format!("oid_{oid}"),
            oid,
            postgres_types::Kind::Simple,
            String::new(),
        )
    })
}

/// Whether `ty` is a type the client knows by OID (not a [`type_for_oid`] placeholder).
pub(crate) fn is_known(ty: &Type) -> bool {
    Type::from_oid(ty.oid()).is_some()
}
