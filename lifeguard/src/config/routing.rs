//! The settings of a pool with replicas: which servers, where reads go, and how fresh a
//! replica must be to take them (the `replicas`, `read_preference` and `replica_*` rows
//! of the table in the module docs).

use std::time::Duration;

use lifeguard_pg::Error;

use super::PoolConfig;

/// Default `replica_poll_interval`.
pub(super) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Default `replica_max_lag`.
pub(super) const DEFAULT_MAX_LAG: Duration = Duration::from_secs(1);
/// Default `replica_max_lag_bytes`: 16 MiB of WAL.
pub(super) const DEFAULT_MAX_LAG_BYTES: u64 = 16 << 20;

/// Where statements the compile-time check classed as reads go (the pool's
/// `read_preference`). Writes, transactions, sessions and SQL built at run time always
/// go to the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPreference {
    /// Every read on the primary.
    Primary,
    /// Reads on an eligible replica, on the primary when none is (the default).
    #[default]
    PreferReplica,
    /// Reads only on an eligible replica: with none, a read fails at once with
    /// [`Error::Unavailable`].
    ReplicaOnly,
}

impl ReadPreference {
    /// Reads `"primary"`, `"prefer_replica"` or `"replica_only"`.
    pub(super) fn parse(text: &str) -> Option<ReadPreference> {
        match text.trim() {
            "primary" => Some(ReadPreference::Primary),
            "prefer_replica" => Some(ReadPreference::PreferReplica),
            "replica_only" => Some(ReadPreference::ReplicaOnly),
            _ => None,
        }
    }
}

impl PoolConfig {
    /// Adds a replica: a streaming standby of the primary that takes reads while it is
    /// eligible (reachable, replaying, and within `replica_max_lag` and
    /// `replica_max_lag_bytes`).
    ///
    /// ```
    /// use lifeguard::{PoolConfig, ReadPreference};
    ///
    /// let config = PoolConfig::new("postgres://app@primary.example/orders")?
    ///     .replica("postgres://app@standby1.example/orders")?
    ///     .replica("postgres://app@standby2.example/orders")?
    ///     .read_preference(ReadPreference::PreferReplica);
    /// assert_eq!(config.servers().len(), 3);
    ///
    /// // libpq's multi-host form: every host is a server, the pool finds the primary.
    /// let config = PoolConfig::new("postgres://app@db1.example,db2.example/orders")?;
    /// assert_eq!(config.servers().len(), 2);
    /// # Ok::<(), lifeguard::Error>(())
    /// ```
    pub fn replica(mut self, url: &str) -> Result<PoolConfig, Error> {
        let servers = super::parse_servers(url).map_err(Error::Config)?;
        self.replicas.extend(servers.each);
        Ok(self)
    }

    /// Sets where reads go.
    pub fn read_preference(mut self, preference: ReadPreference) -> PoolConfig {
        self.read_preference = preference;
        self
    }

    /// Sets how often each server's monitor polls it (WAL positions, recovery and
    /// replay state).
    pub fn replica_poll_interval(mut self, interval: Duration) -> PoolConfig {
        self.replica_poll_interval = interval;
        self
    }

    /// Sets how far behind the primary (in time, while the primary writes) a replica
    /// may be and still take reads.
    pub fn replica_max_lag(mut self, lag: Duration) -> PoolConfig {
        self.replica_max_lag = lag;
        self
    }

    /// Sets how many bytes of WAL behind the primary a replica may be and still take
    /// reads.
    pub fn replica_max_lag_bytes(mut self, bytes: u64) -> PoolConfig {
        self.replica_max_lag_bytes = bytes;
        self
    }

    /// Every server, the one the URL names first: the URL's other hosts and the
    /// replicas follow. Each carries this configuration's `connect_timeout`.
    pub fn servers(&self) -> Vec<lifeguard_pg::Config> {
        let mut all = vec![self.pg.clone()];
        all.extend(self.url_hosts.iter().cloned());
        all.extend(self.replicas.iter().cloned());
        for server in &mut all {
            server.connect_timeout(self.connect_timeout);
        }
        all
    }

    /// Where reads go.
    pub fn get_read_preference(&self) -> ReadPreference {
        self.read_preference
    }

    /// How often each server's monitor polls it.
    pub fn get_replica_poll_interval(&self) -> Duration {
        self.replica_poll_interval
    }

    /// How far behind in time a replica may be and still take reads.
    pub fn get_replica_max_lag(&self) -> Duration {
        self.replica_max_lag
    }

    /// How many bytes of WAL behind a replica may be and still take reads.
    pub fn get_replica_max_lag_bytes(&self) -> u64 {
        self.replica_max_lag_bytes
    }
}
