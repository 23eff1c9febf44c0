//! Builds of a scratch crate that uses the `query!` family, run with `cargo check` as a
//! user runs them: what the environment, a `.env` file and an unreachable database do to
//! a whole build (one compiler process), which a test inside one process cannot show.
//!
//! Each test writes its crate to a temporary directory (a workspace of its own, so its
//! `.env` and `.lifeguard/` are its own) and builds it in one target directory under
//! `CARGO_TARGET_TMPDIR` shared by these tests: the first build compiles Lifeguard and
//! its dependencies (a minute or two), later ones only the scratch crate. Every build has
//! a deadline and is killed past it.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The macros' default connect timeout (`lifeguard-macros/src/metadata.rs`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A crate of its own in a temporary directory, depending on this repository's
/// `lifeguard`.
struct Scratch {
    dir: tempfile::TempDir,
}

/// What one `cargo check` did.
struct Build {
    ok: bool,
    stderr: String,
    took: Duration,
}

impl Scratch {
    fn new(name: &str, lib: &str) -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nlifeguard = {{ path = {:?} }}\n\n[workspace]\n",
            repo.join("lifeguard")
        );
        std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("Cargo.toml");
        // The repository's versions of every dependency: nothing to resolve or fetch.
        std::fs::copy(repo.join("Cargo.lock"), dir.path().join("Cargo.lock")).expect("lock");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        let scratch = Scratch { dir };
        scratch.write("src/lib.rs", lib);
        scratch
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).expect("write");
    }

    /// `cargo check` with the settings' variables removed from the environment, then
    /// `env` set; killed after `deadline`.
    fn check(&self, env: &[(&str, &str)], deadline: Duration) -> Build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture-builds");
        let mut cmd = Command::new(cargo);
        cmd.args(["check", "--quiet", "--color", "never"])
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", target)
            .env_remove("DATABASE_URL")
            .env_remove("LIFEGUARD_OFFLINE")
            .env_remove("LIFEGUARD_OFFLINE_DIR")
            .env_remove("RUSTFLAGS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("runs cargo");
        let mut pipe = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cargo check still running after {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = started.elapsed();
        let stderr = reader.join().expect("stderr reader");
        Build {
            ok: status.success(),
            stderr,
            took,
        }
    }
}

/// Long enough for the first build, which compiles Lifeguard's dependencies.
const FIRST_BUILD: Duration = Duration::from_secs(480);

/// A listener that accepts connections and never answers (a port-forward whose far end
/// is gone, a frozen server), until dropped.
struct Silent {
    port: u16,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            held.push(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Silent {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// With `DATABASE_URL` on a listener that never answers, a crate of 50 `query!` calls
/// fails within the connect timeout plus 5 s (not 50 connect timeouts), every call with
/// an error that names the URL without its password, the cause and both ways out.
#[test]
fn a_dead_database_fails_the_build_at_once() {
    let mut lib = String::from("pub fn run(pool: &lifeguard::Pool) {\n");
    for i in 1..=50 {
        lib.push_str(&format!(
            "    let _ = lifeguard::query!(\"SELECT {i} AS k{i}\").fetch_one(pool);\n"
        ));
    }
    lib.push_str("}\n");
    let scratch = Scratch::new("dead_database", &lib);
    // Dependencies first (offline, which fails for want of entries), so that the timed
    // build compiles the scratch crate only.
    let warm = scratch.check(&[("LIFEGUARD_OFFLINE", "true")], FIRST_BUILD);
    assert!(
        !warm.ok && warm.stderr.contains("no offline metadata"),
        "{}",
        warm.stderr
    );

    let silent = Silent::start();
    let url = format!("postgres://app:s3cret@127.0.0.1:{}/app", silent.port);
    let build = scratch.check(&[("DATABASE_URL", &url)], FIRST_BUILD);
    let shown = format!(
        "could not reach the database at DATABASE_URL (postgres://app@127.0.0.1:{}/app)",
        silent.port
    );
    assert!(!build.ok, "{}", build.stderr);
    let errors = build.stderr.matches("error: ").count();
    let explained = build.stderr.matches(&shown).count();
    // 50 errors and rustc's closing "could not compile" line.
    assert_eq!((errors, explained), (51, 50), "{}", build.stderr);
    for needed in [
        "no answer within the connect timeout (5 s)",
        "set LIFEGUARD_OFFLINE=true",
        "or fix DATABASE_URL",
    ] {
        assert_eq!(
            build.stderr.matches(needed).count(),
            50,
            "{needed}\n{}",
            build.stderr
        );
    }
    assert!(!build.stderr.contains("s3cret"), "{}", build.stderr);
    assert_eq!(
        silent.accepted.load(Ordering::Relaxed),
        1,
        "one connection attempt"
    );
    assert!(
        build.took < CONNECT_TIMEOUT + Duration::from_secs(5),
        "the build took {:?}",
        build.took
    );
}

/// A crate with one statement, checked against `queries/schema.sql`'s `users`.
const ONE_QUERY: &str = "pub fn run(pool: &lifeguard::Pool) {
    let _ = lifeguard::query!(\"SELECT id, name FROM users WHERE id = $1\", 1).fetch_one(pool);
}
";

/// `DATABASE_URL`, `LIFEGUARD_OFFLINE` and `LIFEGUARD_OFFLINE_DIR` come from the crate's
/// `.env` when the environment does not set them; the environment wins.
#[test]
fn dot_env_is_read_and_the_environment_wins() {
    let url = lifeguard_suite::schema_database("dotenv");
    let scratch = Scratch::new("dot_env", ONE_QUERY);
    let entry = scratch
        .path(".lifeguard")
        .join(lifeguard_offline::store::file_name(ONE_QUERY_SQL));

    // Picked up: the build is online (it writes the statement's entry).
    scratch.write(
        ".env",
        &format!("# the scratch crate's settings\nDATABASE_URL={url}\n"),
    );
    let build = scratch.check(&[], FIRST_BUILD);
    assert!(build.ok, "{}", build.stderr);
    assert!(
        entry.is_file(),
        "the online build wrote {}",
        entry.display()
    );

    // Overridden: the environment's URL (a closed port) is the one tried.
    let build = scratch.check(
        &[("DATABASE_URL", "postgres://app@127.0.0.1:1/app")],
        FIRST_BUILD,
    );
    assert!(!build.ok);
    assert!(
        build.stderr.contains("(postgres://app@127.0.0.1:1/app)"),
        "{}",
        build.stderr
    );
    // LIFEGUARD_OFFLINE from the environment: offline, from the entry written above.
    let build = scratch.check(
        &[
            ("DATABASE_URL", "postgres://app@127.0.0.1:1/app"),
            ("LIFEGUARD_OFFLINE", "true"),
        ],
        FIRST_BUILD,
    );
    assert!(build.ok, "{}", build.stderr);

    // LIFEGUARD_OFFLINE and LIFEGUARD_OFFLINE_DIR from the file: offline (the file's URL
    // is a closed port), from the directory it names (the entry moved there).
    std::fs::rename(scratch.path(".lifeguard"), scratch.path("elsewhere")).expect("move");
    scratch.write(
        ".env",
        "DATABASE_URL=postgres://app@127.0.0.1:1/app\nLIFEGUARD_OFFLINE=true\n\
         LIFEGUARD_OFFLINE_DIR=elsewhere\n",
    );
    let build = scratch.check(&[], FIRST_BUILD);
    assert!(build.ok, "{}", build.stderr);
    // ... and the environment's LIFEGUARD_OFFLINE_DIR wins over the file's.
    let build = scratch.check(&[("LIFEGUARD_OFFLINE_DIR", "nowhere")], FIRST_BUILD);
    assert!(!build.ok);
    assert!(
        build.stderr.contains("no offline metadata"),
        "{}",
        build.stderr
    );
    assert!(build.stderr.contains("nowhere"), "{}", build.stderr);
}

/// Editing `.env` re-runs the checks on the next build, with no source file touched.
#[test]
fn editing_dot_env_reruns_the_check() {
    let url = lifeguard_suite::schema_database("dotenvedit");
    let scratch = Scratch::new("dot_env_edit", ONE_QUERY);
    scratch.write(".env", &format!("DATABASE_URL={url}\n"));
    let build = scratch.check(&[], FIRST_BUILD);
    assert!(build.ok, "{}", build.stderr);

    scratch.write(".env", "DATABASE_URL=postgres://app@127.0.0.1:1/app\n");
    let build = scratch.check(&[], FIRST_BUILD);
    assert!(!build.ok, "the edit re-ran the check");
    assert!(
        build.stderr.contains("(postgres://app@127.0.0.1:1/app)"),
        "{}",
        build.stderr
    );

    scratch.write(".env", &format!("DATABASE_URL={url}\n"));
    let build = scratch.check(&[], FIRST_BUILD);
    assert!(build.ok, "{}", build.stderr);
}

/// The SQL of [`ONE_QUERY`].
const ONE_QUERY_SQL: &str = "SELECT id, name FROM users WHERE id = $1";

/// `queries!` offline round trip: an online build writes an entry per named statement,
/// an offline build reads them, and editing the `.sql` file (no Rust source touched)
/// re-runs the check, which then finds no entry for the changed statement.
#[test]
fn queries_offline_round_trip_and_edits() {
    let url = lifeguard_suite::schema_database("queriesround");
    let lib = "lifeguard::queries!(pub mod users = \"sql/users.sql\");\n\
               pub fn run(pool: &lifeguard::Pool) -> Result<u64, lifeguard::Error> {\n\
               \x20   users::rename(pool, 1, \"ada\")\n}\n";
    let scratch = Scratch::new("queries_round_trip", lib);
    std::fs::create_dir_all(scratch.path("sql")).expect("sql dir");
    let sql = "-- name: by_id(id) :optional\nSELECT id, name FROM users WHERE id = $1;\n\n\
               -- name: rename(id, name)\nUPDATE users SET name = $2 WHERE id = $1;\n";
    scratch.write("sql/users.sql", sql);

    let build = scratch.check(&[("DATABASE_URL", &url)], FIRST_BUILD);
    assert!(build.ok, "{}", build.stderr);
    let entries = std::fs::read_dir(scratch.path(".lifeguard"))
        .expect(".lifeguard")
        .count();
    assert_eq!(entries, 2);
    let build = scratch.check(&[("LIFEGUARD_OFFLINE", "true")], FIRST_BUILD);
    assert!(build.ok, "{}", build.stderr);

    scratch.write(
        "sql/users.sql",
        &sql.replace("WHERE id = $1;\n\n", "WHERE id = $1 LIMIT 1;\n\n"),
    );
    let build = scratch.check(&[("LIFEGUARD_OFFLINE", "true")], FIRST_BUILD);
    assert!(!build.ok, "the edit re-ran the check");
    assert!(
        build
            .stderr
            .contains("in `by_id` (sql/users.sql:2): no offline metadata"),
        "{}",
        build.stderr
    );
}
