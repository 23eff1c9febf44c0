//! Getting a statement's metadata at compile time: described on the database at
//! `DATABASE_URL` (one connection per URL for the whole compiler process), or read from
//! `.lifeguard/` when offline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use lifeguard_offline::describe::Describer;
use lifeguard_offline::description::Description;
use lifeguard_offline::pg::{Config, Connection, Error, Runtime};
use lifeguard_offline::settings::Settings;
use lifeguard_offline::store::{self, Entry};

use crate::sql_error::{self, Origin};

/// Connection attempts that hang give up after this long, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A describe that waits on a lock (say, a migration running) gives up after this long.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// After a failure to reach a database, the expansions that need it fail at once with
/// the same message for this long; then one tries again. A compiler process expands all
/// of a crate's macros well within it (one connect timeout per build, not one per
/// `query!`); a long-lived process (an IDE's proc-macro server) tries again after it,
/// not on every keystroke.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The open describers and the databases that could not be reached, by URL, for the
/// life of the compiler process.
static DATABASES: Mutex<Option<Databases>> = Mutex::new(None);

#[derive(Default)]
struct Databases {
    describers: HashMap<String, Describer>,
    /// When connecting to a URL last failed, and the compile error it gave.
    unreachable: HashMap<String, (Instant, String)>,
}

/// The settings for the crate being compiled: the environment, else its `.env` (see
/// [`lifeguard_offline::settings`]). Read at each expansion (a file read), so that a
/// long-lived process sees an edited `.env`.
pub fn settings() -> Result<Settings, String> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| store::workspace_root(&manifest_dir()));
    Settings::load(&manifest_dir(), root)
}

/// Describes `sql` on the database at `url`; the error is the compile error's text.
///
/// A URL that could not be reached is not tried again for [`RETRY_AFTER`]: each
/// expansion meanwhile gets the first failure's message at once.
pub fn describe_online(
    url: &str,
    sql: &str,
    origin: Option<&Origin>,
) -> Result<Description, String> {
    let mut guard = DATABASES.lock().unwrap_or_else(PoisonError::into_inner);
    let databases = guard.get_or_insert_with(Databases::default);
    if !databases.describers.contains_key(url) {
        if let Some((at, message)) = databases.unreachable.get(url)
            && at.elapsed() < RETRY_AFTER
        {
            return Err(message.clone());
        }
        match connect(url) {
            Ok(describer) => {
                databases.unreachable.remove(url);
                databases.describers.insert(url.to_string(), describer);
            }
            Err(message) => {
                databases
                    .unreachable
                    .insert(url.to_string(), (Instant::now(), message.clone()));
                return Err(message);
            }
        }
    }
    let describer = databases.describers.get_mut(url).expect("inserted above");
    match describer.describe(sql) {
        Ok(desc) => {
            remember(sql, &desc, describer.server_version());
            Ok(desc)
        }
        Err(e) => {
            if !matches!(e, Error::Db(_)) || describer.connection().is_closed() {
                // The connection may be unusable: the next statement opens a new one.
                databases.describers.remove(url);
            }
            Err(sql_error::describe_error(sql, &e, origin))
        }
    }
}

/// Connects to `url`; the error is the compile error's text: the URL without its
/// password, the cause, and the two ways out.
fn connect(url: &str) -> Result<Describer, String> {
    let unreachable = |shown: &str, cause: &dyn std::fmt::Display| {
        format!(
            "could not reach the database at DATABASE_URL ({shown}) to check this statement: \
             {cause}\n\
             (every statement of this build that needs it fails with this message, without \
             trying again)\n\
             either build offline from the committed .lifeguard/ files: set \
             LIFEGUARD_OFFLINE=true\n\
             or fix DATABASE_URL (in the environment or .env) to name a running PostgreSQL"
        )
    };
    let mut config: Config = url
        .parse()
        .map_err(|e: Error| unreachable("not a valid URL", &e))?;
    let shown = config.to_string();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("lifeguard-macros");
    }
    let timeout = config.get_connect_timeout().unwrap_or(CONNECT_TIMEOUT);
    let mut conn = Connection::connect_with(&config, Runtime::Std).map_err(|e| match e {
        Error::Timeout(_) => unreachable(
            &shown,
            &format_args!(
                "no answer within the connect timeout ({} s)",
                timeout.as_secs_f32()
            ),
        ),
        e => unreachable(&shown, &e),
    })?;
    conn.set_statement_timeout(Some(STATEMENT_TIMEOUT));
    Ok(Describer::new(conn))
}

/// Reads the statement's metadata from `.lifeguard/` (see
/// [`store::search_dirs`]); returns it with the file it came from.
pub fn describe_offline(sql: &str, settings: &Settings) -> Result<(Description, PathBuf), String> {
    // One crate per compiler process: its directories are looked up once.
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| store::search_dirs(&manifest_dir()));
    match store::load(dirs, sql) {
        Ok((path, entry)) => Ok((entry.description, path)),
        Err(e) => Err(format!(
            "{e}\n(building offline because {})",
            match (&settings.database_url, &settings.env_file) {
                (Some(_), _) => "LIFEGUARD_OFFLINE is true".to_string(),
                (None, Some(file)) => format!(
                    "DATABASE_URL is set neither in the environment nor in {}",
                    file.display()
                ),
                (None, None) => "DATABASE_URL is not set".to_string(),
            }
        )),
    }
}

/// Writes what an online build found to `.lifeguard/` (see [`store::write_dir`]) unless
/// an entry with the same metadata is already there. Failing to write does not fail the
/// build: `cargo lifeguard prepare --check` reports what is missing or stale.
fn remember(sql: &str, description: &Description, server_version: &str) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| store::write_dir(&manifest_dir()));
    let entry = Entry {
        sql: sql.to_string(),
        description: description.clone(),
        server_version: server_version.to_string(),
    };
    // The usual case, an identical file, costs one read and no parse.
    let path = dir.join(store::file_name(sql));
    if std::fs::read(&path).is_ok_and(|old| old == entry.to_json().as_bytes()) {
        return;
    }
    if store::load(std::slice::from_ref(dir), sql).is_ok_and(|(_, old)| old.same_metadata(&entry)) {
        return;
    }
    let _ = store::save_if_changed(dir, &entry);
}

/// The root of the crate being compiled.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(PathBuf::new, PathBuf::from)
}

/// True for the first call in this compiler process (one crate is compiled per process):
/// what only one expansion per crate needs to emit.
pub fn first_in_process() -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    !DONE.swap(true, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions the macros hold on the database at `url`, by their application name.
    fn sessions(url: &str) -> String {
        lifeguard_harness::psql(
            url,
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = 'lifeguard-macros' AND datname = current_database()",
        )
        .expect("psql")
    }

    /// Statements share one connection per URL; after the server ends it, the next
    /// statement gets an error and the one after that a new connection.
    #[test]
    fn one_connection_per_url_reopened_after_an_error() {
        let url = lifeguard_harness::test_server().fresh_database("lgmacros");
        let scratch = std::env::temp_dir().join(format!("lgmacros-{}", std::process::id()));
        // SAFETY: this crate's only test that touches the environment, set before the
        // describer reads it.
        unsafe { std::env::set_var(store::DIR_ENV, &scratch) };

        describe_online(&url, "SELECT 1 AS one", None).expect("describe");
        describe_online(&url, "SELECT 2 AS two", None).expect("describe");
        assert_eq!(sessions(&url), "1");

        let killed = lifeguard_harness::psql(
            &url,
            "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity \
             WHERE application_name = 'lifeguard-macros' AND datname = current_database()",
        )
        .expect("terminate");
        assert_eq!(killed, "1");
        let err = describe_online(&url, "SELECT 3 AS three", None).expect_err("a dead connection");
        assert!(
            err.contains("could not check") || err.contains("57P01"),
            "{err}"
        );
        describe_online(&url, "SELECT 4 AS four", None).expect("a new connection");
        assert_eq!(sessions(&url), "1");

        let bad = describe_online(&url, "SELECT nope", None).expect_err("bad SQL");
        assert!(bad.contains("42703"), "{bad}");
        describe_online(&url, "SELECT 5 AS five", None).expect("the connection survives bad SQL");
        assert_eq!(sessions(&url), "1");
        let _ = std::fs::remove_dir_all(&scratch);
    }

    /// A URL that could not be reached fails every expansion at once with the same
    /// message, without connecting again, until [`RETRY_AFTER`] has passed.
    #[test]
    fn an_unreachable_url_fails_at_once_until_the_retry_interval() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        {
            let accepted = accepted.clone();
            // Accepts and never answers; the test process ends it.
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming().take(2) {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    held.push(stream);
                }
                std::thread::park();
            });
        }
        let url = format!("postgres://app:s3cret@127.0.0.1:{port}/app?connect_timeout=2");
        let first = describe_online(&url, "SELECT 1", None).expect_err("no answer");
        assert!(
            first.contains(&format!("(postgres://app@127.0.0.1:{port}/app")),
            "{first}"
        );
        assert!(
            first.contains("connect timeout (2 s)") && !first.contains("s3cret"),
            "{first}"
        );
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(
                describe_online(&url, "SELECT 2", None).expect_err("still"),
                first
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // Past the interval (as an IDE's long-lived process would be), it tries again.
        {
            let mut guard = DATABASES.lock().unwrap();
            let entry = guard.as_mut().unwrap().unreachable.get_mut(&url).unwrap();
            entry.0 = Instant::now()
                .checked_sub(RETRY_AFTER)
                .expect("an old enough clock");
        }
        describe_online(&url, "SELECT 3", None).expect_err("no answer again");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
