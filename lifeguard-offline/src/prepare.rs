//! `cargo lifeguard prepare`: makes the workspace's `.lifeguard/` complete and fresh, or,
//! with `--check`, says what is not and changes nothing.
//!
//! `DATABASE_URL` comes from `--database-url`, else the environment, else the workspace
//! root's `.env` (see [`crate::settings`]); so does `LIFEGUARD_OFFLINE_DIR`.
//!
//! One run scans the workspace ([`crate::scan`]), describes every statement on one
//! connection ([`Describer`]), and compares each description with its file in
//! [`store::prepare_dir`] (`$LIFEGUARD_OFFLINE_DIR` or `<workspace root>/.lifeguard`):
//!
//! - missing: no file for a statement;
//! - stale: the file's metadata differs from the fresh description (the server version
//!   aside), or the file is corrupt;
//! - orphaned: a `query-*.json` file that no statement uses.
//!
//! Without `--check` the missing and stale files are written and the orphans deleted;
//! nothing else is touched (no source file, no `cargo clean`). A statement the server
//! rejects is reported with its location in both modes and fails the run, unless no
//! target compiles the files that use it (a trybuild compile-fail fixture, say): then it
//! is a warning.
//!
//! ```no_run
//! use lifeguard_offline::prepare::{Options, run};
//!
//! let options = Options { check: true, ..Options::default() };
//! let summary = run(&options, &mut std::io::stdout(), &mut std::io::stderr())?;
//! std::process::exit(summary.exit_code());
//! # Ok::<(), lifeguard_offline::prepare::PrepareError>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::describe::Describer;
use crate::pg;
use crate::scan::{Found, ScanError, Workspace, scan};
use crate::settings::Settings;
use crate::store::{self, Entry, LoadError};

mod report;

#[cfg(test)]
use report::caret;
use report::{check_report, closing, failure, first_line, locations};

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Change nothing; report what is missing, stale or orphaned.
    pub check: bool,
    /// The server to describe on; `DATABASE_URL` when `None`.
    pub database_url: Option<String>,
    /// The workspace's (or a member's) `Cargo.toml`; found from [`Options::dir`] when `None`.
    pub manifest_path: Option<PathBuf>,
    /// Where `cargo metadata` runs (the current directory when empty).
    pub dir: PathBuf,
}

/// The counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Whether this was a `--check` run.
    pub check: bool,
    /// Distinct statements found in the workspace.
    pub statements: usize,
    /// Statements without a file (written, unless checking).
    pub missing: usize,
    /// Files whose metadata was out of date or unreadable (rewritten, unless checking).
    pub stale: usize,
    /// Files no statement uses (deleted, unless checking).
    pub orphaned: usize,
    /// Statements the server could not describe, in files a target compiles.
    pub failed: usize,
    /// Statements the server could not describe, only in files no target compiles (such
    /// as trybuild compile-fail fixtures, whose SQL may be meant to fail): warnings, not
    /// failures.
    pub skipped: usize,
}

impl Summary {
    /// The process exit code: 0 when every statement was described and (with `--check`)
    /// nothing was missing, stale or orphaned; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let dirty = self.missing + self.stale + self.orphaned > 0;
        if self.failed > 0 || (self.check && dirty) {
            1
        } else {
            0
        }
    }
}

/// Why a run could not be carried out at all.
#[derive(Debug)]
pub enum PrepareError {
    /// Neither `--database-url` nor `DATABASE_URL` (in the environment or the
    /// workspace's `.env`) was given.
    NoDatabaseUrl,
    /// The workspace's `.env` file could not be read or parsed.
    Settings(String),
    /// The workspace could not be read.
    Scan(ScanError),
    /// The server could not be reached, or the connection broke.
    Connect(pg::Error),
    /// A file could not be read, written or deleted, or the report not printed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrepareError::NoDatabaseUrl => f.write_str(
                "DATABASE_URL is not set: set it (in the environment or the workspace's .env, \
                 or pass --database-url) to a PostgreSQL database that has the workspace's schema",
            ),
            PrepareError::Settings(e) => f.write_str(e),
            PrepareError::Scan(e) => write!(f, "cannot read the workspace: {e}"),
            PrepareError::Connect(e) => write!(f, "cannot talk to the database: {e}"),
            PrepareError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for PrepareError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PrepareError + '_ {
    move |error| PrepareError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// How a statement's file compares with its fresh description.
enum State {
    Missing,
    /// The stored text, the stored server version (when the file parses) and why it is
    /// stale when that is not just different metadata.
    Stale {
        text: String,
        version: Option<String>,
        why: Option<String>,
    },
}

/// A statement whose file must change.
struct Change<'a> {
    found: &'a Found,
    entry: Entry,
    state: State,
}

/// A file no statement uses, with the first line of its SQL (or why it is unreadable).
struct Orphan {
    name: String,
    sql: String,
}

/// Runs `prepare` (or `prepare --check`): the report goes to `out`, scan warnings to
/// `err`. Problems with single statements are part of the report and the [`Summary`];
/// an `Err` means the run could not be carried out.
pub fn run(
    options: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Summary, PrepareError> {
    let here = if options.dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        options.dir.as_path()
    };
    let workspace =
        Workspace::load(here, options.manifest_path.as_deref()).map_err(PrepareError::Scan)?;
    let url = match &options.database_url {
        Some(url) => url.clone(),
        None => {
            let root = store::workspace_root(&workspace.root);
            Settings::load(&workspace.root, &root)
                .map_err(PrepareError::Settings)?
                .database_url
                .ok_or(PrepareError::NoDatabaseUrl)?
        }
    };
    let scanned = scan(&workspace);
    let stderr = PathBuf::from("<stderr>");
    for warning in &scanned.warnings {
        writeln!(err, "warning: {warning}").map_err(io_error(&stderr))?;
    }
    let dir = store::prepare_dir(&store::workspace_root(&workspace.root));

    let mut describer = Describer::connect(&url).map_err(PrepareError::Connect)?;
    let version = describer.server_version().to_string();
    let mut changes = Vec::new();
    let mut failures = Vec::new();
    for found in &scanned.found {
        match describer.describe(&found.sql) {
            Ok(description) => {
                let entry = Entry {
                    sql: found.sql.clone(),
                    description,
                    server_version: version.clone(),
                };
                if let Some(state) = compare(&dir, &entry) {
                    changes.push(Change {
                        found,
                        entry,
                        state,
                    });
                }
            }
            Err(e) if e.is_connection_error() => return Err(PrepareError::Connect(e)),
            Err(e) => failures.push((found, e)),
        }
    }
    let orphans = orphans(&dir, &scanned.found)?;

    let summary = Summary {
        check: options.check,
        statements: scanned.found.len(),
        missing: count(&changes, |s| matches!(s, State::Missing)),
        stale: count(&changes, |s| matches!(s, State::Stale { .. })),
        orphaned: orphans.len(),
        failed: failures.iter().filter(|(f, _)| f.compiled).count(),
        skipped: failures.iter().filter(|(f, _)| !f.compiled).count(),
    };
    let mut report = String::new();
    let applied = if options.check {
        check_report(&mut report, &changes, &orphans);
        Ok(())
    } else {
        apply(&mut report, &dir, &changes, &orphans)
    };
    if applied.is_ok() {
        for (found, e) in &failures {
            report.push_str(&failure(found, e));
        }
        report.push_str(&closing(&summary, &dir));
    }
    // What was done is reported even when a later write failed.
    out.write_all(report.as_bytes())
        .and_then(|()| out.flush())
        .map_err(io_error(Path::new("<stdout>")))?;
    applied.map(|()| summary)
}

fn count(changes: &[Change<'_>], which: impl Fn(&State) -> bool) -> usize {
    changes.iter().filter(|c| which(&c.state)).count()
}

/// `None` when the stored file is fresh.
fn compare(dir: &Path, entry: &Entry) -> Option<State> {
    let stale = |path: &Path, version, why| {
        let text = fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Some(State::Stale { text, version, why })
    };
    match store::load(&[dir.to_path_buf()], &entry.sql) {
        Ok((_, stored)) if stored.same_metadata(entry) => None,
        Ok((path, stored)) => stale(&path, Some(stored.server_version), None),
        Err(LoadError::Missing { .. }) => Some(State::Missing),
        Err(LoadError::Corrupt { path, what }) => stale(&path, None, Some(what)),
        Err(LoadError::Collision { path }) => {
            stale(&path, None, Some("it holds different SQL".to_string()))
        }
    }
}

/// The `query-*.json` files of `dir` that no statement uses, by name.
fn orphans(dir: &Path, found: &[Found]) -> Result<Vec<Orphan>, PrepareError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let used: HashSet<String> = found.iter().map(|f| store::file_name(&f.sql)).collect();
    let mut orphans = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !store::is_entry_file_name(&name) || used.contains(&name) {
            continue;
        }
        let sql = match fs::read_to_string(entry.path()) {
            Ok(text) => match Entry::from_json(&text) {
                Ok(stored) => first_line(&stored.sql),
                Err(what) => format!("(unreadable: {what})"),
            },
            Err(e) => format!("(unreadable: {e})"),
        };
        orphans.push(Orphan { name, sql });
    }
    orphans.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(orphans)
}

/// Writes the missing and stale files and deletes the orphans, one report line each.
fn apply(
    report: &mut String,
    dir: &Path,
    changes: &[Change<'_>],
    orphans: &[Orphan],
) -> Result<(), PrepareError> {
    for change in changes {
        store::save_if_changed(dir, &change.entry).map_err(io_error(dir))?;
        let verb = match change.state {
            State::Missing => "added",
            State::Stale { .. } => "updated",
        };
        report.push_str(&format!(
            "{verb:<8} {}  {}  ({})\n",
            store::file_name(&change.entry.sql),
            first_line(&change.entry.sql),
            locations(change.found)
        ));
    }
    for orphan in orphans {
        let path = dir.join(&orphan.name);
        fs::remove_file(&path).map_err(io_error(&path))?;
        report.push_str(&format!("removed  {}  {}\n", orphan.name, orphan.sql));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(sql: &str) -> Found {
        Found {
            sql: sql.to_string(),
            location: "src/lib.rs:3".to_string(),
            other_locations: Vec::new(),
            compiled: true,
        }
    }

    #[test]
    fn carets_point_at_the_position() {
        assert_eq!(
            caret("SELECT * FROM nope", 15),
            "    SELECT * FROM nope\n                  ^\n"
        );
        assert_eq!(
            caret("SELECT a,\n\tb FROM t\n", 12),
            "    \tb FROM t (line 2 of the SQL)\n    \t^\n"
        );
        assert_eq!(
            caret("SELECT é, x", 11),
            "    SELECT é, x\n              ^\n"
        );
    }

    #[test]
    fn first_lines_are_short() {
        assert_eq!(first_line("\n  SELECT 1\n  FROM t"), "SELECT 1 …");
        assert_eq!(first_line("SELECT 1"), "SELECT 1");
        assert_eq!(
            first_line(&"x".repeat(120)),
            format!("{} …", "x".repeat(100))
        );
    }

    #[test]
    fn locations_are_listed() {
        let mut f = found("SELECT 1");
        assert_eq!(locations(&f), "src/lib.rs:3");
        f.other_locations = (4..=8).map(|l| format!("src/lib.rs:{l}")).collect();
        assert_eq!(
            locations(&f),
            "src/lib.rs:3, src/lib.rs:4, src/lib.rs:5 and 3 more"
        );
    }

    #[test]
    fn exit_codes() {
        let mut s = Summary {
            statements: 3,
            missing: 1,
            ..Summary::default()
        };
        assert_eq!(s.exit_code(), 0);
        s.check = true;
        assert_eq!(s.exit_code(), 1);
        s.missing = 0;
        assert_eq!(s.exit_code(), 0);
        s.failed = 1;
        assert_eq!(s.exit_code(), 1);
    }

    #[test]
    fn closing_lines() {
        let dir = Path::new("/w/.lifeguard");
        let mut s = Summary {
            check: true,
            statements: 4,
            ..Summary::default()
        };
        assert_eq!(closing(&s, dir), "4 statements, all fresh\n");
        s.skipped = 1;
        assert_eq!(
            closing(&s, dir),
            "4 statements, all fresh (1 skipped: rejected by the server, in files no target \
             compiles)\n"
        );
        s.skipped = 0;
        s.failed = 1;
        assert_eq!(
            closing(&s, dir),
            "4 statements: 1 statement failed; the files of the others are fresh\n"
        );
        s.stale = 1;
        assert_eq!(
            closing(&s, dir),
            "/w/.lifeguard is not fresh: 0 missing, 1 stale, 0 orphaned (4 statements, 1 failed); \
             run `cargo lifeguard prepare` to fix\n"
        );
        s.check = false;
        assert_eq!(
            closing(&s, dir),
            "prepared 4 statements in /w/.lifeguard: 0 added, 1 updated, 0 removed, \
             2 unchanged, 1 statement failed\n"
        );
    }
}
