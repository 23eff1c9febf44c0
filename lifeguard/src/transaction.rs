//! Transactions on an exclusive pooled connection, with savepoints inside.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lifeguard_pg::{Connection, Error, SimpleQueryMessage, Socket, TransactionStatus};

use crate::labels::Route as RouteLabel;
use crate::observe::TransactionWatch;
use crate::pool::{Pool, PooledConnection};
use crate::query::{Executor, Query};
use crate::route::WalPosition;

impl Pool {
    /// Starts a transaction on an exclusive connection to the primary (`BEGIN`).
    pub fn begin(&self) -> Result<Transaction, Error> {
        let primary = self.inner.topology.primary().unwrap_or(0);
        let watch = self.inner.observe.transaction(primary, RouteLabel::Primary);
        let lent = self.acquire_on_primary(Some(&watch));
        Transaction::start(lent, watch, "BEGIN")
    }

    /// Starts a read-only transaction (`BEGIN READ ONLY`) on an eligible replica, or on
    /// the primary when none is (or the read preference is `Primary`): for several
    /// reads that must see one snapshot. A write in it fails (SQLSTATE 25006).
    ///
    /// ```no_run
    /// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
    /// let mut tx = pool.begin_read()?;
    /// let users = lifeguard::query("SELECT count(*) FROM users").fetch_one(&mut tx)?;
    /// let posts = lifeguard::query("SELECT count(*) FROM posts").fetch_one(&mut tx)?;
    /// tx.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn begin_read(&self) -> Result<Transaction, Error> {
        let replica = self.replica_for_reads();
        let server = replica.unwrap_or_else(|| self.inner.topology.primary().unwrap_or(0));
        let watch = self
            .inner
            .observe
            .transaction(server, self.route_to(server));
        let lent = self.acquire_for_reads(replica, Some(&watch));
        Transaction::start(lent, watch, "BEGIN READ ONLY")
    }

    /// Runs `f` in a transaction: commits when it returns `Ok`, rolls back when it
    /// returns `Err`. When `f` panics the connection is closed, so the server rolls
    /// back, and the panic goes on.
    pub fn transaction<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        Transaction::run_in(self.begin()?, f)
    }
}

impl Transaction {
    /// Runs `f` in `tx`: commits when it returns `Ok`, rolls back when it returns
    /// `Err`.
    pub(crate) fn run_in<T, E: From<Error>>(
        mut tx: Transaction,
        f: impl FnOnce(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        match f(&mut tx) {
            Ok(value) => {
                tx.commit()?;
                Ok(value)
            }
            Err(e) => {
                tx.rollback()?;
                Err(e)
            }
        }
    }
}

/// A transaction on a connection of its own. Run queries on it with
/// `query(..).fetch_all(&mut tx)`.
///
/// Dropped unfinished it rolls back and the connection returns to the pool. Dropped
/// during a panic, the connection is closed instead (no I/O while unwinding): the
/// server rolls back when the session ends.
pub struct Transaction {
    conn: Option<PooledConnection>,
    savepoints: u32,
    /// The first error of a statement run through this transaction since it (or the
    /// innermost savepoint rolled back to) was last healthy.
    failure: Option<String>,
    /// A [`Session`](crate::Session)'s position, moved past the commit.
    session: Option<Arc<AtomicU64>>,
    watch: TransactionWatch,
}

impl Transaction {
    /// Starts the transaction with `sql` on the connection `lent` (or ends `watch` with
    /// the error that kept it from being lent).
    pub(crate) fn start(
        lent: Result<PooledConnection, Error>,
        watch: TransactionWatch,
        sql: &str,
    ) -> Result<Transaction, Error> {
        let started = lent.and_then(|mut conn| conn.batch_execute(sql).map(|()| conn));
        let conn = match started {
            Ok(conn) => conn,
            Err(e) => {
                watch.end("begin", Err(&e));
                return Err(e);
            }
        };
        Ok(Transaction {
            conn: Some(conn),
            savepoints: 0,
            failure: None,
            session: None,
            watch,
        })
    }

    /// Makes the commit move `position` past it.
    pub(crate) fn record_commit_into(&mut self, position: Arc<AtomicU64>) {
        self.session = Some(position);
    }

    /// Commits. When an earlier statement failed and left the transaction aborted
    /// (even if its error was ignored), nothing can be saved: it rolls back and returns
    /// [`Error::RolledBack`], naming that statement's error when it ran through this
    /// transaction.
    ///
    /// ```no_run
    /// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
    /// use lifeguard::{Error, query};
    ///
    /// let mut tx = pool.begin()?;
    /// let _ = query("INSERT INTO missing_table VALUES (1)").execute(&mut tx);
    /// assert!(matches!(tx.commit(), Err(Error::RolledBack { .. })));
    /// # Ok(()) }
    /// ```
    pub fn commit(mut self) -> Result<(), Error> {
        if self.connection().transaction_status() == TransactionStatus::Failed {
            let cause = self.failure.take();
            self.finish("ROLLBACK")?;
            let rolled_back = Error::RolledBack { cause };
            self.watch.end("rollback", Err(&rolled_back));
            return Err(rolled_back);
        }
        match self.session.take() {
            Some(position) => self.commit_recorded(&position),
            None => self.finish("COMMIT"),
        }
    }

    /// Commits and reads the WAL insert position in the same round trip (a simple
    /// query runs the `SELECT` after the `COMMIT` has finished), then moves `position`.
    fn commit_recorded(&mut self, position: &AtomicU64) -> Result<(), Error> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        let answer = conn.simple_query("COMMIT; SELECT pg_current_wal_insert_lsn()");
        let lsn = answer.and_then(|messages| {
            messages
                .iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0).map(str::parse::<WalPosition>),
                    _ => None,
                })
                .ok_or_else(|| Error::Protocol("COMMIT returned no WAL position".into()))?
        });
        let result = match lsn {
            Ok(lsn) => {
                position.fetch_max(lsn.as_u64(), Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                conn.discard();
                Err(e)
            }
        };
        self.watch.end("commit", result.as_ref().map(|_| ()));
        result
    }

    /// Runs `query` on the transaction's connection, remembering the first error.
    pub(crate) fn run(
        &mut self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(lifeguard_pg::Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let conn = self
            .conn
            .as_mut()
            .expect("a Transaction holds its connection until finished");
        let watch = self.watch.query(query);
        let result = Executor::run(&mut **conn, query, on_row);
        watch.finish(&result);
        if let Err(e) = &result
            && self.failure.is_none()
            && self.connection().transaction_status() == TransactionStatus::Failed
        {
            self.failure = Some(format!("{e} (SQL: {})", query.sql()));
        }
        result
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<(), Error> {
        self.finish("ROLLBACK")
    }

    /// Runs `f` inside a savepoint: released when `f` returns `Ok`, rolled back to
    /// when it returns `Err` (the transaction goes on either way).
    ///
    /// ```no_run
    /// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
    /// use lifeguard::query;
    ///
    /// let mut tx = pool.begin()?;
    /// query("INSERT INTO t VALUES (1)").execute(&mut tx)?;
    /// let failed = tx.savepoint(|tx| query("INSERT INTO t VALUES ('x')").execute(tx));
    /// assert!(failed.is_err()); // rolled back to the savepoint; row 1 stays
    /// tx.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn savepoint<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.savepoints += 1;
        let name = format!("lifeguard_sp_{}", self.savepoints);
        let started = self
            .connection()
            .batch_execute(&format!("SAVEPOINT {name}"));
        if let Err(e) = started {
            self.savepoints -= 1;
            return Err(e.into());
        }
        let result = f(self);
        self.savepoints -= 1;
        let end = match &result {
            Ok(_) => format!("RELEASE SAVEPOINT {name}"),
            Err(_) => format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"),
        };
        self.connection().batch_execute(&end)?;
        if self.connection().transaction_status() != TransactionStatus::Failed {
            // Rolled back to a healthy state: an error inside no longer dooms it.
            self.failure = None;
        }
        result
    }

    /// The connection, for what the query API does not cover (COPY, notifications).
    pub fn connection(&mut self) -> &mut Connection<Socket> {
        self.conn
            .as_mut()
            .expect("a Transaction holds its connection until finished")
    }

    fn finish(&mut self, sql: &str) -> Result<(), Error> {
        match self.conn.take() {
            Some(mut conn) => {
                let result = conn.batch_execute(sql);
                if result.is_err() {
                    conn.discard();
                }
                let end = if sql == "COMMIT" {
                    "commit"
                } else {
                    "rollback"
                };
                self.watch.end(end, result.as_ref().map(|_| ()));
                result
            }
            None => Ok(()),
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if std::thread::panicking() {
            // The connection closes itself without I/O here (see PooledConnection).
            drop(conn);
        } else {
            self.conn = Some(conn);
            // A failed rollback discards the connection; nobody is left to tell.
            let _ = self.finish("ROLLBACK");
        }
    }
}

impl Executor for &mut Transaction {
    fn run(
        self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(lifeguard_pg::Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        Transaction::run(self, query, on_row)
    }
}
