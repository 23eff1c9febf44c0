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
use crate::tls::{CertificateNames, Certificates};
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
    /// The files the server serves when it speaks TLS.
    pub(crate) tls: Option<Certificates>,
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
    tls: Option<CertificateNames>,
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

    /// Makes the server speak TLS (`ssl = on`) with [`Certificates`] generated for it:
    /// a test CA signs the server's certificate (for `localhost` and `127.0.0.1` unless
    /// [`tls_server_names`](Self::tls_server_names) says otherwise) and a client
    /// certificate (for the user `postgres` unless
    /// [`tls_client_user`](Self::tls_client_user) says otherwise), and the server
    /// verifies client certificates against it. [`Cluster::tls`] has the files.
    ///
    /// Clients may still connect without TLS; [`Cluster::set_auth_over`] with a
    /// [`Transport`](crate::Transport) requires or refuses it per user.
    ///
    /// ```no_run
    /// use lifeguard_harness::{psql, Cluster};
    ///
    /// let cluster = Cluster::builder().tls().start()?;
    /// let ca = cluster.tls().unwrap().ca_cert();
    /// let url = format!("{}?sslmode=verify-full&sslrootcert={}", cluster.url(), ca.display());
    /// assert_eq!(psql(&url, "show ssl")?, "on");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn tls(mut self) -> Self {
        self.tls.get_or_insert_with(CertificateNames::default);
        self
    }

    /// Makes the server speak TLS ([`tls`](Self::tls)) with a server certificate that
    /// expired long ago (valid in 2000 only), signed by the test CA: a client that
    /// checks the chain must refuse it.
    ///
    /// ```no_run
    /// let cluster = lifeguard_harness::Cluster::builder().tls_expired().start()?;
    /// assert!(cluster.tls().is_some());
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn tls_expired(mut self) -> Self {
        self.tls
            .get_or_insert_with(CertificateNames::default)
            .server_expired = true;
        self
    }

    /// Keeps the server in plain text (`ssl = off`), also when [`TLS_ENV`] asks for TLS
    /// everywhere: for tests of what a client does against a server without TLS.
    ///
    /// ```no_run
    /// let cluster = lifeguard_harness::Cluster::builder().without_tls().start()?;
    /// assert!(cluster.tls().is_none());
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn without_tls(mut self) -> Self {
        self.tls = None;
        self
    }

    /// Makes the server speak TLS ([`tls`](Self::tls)) with a certificate for `names`
    /// only: DNS names, and IP addresses for those that parse as one. With names that
    /// do not include `127.0.0.1`, `sslmode=verify-full` to the cluster's address fails
    /// while `verify-ca` succeeds.
    ///
    /// ```no_run
    /// use lifeguard_harness::Cluster;
    ///
    /// let cluster = Cluster::builder().tls_server_names(["db.example"]).start()?;
    /// assert_eq!(cluster.tls().unwrap().server_names(), ["db.example"]);
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn tls_server_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tls = self.tls.get_or_insert_with(CertificateNames::default);
        tls.server_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Makes the server speak TLS ([`tls`](Self::tls)) and gives the client
    /// certificate the common name `user`: the role it logs in as with
    /// [`AuthMethod::Cert`](crate::AuthMethod::Cert).
    ///
    /// ```no_run
    /// use lifeguard_harness::{AuthMethod, Cluster};
    ///
    /// let cluster = Cluster::builder().tls_client_user("app").start()?;
    /// cluster.create_role_with("app", None, AuthMethod::Cert)?;
    /// assert_eq!(cluster.tls().unwrap().client_user(), "app");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn tls_client_user(mut self, user: impl Into<String>) -> Self {
        self.tls
            .get_or_insert_with(CertificateNames::default)
            .client_user = user.into();
        self
    }

    /// Creates the data directory (a copy of a template made by `initdb` once per
    /// process) and, with [`tls`](Self::tls), the certificates, then starts the server;
    /// returns once it accepts connections.
    pub fn start(self) -> Result<Cluster> {
        let bins = PgBinaries::find()?;
        let guard = Guard::create("pg", &bins.bin_dir().join("postgres"))?;
        let data_dir = template::copy_into(&guard)?;
        let tls = self
            .tls
            .as_ref()
            .map(|names| Certificates::generate(guard.dir(), names))
            .transpose()?;
        Cluster::boot(guard, data_dir, tls, &self.settings, self.start_timeout)
    }
}

/// Set to `1`, every cluster the harness starts speaks TLS and every URL it gives
/// asks for `sslmode=verify-full`: the same test suites then run over TLS
/// (`LIFEGUARD_HARNESS_TLS=1 cargo nextest run -p lifeguard --test faults`).
pub const TLS_ENV: &str = "LIFEGUARD_HARNESS_TLS";

fn tls_everywhere() -> bool {
    std::env::var(TLS_ENV).is_ok_and(|v| v == "1")
}

impl Cluster {
    /// Starts a cluster with the default options; see [`ClusterBuilder::start`].
    pub fn start() -> Result<Cluster> {
        Cluster::builder().start()
    }

    /// Options for a new cluster. With [`TLS_ENV`] set, every cluster speaks TLS as
    /// with [`ClusterBuilder::tls`].
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            settings: Vec::new(),
            start_timeout: DEFAULT_START_TIMEOUT,
            tls: tls_everywhere().then(CertificateNames::default),
        }
    }

    /// Configures the socket directory, a free port, TLS with `tls` (when given) and
    /// `settings` in `data_dir` (the data directory inside `guard`'s directory), then
    /// starts the server, trying another port when the chosen one was taken in the
    /// meantime.
    pub(crate) fn boot(
        guard: Guard,
        data_dir: PathBuf,
        tls: Option<Certificates>,
        settings: &[(String, String)],
        timeout: Duration,
    ) -> Result<Cluster> {
        let socket_dir = guard.dir().to_string_lossy().into_owned();
        // Shown by `ps` and as a standby's application_name in pg_stat_replication.
        let name = guard
            .dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let tls_settings = tls.as_ref().map(Certificates::settings).unwrap_or_default();
        let mut all = vec![
            ("unix_socket_directories", socket_dir.as_str()),
            ("cluster_name", name.as_deref().unwrap_or("lifeguard")),
        ];
        all.extend(
            tls_settings
                .iter()
                .chain(settings)
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
        template::append_settings(&data_dir, "this cluster", all)?;
        let mut cluster = Cluster {
            guard,
            data_dir,
            port: 0,
            timeout,
            postmaster: Mutex::new(None),
            frozen: AtomicBool::new(false),
            tls,
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

    /// The certificates the server serves when it speaks TLS (started with
    /// [`ClusterBuilder::tls`] or one of its `tls_` options, or a standby of such a
    /// cluster); `None` otherwise.
    pub fn tls(&self) -> Option<&Certificates> {
        self.tls.as_ref()
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
    ///
    /// With [`TLS_ENV`] set, the URL asks for TLS with the certificate checked in full
    /// (`?sslmode=verify-full&sslrootcert=...`).
    pub fn url_for(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let user = url::encode(user);
        let auth = match password {
            Some(p) => format!("{user}:{}", url::encode(p)),
            None => user,
        };
        let url = format!(
            "postgres://{auth}@127.0.0.1:{}/{}",
            self.port,
            url::encode(db)
        );
        match &self.tls {
            Some(certs) if tls_everywhere() => format!("{url}?{}", certs.verify_full_params()),
            _ => url,
        }
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
            .field("tls", &self.tls.is_some())
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
