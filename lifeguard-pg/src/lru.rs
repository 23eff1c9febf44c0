//! The bounded, least-recently-used map both statement caches keep (the exclusive
//! [`Connection`](crate::Connection)'s and the pipelined [`Client`](crate::Client)'s),
//! and the bound they share by default.
//!
//! Each entry carries the tick of its last use; a miss at capacity scans for the
//! oldest. The scan is linear but runs only on a miss at capacity, over a few hundred
//! entries, and costs far less than the round trip that prepares the newcomer.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// How many prepared statements a connection keeps unless told otherwise.
///
/// A service's own statements (its `query!` calls) number in the tens or hundreds and
/// fit; SQL built at run time with values spliced into its text, which would never be
/// reused, cannot fill a session with thousands of statements. Each prepared statement
/// holds its parse tree and plan cache in the backend (several KiB), so 256 of them on
/// each of a pool's connections stay a small part of a backend's memory.
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 256;

/// At most `capacity` entries; inserting past it takes out the least recently used.
pub(crate) struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    clock: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            map: HashMap::new(),
            clock: 0,
            capacity,
        }
    }

    /// The entry under `key`, marked as just used.
    pub(crate) fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.clock += 1;
        let (value, used) = self.map.get_mut(key)?;
        *used = self.clock;
        Some(value)
    }

    /// The entry under `key`, without marking it used.
    pub(crate) fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key).map(|(value, _)| value)
    }

    /// Inserts `value` as just used. Returns what made room: the least recently used
    /// entry when the map was full, or the newcomer itself when the capacity is zero.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        if self.capacity == 0 {
            return Some((key, value));
        }
        let evicted = if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            self.evict_oldest()
        } else {
            None
        };
        self.clock += 1;
        self.map.insert(key, (value, self.clock));
        evicted
    }

    /// Puts back an entry taken out earlier, unless the key is taken again; it may
    /// leave the map one over capacity until the next insert.
    pub(crate) fn restore(&mut self, key: K, value: V) {
        self.map.entry(key).or_insert((value, self.clock));
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key).map(|(value, _)| value)
    }

    /// Changes the capacity and takes out the entries beyond it, oldest first.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Vec<(K, V)> {
        self.capacity = capacity;
        let mut evicted = Vec::new();
        while self.map.len() > capacity {
            match self.evict_oldest() {
                Some(entry) => evicted.push(entry),
                None => break,
            }
        }
        evicted
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn evict_oldest(&mut self) -> Option<(K, V)> {
        let key = self
            .map
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(key, _)| key.clone())?;
        self.map.remove(&key).map(|(value, _)| (key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut lru = Lru::new(2);
        assert!(lru.insert("a", 1).is_none());
        assert!(lru.insert("b", 2).is_none());
        assert_eq!(lru.get("a"), Some(&1));
        assert_eq!(lru.insert("c", 3), Some(("b", 2)));
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.peek("a"), Some(&1));
        assert_eq!(lru.insert("a", 4), None, "replacing a key evicts nothing");
        assert_eq!(lru.set_capacity(1), vec![("c", 3)]);
        assert_eq!(lru.remove("a"), Some(4));
        assert_eq!(lru.len(), 0);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut lru = Lru::new(0);
        assert_eq!(lru.insert("a", 1), Some(("a", 1)));
        assert_eq!(lru.len(), 0);
    }
}
