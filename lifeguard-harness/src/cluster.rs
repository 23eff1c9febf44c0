//! [`Cluster`], a throwaway PostgreSQL server, and [`ClusterBuilder`], its options.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::binaries::PgBinaries;
use crate::error::{HarnessError, Result};
use crate::guard::Guard;
use crate::template;
use crate::url;

/// How long starting a server may take unless [`ClusterBuilder::start_timeout`] says
/// otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How many free ports are tried when another process takes the chosen one first.
const PORT_ATTEMPTS: usize = 5;

/// A throwaway PostgreSQL cluster: a fresh data directory in a temporary directory and a
/// server listening on a free port of 127.0.0.1 and on a Unix socket in that directory.
///
/// The superuser is `postgres`; everyone is trusted until [`set_auth`](Self::set_auth)
/// or [`create_role_with`](Self::create_role_with) says otherwise. Durability is off
/// (`fsync`, `synchronous_commit`, `full_page_writes`), `wal_level` is `replica` and
/// there are WAL senders, so [`start_standby`](Self::start_standby) works.
///
/// Dropping the cluster stops the server (immediate shutdown, after a
/// [`thaw`](Self::thaw) if it is [frozen](Self::freeze)) and deletes the directory; if
/// this process dies without dropping it, a guard process does the same (see the
/// crate documentation). All methods take `&self`, so a cluster can be shared between
/// threads, for example to [`kill`](Self::kill) it while a pool is busy.
///
/// ```no_run
/// use lifeguard_harness::Cluster;
///
/// let cluster = Cluster::start()?;
/// assert_eq!(cluster.psql("postgres", "select 1 + 1")?, "2");
/// println!("connect to {}", cluster.url());
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
pub struct Cluster {
    pub(crate) guard: Guard,
    pub(crate) data_dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) timeout: Duration,
    /// The postmaster's pid while the guard has a child it has not reaped.
    pub(crate) postmaster: Mutex<Option<i32>>,
    /// Set by [`Cluster::freeze`], cleared by [`Cluster::thaw`] (changed only while
    /// `postmaster` is locked).
    pub(crate) frozen: AtomicBool,
}

/// Options for a [`Cluster`]; made by [`Cluster::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use lifeguard_harness::Cluster;
///
/// let cluster = Cluster::builder()
///     .max_connections(50)
///     .setting("log_statement", "all")
///     .start_timeout(Duration::from_secs(60))
///     .start()?;
/// assert_eq!(cluster.psql("postgres", "show max_connections")?, "50");
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    settings: Vec<(String, String)>,
    start_timeout: Duration,
}

impl ClusterBuilder {
    /// Sets a server parameter in `postgresql.conf` (after the harness's own settings, so
    /// it wins). The value is written quoted, which every parameter type accepts.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Sets `max_connections` (200 by default).
    pub fn max_connections(self, n: u32) -> Self {
        self.setting("max_connections", n.to_string())
    }

    /// How long to wait for the server to accept connections (30 s by default); also
    /// bounds [`Cluster::stop`] and the standby's catch-up when it starts.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Creates the data directory (a copy of a template made by `initdb` once per
    /// process) and starts the server; returns once it accepts connections.
    pub fn start(self) -> Result<Cluster> {
        let bins = PgBinaries::find()?;
        let guard = Guard::create("pg", &bins.bin_dir().join("postgres"))?;
        let data_dir = template::copy_into(&guard)?;
        let settings: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        Cluster::boot(guard, data_dir, &settings, self.start_timeout)
    }
}

impl Cluster {
    /// Starts a cluster with the default options; see [`ClusterBuilder::start`].
    pub fn start() -> Result<Cluster> {
        Cluster::builder().start()
    }

    /// Options for a new cluster.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            settings: Vec::new(),
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }

    /// Configures the socket directory, a free port and `settings` in `data_dir` (the
    /// data directory inside `guard`'s directory), then starts the server, trying
    /// another port when the chosen one was taken in the meantime.
    pub(crate) fn boot(
        guard: Guard,
        data_dir: PathBuf,
        settings: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Cluster> {
        let socket_dir = guard.dir().to_string_lossy().into_owned();
        // Shown by `ps` and as a standby's application_name in pg_stat_replication.
        let name = guard
            .dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let mut all = vec![
            ("unix_socket_directories", socket_dir.as_str()),
            ("cluster_name", name.as_deref().unwrap_or("lifeguard")),
        ];
        all.extend_from_slice(settings);
        template::append_settings(&data_dir, "this cluster", all)?;
        let mut cluster = Cluster {
            guard,
            data_dir,
            port: 0,
            timeout,
            postmaster: Mutex::new(None),
            frozen: AtomicBool::new(false),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            cluster.port = free_port()?;
            let port = cluster.port.to_string();
            template::append_settings(&cluster.data_dir, "port", [("port", port.as_str())])?;
            let log_offset = cluster.log_len();
            let launched = cluster.launch(&mut cluster.lock_postmaster());
            match launched {
                Ok(()) => return Ok(cluster),
                Err(_) if attempt < PORT_ATTEMPTS && cluster.port_was_taken(log_offset) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The TCP port on 127.0.0.1 (never 5432; fixed for the cluster's life).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.PORT`); it is also the
    /// temporary directory that holds everything of this cluster.
    pub fn socket_dir(&self) -> &Path {
        self.guard.dir()
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log file (its stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.guard.dir().join("postgres.log")
    }

    /// The server log so far (empty if it cannot be read).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the superuser, over TCP.
    pub fn url(&self) -> String {
        self.url_for("postgres", None, "postgres")
    }

    /// A URL for `user` (with `password`, if any) and database `db` over TCP, each part
    /// percent-encoded.
    ///
    /// ```no_run
    /// # let cluster = lifeguard_harness::Cluster::start()?;
    /// let url = cluster.url_for("app", Some("p@ss"), "appdb");
    /// assert_eq!(url, format!("postgres://app:p%40ss@127.0.0.1:{}/appdb", cluster.port()));
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn url_for(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let user = url::encode(user);
        let auth = match password {
            Some(p) => format!("{user}:{}", url::encode(p)),
            None => user,
        };
        format!(
            "postgres://{auth}@127.0.0.1:{}/{}",
            self.port,
            url::encode(db)
        )
    }

    pub(crate) fn lock_postmaster(&self) -> MutexGuard<'_, Option<i32>> {
        self.postmaster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn log_len(&self) -> u64 {
        std::fs::metadata(self.log_path()).map_or(0, |m| m.len())
    }

    /// The last few kilobytes of the log written since byte `offset`.
    pub(crate) fn log_since(&self, offset: u64) -> String {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        let start = (offset as usize).min(log.len());
        let tail_start = start.max(log.len().saturating_sub(4000));
        String::from_utf8_lossy(&log[tail_start..]).into_owned()
    }

    fn port_was_taken(&self, log_offset: u64) -> bool {
        self.log_since(log_offset)
            .contains("could not create any TCP/IP sockets")
    }

    /// Why a server operation failed, with the recent server log attached.
    pub(crate) fn server_error(&self, message: String, log_offset: u64) -> HarnessError {
        HarnessError::new(format!(
            "{message} (data directory {}, log {})",
            self.data_dir.display(),
            self.log_path().display()
        ))
        .with_stderr(self.log_since(log_offset))
    }
}

impl Drop for Cluster {
    /// Thaws a frozen server, so that the guard's immediate shutdown (a signal the
    /// stopped postmaster could not act on) ends it at once.
    fn drop(&mut self) {
        let _ = self.thaw();
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("port", &self.port)
            .field("socket_dir", &self.socket_dir())
            .field("postmaster", &*self.lock_postmaster())
            .field("frozen", &self.is_frozen())
            .finish()
    }
}

/// A port on 127.0.0.1 that nothing listens on right now (never 5432).
fn free_port() -> Result<u16> {
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| HarnessError::io("could not find a free TCP port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::io("could not find a free TCP port", e))?
            .port();
        if port != 5432 {
            return Ok(port);
        }
    }
}
