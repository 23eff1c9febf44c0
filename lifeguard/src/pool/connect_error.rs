//! The last connect failure of one side of the pool, kept until a connect succeeds,
//! so that a caller who timed out waiting learns why no connection came (sqlx's
//! `PoolTimedOut` hides it; here it is [`Error::Unavailable`]'s `cause`).

use std::sync::Arc;

use lifeguard_pg::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The last connect error since the last successful connect.
#[derive(Default)]
pub(crate) struct ConnectError {
    last: Mutex<Option<Arc<Error>>>,
    /// `last` holds an error: read without the lock by every call that asks.
    failing: AtomicBool,
    /// Failed connects, ever.
    pub(crate) count: AtomicU64,
}

impl ConnectError {
    /// Records a failed connect (a copy of its error: the caller keeps the original).
    pub(crate) fn failed(&self, error: &Error) -> Arc<Error> {
        let error = Arc::new(copy_of(error));
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut last = self.lock();
        *last = Some(error.clone());
        self.failing.store(true, Ordering::SeqCst);
        error
    }

    /// Records a successful connect: earlier failures no longer explain anything.
    pub(crate) fn succeeded(&self) {
        if self.failing.load(Ordering::SeqCst) {
            let mut last = self.lock();
            *last = None;
            self.failing.store(false, Ordering::SeqCst);
        }
    }

    /// The last connect error, while connecting keeps failing.
    pub(crate) fn failing(&self) -> Option<Arc<Error>> {
        if !self.failing.load(Ordering::SeqCst) {
            return None;
        }
        self.lock().clone()
    }

    /// The error an acquire that timed out reports: [`Error::Unavailable`] with the
    /// last connect error when connecting has been failing, a plain acquire timeout
    /// when the capacity was simply in use.
    pub(crate) fn acquire_timeout(&self) -> Error {
        match self.failing() {
            Some(cause) => Error::Unavailable { cause },
            None => Error::Timeout(lifeguard_pg::Timeout::Acquire),
        }
    }

    /// The flag and the value change together under it; readers check the flag
    /// first, so only a failing pool's callers take it (briefly: see `brief.rs`).
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Error>>> {
        crate::brief::lock(&self.last)
    }
}

/// A copy of a connect error for reporting: the same variant and text (an I/O error
/// keeps its kind and message; a variant a connect does not produce keeps its text).
fn copy_of(error: &Error) -> Error {
    match error {
        Error::Db(db) => Error::Db(db.clone()),
        Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
        Error::Timeout(t) => Error::Timeout(*t),
        Error::Authentication(what) => Error::Authentication(what.clone()),
        Error::Tls(what) => Error::Tls(what.clone()),
        Error::Config(what) => Error::Config(what.clone()),
        Error::Protocol(what) => Error::Protocol(what.clone()),
        Error::Closed { reason } => Error::Closed {
            reason: reason.clone(),
        },
        Error::Unavailable { cause } => Error::Unavailable {
            cause: cause.clone(),
        },
        other => Error::Closed {
            reason: other.to_string(),
        },
    }
}
