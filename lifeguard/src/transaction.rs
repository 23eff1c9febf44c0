//! Transactions on an exclusive pooled connection, with savepoints inside.

use lifeguard_pg::{Connection, Error, Socket};

use crate::pool::PooledConnection;

/// A transaction on a connection of its own. Run queries on it with
/// `query(..).fetch_all(&mut tx)`.
///
/// Dropped unfinished it rolls back and the connection returns to the pool. Dropped
/// during a panic, the connection is closed instead (no I/O while unwinding): the
/// server rolls back when the session ends.
pub struct Transaction {
    conn: Option<PooledConnection>,
    savepoints: u32,
}

impl Transaction {
    pub(crate) fn begin(mut conn: PooledConnection) -> Result<Transaction, Error> {
        conn.batch_execute("BEGIN")?;
        Ok(Transaction {
            conn: Some(conn),
            savepoints: 0,
        })
    }

    /// Commits.
    pub fn commit(mut self) -> Result<(), Error> {
        self.finish("COMMIT")
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
