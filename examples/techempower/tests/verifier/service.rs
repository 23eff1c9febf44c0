//! Runs the service binary for a test: on a free port of 127.0.0.1, its output collected
//! by two threads, every wait bounded; killed when the test is done with it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the service may take to listen: a private cluster, the schema and the
/// 10,000 rows, the statements checked, in a debug build on a busy machine.
const START_BOUND: Duration = Duration::from_secs(120);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);

/// A running service.
pub struct Service {
    child: Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Service {
    /// Starts the service on `database_url`, or with `DATABASE_URL` unset when `None`
    /// (it then starts a PostgreSQL of its own), and waits until it listens.
    pub fn start(database_url: Option<&str>) -> Service {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_techempower"));
        command
            .arg(&addr)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        let mut child = command.spawn().expect("start the techempower binary");
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        let mut service = Service {
            child,
            addr,
            stdout,
            stderr,
        };
        let listening = format!("listening on http://{}", service.addr);
        service.wait_for_stdout(&listening, START_BOUND);
        service
    }

    /// Waits up to `bound` for a line of stdout that starts with `prefix`; returns it.
    pub fn wait_for_stdout(&mut self, prefix: &str, bound: Duration) -> String {
        let stdout = self.stdout.clone();
        self.wait_for_line(&stdout, prefix, bound)
    }

    /// Waits up to `bound` for a line of stderr that starts with `prefix`; returns it.
    pub fn wait_for_stderr(&mut self, prefix: &str, bound: Duration) -> String {
        let stderr = self.stderr.clone();
        self.wait_for_line(&stderr, prefix, bound)
    }

    fn wait_for_line(&mut self, out: &Mutex<String>, prefix: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let text = out.lock().expect("output lock").clone();
            if let Some(line) = text.lines().find(|l| l.starts_with(prefix)) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(POLL); // the collecting threads finish what was written
                panic!(
                    "the service exited ({status}) before printing {prefix:?}\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no line {prefix:?} within {bound:?}\n{}",
                self.output()
            );
            thread::sleep(POLL);
        }
    }

    /// Sends SIGTERM: the service stops gracefully.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits up to `bound` for the service to exit; `None` if it still runs.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Everything it printed so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout\n{}--- stderr\n{}",
            self.stdout.lock().expect("output lock"),
            self.stderr.lock().expect("output lock")
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now (the service binds it a moment later).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Appends everything `stream` says to a shared string, line by line, until it closes.
fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = out.clone();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().expect("output lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
    out
}
