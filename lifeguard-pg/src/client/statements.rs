//! The pipelined connection's statement cache: bounded, least recently used out.
//!
//! A statement's server-side name is derived from a hash of its SQL text and the
//! parameter types it was parsed with, so a request can be encoded before the cache is
//! consulted; only the decision "does a Parse go in front of this Bind" is taken under
//! the lock, in the same critical section that queues the bytes. A hit compares the
//! SQL text and the types too: two statements whose hashes collide never share a
//! server statement (the newcomer runs unnamed, parsed each time).
//!
//! At capacity (the bound and the map live in `lru.rs`, shared with the exclusive
//! connection), a new statement evicts the least recently used one, and the caller
//! queues a Close of it ahead of its own Parse. Requests queued earlier that use the
//! evicted statement are ahead of that Close on the wire, so they still find it; a
//! request after it finds the entry gone and parses again.
//!
//! [`Prepared`] is the protocol a request follows with the cache: look the statement
//! up, queue its Parse (after the Closes of what it evicted) in the same critical
//! section that queues the request, and undo both when the request is not sent after
//! all.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use postgres_types::Type;

use crate::encode;
use crate::error::Error;
use crate::lru::Lru;
use crate::statement::{Column, Statement};

/// What the connection knows about one statement.
pub(crate) struct CachedStatement {
    pub(crate) name: String,
    sql: Box<str>,
    /// The types the statement was parsed with (empty: all inferred by the server).
    parsed_with: Box<[Type]>,
    /// Parameter types: given by the caller or described by the server.
    pub(crate) params: OnceLock<Vec<Type>>,
    /// Result columns, once a response described them.
    pub(crate) columns: OnceLock<Arc<[Column]>>,
}

impl CachedStatement {
    fn new(name: String, sql: &str, types: &[Type]) -> CachedStatement {
        CachedStatement {
            name,
            sql: sql.into(),
            parsed_with: types.into(),
            params: OnceLock::new(),
            columns: OnceLock::new(),
        }
    }

    fn is_for(&self, sql: &str, types: &[Type]) -> bool {
        &*self.sql == sql && &*self.parsed_with == types
    }

    /// The entry as a [`Statement`], once both halves are known.
    pub(crate) fn statement(&self) -> Option<Statement> {
        let params = self.params.get()?;
        let columns = self.columns.get()?;
        Some(Statement::new(
            self.name.clone(),
            &self.sql,
            &self.parsed_with,
            params.clone(),
            columns.to_vec(),
        ))
    }
}

/// The outcome of a lookup.
pub(crate) enum Lookup {
    /// Parsed on this connection already (or its Parse is queued).
    Hit(Arc<CachedStatement>),
    /// New: the caller queues its Parse, after a Close of `evicted` when there is one.
    Fresh {
        entry: Arc<CachedStatement>,
        /// The statement taken out to make room, and its key.
        evicted: Option<(u64, Arc<CachedStatement>)>,
    },
    /// Its hash is taken by another statement: it runs unnamed, parsed every time.
    Collision(Arc<CachedStatement>),
}

/// The statements parsed on one connection, at most `capacity` of them.
pub(crate) struct Cache {
    lru: Lru<u64, Arc<CachedStatement>>,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Cache {
        Cache {
            lru: Lru::new(capacity),
        }
    }

    /// The entry for `sql` parsed with `types` (cache key `key`), created if absent.
    pub(crate) fn lookup(&mut self, key: u64, sql: &str, types: &[Type]) -> Lookup {
        if let Some(entry) = self.lru.get(&key) {
            if !entry.is_for(sql, types) {
                return Lookup::Collision(Arc::new(CachedStatement::new(
                    String::new(),
                    sql,
                    types,
                )));
            }
            return Lookup::Hit(entry.clone());
        }
        if self.lru.capacity() == 0 {
            return Lookup::Collision(Arc::new(CachedStatement::new(String::new(), sql, types)));
        }
        let entry = Arc::new(CachedStatement::new(format!("lgp_{key:016x}"), sql, types));
        let evicted = self.lru.insert(key, entry.clone());
        Lookup::Fresh { entry, evicted }
    }

    /// Whether `sql` parsed with `types` is cached and its columns are known: a request
    /// for it is Bind and Execute only.
    pub(crate) fn is_ready(&self, key: u64, sql: &str, types: &[Type]) -> bool {
        self.lru
            .peek(&key)
            .is_some_and(|e| e.is_for(sql, types) && e.columns.get().is_some())
    }

    /// Removes `entry` (when it is still the one cached under `key`): its Parse failed
    /// or the server lost it.
    pub(crate) fn forget(&mut self, key: u64, entry: &Arc<CachedStatement>) {
        if self.lru.peek(&key).is_some_and(|c| Arc::ptr_eq(c, entry)) {
            self.lru.remove(&key);
        }
    }

    /// Puts back an entry evicted for a request that was then not sent.
    pub(crate) fn restore(&mut self, key: u64, entry: Arc<CachedStatement>) {
        self.lru.restore(key, entry);
    }

    /// Changes the capacity; returns the entries beyond it, for the caller to close.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Vec<Arc<CachedStatement>> {
        self.lru
            .set_capacity(capacity)
            .into_iter()
            .map(|(_, entry)| entry)
            .collect()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// Statements cached now.
    pub(crate) fn len(&self) -> usize {
        self.lru.len()
    }
}

/// A statement made ready for one request: looked up in the cache and, when new,
/// its Parse queued (after a Close of the statement it evicted).
pub(super) struct Prepared {
    pub(super) entry: Arc<CachedStatement>,
    /// A Parse was queued for this request.
    pub(super) fresh: bool,
    evicted: Option<(u64, Arc<CachedStatement>)>,
}

impl Prepared {
    /// Looks `sql` parsed with `types` up in `cache`; a statement new to it is first
    /// passed to `admit` (which may refuse it), then its Parse is appended to `pending`.
    pub(super) fn new(
        cache: &mut Cache,
        pending: &mut BytesMut,
        key: u64,
        sql: &str,
        types: &[Type],
        admit: impl FnOnce(&str) -> Result<(), Error>,
    ) -> Result<Prepared, Error> {
        let prepared = match cache.lookup(key, sql, types) {
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
        let queued = admit(sql).and_then(|()| prepared.queue_parse(pending, sql, types));
        if let Err(e) = queued {
            prepared.undo(cache, key);
            return Err(e);
        }
        Ok(prepared)
    }

    /// Appends the Parse of a statement new to the cache, preceded by a Close of its
    /// name (an earlier Parse under that name may have succeeded although its request
    /// failed, and closing a statement that does not exist is no error) and of the
    /// statement it evicted.
    fn queue_parse(&self, pending: &mut BytesMut, sql: &str, types: &[Type]) -> Result<(), Error> {
        let name = &self.entry.name;
        let evicted = self.evicted.as_ref().map(|(_, e)| e.name.as_str());
        for close in [evicted, (!name.is_empty()).then_some(name.as_str())]
            .into_iter()
            .flatten()
        {
            encode::close_statement(close, pending)?;
        }
        encode::parse(name, sql, types, pending)
    }

    /// The request failed before it was queued (its bytes are dropped): the cache
    /// forgets the new entry and takes the evicted one back, still parsed on the server.
    pub(super) fn undo(&self, cache: &mut Cache, key: u64) {
        if self.fresh {
            cache.forget(key, &self.entry);
        }
        if let Some((evicted_key, evicted)) = &self.evicted {
            cache.restore(*evicted_key, evicted.clone());
        }
    }
}

/// The cache key of a statement: its SQL and the parameter types it is parsed with.
pub(crate) fn key(sql: &str, types: &[Type]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sql.hash(&mut hasher);
    for t in types {
        t.oid().hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(lookup: Lookup) -> (Arc<CachedStatement>, Option<(u64, Arc<CachedStatement>)>) {
        match lookup {
            Lookup::Fresh { entry, evicted } => (entry, evicted),
            _ => panic!("expected a fresh entry"),
        }
    }

    #[test]
    fn the_least_recently_used_statement_is_evicted_at_capacity() {
        let mut cache = Cache::new(2);
        let (a, _) = fresh(cache.lookup(1, "a", &[]));
        fresh(cache.lookup(2, "b", &[]));
        assert!(matches!(cache.lookup(1, "a", &[]), Lookup::Hit(_)));
        let (_, evicted) = fresh(cache.lookup(3, "c", &[]));
        let (key, evicted) = evicted.unwrap();
        assert_eq!((key, evicted.sql.as_ref()), (2, "b"));
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.lookup(1, "a", &[]), Lookup::Hit(e) if Arc::ptr_eq(&e, &a)));
    }

    #[test]
    fn a_hash_collision_never_runs_the_other_statement() {
        let mut cache = Cache::new(10);
        fresh(cache.lookup(7, "SELECT 1", &[]));
        match cache.lookup(7, "SELECT 2", &[]) {
            Lookup::Collision(entry) => {
                assert_eq!(entry.name, "");
                assert_eq!(entry.sql.as_ref(), "SELECT 2");
            }
            _ => panic!("a colliding statement must not hit"),
        }
        match cache.lookup(7, "SELECT 1", &[Type::INT4]) {
            Lookup::Collision(_) => {}
            _ => panic!("other parameter types are another statement"),
        }
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let mut cache = Cache::new(0);
        assert!(matches!(cache.lookup(1, "a", &[]), Lookup::Collision(_)));
        assert_eq!(cache.len(), 0);
    }
}
