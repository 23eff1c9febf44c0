//! Query values and the executors that run them.
//!
//! A [`Query`] is SQL plus its bound parameters; it runs on any [`Executor`]: the pool
//! (autocommit, pipelined), a transaction, a pooled connection or a plain
//! [`Connection`](lifeguard_pg::Connection).

use lifeguard_offline::description::Description;
use lifeguard_pg::types::{ToSql, Type};
use lifeguard_pg::{Client, Connection, Error, Row, Socket};

use crate::route::Route;

/// The run methods every query value has, written once. Each query type implements
/// two things, `run_raw(&self, executor, on_row)`, which runs it and hands each row to
/// `on_row` as it arrives, and `decode(&self, row) -> Result<$row, Error>`; this adds
/// `for_each`, `fetch_all`, `fetch_one`, `fetch_optional` and `execute` (which decodes
/// nothing).
macro_rules! run_methods {
    ($row:ty) => {
        /// Runs it on the pool's primary, whatever its class (other executors run it
        /// where they are).
        ///
        /// ```no_run
        /// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
        /// let row = lifeguard::query("SELECT pg_is_in_recovery()").on_primary().fetch_one(pool)?;
        /// assert!(!row.get::<bool>(0)?);
        /// # Ok(()) }
        /// ```
        pub fn on_primary(mut self) -> Self {
            *self.route_mut() = $crate::route::Route::Primary;
            self
        }

        /// Runs it as a read on a pool with replicas: on an eligible replica, or where
        /// the read preference sends reads when none is. For a statement the caller
        /// knows only reads though its class says otherwise (SQL built at run time,
        /// whose class is unknown; a read calling a volatile function). A write sent
        /// this way is refused by the replica (SQLSTATE 25006) without running there,
        /// and then runs once on the primary, as any read the replica refused.
        pub fn on_replica(mut self) -> Self {
            *self.route_mut() = $crate::route::Route::Replica;
            self
        }

        /// Runs it and hands each row to `f` as it is decoded; returns the rows affected
        /// (or returned).
        pub fn for_each(
            &self,
            executor: impl $crate::Executor,
            mut f: impl FnMut($row) -> Result<(), lifeguard_pg::Error>,
        ) -> Result<u64, lifeguard_pg::Error> {
            self.run_raw(executor, &mut |row| f(self.decode(row)?))
        }

        /// Runs it and returns every row.
        pub fn fetch_all(
            &self,
            executor: impl $crate::Executor,
        ) -> Result<Vec<$row>, lifeguard_pg::Error> {
            lifeguard_pg::collect(|push| self.for_each(executor, push))
        }

        /// Runs it; exactly one row must come back (`Error::RowCount` otherwise).
        pub fn fetch_one(
            &self,
            executor: impl $crate::Executor,
        ) -> Result<$row, lifeguard_pg::Error> {
            lifeguard_pg::exactly_one(self.fetch_all(executor)?)
        }

        /// Runs it; at most one row may come back (`Error::RowCount` otherwise).
        pub fn fetch_optional(
            &self,
            executor: impl $crate::Executor,
        ) -> Result<Option<$row>, lifeguard_pg::Error> {
            lifeguard_pg::at_most_one(self.fetch_all(executor)?)
        }

        /// Runs it and returns the number of rows affected (or returned), decoding none.
        pub fn execute(&self, executor: impl $crate::Executor) -> Result<u64, lifeguard_pg::Error> {
            self.run_raw(executor, &mut |_| Ok(()))
        }
    };
}
pub(crate) use run_methods;

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
    /// Known to only read (a `query!` whose plan shows it): on a pipelined connection
    /// it may share a Sync with other reads ([`Client::for_each_read`]), and on a pool
    /// with replicas it may run on one.
    read: bool,
    /// Where the pool may run it: `.on_primary()` and `.on_replica()` set it.
    route: Route,
    /// What the compile-time check found, for a `query!`: metrics and spans name the
    /// statement from it.
    description: Option<&'static Description>,
}

/// A query whose parameter types the server infers (described once per connection).
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        types: None,
        params: Vec::new(),
        read: false,
        route: Route::Auto,
        description: None,
    }
}

/// A query whose parameter types are given: on a pipelined connection its first use
/// needs no describe round trip.
pub fn query_typed<'a>(sql: &'a str, types: &'a [Type]) -> Query<'a> {
    Query {
        sql,
        types: Some(types),
        params: Vec::new(),
        read: false,
        route: Route::Auto,
        description: None,
    }
}

/// [`query_typed`] for a statement the compile-time check classed as a read.
pub(crate) fn query_read<'a>(sql: &'a str, types: &'a [Type]) -> Query<'a> {
    Query {
        read: true,
        ..query_typed(sql, types)
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

    pub(crate) fn route(&self) -> Route {
        self.route
    }

    pub(crate) fn route_mut(&mut self) -> &mut Route {
        &mut self.route
    }

    pub(crate) fn is_read(&self) -> bool {
        self.read
    }

    pub(crate) fn types(&self) -> Option<&'a [Type]> {
        self.types
    }

    pub(crate) fn params(&self) -> &[&'a (dyn ToSql + Sync)] {
        &self.params
    }

    /// Marks it as the statement the compile-time check described as `description`.
    pub(crate) fn described(self, description: &'static Description) -> Self {
        Query {
            description: Some(description),
            ..self
        }
    }

    /// What the compile-time check found, for a `query!`.
    #[cfg_attr(
        not(any(feature = "metrics", feature = "tracing")),
        expect(dead_code, reason = "read by metrics and spans only")
    )]
    pub(crate) fn description(&self) -> Option<&'static Description> {
        self.description
    }

    run_methods!(Row);

    pub(crate) fn run_raw(
        &self,
        executor: impl Executor,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        executor.run(self, on_row)
    }

    fn decode(&self, row: Row) -> Result<Row, Error> {
        Ok(row)
    }

    pub(crate) fn run_on_client(
        &self,
        client: &Client,
        share_sync: bool,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        match self.types {
            Some(types) if self.read && share_sync => {
                client.for_each_read(self.sql, types, &self.params, on_row)
            }
            Some(types) => client.for_each_typed(self.sql, types, &self.params, on_row),
            None => client.for_each(self.sql, &self.params, on_row),
        }
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
