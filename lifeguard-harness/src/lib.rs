//! Throwaway PostgreSQL clusters (and streaming standbys) for Lifeguard's tests, examples
//! and benchmarks, started from the local PostgreSQL installation.
//!
//! # Map
//!
//! - [`test_server`] → [`TestServer`]: the server a test process shares — `DATABASE_URL`
//!   if set, else one private cluster; [`TestServer::fresh_database`] gives each test its
//!   own database.
//! - [`Cluster::start`] / [`Cluster::builder`] → [`Cluster`]: a private server on a free
//!   port of 127.0.0.1 and a private Unix socket. Its URL ([`Cluster::url`],
//!   [`Cluster::url_for`]), admin SQL through `psql` ([`Cluster::psql`],
//!   [`Cluster::create_database`], [`Cluster::create_role_with`], [`Cluster::set_auth`]
//!   with an [`AuthMethod`]), faults ([`Cluster::stop`] with a [`StopMode`],
//!   [`Cluster::start_again`], [`Cluster::restart`], [`Cluster::kill`],
//!   [`Cluster::terminate_backends`], [`Cluster::freeze`] / [`Cluster::thaw`]: a server
//!   that accepts TCP connects but answers nothing).
//! - [`ClusterBuilder::tls`] → a server that speaks TLS, with [`Certificates`] generated
//!   in the process ([`Cluster::tls`]: a test CA, server and client certificates, an
//!   unrelated CA); [`Cluster::set_auth_over`] with a [`Transport`] requires TLS
//!   (`hostssl`) or refuses it (`hostnossl`) per user, and [`AuthMethod::Cert`] logs a
//!   user in by client certificate. [`TLS_ENV`] set to `1` turns TLS on for every
//!   cluster and every URL, so a whole suite runs over TLS.
//! - [`Cluster::start_standby`] → a streaming hot standby, with
//!   [`Cluster::pause_replay`], [`Cluster::resume_replay`],
//!   [`Cluster::wait_for_replay`] and the WAL positions.
//! - [`SilentListener`]: a port that accepts connections and never answers;
//!   [`RefusingPort`]: a port that refuses them. Each has a `url()` for a client.
//! - [`psql`]: run SQL against any URL; [`wait_until`]: poll with a deadline.
//! - [`PgBinaries`]: where the server programs are; [`HarnessError`]: every failure,
//!   with the command, its exit status and its stderr.
//!
//! ```no_run
//! use lifeguard_harness::{Cluster, StopMode};
//!
//! let cluster = Cluster::start()?;
//! cluster.create_database("app")?;
//! cluster.psql("app", "create table t (id int primary key)")?;
//! cluster.kill()?;
//! cluster.start_again()?;
//! assert_eq!(cluster.psql("app", "select count(*) from t")?, "0");
//! # Ok::<(), lifeguard_harness::HarnessError>(())
//! ```
//!
//! # How a cluster is made
//!
//! `initdb` runs once per process into a template directory; each cluster starts from a
//! `cp -a` of it, with `fsync`, `synchronous_commit` and `full_page_writes` off. The
//! directories go to `/dev/shm` (memory) when it exists, else to the system temporary
//! directory; [`TMPDIR_ENV`] (`LIFEGUARD_HARNESS_TMPDIR`) overrides that. Start-up
//! is awaited by polling `postmaster.pid` (what `pg_ctl -w` does) with a deadline. As
//! root, the files belong to and the server runs as the `postgres` OS user.
//!
//! # Cleanup
//!
//! Every temporary directory has a guard: a small `sh` process that is the server's
//! parent and reads a pipe whose write end only this process holds. When the pipe closes
//! — the [`Cluster`] is dropped (also during a panic), an `atexit` hook runs at normal
//! exit for clusters never dropped (such as the [`test_server`] one), or the kernel
//! closes it because the process died (even by SIGKILL) — the guard stops the server
//! with an immediate shutdown, reaps it, and deletes the directory. No server process
//! or directory outlives the test process.

#![warn(missing_docs)]

mod admin;
mod binaries;
mod cluster;
mod endpoints;
mod error;
mod guard;
mod hba;
mod process;
mod server;
mod shared;
mod standby;
mod template;
mod tls;
mod url;
mod wait;

pub use admin::psql;
pub use binaries::{BINDIR_ENV, PgBinaries};
pub use cluster::{Cluster, ClusterBuilder, DEFAULT_START_TIMEOUT, TLS_ENV};
pub use endpoints::{RefusingPort, SilentListener};
pub use error::{HarnessError, Result};
pub use guard::TMPDIR_ENV;
pub use hba::{AuthMethod, Transport};
pub use server::StopMode;
pub use shared::{DATABASE_URL_ENV, TestServer, test_server, try_test_server};
pub use tls::Certificates;
pub use wait::wait_until;
