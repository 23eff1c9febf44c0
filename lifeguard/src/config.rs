//! The pool's configuration, [`PoolConfig`]: every setting, where it can come from,
//! its default and what it means.
//!
//! This table is the one reference for the settings. Each one can be given in code
//! (the builder method of the same name on [`PoolConfig`]), in the `[database]` table
//! of a TOML file ([`PoolConfig::from_toml_file`], [`PoolConfig::from_toml_str`]) or
//! in an environment variable ([`PoolConfig::from_env`], [`PoolConfig::apply_env`]).
//!
//! | TOML key (`[database]`) | environment variable | default | meaning |
//! |---|---|---|---|
//! | `url` | `DATABASE_URL` | none: required | The server and how to log in: a `postgres://` URL or a libpq `key=value` string, read by [`lifeguard_pg::Config::parse`]. |
//! | `connections` | `LIFEGUARD_CONNECTIONS` | the number of `may` workers, [`may::config()`]`.get_workers()`, read when the pool asks | Pipelined connections: shared by every coroutine, each carrying many requests at once. At least 1. |
//! | `max_exclusive` | `LIFEGUARD_MAX_EXCLUSIVE` | `16` | The most exclusive connections open at once, for transactions and pinned sessions. `0` forbids them. |
//! | `max_in_flight` | `LIFEGUARD_MAX_IN_FLIGHT` | `128` | The most requests queued or in flight on one pipelined connection. At least 1. |
//! | `max_response_bytes` | `LIFEGUARD_MAX_RESPONSE_BYTES` | `268435456` (256 MiB) | The largest response a pipelined connection buffers for one statement; a larger one fails with `Error::Unsupported` (the connection goes on serving the others). Stream big results with `for_each` on `pool.acquire()`. At least 1. |
//! | `statement_cache_capacity` | `LIFEGUARD_STATEMENT_CACHE_CAPACITY` | `256` | The most statements kept prepared on the server per connection, pipelined and exclusive alike; past it the least recently used one is closed. `0` prepares nothing for good. |
//! | `share_sync` | `LIFEGUARD_SHARE_SYNC` | `true` | Reads that `query!` classed as reads at compile time share one Sync with the reads queued beside them on a pipelined connection ([`lifeguard_pg::Client::for_each_read`]), which saves the server most of its work per request; a read skipped because one before it in its group failed is sent again on its own. `false` gives every request its own Sync (as TechEmpower's rules require). |
//! | `session_reset` | `LIFEGUARD_SESSION_RESET` | `"reset"` | What happens to an exclusive connection (a transaction's or `pool.acquire()`'s) when it comes back, [`SessionReset`]: `"reset"` clears what the session could leave behind for the next borrower (settings, `LISTEN`s, advisory locks, temporary tables, cursors, the role) in one round trip, keeping its prepared statements; `"close"` closes it instead; `"none"` returns it as it is. |
//! | `acquire_timeout` | `LIFEGUARD_ACQUIRE_TIMEOUT` | `"5s"` | How long a caller waits for capacity (a pipelined slot or an exclusive connection) before it gets an error. |
//! | `connect_timeout` | `LIFEGUARD_CONNECT_TIMEOUT` | `"5s"`, or the URL's `connect_timeout` when it sets one | The bound on one connection attempt: opening the socket and logging in. Wins over the URL's `connect_timeout`. |
//! | `statement_timeout` | `LIFEGUARD_STATEMENT_TIMEOUT` | `"off"` | The server cancels a statement that runs longer (PostgreSQL's `statement_timeout`, millisecond resolution). |
//! | `request_timeout` | `LIFEGUARD_REQUEST_TIMEOUT` | `"30s"`, or `statement_timeout` + 5s when that is longer | The client's own bound on one statement's answer, which holds when the server cannot enforce `statement_timeout` (frozen, unreachable): a pipelined request, or one call on a lent exclusive connection, then fails with `Timeout::Request`. A pipelined connection with requests in flight and no bytes from the server for this long is closed and replaced, and so is an exclusive one whose call ran out. `"off"` removes the bound. |
//! | `max_lifetime` | `LIFEGUARD_MAX_LIFETIME` | `"30m"` | A connection older than this is replaced. `"off"` keeps connections for as long as they work. |
//! | `lifetime_jitter` | `LIFEGUARD_LIFETIME_JITTER` | `"60s"` | A random extra lifetime between zero and this, drawn per connection, so that connections opened together are not all replaced together. May be `"0s"`. |
//! | `liveness_interval` | `LIFEGUARD_LIVENESS_INTERVAL` | `"30s"` | An idle connection is checked after this much silence. |
//! | `backoff_min` | `LIFEGUARD_BACKOFF_MIN` | `"10ms"` | The delay before the first reconnect after a failure. |
//! | `backoff_max` | `LIFEGUARD_BACKOFF_MAX` | `"1s"` | The cap on the reconnect delay, which doubles with each consecutive failure and varies by ±20% ([`PoolConfig::backoff_delay`]). At least `backoff_min`. |
//! | `replicas` | `LIFEGUARD_REPLICAS` | none | Streaming standbys of the primary that take reads: a TOML array of URLs or `key=value` strings; in the environment, URLs separated by spaces. A multi-host `url` (`postgres://a,b/db`, `host=a,b`) adds its other hosts too; with several servers the pool polls each and takes the one not in recovery as the primary (and follows a promotion). See [`ReadPreference`] and `Pool`'s routing docs. |
//! | `read_preference` | `LIFEGUARD_READ_PREFERENCE` | `"prefer_replica"`, or what the URL's `target_session_attrs` asks | Where statements `query!` classed as reads go: `"primary"`, `"prefer_replica"` (an eligible replica, else the primary) or `"replica_only"` (fail at once when no replica is eligible). Writes, transactions, sessions and SQL built at run time go to the primary. |
//! | `replica_poll_interval` | `LIFEGUARD_REPLICA_POLL_INTERVAL` | `"100ms"` | How often each server is polled for its WAL position, recovery and replay state (only with more than one server). |
//! | `replica_max_lag` | `LIFEGUARD_REPLICA_MAX_LAG` | `"1s"` | A replica further behind the primary than this (measured while the primary writes) takes no reads. |
//! | `replica_max_lag_bytes` | `LIFEGUARD_REPLICA_MAX_LAG_BYTES` | `16777216` (16 MiB) | A replica more bytes of WAL behind the primary than this takes no reads. |
//!
//! Every duration except `lifetime_jitter` must be greater than zero.
//!
//! With no configuration at all, no call waits longer than its bounds add up to: a
//! caller waits at most `acquire_timeout` (5 s) for capacity, a connection attempt
//! takes at most `connect_timeout` (5 s), and an answer comes within
//! `request_timeout` (30 s) or the call fails.
//!
//! # Values
//!
//! - Durations are strings of a whole number and a unit: `"250ms"`, `"5s"`, `"2m"`,
//!   `"1h"` (`ms`, `s`, `m`, `h`). A bare number is an error, in TOML and in the
//!   environment alike, since it could mean seconds or milliseconds.
//! - `statement_timeout`, `request_timeout` and `max_lifetime` also take `"off"`; a TOML
//!   file turns `statement_timeout` off by leaving it out too.
//! - Counts are TOML integers (`connections = 8`), or digits in the environment
//!   (`LIFEGUARD_CONNECTIONS=8`).
//! - An empty environment variable counts as unset.
//!
//! # Sources and precedence
//!
//! Environment over TOML over defaults: load the file, then let the environment
//! override what it names.
//!
//! ```no_run
//! use lifeguard::PoolConfig;
//!
//! let config = PoolConfig::from_toml_file("lifeguard.toml")?.apply_env()?;
//! config.validate()?;
//! # Ok::<(), lifeguard_pg::Error>(())
//! ```
//!
//! The TOML file may hold other tables for the rest of the application; only
//! `[database]` is read, and a key in it that is not in the table above is an error.
//! It may leave `url` out when `DATABASE_URL` gives it (a good place for a URL that
//! holds a password). The builder methods change a configuration from any source.
//!
//! # Errors
//!
//! Every invalid value is a [`lifeguard_pg::Error::Config`] that names the key and
//! where it came from, e.g.
//! `invalid value "abc" for database.max_in_flight in lifeguard.toml: expected a
//! positive integer` or `LIFEGUARD_ACQUIRE_TIMEOUT="5": a duration needs a unit (ms,
//! s, m, h)`. A value is checked when it is read; rules that join two settings
//! (`backoff_max` at least `backoff_min`), a missing `url` and the values given to the
//! builder are checked by [`PoolConfig::validate`], which the pool calls on start.
//!
//! The password is never shown: not in `Debug` output, not in any error (an invalid
//! URL is reported by the `lifeguard_pg` parser, which hides it).
//!
//! The TOML reading lives in `config/file.rs`, the environment in `config/env.rs`, the
//! keys and the value syntax in `config/value.rs`.

mod env;
mod file;
mod hosts;
mod routing;
#[cfg(test)]
mod tests;
mod value;

use std::fmt;
use std::time::Duration;

use lifeguard_pg::Error;

pub use routing::ReadPreference;

/// Default `max_exclusive`.
const DEFAULT_MAX_EXCLUSIVE: usize = 16;
/// Default `max_in_flight`.
const DEFAULT_MAX_IN_FLIGHT: usize = 128;
/// Default `acquire_timeout`.
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `connect_timeout` when the URL sets none.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `request_timeout` when `statement_timeout` is off or shorter.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than `statement_timeout` the default `request_timeout` waits, so the
/// server's own cancel wins whenever the server can still act.
const REQUEST_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);
/// Default `max_lifetime`.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Default `lifetime_jitter`.
const DEFAULT_LIFETIME_JITTER: Duration = Duration::from_secs(60);
/// Default `liveness_interval`.
const DEFAULT_LIVENESS_INTERVAL: Duration = Duration::from_secs(30);
/// Default `backoff_min`.
const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Default `backoff_max`.
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// PostgreSQL's `statement_timeout` counts milliseconds: less would round to "off".
const STATEMENT_TIMEOUT_RESOLUTION: Duration = Duration::from_millis(1);

/// What the pool does with an exclusive connection that comes back (see the
/// `session_reset` row of the table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionReset {
    /// Clear the session's state in one round trip, keeping its prepared statements.
    #[default]
    Reset,
    /// Close the connection rather than lend it again.
    Close,
    /// Lend it again as it is: only for sessions that never change their state.
    None,
}

/// How the pool connects and how much it may do at once.
///
/// Start from a URL ([`PoolConfig::new`]), a [`lifeguard_pg::Config`]
/// ([`PoolConfig::from_pg`]), a TOML file ([`PoolConfig::from_toml_file`]) or the
/// environment ([`PoolConfig::from_env`]); change settings with the builder methods,
/// which take and return the configuration; read them with the `get_` methods. The
/// module documentation of `lifeguard::config` (`lifeguard/src/config.rs`) has the
/// table of every setting with its TOML key, its environment variable and its default.
///
/// The `Debug` output never shows the password.
#[derive(Clone)]
pub struct PoolConfig {
    /// The server, with `connect_timeout` always set to [`PoolConfig::connect_timeout`].
    pg: lifeguard_pg::Config,
    /// False only for a TOML file without `url`, until the environment gives one.
    url_given: bool,
    /// `None`: the may worker count at the time it is asked for.
    connections: Option<usize>,
    max_exclusive: usize,
    max_in_flight: usize,
    max_response_bytes: usize,
    statement_cache_capacity: usize,
    share_sync: bool,
    session_reset: SessionReset,
    acquire_timeout: Duration,
    connect_timeout: Duration,
    /// True once a source other than the URL set `connect_timeout`: a later URL then
    /// keeps it.
    connect_timeout_given: bool,
    statement_timeout: Option<Duration>,
    /// `None` until set: the default then follows `statement_timeout`.
    request_timeout: Option<Option<Duration>>,
    max_lifetime: Option<Duration>,
    lifetime_jitter: Duration,
    liveness_interval: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    /// The other hosts of a multi-host URL, in its order.
    url_hosts: Vec<lifeguard_pg::Config>,
    /// Servers added as replicas.
    replicas: Vec<lifeguard_pg::Config>,
    read_preference: ReadPreference,
    replica_poll_interval: Duration,
    replica_max_lag: Duration,
    replica_max_lag_bytes: u64,
}

/// A connection string read for the pool: one server configuration per host, and the
/// read preference its `target_session_attrs` asks for.
pub(crate) struct Servers {
    each: Vec<lifeguard_pg::Config>,
    preference: Option<ReadPreference>,
}

/// Reads `text` (a URL or `key=value` string, single- or multi-host); the error is the
/// URL parser's, which hides the password.
pub(crate) fn parse_servers(text: &str) -> Result<Servers, String> {
    let hosts = hosts::split(text)?;
    let each = hosts
        .each
        .iter()
        .map(|one| {
            one.parse::<lifeguard_pg::Config>()
                .map_err(|err| match err {
                    Error::Config(why) => why,
                    other => other.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Servers {
        each,
        preference: hosts.preference,
    })
}

impl PoolConfig {
    /// A configuration for the server at `url` (a `postgres://` URL or a libpq
    /// `key=value` string), with the defaults for every other setting.
    ///
    /// An invalid URL is a [`lifeguard_pg::Error::Config`] that does not show the
    /// password.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard::PoolConfig;
    ///
    /// let config = PoolConfig::new("postgres://app:s3cret@db.example/orders")?
    ///     .connections(4)
    ///     .acquire_timeout(Duration::from_secs(2))
    ///     .statement_timeout(Some(Duration::from_secs(30)));
    /// config.validate()?;
    /// assert_eq!(config.get_connections(), 4);
    /// assert_eq!(config.get_max_in_flight(), 128);
    /// assert_eq!(config.pg().get_dbname(), Some("orders"));
    /// assert!(!format!("{config:?}").contains("s3cret"));
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn new(url: &str) -> Result<PoolConfig, Error> {
        PoolConfig::without_url()
            .with_url(url)
            .map_err(Error::Config)
    }

    /// Replaces the server with those `url` names (the first, then the other hosts of a
    /// multi-host URL), and the read preference with the one its
    /// `target_session_attrs` asks for, if any.
    fn with_url(self, url: &str) -> Result<PoolConfig, String> {
        let Servers { each, preference } = parse_servers(url)?;
        let mut each = each.into_iter();
        let first = each
            .next()
            .ok_or_else(|| "the URL names no host".to_owned())?;
        let mut config = self.with_pg(first);
        config.url_hosts = each.collect();
        if let Some(preference) = preference {
            config.read_preference = preference;
        }
        Ok(config)
    }

    /// A configuration for the server `config` describes, with the defaults for every
    /// other setting. A `connect_timeout` set in `config` is kept as this
    /// configuration's [`PoolConfig::get_connect_timeout`].
    pub fn from_pg(config: lifeguard_pg::Config) -> PoolConfig {
        PoolConfig::without_url().with_pg(config)
    }

    /// The defaults, and an empty server configuration that [`PoolConfig::validate`]
    /// refuses until a URL replaces it.
    fn without_url() -> PoolConfig {
        PoolConfig {
            pg: lifeguard_pg::Config::new(),
            url_given: false,
            connections: None,
            max_exclusive: DEFAULT_MAX_EXCLUSIVE,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_response_bytes: lifeguard_pg::DEFAULT_MAX_RESPONSE_BYTES,
            statement_cache_capacity: lifeguard_pg::DEFAULT_STATEMENT_CACHE_CAPACITY,
            share_sync: true,
            session_reset: SessionReset::Reset,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            connect_timeout_given: false,
            statement_timeout: None,
            request_timeout: None,
            max_lifetime: Some(DEFAULT_MAX_LIFETIME),
            lifetime_jitter: DEFAULT_LIFETIME_JITTER,
            liveness_interval: DEFAULT_LIVENESS_INTERVAL,
            backoff_min: DEFAULT_BACKOFF_MIN,
            backoff_max: DEFAULT_BACKOFF_MAX,
            url_hosts: Vec::new(),
            replicas: Vec::new(),
            read_preference: ReadPreference::default(),
            replica_poll_interval: routing::DEFAULT_POLL_INTERVAL,
            replica_max_lag: routing::DEFAULT_MAX_LAG,
            replica_max_lag_bytes: routing::DEFAULT_MAX_LAG_BYTES,
        }
    }

    /// Replaces the server. Its `connect_timeout` becomes ours unless another source
    /// set ours; either way the server configuration carries ours.
    fn with_pg(mut self, pg: lifeguard_pg::Config) -> PoolConfig {
        if !self.connect_timeout_given {
            self.connect_timeout = pg.get_connect_timeout().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        }
        self.pg = pg;
        self.pg.connect_timeout(self.connect_timeout);
        self.url_given = true;
        self
    }

    /// Sets the number of pipelined (shared) connections.
    pub fn connections(mut self, n: usize) -> PoolConfig {
        self.connections = Some(n);
        self
    }

    /// Sets the most exclusive connections (transactions, pinned sessions) open at
    /// once. `0` forbids them.
    pub fn max_exclusive(mut self, n: usize) -> PoolConfig {
        self.max_exclusive = n;
        self
    }

    /// Sets the most requests queued or in flight on one pipelined connection.
    pub fn max_in_flight(mut self, n: usize) -> PoolConfig {
        self.max_in_flight = n;
        self
    }

    /// Sets the largest response a pipelined connection buffers for one statement.
    pub fn max_response_bytes(mut self, limit: usize) -> PoolConfig {
        self.max_response_bytes = limit;
        self
    }

    /// Sets how many statements each connection keeps prepared on the server.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> PoolConfig {
        self.statement_cache_capacity = capacity;
        self
    }

    /// Sets whether reads classed at compile time share a Sync on pipelined connections.
    ///
    /// ```
    /// let config = lifeguard::PoolConfig::new("postgres://localhost/app")?.share_sync(false);
    /// assert!(!config.get_share_sync());
    /// # Ok::<(), lifeguard::Error>(())
    /// ```
    pub fn share_sync(mut self, share: bool) -> PoolConfig {
        self.share_sync = share;
        self
    }

    /// Sets what happens to an exclusive connection when it comes back.
    pub fn session_reset(mut self, policy: SessionReset) -> PoolConfig {
        self.session_reset = policy;
        self
    }

    /// Sets how long a caller waits for capacity.
    pub fn acquire_timeout(mut self, timeout: Duration) -> PoolConfig {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets the bound on one connection attempt, here and on the server
    /// configuration [`PoolConfig::pg`]. It wins over the URL's `connect_timeout`, also
    /// over that of a URL given later.
    pub fn connect_timeout(mut self, timeout: Duration) -> PoolConfig {
        self.connect_timeout = timeout;
        self.connect_timeout_given = true;
        self.pg.connect_timeout(timeout);
        self
    }

    /// Sets the server-side bound on each statement; `None` turns it off.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> PoolConfig {
        self.statement_timeout = timeout;
        self
    }

    /// Sets the client's own bound on one statement's answer; `None` removes it. See
    /// the table in the `config` module docs for what it covers.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> PoolConfig {
        self.request_timeout = Some(timeout);
        self
    }

    /// Sets the age after which a connection is replaced; `None` keeps connections
    /// for as long as they work.
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> PoolConfig {
        self.max_lifetime = lifetime;
        self
    }

    /// Sets the most random extra lifetime a connection gets; zero gives none.
    pub fn lifetime_jitter(mut self, jitter: Duration) -> PoolConfig {
        self.lifetime_jitter = jitter;
        self
    }

    /// Sets the silence after which an idle connection is checked.
    pub fn liveness_interval(mut self, interval: Duration) -> PoolConfig {
        self.liveness_interval = interval;
        self
    }

    /// Sets the first reconnect delay and the cap on later ones.
    pub fn backoff(mut self, min: Duration, max: Duration) -> PoolConfig {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// The server configuration, with its `connect_timeout` set to
    /// [`PoolConfig::get_connect_timeout`].
    pub fn pg(&self) -> &lifeguard_pg::Config {
        &self.pg
    }

    /// The number of pipelined connections: as set, or else the number of `may`
    /// workers now (so a `may::config().set_workers(n)` made before the pool starts
    /// counts).
    pub fn get_connections(&self) -> usize {
        self.connections
            .unwrap_or_else(|| may::config().get_workers().max(1))
    }

    /// The most exclusive connections open at once.
    pub fn get_max_exclusive(&self) -> usize {
        self.max_exclusive
    }

    /// The most requests queued or in flight on one pipelined connection.
    pub fn get_max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The largest response a pipelined connection buffers for one statement.
    pub fn get_max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// How many statements each connection keeps prepared on the server.
    pub fn get_statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// Whether reads classed at compile time share a Sync on pipelined connections.
    pub fn get_share_sync(&self) -> bool {
        self.share_sync
    }

    /// What happens to an exclusive connection when it comes back.
    pub fn get_session_reset(&self) -> SessionReset {
        self.session_reset
    }

    /// How long a caller waits for capacity.
    pub fn get_acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// The bound on one connection attempt.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The server-side bound on each statement, if any.
    pub fn get_statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// The client's own bound on one statement's answer: the value set, or by default
    /// 30 s, or `statement_timeout` + 5 s when that is longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard::PoolConfig;
    ///
    /// let config = PoolConfig::new("postgres://localhost/app")?;
    /// assert_eq!(config.get_request_timeout(), Some(Duration::from_secs(30)));
    /// let config = config.statement_timeout(Some(Duration::from_secs(60)));
    /// assert_eq!(config.get_request_timeout(), Some(Duration::from_secs(65)));
    /// let config = config.request_timeout(None);
    /// assert_eq!(config.get_request_timeout(), None);
    /// # Ok::<(), lifeguard::Error>(())
    /// ```
    pub fn get_request_timeout(&self) -> Option<Duration> {
        self.request_timeout.unwrap_or_else(|| {
            let after_statement = self
                .statement_timeout
                .map_or(Duration::ZERO, |t| t + REQUEST_TIMEOUT_MARGIN);
            Some(DEFAULT_REQUEST_TIMEOUT.max(after_statement))
        })
    }

    /// The age after which a connection is replaced, if any.
    pub fn get_max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// The most random extra lifetime a connection gets.
    pub fn get_lifetime_jitter(&self) -> Duration {
        self.lifetime_jitter
    }

    /// The silence after which an idle connection is checked.
    pub fn get_liveness_interval(&self) -> Duration {
        self.liveness_interval
    }

    /// The first reconnect delay.
    pub fn get_backoff_min(&self) -> Duration {
        self.backoff_min
    }

    /// The cap on the reconnect delay.
    pub fn get_backoff_max(&self) -> Duration {
        self.backoff_max
    }

    /// Checks the rules no single value shows: a server is given, counts and
    /// durations are in range, `backoff_max` is at least `backoff_min`. The values
    /// read from TOML or the environment were checked one by one already; this also
    /// covers those given to the builder. The pool calls it on start.
    ///
    /// The error is a [`lifeguard_pg::Error::Config`] naming the setting, e.g.
    /// `connections must be at least 1` or `backoff_max (5ms) is below backoff_min
    /// (10ms)`.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |what: String| Err(Error::Config(what));
        if !self.url_given {
            return fail(
                "no server given: set url in the [database] table or DATABASE_URL".to_owned(),
            );
        }
        if self.get_connections() == 0 {
            return fail("connections must be at least 1".to_owned());
        }
        if self.max_in_flight == 0 {
            return fail("max_in_flight must be at least 1".to_owned());
        }
        if self.max_response_bytes == 0 {
            return fail("max_response_bytes must be at least 1".to_owned());
        }
        let positive = [
            ("acquire_timeout", self.acquire_timeout),
            ("connect_timeout", self.connect_timeout),
            ("liveness_interval", self.liveness_interval),
            ("backoff_min", self.backoff_min),
            ("replica_poll_interval", self.replica_poll_interval),
            ("replica_max_lag", self.replica_max_lag),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return fail(format!("{name} must be greater than zero"));
            }
        }
        if let Some(timeout) = self
            .statement_timeout
            .filter(|&timeout| timeout < STATEMENT_TIMEOUT_RESOLUTION)
        {
            return fail(format!(
                "statement_timeout ({timeout:?}) is below 1ms, the server's resolution; \
                 use None to turn it off"
            ));
        }
        if self.request_timeout == Some(Some(Duration::ZERO)) {
            return fail(
                "request_timeout must be greater than zero; use None for no limit".to_owned(),
            );
        }
        if self.max_lifetime.is_some_and(|lifetime| lifetime.is_zero()) {
            return fail(
                "max_lifetime must be greater than zero; use None for no limit".to_owned(),
            );
        }
        if self.backoff_max < self.backoff_min {
            return fail(format!(
                "backoff_max ({:?}) is below backoff_min ({:?})",
                self.backoff_max, self.backoff_min
            ));
        }
        Ok(())
    }

    /// The delay before reconnect attempt `attempt + 1`, after `attempt + 1`
    /// consecutive failures: `backoff_min` doubled `attempt` times, capped at
    /// `backoff_max`, then varied by ±20% with `rand01` (a uniform random number in
    /// `0.0..=1.0`; `0.5` gives the midpoint) and capped at `backoff_max` again.
    ///
    /// So attempt 0 waits `backoff_min` ±20%, and no delay exceeds `backoff_max`.
    /// Pure: the caller brings the randomness.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard::PoolConfig;
    ///
    /// let config = PoolConfig::new("host=db")?;
    /// assert_eq!(config.backoff_delay(0, 0.5), Duration::from_millis(10));
    /// assert_eq!(config.backoff_delay(3, 0.5), Duration::from_millis(80));
    /// assert_eq!(config.backoff_delay(50, 1.0), Duration::from_secs(1));
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn backoff_delay(&self, attempt: u32, rand01: f64) -> Duration {
        let base = 1u32
            .checked_shl(attempt)
            .and_then(|factor| self.backoff_min.checked_mul(factor))
            .map_or(self.backoff_max, |base| base.min(self.backoff_max));
        scale(base, 0.8 + 0.4 * unit(rand01)).min(self.backoff_max)
    }

    /// The lifetime of a new connection: `max_lifetime` plus `rand01` (a uniform
    /// random number in `0.0..=1.0`) times `lifetime_jitter`; `None` when
    /// `max_lifetime` is off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard::PoolConfig;
    ///
    /// let config = PoolConfig::new("host=db")?;
    /// assert_eq!(config.lifetime_for(0.5), Some(Duration::from_secs(30 * 60 + 30)));
    /// assert_eq!(config.max_lifetime(None).lifetime_for(0.5), None);
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn lifetime_for(&self, rand01: f64) -> Option<Duration> {
        let jitter = scale(self.lifetime_jitter, unit(rand01));
        self.max_lifetime
            .map(|lifetime| lifetime.saturating_add(jitter))
    }
}

/// `x` clamped to `0.0..=1.0`; NaN counts as the midpoint.
fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.5 } else { x.clamp(0.0, 1.0) }
}

/// `d * factor` for a `factor` in `0.0..=1.2`, saturating instead of panicking.
fn scale(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// Shows every setting as it is in force; the server configuration hides the
/// password.
impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("pg", &self.url_given.then_some(&self.pg))
            .field("connections", &self.get_connections())
            .field("max_exclusive", &self.max_exclusive)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .field("share_sync", &self.share_sync)
            .field("session_reset", &self.session_reset)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("request_timeout", &self.get_request_timeout())
            .field("max_lifetime", &self.max_lifetime)
            .field("lifetime_jitter", &self.lifetime_jitter)
            .field("liveness_interval", &self.liveness_interval)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .field("url_hosts", &self.url_hosts)
            .field("replicas", &self.replicas)
            .field("read_preference", &self.read_preference)
            .field("replica_poll_interval", &self.replica_poll_interval)
            .field("replica_max_lag", &self.replica_max_lag)
            .field("replica_max_lag_bytes", &self.replica_max_lag_bytes)
            .finish()
    }
}
