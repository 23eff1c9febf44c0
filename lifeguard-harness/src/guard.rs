//! The cleanup guard: a small `sh` process per temporary directory that runs the server
//! and removes everything once this process lets go of it, however this process ends.
//!
//! The guard reads commands from a pipe whose write end only this process holds
//! (`O_CLOEXEC`, so no other program inherits it). On `start` it launches the postmaster
//! as its own child and reports the pid; on `wait` it reaps the postmaster and reports how
//! it ended. When the pipe closes — [`Guard`] dropped, an `atexit` hook at normal exit, or
//! the kernel closing our descriptors after a crash or a SIGKILL — the guard stops a
//! running postmaster (immediate shutdown, continuing it and its children in case they
//! were frozen with SIGSTOP), reaps it, removes a stale shared-memory
//! segment left by a killed postmaster, deletes the directory and exits. The postmaster
//! being the guard's child means it is always reaped, even where PID 1 reaps nothing.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{HarnessError, Result};
use crate::process;

const SCRIPT: &str = r#"
trap '' HUP INT PIPE
dir=$1 data=$2 log=$3 postgres=$4
pid=
while IFS= read -r cmd; do
  case $cmd in
    start)
      "$postgres" -D "$data" >>"$log" 2>&1 </dev/null &
      pid=$!
      echo "started $pid" ;;
    wait)
      if [ -n "$pid" ]; then wait "$pid"; st=$?; pid=; echo "exited $st"; else echo "exited none"; fi ;;
    *) echo "unknown $cmd" ;;
  esac
done
if [ -n "$pid" ]; then
  kill -QUIT "$pid" 2>/dev/null
  # A frozen server (SIGSTOP) acts on the signal only once continued.
  command -v pkill >/dev/null 2>&1 && pkill -CONT -P "$pid"
  kill -CONT "$pid" 2>/dev/null
  wait "$pid"
fi
if [ -f "$data/postmaster.pid" ]; then
  set -- $(sed -n 7p "$data/postmaster.pid")
  [ -n "$2" ] && ipcrm -m "$2" 2>/dev/null
fi
rm -rf "$dir"
"#;

/// Environment variable naming the directory to create clusters in.
pub const TMPDIR_ENV: &str = "LIFEGUARD_HARNESS_TMPDIR";

/// How long dropping a guard waits for it to stop the server and delete the directory.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);

/// The live guards, so that an `atexit` hook can finish those that are never dropped
/// (a cluster kept in a `static` or leaked).
static LIVE: Mutex<Vec<Weak<Mutex<Option<GuardProc>>>>> = Mutex::new(Vec::new());

/// Owns a temporary directory through its guard process; see the module docs.
pub(crate) struct Guard {
    dir: PathBuf,
    proc: Arc<Mutex<Option<GuardProc>>>,
}

struct GuardProc {
    child: Child,
    stdin: ChildStdin,
    stdout: LineReader,
}

impl Guard {
    /// Creates a fresh directory named `lifeguard-{kind}-...` under the temporary
    /// directory, owned by the server user, and a guard for it. `postgres` is the server
    /// binary the guard starts on [`start_server`](Self::start_server), with data in
    /// `DIR/data` and its output appended to `DIR/postgres.log`.
    pub(crate) fn create(kind: &str, postgres: &Path) -> Result<Guard> {
        let dir = make_dir(kind)?;
        match Self::spawn(&dir, postgres) {
            Ok(guard) => Ok(guard),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn spawn(dir: &Path, postgres: &Path) -> Result<Guard> {
        process::chown_to_server_user(dir)?;
        let mut cmd = process::command(Path::new("/bin/sh"));
        cmd.arg("-c")
            .arg(SCRIPT)
            .arg("lifeguard-guard")
            .arg(dir)
            .arg(dir.join("data"))
            .arg(dir.join("postgres.log"))
            .arg(postgres);
        process::as_server_user(&mut cmd, dir)?;
        // Its own process group: a Ctrl-C in the terminal reaches the test process only,
        // whose exit then closes the pipe and lets the guard clean up.
        cmd.process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| HarnessError::io("could not start the cleanup guard", e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("stdin and stdout were requested as pipes");
        };
        let proc = Arc::new(Mutex::new(Some(GuardProc {
            child,
            stdin,
            stdout: LineReader::new(stdout),
        })));
        register(&proc);
        Ok(Guard {
            dir: dir.to_path_buf(),
            proc,
        })
    }

    /// The directory this guard removes.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Asks the guard to launch the postmaster; returns its pid.
    pub(crate) fn start_server(&self) -> Result<i32> {
        let reply = self.request("start", Duration::from_secs(10))?;
        reply
            .strip_prefix("started ")
            .and_then(|pid| pid.parse().ok())
            .ok_or_else(|| HarnessError::new(format!("cleanup guard answered `{reply}`")))
    }

    /// Asks the guard to reap the postmaster, waiting at most `timeout` for it to exit.
    /// `Ok(false)` when it is still running at the deadline (the reply is then still
    /// pending: call again after making sure the postmaster exits).
    pub(crate) fn wait_server(&self, timeout: Duration) -> Result<bool> {
        let mut guard = lock(&self.proc);
        let proc = guard
            .as_mut()
            .ok_or_else(|| HarnessError::new("the cleanup guard has already finished"))?;
        if !proc.stdout.waiting {
            writeln!(proc.stdin, "wait")
                .map_err(|e| HarnessError::io("could not talk to the cleanup guard", e))?;
            proc.stdout.waiting = true;
        }
        match proc.stdout.read_line(timeout)? {
            Some(_) => {
                proc.stdout.waiting = false;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn request(&self, command: &str, timeout: Duration) -> Result<String> {
        let mut guard = lock(&self.proc);
        let proc = guard
            .as_mut()
            .ok_or_else(|| HarnessError::new("the cleanup guard has already finished"))?;
        writeln!(proc.stdin, "{command}")
            .map_err(|e| HarnessError::io("could not talk to the cleanup guard", e))?;
        proc.stdout.read_line(timeout)?.ok_or_else(|| {
            HarnessError::new(format!("the cleanup guard did not answer `{command}`"))
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        finish(&self.proc);
    }
}

/// Closes the guard's pipe and waits for it to stop the server and delete the directory.
fn finish(proc: &Mutex<Option<GuardProc>>) {
    let Some(GuardProc {
        mut child, stdin, ..
    }) = lock(proc).take()
    else {
        return;
    };
    drop(stdin);
    let deadline = Instant::now() + FINISH_TIMEOUT;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            _ => return,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register(proc: &Arc<Mutex<Option<GuardProc>>>) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: `finish_all_at_exit` is an `extern "C" fn()` that never unwinds.
        unsafe { libc::atexit(finish_all_at_exit) };
    });
    let mut live = lock(&LIVE);
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(proc));
}

/// Runs at normal process exit (`main` returning or `std::process::exit`): finishes every
/// guard that was never dropped, so that nothing outlives the process.
extern "C" fn finish_all_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let Ok(live) = LIVE.try_lock() else { return };
        for proc in live.iter().filter_map(Weak::upgrade) {
            if proc.try_lock().is_ok() {
                finish(&proc);
            }
        }
    });
}

/// Where the temporary directories go: `LIFEGUARD_HARNESS_TMPDIR` if set, else
/// `/dev/shm` when it is usable and roomy (a memory file system: copying a data directory
/// there takes a few tens of milliseconds instead of up to a second on a slow disk, and
/// durability is off anyway), else the system temporary directory.
fn base_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TMPDIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if shm_is_roomy() {
        return PathBuf::from("/dev/shm");
    }
    std::env::temp_dir()
}

/// Whether `/dev/shm` is writable and has at least 1 GiB free (a container's default
/// 64 MiB would not hold two data directories).
fn shm_is_roomy() -> bool {
    let path = c"/dev/shm";
    // SAFETY: `path` is NUL-terminated; access only reads it.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return false;
    }
    // SAFETY: statvfs is plain old data; an all-zero value is valid.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stat` is a valid statvfs to write into.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    #[allow(clippy::useless_conversion)] // the field types are narrower on 32-bit targets
    let free = u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize));
    free >= 1 << 30
}

fn make_dir(kind: &str) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let mut base = base_dir();
    // The server's socket lives in this directory; keep its path short enough for
    // sockaddr_un (107 bytes) when the base is deep.
    if base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "lifeguard-{kind}-{}-{seq}-{:05x}",
            std::process::id(),
            (nanos ^ seq.wrapping_mul(0x9e37_79b9)) & 0xfffff
        );
        let dir = base.join(name);
        match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(HarnessError::io(
                    format!("could not create {}", dir.display()),
                    e,
                ));
            }
        }
    }
}

/// Line reader over the guard's stdout with a timeout (poll(2)).
struct LineReader {
    out: ChildStdout,
    buf: Vec<u8>,
    /// A `wait` was sent and its reply not yet read.
    waiting: bool,
}

impl LineReader {
    fn new(out: ChildStdout) -> Self {
        LineReader {
            out,
            buf: Vec::new(),
            waiting: false,
        }
    }

    /// The next line, `None` at the timeout, an error at end of file.
    fn read_line(&mut self, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_owned()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.out.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = left.as_millis().clamp(1, 1000) as libc::c_int;
            // SAFETY: `pfd` is one valid pollfd and the count passed is 1.
            if unsafe { libc::poll(&mut pfd, 1, millis) } <= 0 {
                continue;
            }
            let mut chunk = [0u8; 256];
            match self.out.read(&mut chunk) {
                Ok(0) => return Err(HarnessError::new("the cleanup guard exited unexpectedly")),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HarnessError::io("could not read from the cleanup guard", e)),
            }
        }
    }
}
