//! The server shared by a test process: [`test_server`] and [`TestServer`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::admin::{psql, quote_ident};
use crate::cluster::Cluster;
use crate::error::Result;
use crate::url;

/// The environment variable naming a server to use instead of a private cluster.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// The server the tests of this process share: the one in `DATABASE_URL` when that is
/// set, otherwise one private [`Cluster`] started on first use and stopped (its directory
/// removed) when the process exits. Get it with [`test_server`].
#[derive(Debug)]
pub struct TestServer {
    url: String,
    cluster: Option<Cluster>,
}

/// The process-wide [`TestServer`], started on first use.
///
/// # Panics
///
/// When `DATABASE_URL` is not set and the private cluster cannot start (for example no
/// PostgreSQL is installed); the message says why. Use [`try_test_server`] to handle
/// that instead.
///
/// ```no_run
/// let server = lifeguard_harness::test_server();
/// let url = server.fresh_database("my_test");
/// assert_eq!(lifeguard_harness::psql(&url, "select 1")?, "1");
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
pub fn test_server() -> &'static TestServer {
    match try_test_server() {
        Ok(server) => server,
        Err(e) => panic!("lifeguard-harness: no test server: {e}"),
    }
}

/// [`test_server`] without the panic. A failure to start is remembered: every later
/// call returns the same error.
pub fn try_test_server() -> Result<&'static TestServer> {
    static SERVER: OnceLock<Result<TestServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var(DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Ok(TestServer { url, cluster: None }),
            _ => Cluster::start().map(|cluster| TestServer {
                url: cluster.url(),
                cluster: Some(cluster),
            }),
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl TestServer {
    /// The server's URL: `DATABASE_URL` as given, or the private cluster's
    /// [`Cluster::url`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The private cluster, or `None` when `DATABASE_URL` is used. Tests that need fault
    /// control ([`Cluster::kill`] and the like) should start a cluster of their own
    /// rather than stop this shared one under the other tests.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Creates a database named `PREFIX_PID_N_XXXXX` (unique across tests and test
    /// processes; the prefix lower-cased and reduced to `[a-z0-9_]`) and returns the
    /// server URL pointing at it.
    ///
    /// Databases made on a `DATABASE_URL` server are left there; those of the private
    /// cluster vanish with it.
    ///
    /// # Panics
    ///
    /// When the database cannot be created; [`try_fresh_database`](Self::try_fresh_database)
    /// returns the error instead.
    pub fn fresh_database(&self, prefix: &str) -> String {
        match self.try_fresh_database(prefix) {
            Ok(url) => url,
            Err(e) => panic!("lifeguard-harness: could not create a database: {e}"),
        }
    }

    /// [`fresh_database`](Self::fresh_database) without the panic.
    pub fn try_fresh_database(&self, prefix: &str) -> Result<String> {
        let name = unique_name(prefix);
        psql(
            &self.url,
            &format!("CREATE DATABASE {}", quote_ident(&name)),
        )?;
        Ok(url::with_database(&self.url, &name))
    }
}

/// `prefix_pid_seq_xxxxx`, at most 63 bytes (PostgreSQL's identifier limit).
fn unique_name(prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let mut clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        clean.insert_str(0, "db_");
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let suffix = format!(
        "_{}_{}_{:05x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        nanos & 0xfffff
    );
    clean.truncate(63 - suffix.len());
    clean + &suffix
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    #[test]
    fn names_are_unique_and_valid() {
        let a = unique_name("My-Test");
        let b = unique_name("My-Test");
        assert_ne!(a, b);
        assert!(a.starts_with("my_test_"));
        assert!(unique_name(&"x".repeat(100)).len() <= 63);
        assert!(unique_name("1abc").starts_with("db_1abc"));
    }
}
