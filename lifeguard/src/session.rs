//! Read-your-writes on a pool with replicas: a [`Session`] remembers the WAL position
//! of its last write or commit, and its reads go only to replicas that have replayed
//! past it (otherwise to the primary). Exact, never by waiting: a replica's replayed
//! position comes from its monitor's last poll, and replay only moves forward.
//!
//! The position is read in the same pipeline as the write (`pg_current_wal_insert_lsn()`
//! queued right behind it), or in the same round trip as a `COMMIT`, so it costs no
//! extra round trip. [`WalPosition`] carries it across services or into a background
//! job as text (`16/B374D848`, PostgreSQL's `pg_lsn` form).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lifeguard_pg::{Error, Row};

use crate::pool::Pool;
use crate::query::{Executor, Query};
use crate::route::WalPosition;
use crate::transaction::Transaction;

/// A unit of work (one user request, say) whose reads see its own writes, even on a
/// replica. Cheap to create and to clone; clones share the position.
///
/// Run queries on `&session` as on `&pool`. Its writes, and the commits of its
/// transactions ([`Session::begin`], [`Session::transaction`]), move its position;
/// its reads go to replicas that have replayed it, else to the primary.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// let session = pool.session();
/// lifeguard::query!("UPDATE users SET name = $2 WHERE id = $1", 7i32, "Ada")
///     .execute(&session)?;
/// // Sees the new name: on a replica that has replayed the update, or the primary.
/// let user = lifeguard::query!("SELECT name FROM users WHERE id = $1", 7i32)
///     .fetch_one(&session)?;
/// assert_eq!(user.name, "Ada");
///
/// // Hand the position to a background job; its reads see the update too.
/// let token = session.position().to_string();
/// let job_session = pool.session_after(token.parse()?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    pool: Pool,
    position: Arc<AtomicU64>,
}

impl Pool {
    /// A new [`Session`], with no write yet.
    pub fn session(&self) -> Session {
        self.session_after(WalPosition::default())
    }

    /// A [`Session`] whose reads see everything up to `position` (a position another
    /// session handed over).
    pub fn session_after(&self, position: WalPosition) -> Session {
        Session {
            pool: self.clone(),
            position: Arc::new(AtomicU64::new(position.as_u64())),
        }
    }
}

impl Session {
    /// The position of its last write or commit: what its reads wait for.
    pub fn position(&self) -> WalPosition {
        WalPosition::from(self.position.load(Ordering::SeqCst))
    }

    /// Moves its position to `position` if that is further (a write made elsewhere
    /// that its reads must see).
    pub fn observe(&self, position: WalPosition) {
        self.position.fetch_max(position.as_u64(), Ordering::SeqCst);
    }

    /// The pool it runs on.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Starts a transaction on the primary whose commit moves this session's position.
    pub fn begin(&self) -> Result<Transaction, Error> {
        let mut tx = self.pool.begin()?;
        tx.record_commit_into(self.position.clone());
        Ok(tx)
    }

    /// Runs `f` in a transaction ([`Pool::transaction`]) whose commit moves this
    /// session's position.
    pub fn transaction<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        Transaction::run_in(self.begin()?, f)
    }
}

impl Executor for &Session {
    fn run(
        self,
        query: &Query<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        self.pool.run_routed(query, Some(&self.position), on_row)
    }
}
