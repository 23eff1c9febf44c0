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
//! - Observability: with feature `metrics`, [`Pool::register_metrics`] and the
//!   [`metrics`] module (Prometheus series, `GET /metrics`); with feature `tracing`, a
//!   span per query (named after its [`Summary`]), per acquire and per transaction,
//!   following OpenTelemetry's database conventions (target `lifeguard`).
//!
//! Modules (methods live beside the type they work on; no two modules import each
//! other, which `.ci/module-cycles.py` checks): `config` (settings), `pool` (the pool,
//! its servers, their shared and exclusive sides, monitors and routing), `route` (where a statement may run, WAL positions), `session`
//! (read-your-writes), `wait_queue` (FIFO waiting), `brief` (locks held for a
//! few instructions), `listener` (`LISTEN` on a connection of its own), `query` (query
//! values, the `Executor` trait), `macros` (the `query!` family's front), `checked`
//! (what they expand to), `from_row`, `transaction` ([`Pool::begin`],
//! [`Pool::transaction`] and [`Transaction`]), `verify` ([`Pool::verify_statements`]),
//! `stats`, `summary` (a statement's operation and tables), `labels` (the bounded
//! values metrics and spans share), `observe` (what the pool calls to be observed),
//! `metrics` and `spans` (what it feeds), and `__private` (what generated code uses).

mod brief;
mod checked;
pub mod config;
mod from_row;
// Each feature reads some of the label values; without both, some go unread.
#[cfg_attr(
    not(all(feature = "metrics", feature = "tracing")),
    allow(dead_code, reason = "each of metrics and tracing reads a part")
)]
mod labels;
mod listener;
mod macros;
#[cfg(feature = "metrics")]
pub mod metrics;
mod observe;
mod pool;
mod query;
mod route;
mod session;
#[cfg(feature = "tracing")]
mod spans;
mod stats;
mod summary;
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
pub use summary::Summary;
pub use transaction::Transaction;
pub use verify::{Drift, VerifyReport, registered_statements};

/// The README's examples, compiled as doctests so that what it shows keeps working
/// (`cargo lifeguard prepare` scans them too).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
