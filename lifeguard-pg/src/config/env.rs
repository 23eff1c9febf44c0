//! The `PG*` environment variables and the defaults of unset fields.

use std::path::Path;

use super::params::Params;
use super::{Config, Host};
use crate::error::Error;

/// Where a local server's Unix socket usually is: Debian's and Red Hat's directory,
/// then the one of upstream builds.
const SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];

impl Config {
    /// Fills the fields that are still unset from the libpq environment variables.
    ///
    /// | variable | field |
    /// |---|---|
    /// | `PGHOST` | host |
    /// | `PGHOSTADDR` | host (a numeric IP address; wins over `PGHOST`) |
    /// | `PGPORT` | port |
    /// | `PGUSER` | user |
    /// | `PGPASSWORD` | password |
    /// | `PGDATABASE` | dbname |
    /// | `PGAPPNAME` | application_name |
    /// | `PGCONNECT_TIMEOUT` | connect_timeout |
    /// | `PGSSLMODE` | ssl_mode |
    /// | `PGSSLROOTCERT` | ssl_root_cert |
    /// | `PGSSLCERT` | ssl_cert |
    /// | `PGSSLKEY` | ssl_key |
    /// | `PGSSLNEGOTIATION` | checked: `direct` is refused |
    /// | `PGCHANNELBINDING` | channel_binding |
    /// | `PGOPTIONS` | options |
    ///
    /// A field that is already set keeps its value, and an empty variable counts as
    /// unset. The values read as in [`Config::parse`]; an invalid one is an
    /// [`Error::Config`] naming the variable (never showing `PGPASSWORD`), and then
    /// the configuration is left as it was.
    ///
    /// ```no_run
    /// use lifeguard_pg::Config;
    ///
    /// let mut config = Config::parse("dbname=orders")?;
    /// config.apply_env()?; // PGDATABASE cannot change the dbname any more
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn apply_env(&mut self) -> Result<&mut Config, Error> {
        self.apply_vars(|name| std::env::var(name).ok())
    }

    /// A configuration from the `PG*` environment variables alone:
    /// [`Config::new`] then [`Config::apply_env`].
    ///
    /// ```no_run
    /// let config = lifeguard_pg::Config::from_env()?;
    /// println!("connecting to {config}");
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn from_env() -> Result<Config, Error> {
        let mut config = Config::new();
        config.apply_env()?;
        Ok(config)
    }

    /// [`Config::apply_env`] with the variables read through `get`, so that tests
    /// need not touch the process-wide environment.
    pub(super) fn apply_vars(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<&mut Config, Error> {
        let vars = [
            ("PGHOST", "host", self.host.is_none()),
            ("PGHOSTADDR", "hostaddr", self.host.is_none()),
            ("PGPORT", "port", self.port.is_none()),
            ("PGUSER", "user", self.user.is_none()),
            ("PGPASSWORD", "password", self.password.is_none()),
            ("PGDATABASE", "dbname", self.dbname.is_none()),
            (
                "PGAPPNAME",
                "application_name",
                self.application_name.is_none(),
            ),
            (
                "PGCONNECT_TIMEOUT",
                "connect_timeout",
                self.connect_timeout.is_none(),
            ),
            ("PGSSLMODE", "sslmode", self.ssl_mode.is_none()),
            ("PGSSLROOTCERT", "sslrootcert", self.ssl_root_cert.is_none()),
            ("PGSSLCERT", "sslcert", self.ssl_cert.is_none()),
            ("PGSSLKEY", "sslkey", self.ssl_key.is_none()),
            ("PGSSLNEGOTIATION", "sslnegotiation", true),
            (
                "PGCHANNELBINDING",
                "channel_binding",
                self.channel_binding.is_none(),
            ),
            ("PGOPTIONS", "options", self.options.is_none()),
        ];
        let mut filled = self.clone();
        let mut params = Params::new(&mut filled);
        for (var, key, unset) in vars {
            let Some(value) = get(var).filter(|value| !value.is_empty()).filter(|_| unset) else {
                continue;
            };
            params
                .set(key, value.as_bytes())
                .map_err(|msg| Error::config(format!("{msg} (from environment variable {var})")))?;
        }
        params.finish();
        *self = filled;
        Ok(self)
    }

    /// The user name to log in as: the one set, else `$USER`, else `postgres`.
    pub fn user_or_default(&self) -> String {
        self.user_or_default_from(|name| std::env::var(name).ok())
    }

    pub(super) fn user_or_default_from(&self, get: impl Fn(&str) -> Option<String>) -> String {
        self.user
            .clone()
            .or_else(|| get("USER").filter(|user| !user.is_empty()))
            .unwrap_or_else(|| "postgres".to_owned())
    }

    /// The database to connect to: the one set, else the user name
    /// ([`Config::user_or_default`]), as the server itself assumes.
    pub fn dbname_or_default(&self) -> String {
        match &self.dbname {
            Some(dbname) => dbname.clone(),
            None => self.user_or_default(),
        }
    }

    /// Where to connect: the host set, else the local server's Unix socket, else
    /// `localhost` over TCP.
    ///
    /// Without a host, libpq uses the socket directory it was built with. This looks
    /// for the socket of the configured port (`.s.PGSQL.<port>`) in
    /// `/var/run/postgresql` (Debian, Red Hat) and `/tmp` (upstream builds), and
    /// takes the first directory that has it; with no socket found it falls back to
    /// `Host::Tcp("localhost")`.
    pub fn host_or_default(&self) -> Host {
        let dirs: Vec<&Path> = SOCKET_DIRS.iter().map(Path::new).collect();
        self.host_or_default_in(&dirs)
    }

    pub(super) fn host_or_default_in(&self, dirs: &[&Path]) -> Host {
        if let Some(host) = &self.host {
            return host.clone();
        }
        let socket = format!(".s.PGSQL.{}", self.get_port());
        match dirs.iter().find(|dir| is_socket(&dir.join(&socket))) {
            Some(dir) => Host::Unix(dir.to_path_buf()),
            None => Host::Tcp("localhost".to_owned()),
        }
    }
}

#[cfg(unix)]
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

#[cfg(not(unix))]
fn is_socket(_path: &Path) -> bool {
    false
}
