//! The pipelined connection's statement cache.
//!
//! A statement's server-side name is derived from a hash of its SQL text and explicit
//! parameter types, so a request can be encoded before the cache is consulted; only
//! the decision "does a Parse go in front of this Bind" is taken under the lock, in
//! the same critical section that queues the bytes.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use postgres_types::Type;

use crate::statement::{Column, Statement};

/// What the connection knows about one statement.
pub(crate) struct Entry {
    pub(crate) name: String,
    /// Parameter types: given by the caller or described by the server.
    pub(crate) params: OnceLock<Vec<Type>>,
    /// Result columns, once a response described them.
    pub(crate) columns: OnceLock<Arc<[Column]>>,
}

impl Entry {
    pub(crate) fn new(key: u64) -> Entry {
        Entry {
            name: format!("lgp_{key:016x}"),
            params: OnceLock::new(),
            columns: OnceLock::new(),
        }
    }

    /// The entry as a [`Statement`], once both halves are known.
    pub(crate) fn statement(&self) -> Option<Statement> {
        let params = self.params.get()?;
        let columns = self.columns.get()?;
        Some(Statement::new(
            self.name.clone(),
            params.clone(),
            columns.to_vec(),
        ))
    }
}

/// The cache key of a statement: its SQL and the parameter types the caller fixed.
pub(crate) fn key(sql: &str, types: &[Type]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sql.hash(&mut hasher);
    for t in types {
        t.oid().hash(&mut hasher);
    }
    hasher.finish()
}
