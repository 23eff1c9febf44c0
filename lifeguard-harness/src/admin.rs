//! Administration through the `psql` program: [`psql`] for any server, and SQL helpers on
//! [`Cluster`] (databases, roles, authentication, terminating sessions).

use crate::binaries::{self, PgBinaries};
use crate::cluster::Cluster;
use crate::error::Result;
use crate::hba::{self, AuthMethod, Transport};
use crate::process;
use crate::template;
use crate::wait::wait_until;

/// Runs `sql` with `psql` against the server at `url` (a `postgres://` URL or a
/// `key=value` connection string) and returns its output; see [`Cluster::psql`] for the
/// output format. Works against any server, for example the one in `DATABASE_URL`.
///
/// ```no_run
/// let out = lifeguard_harness::psql("postgres://postgres@127.0.0.1:5433/postgres", "select 1")?;
/// assert_eq!(out, "1");
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
pub fn psql(url: &str, sql: &str) -> Result<String> {
    run_psql(&["-d", url], sql)
}

fn run_psql(connection: &[&str], sql: &str) -> Result<String> {
    let mut cmd = process::command(&binaries::psql_path()?);
    cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(connection)
        .args(["-f", "-"])
        .env("PGCONNECT_TIMEOUT", "10");
    let what = format!("psql running `{}`", abbreviate(sql));
    let out = process::run(&mut cmd, Some(sql), &what)?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

fn abbreviate(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &one_line[..cut]),
        None => one_line,
    }
}

/// `name` as an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as an SQL string literal.
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Cluster {
    /// Runs `sql` (one or more statements) in database `db` as the superuser `postgres`,
    /// over the Unix socket, with `psql -X -A -t -q -v ON_ERROR_STOP=1`; returns stdout
    /// without its trailing newline: one line per row, columns separated by `|`, `t`/`f`
    /// for booleans, an empty string for NULL. The first failing statement stops the
    /// script; the error shows psql's stderr.
    ///
    /// ```no_run
    /// # let cluster = lifeguard_harness::Cluster::start()?;
    /// cluster.psql("postgres", "create table t (a int, b text); insert into t values (1, 'x')")?;
    /// assert_eq!(cluster.psql("postgres", "select a, b from t")?, "1|x");
    /// assert!(cluster.psql("postgres", "select nope").is_err());
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let host = self.socket_dir().to_string_lossy().into_owned();
        let port = self.port().to_string();
        run_psql(&["-h", &host, "-p", &port, "-U", "postgres", "-d", db], sql)
    }

    /// Creates database `name` (owned by `postgres`).
    pub fn create_database(&self, name: &str) -> Result<()> {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {}", quote_ident(name)),
        )
        .map(drop)
    }

    /// Creates a login role `name`, with `password` stored as SCRAM-SHA-256 if given. It
    /// is trusted like everyone else until [`set_auth`](Self::set_auth) says otherwise;
    /// [`create_role_with`](Self::create_role_with) does both.
    pub fn create_role(&self, name: &str, password: Option<&str>) -> Result<()> {
        self.create_role_stored_as(name, password, AuthMethod::ScramSha256)
    }

    /// Creates a login role `name` whose `password` is stored in the format `method`
    /// needs (MD5 for [`AuthMethod::Md5`], SCRAM-SHA-256 otherwise), then makes the server
    /// authenticate `name` with `method` ([`set_auth`](Self::set_auth)).
    ///
    /// ```no_run
    /// use lifeguard_harness::{AuthMethod, Cluster};
    ///
    /// let cluster = Cluster::start()?;
    /// cluster.create_role_with("app", Some("secret"), AuthMethod::Md5)?;
    /// let url = cluster.url_for("app", Some("secret"), "postgres");
    /// assert_eq!(lifeguard_harness::psql(&url, "select current_user")?, "app");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn create_role_with(
        &self,
        name: &str,
        password: Option<&str>,
        method: AuthMethod,
    ) -> Result<()> {
        self.create_role_stored_as(name, password, method)?;
        self.set_auth(name, method)
    }

    fn create_role_stored_as(
        &self,
        name: &str,
        password: Option<&str>,
        method: AuthMethod,
    ) -> Result<()> {
        let password = password
            .map(|p| format!(" PASSWORD {}", quote_literal(p)))
            .unwrap_or_default();
        let sql = format!(
            "SET password_encryption = {};\nCREATE ROLE {} LOGIN{password};",
            quote_literal(method.password_encryption()),
            quote_ident(name),
        );
        self.psql("postgres", &sql).map(drop)
    }

    /// Makes the server authenticate `user` with `method` over the Unix socket and TCP
    /// (127.0.0.1 and ::1): writes `pg_hba.conf` entries for `user` above the catch-all
    /// `trust` entries (replacing earlier ones for `user`), then reloads the
    /// configuration and waits until new sessions use it.
    ///
    /// The harness administers the cluster as `postgres` over the socket: giving
    /// `postgres` a password method breaks [`psql`](Self::psql) and the other helpers.
    /// The file is not replicated: set a standby's authentication on the standby.
    ///
    /// [`AuthMethod::Cert`] applies to TLS connections only; `user`'s others are refused.
    /// [`set_auth_over`](Self::set_auth_over) limits any method to TLS or plain
    /// connections.
    pub fn set_auth(&self, user: &str, method: AuthMethod) -> Result<()> {
        self.set_auth_over(user, method, Transport::Any)
    }

    /// [`set_auth`](Self::set_auth) for `user`'s connections over `transport` only; its
    /// other connections are refused (`reject` entries, so the catch-all `trust` entries
    /// never apply to it). [`Transport::Tls`] requires TLS (`hostssl`; the Unix socket is
    /// refused too), [`Transport::Plain`] refuses it (`local` and `hostnossl`). An error
    /// for [`AuthMethod::Cert`] over [`Transport::Plain`].
    ///
    /// ```no_run
    /// use lifeguard_harness::{psql, AuthMethod, Cluster, Transport};
    ///
    /// let cluster = Cluster::builder().tls().start()?;
    /// cluster.create_role("app", None)?;
    /// cluster.set_auth_over("app", AuthMethod::Trust, Transport::Tls)?;
    /// let url = cluster.url_for("app", None, "postgres");
    /// assert!(psql(&format!("{url}?sslmode=disable"), "select 1").is_err());
    /// assert_eq!(psql(&format!("{url}?sslmode=require"), "select 1")?, "1");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn set_auth_over(
        &self,
        user: &str,
        method: AuthMethod,
        transport: Transport,
    ) -> Result<()> {
        let path = self.data_dir().join("pg_hba.conf");
        let current = std::fs::read_to_string(&path).map_err(|e| {
            crate::HarnessError::io(format!("could not read {}", path.display()), e)
        })?;
        let hba = hba::with_user_method(&current, user, method, transport)?;
        template::overwrite(&path, &hba)?;
        self.reload()
    }

    /// Makes the server re-read its configuration files (`pg_reload_conf()`) and waits
    /// until sessions opened from now on see the new configuration.
    pub fn reload(&self) -> Result<()> {
        let loaded = "select pg_conf_load_time()";
        let before = self.psql("postgres", loaded)?;
        self.psql("postgres", "select pg_reload_conf()")?;
        wait_until(
            "the server to reload its configuration",
            self.timeout,
            || Ok(self.psql("postgres", loaded)? != before),
        )
    }

    /// Terminates every other client session connected to database `db`
    /// (`pg_terminate_backend`), waiting for each to end on PostgreSQL 14 and later;
    /// returns how many there were.
    pub fn terminate_backends(&self, db: &str) -> Result<u64> {
        let wait = match PgBinaries::find() {
            Ok(bins) if bins.major_version() >= 14 => ", 10000",
            _ => "",
        };
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid{wait})) FROM pg_stat_activity \
             WHERE datname = {} AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            quote_literal(db)
        );
        let count = self.psql("postgres", &sql)?;
        count.parse().map_err(|_| {
            crate::HarnessError::new(format!("unexpected pg_terminate_backend count `{count}`"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(abbreviate("select\n  1"), "select 1");
    }
}
