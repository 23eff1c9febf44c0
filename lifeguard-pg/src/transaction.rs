//! Transactions and savepoints on an exclusive connection.

use std::ops::{Deref, DerefMut};

use crate::connection::Connection;
use crate::error::Error;
use crate::socket::Stream;

/// An open transaction (or, nested, a savepoint). Dereferences to the connection, so
/// every query method works on it.
///
/// Dropped without [`commit`](Self::commit), it rolls back: the whole transaction, or
/// only its savepoint when nested.
///
/// ```no_run
/// # fn demo(conn: &mut lifeguard_pg::Connection) -> Result<(), lifeguard_pg::Error> {
/// let mut tx = conn.transaction()?;
/// tx.execute("INSERT INTO t VALUES (1)", &[])?;
/// {
///     let mut sp = tx.transaction()?; // SAVEPOINT
///     sp.execute("INSERT INTO t VALUES (2)", &[])?;
/// } // dropped: ROLLBACK TO SAVEPOINT, row 2 is gone
/// tx.commit()?; // row 1 stays
/// # Ok(()) }
/// ```
pub struct Transaction<'a, S: Stream> {
    conn: &'a mut Connection<S>,
    savepoint: Option<String>,
    done: bool,
}

impl<S: Stream> Connection<S> {
    /// Starts a transaction (`BEGIN`).
    pub fn transaction(&mut self) -> Result<Transaction<'_, S>, Error> {
        self.batch_execute("BEGIN")?;
        self.transaction_depth = 1;
        Ok(Transaction {
            conn: self,
            savepoint: None,
            done: false,
        })
    }
}

impl<'a, S: Stream> Transaction<'a, S> {
    /// Starts a nested transaction: a savepoint inside this one.
    pub fn transaction(&mut self) -> Result<Transaction<'_, S>, Error> {
        let depth = self.conn.transaction_depth + 1;
        let name = format!("lifeguard_sp_{depth}");
        self.conn.batch_execute(&format!("SAVEPOINT {name}"))?;
        self.conn.transaction_depth = depth;
        Ok(Transaction {
            conn: &mut *self.conn,
            savepoint: Some(name),
            done: false,
        })
    }

    /// Commits (`COMMIT`, or `RELEASE SAVEPOINT` when nested). When an earlier
    /// statement's error left the transaction aborted, nothing can be saved: it rolls
    /// back and returns [`Error::RolledBack`] (PostgreSQL itself would answer the
    /// COMMIT with a silent `ROLLBACK`).
    pub fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        if self.savepoint.is_none()
            && self.conn.transaction_status() == crate::TransactionStatus::Failed
        {
            self.finish("ROLLBACK")?;
            return Err(Error::RolledBack { cause: None });
        }
        let sql = match &self.savepoint {
            Some(name) => format!("RELEASE SAVEPOINT {name}"),
            None => "COMMIT".to_owned(),
        };
        self.finish(&sql)
    }

    /// Rolls back (`ROLLBACK`, or `ROLLBACK TO SAVEPOINT` when nested).
    pub fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        self.finish(&self.rollback_sql())
    }

    fn rollback_sql(&self) -> String {
        match &self.savepoint {
            Some(name) => format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"),
            None => "ROLLBACK".to_owned(),
        }
    }

    fn finish(&mut self, sql: &str) -> Result<(), Error> {
        self.conn.transaction_depth -= 1;
        self.conn.batch_execute(sql)
    }
}

impl<S: Stream> Deref for Transaction<'_, S> {
    type Target = Connection<S>;

    fn deref(&self) -> &Connection<S> {
        self.conn
    }
}

impl<S: Stream> DerefMut for Transaction<'_, S> {
    fn deref_mut(&mut self) -> &mut Connection<S> {
        self.conn
    }
}

impl<S: Stream> Drop for Transaction<'_, S> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_closed() {
            let sql = self.rollback_sql();
            // A failed rollback leaves the connection broken (it fails fast from then on)
            // or in an aborted transaction; there is no caller to report it to.
            let _ = self.finish(&sql);
        }
    }
}
