//! The exclusive connection's prepared statements: the bounded cache (`lru.rs`) of what
//! this session has prepared, the Closes of what it evicted (sent with the next
//! request, after its Execute, and dropped once the server ran them), and describing
//! a statement without keeping it.

use postgres_types::Type;

use super::{Connection, DescribedThen};
use crate::encode;
use crate::error::Error;
use crate::response;
use crate::socket::Stream;
use crate::statement::Statement;

impl<S: Stream> Connection<S> {
    /// Prepares a statement, or returns the one this connection prepared for the same
    /// SQL before (no round trip then).
    ///
    /// At most [`statement_cache_capacity`](Self::statement_cache_capacity) statements
    /// stay prepared; past it the least recently used is closed on the server (with
    /// the next request, no round trip of its own). A [`Statement`] held meanwhile
    /// still runs: it is prepared again.
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[])
    }

    /// Prepares with some parameter types given (the rest are inferred by the server).
    pub fn prepare_typed(&mut self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        let key = cache_key(sql, types);
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        self.next_statement += 1;
        let name = format!("lg{}", self.next_statement);
        let statement = self.request(|conn| conn.describe_now(name, sql, types))?;
        if let Some((_, evicted)) = self.statements.insert(key, statement.clone()) {
            self.closing.push(evicted.name().to_owned());
        }
        Ok(statement)
    }

    /// Bounds the statements kept prepared on the server (default
    /// [`DEFAULT_STATEMENT_CACHE_CAPACITY`](crate::DEFAULT_STATEMENT_CACHE_CAPACITY)): past `capacity`, the least recently used
    /// is closed. `0` keeps none: each statement is prepared, run and closed.
    ///
    /// ```no_run
    /// # fn demo(conn: &mut lifeguard_pg::Connection) {
    /// conn.set_statement_cache_capacity(100);
    /// assert_eq!(conn.statement_cache_capacity(), 100);
    /// # }
    /// ```
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        let evicted = self.statements.set_capacity(capacity);
        self.closing
            .extend(evicted.into_iter().map(|(_, s)| s.name().to_owned()));
    }

    /// The statement cache's capacity.
    pub fn statement_cache_capacity(&self) -> usize {
        self.statements.capacity()
    }

    /// How many statements the cache holds (each prepared on the server).
    pub fn statements_cached(&self) -> usize {
        self.statements.len()
    }

    /// Parses and describes a statement on the server without caching it: its parameter
    /// types and result columns (with their source table and column). It is parsed as
    /// the unnamed statement, so nothing stays behind on the server; running the
    /// returned [`Statement`] prepares it first.
    pub fn describe(&mut self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        self.request(|conn| conn.describe_now(String::new(), sql, types))
    }

    fn describe_now(
        &mut self,
        name: String,
        sql: &str,
        types: &[Type],
    ) -> Result<Statement, Error> {
        encode::parse(&name, sql, types, &mut self.wire.wbuf)?;
        encode::describe(b'S', &name, &mut self.wire.wbuf)?;
        let closes = self.sync_with_closes()?;
        self.wire.flush()?;
        let outcome = self.read_response(None, &mut |_| Ok(()));
        self.closes_done(closes, &outcome);
        let outcome = outcome?;
        let params = outcome.params.unwrap_or_default();
        let columns = outcome.columns.map(|c| c.to_vec()).unwrap_or_default();
        Ok(Statement::new(name, sql, types, params, columns))
    }

    /// Appends a Close of each statement the cache let go of, then the Sync; returns
    /// how many Closes went out.
    pub(super) fn sync_with_closes(&mut self) -> Result<usize, Error> {
        for name in &self.closing {
            encode::close_statement(name, &mut self.wire.wbuf)?;
        }
        postgres_protocol::message::frontend::sync(&mut self.wire.wbuf);
        Ok(self.closing.len())
    }

    /// Drops the first `sent` pending Closes once a response shows the server ran
    /// them: an error earlier in the request skips them, so they go again next time.
    pub(super) fn closes_done<T>(&mut self, sent: usize, outcome: &Result<T, Error>) {
        if outcome.is_ok() {
            self.closing.drain(..sent.min(self.closing.len()));
        }
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
    pub fn describe_then(
        &mut self,
        sql: &str,
        then: impl FnOnce(&str) -> String,
    ) -> Result<DescribedThen, Error> {
        self.request(|conn| conn.describe_then_now(sql, then))
    }

    fn describe_then_now(
        &mut self,
        sql: &str,
        then: impl FnOnce(&str) -> String,
    ) -> Result<DescribedThen, Error> {
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
                sql,
                &[],
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
}

pub(super) fn cache_key(sql: &str, types: &[Type]) -> String {
    if types.is_empty() {
        return sql.to_owned();
    }
    let oids: Vec<String> = types.iter().map(|t| t.oid().to_string()).collect();
    format!("{}\0{sql}", oids.join(","))
}
