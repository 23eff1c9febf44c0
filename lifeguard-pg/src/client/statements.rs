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
//! `prepared.rs` holds the protocol a request follows with this cache.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use postgres_types::Type;

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
