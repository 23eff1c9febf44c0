//! Streaming replication: [`Cluster::start_standby`] and the replay and WAL-position
//! helpers used to test routing against a real standby.

use std::time::Duration;

use crate::admin::quote_literal;
use crate::binaries::PgBinaries;
use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use crate::guard::Guard;
use crate::process;
use crate::wait::wait_until;

impl Cluster {
    /// Starts a streaming hot standby of this cluster: `pg_basebackup -R -X stream` over
    /// TCP as `postgres` into a new temporary directory, then a server on its own port and
    /// socket with `hot_standby = on`. Returns once the standby answers read-only queries.
    ///
    /// The standby is an independent [`Cluster`]: it has its own [`Drop`], its own
    /// [`stop`](Cluster::stop) and [`kill`](Cluster::kill), and outlives the primary if
    /// need be (it then keeps retrying to connect). It inherits the primary's settings
    /// and `pg_hba.conf` as they are at the time of the copy. The standby of a cluster
    /// that speaks TLS serves a copy of its [`Certificates`](crate::Certificates), in its
    /// own directory: the same CA verifies both.
    ///
    /// ```no_run
    /// use lifeguard_harness::Cluster;
    ///
    /// let primary = Cluster::start()?;
    /// let standby = primary.start_standby()?;
    /// assert!(standby.is_in_recovery()?);
    /// assert!(standby.psql("postgres", "create table t (a int)").is_err()); // read-only
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn start_standby(&self) -> Result<Cluster> {
        let bins = PgBinaries::find()?;
        let guard = Guard::create("standby", &bins.bin_dir().join("postgres"))?;
        let data_dir = guard.dir().join("data");
        let mut cmd = process::command(&bins.tool("pg_basebackup")?);
        cmd.arg("-D")
            .arg(&data_dir)
            .args(["-R", "-X", "stream", "-c", "fast", "-N"])
            .args(["-h", "127.0.0.1", "-p", &self.port().to_string()])
            .args(["-U", "postgres"]);
        process::as_server_user(&mut cmd, guard.dir())?;
        process::run(&mut cmd, None, "pg_basebackup")?;
        let tls = self
            .tls()
            .map(|certs| certs.copy_into(guard.dir()))
            .transpose()?;
        let settings = [("hot_standby".to_owned(), "on".to_owned())];
        let standby = Cluster::boot(guard, data_dir, tls, &settings, self.timeout)?;
        wait_until("the standby to accept queries", self.timeout, || {
            standby.is_in_recovery()
        })?;
        Ok(standby)
    }

    /// Whether the server is in recovery (`pg_is_in_recovery()`): true on a standby.
    pub fn is_in_recovery(&self) -> Result<bool> {
        Ok(self.psql("postgres", "select pg_is_in_recovery()")? == "t")
    }

    /// Pauses WAL replay on this standby (`pg_wal_replay_pause()`): WAL keeps arriving
    /// but no further record is applied, so changes committed on the primary from now
    /// on stay invisible here until [`resume_replay`](Self::resume_replay).
    pub fn pause_replay(&self) -> Result<()> {
        self.psql("postgres", "select pg_wal_replay_pause()")
            .map(drop)
    }

    /// Resumes WAL replay on this standby (`pg_wal_replay_resume()`).
    pub fn resume_replay(&self) -> Result<()> {
        self.psql("postgres", "select pg_wal_replay_resume()")
            .map(drop)
    }

    /// The current WAL write position of this primary (`pg_current_wal_lsn()`), as text
    /// such as `0/3000148`: WAL up to there has been handed to the kernel and can be
    /// streamed. An error on a standby.
    pub fn current_wal_lsn(&self) -> Result<String> {
        self.psql("postgres", "select pg_current_wal_lsn()")
    }

    /// The position of the last WAL record inserted on this primary
    /// (`pg_current_wal_insert_lsn()`), as text. With `synchronous_commit = off` a commit
    /// can be inserted but not yet written (see [`current_wal_lsn`](Self::current_wal_lsn)),
    /// so this is the position to wait for on a standby. An error on a standby.
    pub fn current_wal_insert_lsn(&self) -> Result<String> {
        self.psql("postgres", "select pg_current_wal_insert_lsn()")
    }

    /// The last WAL position replayed by this standby (`pg_last_wal_replay_lsn()`), as
    /// text. An error on a server that is not a standby.
    pub fn last_replay_lsn(&self) -> Result<String> {
        let lsn = self.psql("postgres", "select pg_last_wal_replay_lsn()")?;
        if lsn.is_empty() {
            return Err(HarnessError::new(format!(
                "the server on port {} is not a standby (pg_last_wal_replay_lsn() is NULL)",
                self.port()
            )));
        }
        Ok(lsn)
    }

    /// Waits until this standby has replayed everything `primary` had committed when the
    /// call started (its [`current_wal_insert_lsn`](Self::current_wal_insert_lsn)), at
    /// most `timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # let primary = lifeguard_harness::Cluster::start()?;
    /// # let standby = primary.start_standby()?;
    /// primary.psql("postgres", "create table t (a int)")?;
    /// standby.wait_for_replay(&primary, Duration::from_secs(30))?;
    /// assert_eq!(standby.psql("postgres", "select count(*) from t")?, "0");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn wait_for_replay(&self, primary: &Cluster, timeout: Duration) -> Result<()> {
        let target = quote_literal(&primary.current_wal_insert_lsn()?);
        let sql = format!("select pg_wal_lsn_diff(pg_last_wal_replay_lsn(), {target}) >= 0");
        wait_until(
            &format!("the standby to replay up to {target}"),
            timeout,
            || Ok(self.psql("postgres", &sql)? == "t"),
        )
    }
}
