//! Lifeguard: PostgreSQL access for services on the `may` coroutine runtime.
//!
//! - [`Pool`]: pipelined shared connections for autocommit statements, exclusive
//!   connections for transactions ([`Pool::begin`], [`Pool::transaction`]) and pinned
//!   sessions ([`Pool::acquire`]); fair bounded waiting; self-healing.
//! - [`query`] / [`query_typed`] build a [`Query`] that runs on any [`Executor`].
//! - [`PoolConfig`]: every setting, from code, a URL, TOML or the environment.
//! - [`pg`]: the coroutine-native client underneath.
//!
//! Modules: `config` (settings), `pool` (the pool, its shared and exclusive sides),
//! `fair` (FIFO waiting), `query` (query values, `Executor`), `transaction`, `stats`.

pub mod config;
mod fair;
mod pool;
mod query;
mod stats;
mod transaction;

pub use config::PoolConfig;
pub use lifeguard_pg as pg;
pub use lifeguard_pg::{Error, Row};
pub use pool::{Pool, PooledConnection};
pub use query::{Executor, Query, query, query_typed};
pub use stats::PoolStats;
pub use transaction::Transaction;
