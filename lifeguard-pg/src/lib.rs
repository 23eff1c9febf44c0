//! Lifeguard's PostgreSQL client, native to the `may` coroutine runtime.
//!
//! Two ways to talk to the server:
//!
//! - [`Connection`]: exclusive and blocking-style (`&mut self`), generic over any
//!   [`Stream`]. Over a may socket it parks only its coroutine; over a std socket it
//!   serves plain threads such as the compile-time describe path. Prepared-statement
//!   cache, transactions with savepoints, COPY, LISTEN/NOTIFY, notices, cancel, and
//!   bounds on every wait: the connect timeout covers the whole handshake, a hard
//!   request timeout ([`DEFAULT_REQUEST_TIMEOUT`], 30 s) every call, an optional
//!   statement timeout cancels on the server. A dead, frozen or malicious server
//!   cannot hang a caller, nor make the connection keep more than the newest 10,000
//!   notices and 100,000 notifications.
//! - [`Client`]: pipelined and shared (`Clone`). Many coroutines send requests over one
//!   connection; one I/O coroutine per connection writes them and hands each response
//!   to its caller. When the socket fails, every waiting caller gets an error at once.
//!
//! Map of the modules, from the socket up:
//!
//! | module | holds |
//! |---|---|
//! | `config` | [`Config`]: URLs, `key=value` strings, `PG*` variables (one parameter table, `config/params.rs`) |
//! | `socket` | [`Stream`], [`Socket`]: TCP/Unix, std/may, connect timeout, DNS off the worker, TCP keepalive and `TCP_USER_TIMEOUT` |
//! | `deadline` | [`may_timeout`]: deadlines as timeouts may cannot misread as "forever" |
//! | `codec` | framing of backend messages, with length checks |
//! | `tls` | TLS the libpq way: the SSLRequest, every `sslmode`, root and client certificates, the channel-binding hash ([`TlsStream`]) |
//! | `startup` | the handshake and authentication (trust, password, MD5, SCRAM, SCRAM-SHA-256-PLUS) |
//! | `wire` | the exclusive connection's buffered socket, the deadline every read and write honours, asynchronous messages |
//! | `backlog` | the caps on kept notices and notifications (shared by both clients) |
//! | `encode` | Parse/Bind/Describe/Execute/Sync for one request |
//! | `response` | reading one response to its ReadyForQuery (shared by both clients) |
//! | `lru` | the bounded statement cache both connection kinds keep ([`DEFAULT_STATEMENT_CACHE_CAPACITY`]) |
//! | `connection` | [`Connection`] |
//! | `timeout` | the exclusive connection's request timeout and statement timeout (cancel, grace) |
//! | `transaction`, `copy` | [`Transaction`], [`CopyIn`], [`CopyOut`] |
//! | `client` | [`Client`], the pipelined connection and its I/O coroutine |
//! | `statement` | [`Statement`], and [`ToStatement`]: what both connection kinds run |
//! | `row`, `notify`, `cancel`, `error` | the values the calls return |
//! | `interval` | [`Interval`], the one common type `postgres-types` does not map |

mod backlog;
mod cancel;
mod client;
pub mod codec;
mod config;
mod connection;
mod copy;
mod deadline;
mod encode;
mod error;
mod interval;
mod lru;
mod notify;
mod response;
mod row;
mod socket;
mod startup;
mod statement;
mod timeout;
mod tls;
mod transaction;
mod wire;

pub use cancel::CancelToken;
pub use client::{Client, ClientStats, DEFAULT_MAX_RESPONSE_BYTES, Notifications};
pub use config::{ChannelBinding, Config, Host, SslMode};
pub use connection::{Connection, DescribedThen, TransactionStatus};
pub use copy::{CopyIn, CopyOut};
pub use deadline::{DEFAULT_REQUEST_TIMEOUT, may_timeout, may_timeout_until};
pub use encode::Param;
pub use error::{BoxError, DbError, Error, Timeout};
pub use interval::Interval;
pub use lru::DEFAULT_STATEMENT_CACHE_CAPACITY;
pub use notify::Notification;
pub use row::{
    Row, RowIndex, SimpleIndex, SimpleQueryMessage, SimpleRow, at_most_one, collect, exactly_one,
};
pub use socket::{Runtime, Socket, Stream};
pub use statement::{Column, Statement, StatementRef, ToStatement};
pub use tls::TlsStream;
pub use transaction::Transaction;

/// The PostgreSQL type system: `Type`, and the `ToSql`/`FromSql` conversions.
pub use postgres_types as types;
