//! The `.lifeguard/` offline metadata: one small JSON file per statement.
//!
//! A statement's file is `query-<sha256 hex of the SQL>.json` and holds its
//! [`Description`](crate::description::Description) as an online build saw it:
//!
//! ```json
//! {
//!   "format": 1,
//!   "sql": "SELECT id, name FROM users WHERE id = $1",
//!   "params": [
//!     { "oid": 23, "name": "int4" }
//!   ],
//!   "columns": [
//!     { "name": "id", "type": { "oid": 23, "name": "int4" }, "nullable": false, "origin": { "table": "users", "column": "id" } }
//!   ],
//!   "kind": "read",
//!   "server_version": "15.10"
//! }
//! ```
//!
//! Keys come in that order, one parameter or column a line (so a diff shows which column
//! changed), and the file ends with a newline. `origin` is `null` for a column that is not a
//! plain table column. The parser is strict: an unknown key, a missing key or a value of
//! the wrong kind is an error that names the field.
//!
//! Three parts: the file format (`store/format.rs`, [`Entry`]; `store/canonical.rs` reads
//! files in the layout above without a general JSON parser), where files are looked
//! for and written (`store/dirs.rs`: [`search_dirs`], [`write_dir`]), and loading and
//! saving one (here). Only `serde_json` and `sha2` are needed here, so the macros can use this
//! module without the `cli` feature.

mod canonical;
mod dirs;
mod format;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub use dirs::{
    DIR_ENV, DIR_NAME, file_name, hash, is_entry_file_name, prepare_dir, search_dirs,
    search_dirs_with, workspace_root, write_dir, write_dir_with,
};
pub use format::{Entry, FORMAT};

/// Why [`load`] found no usable entry.
#[derive(Debug)]
pub enum LoadError {
    /// No file for the statement in any directory.
    Missing {
        /// The file paths looked at, in order.
        searched: Vec<PathBuf>,
    },
    /// The file exists but cannot be read or parsed.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The file named for the statement's hash holds another statement.
    Collision {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FIX: &str = "run `cargo lifeguard prepare` (with DATABASE_URL set)";
        match self {
            LoadError::Missing { searched } if searched.is_empty() => {
                write!(f, "no offline metadata for this query; {FIX} to create it")
            }
            LoadError::Missing { searched } => {
                let paths: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "no offline metadata for this query (looked for {}); {FIX} to create it",
                    paths.join(", ")
                )
            }
            LoadError::Corrupt { path, what } => write!(
                f,
                "offline metadata file {} is corrupt: {what}; {FIX} to rewrite it",
                path.display()
            ),
            LoadError::Collision { path } => write!(
                f,
                "offline metadata file {} is named for this query but holds different SQL \
                 (edited or copied by hand?); {FIX} to rewrite it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Finds and parses the entry for `sql` in the first of `dirs` that has its file; a file
/// whose stored SQL differs from `sql` is [`LoadError::Collision`].
pub fn load(dirs: &[PathBuf], sql: &str) -> Result<(PathBuf, Entry), LoadError> {
    let name = file_name(sql);
    let mut searched = Vec::new();
    for dir in dirs {
        let path = dir.join(&name);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                searched.push(path);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let what = "not UTF-8 text".to_string();
                return Err(LoadError::Corrupt { path, what });
            }
            Err(e) => {
                let what = format!("cannot be read: {e}");
                return Err(LoadError::Corrupt { path, what });
            }
        };
        return match Entry::from_json(&text) {
            Ok(entry) if entry.sql == sql => Ok((path, entry)),
            Ok(_) => Err(LoadError::Collision { path }),
            Err(what) => Err(LoadError::Corrupt { path, what }),
        };
    }
    Err(LoadError::Missing { searched })
}

/// Writes `entry` to its file in `dir` unless an identical file is already there. The
/// write is atomic (a temporary file renamed over the old one) and creates `dir`. Returns
/// whether it wrote.
///
/// ```no_run
/// use std::path::Path;
/// use lifeguard_offline::description::{Description, StatementKind};
/// use lifeguard_offline::store::{self, Entry};
///
/// let entry = Entry {
///     sql: "SELECT 1".to_string(),
///     description: Description::new(&[], &[], StatementKind::Read),
///     server_version: "15.10".to_string(),
/// };
/// let wrote = store::save_if_changed(Path::new(".lifeguard"), &entry)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn save_if_changed(dir: &Path, entry: &Entry) -> io::Result<bool> {
    let name = file_name(&entry.sql);
    let path = dir.join(&name);
    let text = entry.to_json();
    if fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(false);
    }
    fs::create_dir_all(dir)?;
    // Unique per process and call, hidden so that nobody takes it for an entry.
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::write(&tmp, text.as_bytes()).and_then(|()| fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| true)
}

#[cfg(test)]
mod tests;
