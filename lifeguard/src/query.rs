//! Query values and the executors that run them.
//!
//! A [`Query`] is SQL plus its bound parameters; it runs on any [`Executor`]: the pool
//! (autocommit, pipelined), a transaction, a pooled connection or a plain
//! [`Connection`](lifeguard_pg::Connection).

use lifeguard_pg::types::{ToSql, Type};
use lifeguard_pg::{Client, Connection, Error, Row, Socket};

/// A statement with its parameters, ready to run.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// use lifeguard::query;
///
/// let names: Vec<String> = query("SELECT name FROM users WHERE id > $1")
///     .bind(&10i32)
///     .fetch_all(pool)?
///     .iter()
///     .map(|row| row.get(0))
///     .collect::<Result<_, _>>()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "a query does nothing until it is run with fetch_*, execute or for_each"]
pub struct Query<'a> {
    sql: &'a str,
    types: Option<&'a [Type]>,
    params: Vec<&'a (dyn ToSql + Sync)>,
}

/// A query whose parameter types the server infers (described once per connection).
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        types: None,
        params: Vec::new(),
    }
}

/// A query whose parameter types are given: on a pipelined connection its first use
/// needs no describe round trip.
pub fn query_typed<'a>(sql: &'a str, types: &'a [Type]) -> Query<'a> {
    Query {
        sql,
        types: Some(types),
        params: Vec::new(),
    }
}

impl<'a> Query<'a> {
    /// Binds the next parameter (`$1`, then `$2`, ...).
    pub fn bind(mut self, value: &'a (dyn ToSql + Sync)) -> Self {
        self.params.push(value);
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        self.sql
    }

    /// Runs it and returns every row.
    pub fn fetch_all(&self, executor: impl Executor) -> Result<Vec<Row>, Error> {
        collect(|push| executor.run(self, push))
    }

    /// Runs it; exactly one row must come back.
    pub fn fetch_one(&self, executor: impl Executor) -> Result<Row, Error> {
        exactly_one(self.fetch_all(executor)?)
    }

    /// Runs it; at most one row may come back.
    pub fn fetch_optional(&self, executor: impl Executor) -> Result<Option<Row>, Error> {
        at_most_one(self.fetch_all(executor)?)
    }

    /// Runs it and returns the number of rows affected.
    pub fn execute(&self, executor: impl Executor) -> Result<u64, Error> {
        executor.run(self, &mut |_| Ok(()))
    }

    /// Runs it and hands each row to `f` as it is decoded; returns the rows affected.
    pub fn for_each(
        &self,
        executor: impl Executor,
        mut f: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        executor.run(self, &mut f)
    }

    pub(crate) fn run_on_client(
        &self,
        client: &Client,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        match self.types {
            Some(types) => client.for_each_typed(self.sql, types, &self.params, on_row),
            None => client.for_each(self.sql, &self.params, on_row),
        }
    }
}

/// Every row `run` hands to the callback it is given, in order: the `fetch_all` of every
/// query value.
pub(crate) fn collect<T>(
    run: impl FnOnce(&mut dyn FnMut(T) -> Result<(), Error>) -> Result<u64, Error>,
) -> Result<Vec<T>, Error> {
    let mut rows = Vec::new();
    run(&mut |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(rows)
}

/// The one row of a result that must have exactly one ([`Error::RowCount`] otherwise).
pub(crate) fn exactly_one<T>(mut rows: Vec<T>) -> Result<T, Error> {
    match rows.len() {
        1 => Ok(rows.remove(0)),
        found => Err(Error::RowCount {
            expected: "exactly one",
            found,
        }),
    }
}

/// The row of a result that may have one ([`Error::RowCount`] for more).
pub(crate) fn at_most_one<T>(mut rows: Vec<T>) -> Result<Option<T>, Error> {
    match rows.len() {
        0 => Ok(None),
        1 => Ok(Some(rows.remove(0))),
        found => Err(Error::RowCount {
            expected: "at most one",
            found,
        }),
    }
}

/// Something a [`Query`] runs on: `&Pool` (autocommit, pipelined), `&mut Transaction`,
/// `&mut PooledConnection` or `&mut Connection`. Each impl lives beside its type.
pub trait Executor {
    /// Runs `query`, handing each row to `on_row`; returns the rows affected.
    fn run(
        self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error>;
}

impl Executor for &mut Connection<Socket> {
    fn run(
        self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let statement = self.prepare_typed(query.sql, query.types.unwrap_or(&[]))?;
        self.for_each(&statement, &query.params, on_row)
    }
}
