//! The service's PostgreSQL and what it holds before the first request: the server in
//! `DATABASE_URL` or, when that is unset, a private cluster (lifeguard-harness) that
//! lives as long as the service; then `queries/schema.sql` (the tables) and
//! `queries/techempower.sql` (10,000 `world` rows, the 12 fortunes), both idempotent;
//! then every statement compiled into the binary checked against the live schema.

use lifeguard::{Pool, PoolConfig};
use lifeguard_harness::Cluster;

type BoxError = Box<dyn std::error::Error>;

/// The tables of every `query!` in the repository, `world` and `fortune` among them.
const SCHEMA: &str = include_str!("../../../queries/schema.sql");
/// The benchmark's rows.
const DATA: &str = include_str!("../../../queries/techempower.sql");

/// Where the server is; a private cluster stops (its files removed) when this drops.
pub struct Database {
    url: String,
    cluster: Option<Cluster>,
}

impl Database {
    /// `DATABASE_URL`, or a private cluster started now.
    pub fn open() -> Result<Database, BoxError> {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.trim().is_empty()
        {
            return Ok(Database { url, cluster: None });
        }
        eprintln!("DATABASE_URL is unset: starting a private PostgreSQL");
        let cluster = Cluster::start()?;
        Ok(Database {
            url: cluster.url(),
            cluster: Some(cluster),
        })
    }

    /// The private cluster's URL (no password in it), or `None` for `DATABASE_URL`'s.
    pub fn private_url(&self) -> Option<&str> {
        self.cluster.as_ref().map(|_| self.url.as_str())
    }

    /// The pool's settings: one Sync per statement (`share_sync(false)`, as the
    /// benchmark's rules require), then whatever the `LIFEGUARD_*` variables say
    /// (`LIFEGUARD_SHARE_SYNC=true` lets reads share a Sync).
    pub fn pool_config(&self) -> Result<PoolConfig, lifeguard::Error> {
        PoolConfig::new(&self.url)?.share_sync(false).apply_env()
    }
}

/// Applies the schema and the rows, then checks every compiled statement against the
/// live schema; an error says what drifted.
pub fn prepare(pool: &Pool) -> Result<(), BoxError> {
    let mut session = pool.acquire()?;
    session.batch_execute(SCHEMA)?;
    session.batch_execute(DATA)?;
    drop(session);
    let report = pool.verify_statements()?;
    if !report.is_ok() {
        return Err(report.to_string().into());
    }
    Ok(())
}
