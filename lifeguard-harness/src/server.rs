//! Controlling a [`Cluster`]'s server process: [`StopMode`], stop, start again, restart,
//! kill, freeze and thaw, and waiting for it to accept connections.
//!
//! Freezing stops (SIGSTOP) the postmaster first and its children after: a stopped
//! postmaster cannot fork, so the children listed then are all there are until it is
//! continued, and [`Cluster::thaw`] continues them before it continues the postmaster.
//! Every method that signals the server to end thaws it first, since a stopped process
//! acts on no signal but SIGKILL.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::error::{HarnessError, Result};
use crate::process;

/// How [`Cluster::stop`] and [`Cluster::restart`] shut the server down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopMode {
    /// Fast shutdown (SIGINT): sessions are terminated, a shutdown checkpoint is written.
    Fast,
    /// Immediate shutdown (SIGQUIT): everything exits at once; the next start runs crash
    /// recovery.
    Immediate,
}

impl StopMode {
    fn signal(self) -> libc::c_int {
        match self {
            StopMode::Fast => libc::SIGINT,
            StopMode::Immediate => libc::SIGQUIT,
        }
    }
}

/// How long the server's children may take to exit after [`Cluster::kill`].
const KILL_REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Cluster::freeze`] waits for each process to show as stopped.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(1);

impl Cluster {
    /// Whether the server is running (started and not exited; a server that crashed on
    /// its own counts as not running).
    pub fn is_running(&self) -> bool {
        self.lock_postmaster().is_some_and(process::is_alive)
    }

    /// The postmaster's process id while it is running.
    pub fn pid(&self) -> Option<u32> {
        self.lock_postmaster()
            .filter(|&pid| process::is_alive(pid))
            .map(|pid| pid as u32)
    }

    /// Shuts the server down and waits for it to exit (thawing it first when it is
    /// [frozen](Self::freeze)). Nothing happens when it is not running. If it has not exited within the start timeout it is killed and an error
    /// is returned.
    ///
    /// With [`StopMode::Immediate`] (and [`kill`](Self::kill)), commits of the last few
    /// hundred milliseconds can be lost, since `synchronous_commit` is off — as after a
    /// real crash with that setting. A test that needs every acknowledged commit to
    /// survive sets `.setting("synchronous_commit", "on")` on the
    /// [`ClusterBuilder`](crate::ClusterBuilder), or runs `CHECKPOINT` first.
    ///
    /// ```no_run
    /// use lifeguard_harness::{Cluster, StopMode};
    ///
    /// let cluster = Cluster::start()?;
    /// cluster.stop(StopMode::Immediate)?;
    /// assert!(!cluster.is_running());
    /// cluster.start_again()?; // same port, same data, after crash recovery
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn stop(&self, mode: StopMode) -> Result<()> {
        let mut postmaster = self.lock_postmaster();
        let Some(pid) = *postmaster else {
            return Ok(());
        };
        self.thaw_locked(pid)?;
        if process::is_alive(pid) {
            process::signal(pid, mode.signal())?;
        }
        if self.guard.wait_server(self.timeout)? {
            *postmaster = None;
            return Ok(());
        }
        let _ = process::signal(pid, libc::SIGKILL);
        let reaped = self.guard.wait_server(KILL_REAP_TIMEOUT)?;
        if reaped {
            *postmaster = None;
        }
        Err(self.server_error(
            format!(
                "PostgreSQL did not stop ({mode:?}) within {:?}{}",
                self.timeout,
                if reaped { "; it was killed" } else { "" }
            ),
            0,
        ))
    }

    /// Starts the server again after [`stop`](Self::stop), [`kill`](Self::kill) or a
    /// crash: same data directory, same port, same socket. Returns once it accepts
    /// connections. An error if it is already running.
    pub fn start_again(&self) -> Result<()> {
        let mut postmaster = self.lock_postmaster();
        if let Some(pid) = *postmaster {
            if process::is_alive(pid) {
                return Err(HarnessError::new(format!(
                    "PostgreSQL is already running (pid {pid}) on port {}",
                    self.port
                )));
            }
            // It exited on its own: reap it first.
            self.guard.wait_server(KILL_REAP_TIMEOUT)?;
            *postmaster = None;
        }
        self.launch(&mut postmaster)
    }

    /// [`stop`](Self::stop) with `mode`, then [`start_again`](Self::start_again).
    pub fn restart(&self, mode: StopMode) -> Result<()> {
        self.stop(mode)?;
        self.start_again()
    }

    /// Kills the server like a crash of the whole machine would: SIGKILL to the
    /// postmaster and to all its processes at once, so every client connection drops
    /// immediately and nothing is written. Returns once they are all gone; then
    /// [`start_again`](Self::start_again) runs crash recovery. Nothing happens when the
    /// server is not running. A [frozen](Self::freeze) server is thawed first.
    ///
    /// On Linux this process becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`) the
    /// first time it kills a cluster, so that it can reap the killed server processes
    /// itself: PID 1 of a container may never do it.
    pub fn kill(&self) -> Result<()> {
        let mut postmaster = self.lock_postmaster();
        let Some(pid) = *postmaster else {
            return Ok(());
        };
        self.thaw_locked(pid)?;
        let mut children = Vec::new();
        if process::is_alive(pid) {
            // Stopped, the postmaster can neither fork nor react while we look around.
            process::signal(pid, libc::SIGSTOP)?;
            process::wait_stopped(pid, Duration::from_secs(1));
            children = process::children_of(pid);
            process::become_subreaper();
            for &child in &children {
                let _ = process::signal(child, libc::SIGKILL);
            }
            process::signal(pid, libc::SIGKILL)?;
        }
        if !self.guard.wait_server(KILL_REAP_TIMEOUT)? {
            return Err(HarnessError::new(format!(
                "the killed postmaster (pid {pid}) did not exit"
            )));
        }
        *postmaster = None;
        process::reap(&children, KILL_REAP_TIMEOUT);
        Ok(())
    }

    /// Freezes the server, like a hung host or a network that silently drops every
    /// packet looks to its clients: SIGSTOP to the postmaster, then to each of its
    /// processes (backends, WAL writer, checkpointer, ...). The kernel still completes
    /// TCP connects to its port (they wait in the listen backlog), but nothing answers:
    /// not a startup, not a query, not a cancel request. Returns once every process is
    /// stopped. An error when the server is not running.
    ///
    /// [`thaw`](Self::thaw) lets it go on where it stopped. [`stop`](Self::stop),
    /// [`kill`](Self::kill) and dropping the cluster thaw it first. Helpers that talk
    /// to the server ([`psql`](Self::psql) and the admin methods) wait for it, up to
    /// their connect timeout, while it is frozen.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    /// use lifeguard_harness::Cluster;
    ///
    /// let cluster = Cluster::start()?;
    /// cluster.freeze()?;
    /// let mut socket = TcpStream::connect(("127.0.0.1", cluster.port())).unwrap(); // connects
    /// socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    /// assert!(socket.read(&mut [0; 1]).is_err()); // but nobody answers
    /// cluster.thaw()?;
    /// assert_eq!(cluster.psql("postgres", "select 1")?, "1");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn freeze(&self) -> Result<()> {
        let postmaster = self.lock_postmaster();
        let pid = postmaster
            .filter(|&pid| process::is_alive(pid))
            .ok_or_else(|| {
                HarnessError::new(format!(
                    "cannot freeze the server on port {}: it is not running",
                    self.port
                ))
            })?;
        self.frozen.store(true, Ordering::SeqCst);
        process::signal(pid, libc::SIGSTOP)?;
        process::wait_stopped(pid, STOPPED_TIMEOUT);
        let children = process::children_of(pid);
        for &child in &children {
            // A child that exited meanwhile needs no stopping.
            let _ = process::signal(child, libc::SIGSTOP);
        }
        for &child in &children {
            process::wait_stopped(child, STOPPED_TIMEOUT);
        }
        Ok(())
    }

    /// Lets a [frozen](Self::freeze) server go on: SIGCONT to its processes, then to the
    /// postmaster. What clients sent meanwhile is answered then; connects waiting in the
    /// backlog are accepted. Nothing happens when the server is not frozen.
    pub fn thaw(&self) -> Result<()> {
        let postmaster = self.lock_postmaster();
        match *postmaster {
            Some(pid) => self.thaw_locked(pid),
            None => Ok(()),
        }
    }

    /// Whether the server is [frozen](Self::freeze) (and not thawed since).
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// [`thaw`](Self::thaw) for a caller that holds the postmaster lock.
    fn thaw_locked(&self, pid: i32) -> Result<()> {
        if !self.frozen.swap(false, Ordering::SeqCst) || !process::is_alive(pid) {
            return Ok(());
        }
        // The postmaster is still stopped: these are all its children.
        for child in process::children_of(pid) {
            let _ = process::signal(child, libc::SIGCONT);
        }
        process::signal(pid, libc::SIGCONT)
    }

    /// Starts the postmaster through the guard and waits until `postmaster.pid` says it
    /// accepts connections (what `pg_ctl -w` checks), at most the start timeout.
    pub(crate) fn launch(&self, postmaster: &mut Option<i32>) -> Result<()> {
        let log_offset = self.log_len();
        let pid = self.guard.start_server()?;
        *postmaster = Some(pid);
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if self.pid_file_says_ready(pid) {
                return Ok(());
            }
            if !process::is_alive(pid) {
                let _ = self.guard.wait_server(KILL_REAP_TIMEOUT);
                *postmaster = None;
                return Err(self.server_error(
                    format!("PostgreSQL exited while starting on port {}", self.port),
                    log_offset,
                ));
            }
            if Instant::now() >= deadline {
                let _ = process::signal(pid, libc::SIGQUIT);
                if matches!(self.guard.wait_server(KILL_REAP_TIMEOUT), Ok(true)) {
                    *postmaster = None;
                }
                return Err(self.server_error(
                    format!(
                        "PostgreSQL did not accept connections within {:?}",
                        self.timeout
                    ),
                    log_offset,
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Line 1 of `postmaster.pid` is the pid, line 8 the status (`ready` once
    /// connections are accepted, including read-only ones on a hot standby).
    fn pid_file_says_ready(&self, pid: i32) -> bool {
        let Ok(text) = std::fs::read_to_string(self.data_dir.join("postmaster.pid")) else {
            return false;
        };
        let lines: Vec<&str> = text.lines().collect();
        lines.first().map(|l| l.trim()) == Some(pid.to_string().as_str())
            && lines.get(7).map(|l| l.trim()) == Some("ready")
    }
}
