//! The protocol a request follows with the statement cache (`statements.rs`): look the
//! statement up, queue its Parse (after the Closes of what it evicted) in the same
//! critical section that queues the request, and undo both when the request is not sent
//! after all.

use std::sync::Arc;

use postgres_types::Type;

use super::pipeline::{Pipeline, State};
use super::statements::{CachedStatement, Lookup};
use crate::encode;
use crate::error::Error;

/// A statement made ready for one request: looked up in the cache and, when new,
/// its Parse queued (after a Close of the statement it evicted).
pub(super) struct Prepared {
    pub(super) entry: Arc<CachedStatement>,
    /// A Parse was queued for this request.
    pub(super) fresh: bool,
    evicted: Option<(u64, Arc<CachedStatement>)>,
}

impl Prepared {
    pub(super) fn in_state(
        shared: &Pipeline,
        state: &mut State,
        key: u64,
        sql: &str,
        types: &[Type],
    ) -> Result<Prepared, Error> {
        let prepared = match state.statements.lookup(key, sql, types) {
            Lookup::Hit(entry) => {
                return Ok(Prepared {
                    entry,
                    fresh: false,
                    evicted: None,
                });
            }
            Lookup::Fresh { entry, evicted } => Prepared {
                entry,
                fresh: true,
                evicted,
            },
            Lookup::Collision(entry) => Prepared {
                entry,
                fresh: true,
                evicted: None,
            },
        };
        let queued = super::refuse::check(shared, sql)
            .and_then(|()| prepared.queue_parse(state, sql, types));
        if let Err(e) = queued {
            prepared.undo(state, key);
            return Err(e);
        }
        Ok(prepared)
    }

    /// Appends the Parse of a statement new to the cache, preceded by a Close of its
    /// name (an earlier Parse under that name may have succeeded although its request
    /// failed, and closing a statement that does not exist is no error) and of the
    /// statement it evicted.
    fn queue_parse(&self, state: &mut State, sql: &str, types: &[Type]) -> Result<(), Error> {
        let name = &self.entry.name;
        let evicted = self.evicted.as_ref().map(|(_, e)| e.name.as_str());
        for close in [evicted, (!name.is_empty()).then_some(name.as_str())]
            .into_iter()
            .flatten()
        {
            encode::close_statement(close, &mut state.pending)?;
        }
        encode::parse(name, sql, types, &mut state.pending)
    }

    /// The request failed before it was queued (its bytes are dropped): the cache
    /// forgets the new entry and takes the evicted one back, still parsed on the server.
    pub(super) fn undo(&self, state: &mut State, key: u64) {
        if self.fresh {
            state.statements.forget(key, &self.entry);
        }
        if let Some((evicted_key, evicted)) = &self.evicted {
            state.statements.restore(*evicted_key, evicted.clone());
        }
    }
}
