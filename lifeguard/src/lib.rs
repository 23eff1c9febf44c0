//! Lifeguard: PostgreSQL access for services on the `may` coroutine runtime.
//!
//! - [`Pool`]: pipelined shared connections for autocommit statements, exclusive
//!   connections for transactions ([`Pool::begin`], [`Pool::transaction`]) and pinned
//!   sessions ([`Pool::acquire`]); fair bounded waiting; self-healing.
//! - [`query!`], [`query_as!`], [`query_scalar!`] and their `query_file*` forms: SQL
//!   checked at compile time (on `DATABASE_URL`, or offline against `.lifeguard/`),
//!   typed rows, a [`CheckedQuery`] with its [`StatementInfo`].
//! - [`Pool::listen`] → [`Listener`]: notifications on a connection of its own that
//!   reconnects and reports what may have been missed.
//! - [`Pool::verify_statements`]: every compiled statement against the live schema.
//! - [`query()`] / [`query_typed`] build a [`Query`] that runs on any [`Executor`];
//!   [`query_as()`] and [`FromRow`] decode rows of SQL built at run time.
//! - A primary and replicas: reads classed at compile time go to a fresh-enough
//!   replica (see [`Pool`]); [`Session`] gives read-your-writes, [`WalPosition`] carries
//!   it elsewhere; [`Pool::server_stats`] shows each server's lag and eligibility.
//! - [`PoolConfig`]: every setting, from code, a URL, TOML or the environment.
//! - [`pg`]: the coroutine-native client underneath.
//!
//! Modules (methods live beside the type they work on; no two modules import each
//! other, which `.ci/module-cycles.py` checks): `config` (settings), `pool` (the pool,
//! its servers, their shared and exclusive sides, monitors and routing), `route` (where a statement may run, WAL positions), `session`
//! (read-your-writes), `wait_queue` (FIFO waiting), `brief` (locks held for a
//! few instructions), `listener` (`LISTEN` on a connection of its own), `query` (query
//! values, the `Executor` trait), `macros` (the `query!` family's front), `checked`
//! (what they expand to), `from_row`, `transaction` ([`Pool::begin`],
//! [`Pool::transaction`] and [`Transaction`]), `verify` ([`Pool::verify_statements`]),
//! `stats`, and `__private` (what generated code uses).

mod brief;
mod checked;
pub mod config;
mod from_row;
mod listener;
mod macros;
mod pool;
mod query;
mod route;
mod session;
mod stats;
mod transaction;
mod verify;
mod wait_queue;

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

pub use checked::{CheckedQuery, StatementInfo};
pub use config::{PoolConfig, ReadPreference, SessionReset};
pub use from_row::{FromRow, QueryAs, query_as};
/// Derives [`FromRow`]: each field from the column of its name, or the one
/// `#[lifeguard(rename = "col")]` names.
pub use lifeguard_macros::FromRow;
/// What the compile-time check found about a statement (see [`StatementInfo`]).
pub use lifeguard_offline::description::{
    Alias, ColumnInfo, Description, Name, Nullability, PgType, StatementKind,
};
pub use lifeguard_pg as pg;
pub use lifeguard_pg::{Error, Row};
pub use listener::{ListenEvent, Listener};
pub use pool::{Pool, PooledConnection};
pub use query::{Executor, Query, query, query_typed};
pub use route::WalPosition;
pub use session::Session;
pub use stats::{Ineligible, PoolStats, Role, ServerStats};
pub use transaction::Transaction;
pub use verify::{Drift, VerifyReport, registered_statements};

/// The README's examples, compiled as doctests so that what it shows keeps working
/// (`cargo lifeguard prepare` scans them too).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
