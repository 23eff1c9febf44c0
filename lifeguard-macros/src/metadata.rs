//! Getting a statement's metadata at compile time: described on the database at
//! `DATABASE_URL` (one connection per URL for the whole compiler process), or read from
//! `.lifeguard/` when offline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use lifeguard_offline::describe::Describer;
use lifeguard_offline::description::Description;
use lifeguard_offline::pg::{Config, Connection, Error, Runtime};
use lifeguard_offline::store::{self, Entry};

use crate::sql_error;

/// Connection attempts that hang give up after this long, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A describe that waits on a lock (say, a migration running) gives up after this long.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One describer per database URL, kept for the life of the compiler process.
static DESCRIBERS: Mutex<Option<HashMap<String, Describer>>> = Mutex::new(None);

/// Where the metadata comes from.
pub enum Mode {
    /// Describe on this database.
    Online(String),
    /// Read `.lifeguard/`.
    Offline,
}

impl Mode {
    /// Online when `DATABASE_URL` is set and `LIFEGUARD_OFFLINE` is not true.
    pub fn from_env() -> Mode {
        let offline = std::env::var("LIFEGUARD_OFFLINE")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
        match std::env::var("DATABASE_URL") {
            Ok(url) if !offline && !url.is_empty() => Mode::Online(url),
            _ => Mode::Offline,
        }
    }
}

/// Describes `sql` on the database at `url`; the error is the compile error's text.
pub fn describe_online(url: &str, sql: &str) -> Result<Description, String> {
    let mut guard = DESCRIBERS.lock().unwrap_or_else(PoisonError::into_inner);
    let describers = guard.get_or_insert_with(HashMap::new);
    if !describers.contains_key(url) {
        let describer = connect(url).map_err(|e| {
            format!(
                "could not connect to DATABASE_URL to check this statement: {e}\n\
                 (set LIFEGUARD_OFFLINE=true to build from the committed .lifeguard/ files)"
            )
        })?;
        describers.insert(url.to_string(), describer);
    }
    let describer = describers.get_mut(url).expect("inserted above");
    match describer.describe(sql) {
        Ok(desc) => {
            remember(sql, &desc, describer.server_version());
            Ok(desc)
        }
        Err(e) => {
            if !matches!(e, Error::Db(_)) || describer.connection().is_closed() {
                // The connection may be unusable: the next statement opens a new one.
                describers.remove(url);
            }
            Err(sql_error::describe_error(sql, &e))
        }
    }
}

fn connect(url: &str) -> Result<Describer, Error> {
    let mut config: Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("lifeguard-macros");
    }
    let mut conn = Connection::connect_with(&config, Runtime::Std)?;
    conn.set_statement_timeout(Some(STATEMENT_TIMEOUT));
    Ok(Describer::new(conn))
}

/// Reads the statement's metadata from `.lifeguard/` (see
/// [`store::search_dirs`]); returns it with the file it came from.
pub fn describe_offline(sql: &str) -> Result<(Description, PathBuf), String> {
    // One crate per compiler process: its directories are looked up once.
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| store::search_dirs(&manifest_dir()));
    match store::load(dirs, sql) {
        Ok((path, entry)) => Ok((entry.description, path)),
        Err(e) => Err(format!(
            "{e}\n(building offline because {})",
            if std::env::var_os("DATABASE_URL").is_some() {
                "LIFEGUARD_OFFLINE is true"
            } else {
                "DATABASE_URL is not set"
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

        describe_online(&url, "SELECT 1 AS one").expect("describe");
        describe_online(&url, "SELECT 2 AS two").expect("describe");
        assert_eq!(sessions(&url), "1");

        let killed = lifeguard_harness::psql(
            &url,
            "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity \
             WHERE application_name = 'lifeguard-macros' AND datname = current_database()",
        )
        .expect("terminate");
        assert_eq!(killed, "1");
        let err = describe_online(&url, "SELECT 3 AS three").expect_err("a dead connection");
        assert!(
            err.contains("could not check") || err.contains("57P01"),
            "{err}"
        );
        describe_online(&url, "SELECT 4 AS four").expect("a new connection");
        assert_eq!(sessions(&url), "1");

        let bad = describe_online(&url, "SELECT nope").expect_err("bad SQL");
        assert!(bad.contains("42703"), "{bad}");
        describe_online(&url, "SELECT 5 AS five").expect("the connection survives bad SQL");
        assert_eq!(sessions(&url), "1");
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
