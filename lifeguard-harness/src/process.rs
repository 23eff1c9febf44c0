//! Running programs (as the `postgres` OS user when we are root) and watching processes.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// The OS user that owns the clusters' files and runs their servers when we are root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerUser {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `None` when this process is not root (servers then run as ourselves); the `postgres`
/// user otherwise, since PostgreSQL refuses to run as root.
pub(crate) fn server_user() -> Result<Option<ServerUser>> {
    static USER: OnceLock<Result<Option<ServerUser>>> = OnceLock::new();
    USER.get_or_init(|| {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        lookup_user("postgres").map(Some).ok_or_else(|| {
            HarnessError::new(
                "running as root, but there is no `postgres` OS user to run the server as \
                 (PostgreSQL refuses to run as root): create one, e.g. \
                 `useradd --system --user-group postgres`, or run as an ordinary user",
            )
        })
    })
    .clone()
}

fn lookup_user(name: &str) -> Option<ServerUser> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data; an all-zero value is valid.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the duration of the call and `buf.len()` is the
    // size of `buf`; getpwnam_r writes only into `pwd` and `buf`.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(ServerUser {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// A command with stdin closed and no inherited `PG*` variables (so that a developer's
/// `PGHOST`, `PGUSER` or `PGOPTIONS` cannot change what the harness talks to).
pub(crate) fn command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Makes `cmd` run as the server user (when we are root), from `dir`.
pub(crate) fn as_server_user(cmd: &mut Command, dir: &Path) -> Result<()> {
    if let Some(user) = server_user()? {
        // root's HOME is not readable by the server user (libpq looks for ~/.pgpass).
        cmd.uid(user.uid).gid(user.gid).env("HOME", dir);
    }
    cmd.current_dir(dir).env("LC_ALL", "C");
    Ok(())
}

/// Gives `path` to the server user (when we are root).
pub(crate) fn chown_to_server_user(path: &Path) -> Result<()> {
    if let Some(user) = server_user()? {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
            .map_err(|e| HarnessError::io(format!("could not chown {}", path.display()), e))?;
    }
    Ok(())
}

/// Runs `cmd` to completion, feeding it `input` on stdin; returns its output, or an error
/// naming `what` when it cannot start or exits unsuccessfully.
pub(crate) fn run(cmd: &mut Command, input: Option<&str>, what: &str) -> Result<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| HarnessError::io(format!("could not start {what}"), e).with_command(cmd))?;
    let stdin = child.stdin.take();
    let output = std::thread::scope(|scope| {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            // A write error means the program exited early; its status tells why.
            scope.spawn(move || {
                let _ = stdin.write_all(input.as_bytes());
            });
        }
        child.wait_with_output()
    })
    .map_err(|e| HarnessError::io(format!("could not wait for {what}"), e).with_command(cmd))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(HarnessError::new(format!("{what} failed"))
            .with_command(cmd)
            .with_output(&output))
    }
}

/// Sends `signal` to `pid`.
pub(crate) fn signal(pid: i32, signal: libc::c_int) -> Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(HarnessError::io(
            format!("could not send signal {signal} to process {pid}"),
            std::io::Error::last_os_error(),
        ))
    }
}

/// The state letter of `pid` from `/proc/PID/stat` (`R`, `S`, `T`, `Z`, ...), `None` when
/// there is no such process.
fn proc_state(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID ..."; COMM may contain spaces and parentheses.
    let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` exists and has not exited (an exited but unreaped process, a zombie,
/// counts as gone).
pub(crate) fn is_alive(pid: i32) -> bool {
    if Path::new("/proc/self/stat").exists() {
        proc_state(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
    } else {
        // SAFETY: kill with signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }
}

/// Waits (polling) until `pid` is stopped by SIGSTOP, or `timeout` passes.
pub(crate) fn wait_stopped(pid: i32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match proc_state(pid) {
            Some(('T', _)) | None => return,
            Some(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// The processes whose parent is `pid` (Linux only; empty elsewhere).
pub(crate) fn children_of(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&child| proc_state(child).is_some_and(|(_, ppid)| ppid == pid))
        .collect()
}

/// Makes this process adopt the orphaned descendants of its children (Linux), so that the
/// backends of a postmaster killed by [`Cluster::kill`](crate::Cluster::kill) can be
/// reaped here instead of lingering as zombies when the system's init does not reap.
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Reaps `pids` (orphans adopted through [`become_subreaper`]) once they exit, waiting at
/// most `timeout`; processes that are not our children are only waited for.
pub(crate) fn reap(pids: &[i32], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<i32> = pids.to_vec();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|&pid| {
            let mut status = 0;
            // SAFETY: waitpid on a specific pid with WNOHANG only writes `status`.
            match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                0 => true,
                -1 => is_alive(pid),
                _ => false,
            }
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
