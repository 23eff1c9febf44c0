//! The `.lifeguard/` offline metadata: one small JSON file per statement.
//!
//! A statement's file is `query-<sha256 hex of the SQL>.json` and holds its
//! [`Description`] as an online build saw it:
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
//! Where files are looked for is [`search_dirs`]; where an online build writes them is
//! [`write_dir`]. Only `serde_json` and `sha2` are needed here, so the macros can use this
//! module without the `cli` feature.

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::description::{ColumnInfo, Description, Nullability, PgType, StatementKind};

/// The version of the file format this build reads and writes.
pub const FORMAT: u32 = 1;

/// The name of the metadata directory: `.lifeguard`.
pub const DIR_NAME: &str = ".lifeguard";

/// The environment variable that names the metadata directory instead of `.lifeguard/`.
/// A relative path is taken relative to the workspace root (see [`workspace_root`]).
pub const DIR_ENV: &str = "LIFEGUARD_OFFLINE_DIR";

/// One statement's offline metadata: the contents of one file.
///
/// ```
/// use lifeguard_offline::description::{Description, StatementKind};
/// use lifeguard_offline::store::Entry;
///
/// let entry = Entry {
///     sql: "SELECT 1".to_string(),
///     description: Description::new(&[], &[], StatementKind::Read),
///     server_version: "15.10".to_string(),
/// };
/// let text = entry.to_json();
/// assert_eq!(Entry::from_json(&text), Ok(entry));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The statement's text, exactly as the macro sees it.
    pub sql: String,
    /// Parameter and column types, nullability and the read/write class.
    pub description: Description,
    /// The `server_version` of the server it was described on (informational).
    pub server_version: String,
}

impl Entry {
    /// The file's text: pretty-printed JSON in a fixed key order, ending with a newline.
    pub fn to_json(&self) -> String {
        let d = &self.description;
        let mut out = String::from("{\n");
        out.push_str(&format!("  \"format\": {FORMAT},\n"));
        out.push_str(&format!("  \"sql\": {},\n", string(&self.sql)));
        let params: Vec<String> = d.params.iter().map(type_json).collect();
        out.push_str(&format!("  \"params\": {},\n", lines(&params)));
        let columns: Vec<String> = d.columns.iter().map(column_json).collect();
        out.push_str(&format!("  \"columns\": {},\n", lines(&columns)));
        let kind = match d.kind {
            StatementKind::Read => "read",
            StatementKind::Write => "write",
        };
        out.push_str(&format!("  \"kind\": \"{kind}\",\n"));
        out.push_str(&format!(
            "  \"server_version\": {}\n",
            string(&self.server_version)
        ));
        out.push_str("}\n");
        out
    }

    /// Parses a file's text; the error says precisely what is wrong (e.g.
    /// "`columns[1].nullable` must be true or false", "unknown format 7 (this build reads
    /// format 1)").
    ///
    /// ```
    /// use lifeguard_offline::store::Entry;
    ///
    /// let err = Entry::from_json(r#"{ "format": 7 }"#).unwrap_err();
    /// assert_eq!(err, "unknown format 7 (this build reads format 1)");
    /// ```
    pub fn from_json(text: &str) -> Result<Entry, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let top = Obj::new(&value, "")?;
        let format = top.get("format")?;
        match format.as_u64() {
            Some(n) if n == u64::from(FORMAT) => {}
            Some(n) => {
                return Err(format!(
                    "unknown format {n} (this build reads format {FORMAT})"
                ));
            }
            None => return Err("`format` must be a whole number".to_string()),
        }
        top.only(&[
            "format",
            "sql",
            "params",
            "columns",
            "kind",
            "server_version",
        ])?;
        let params = top
            .array("params")?
            .iter()
            .enumerate()
            .map(|(i, v)| parse_type(v, &format!("params[{i}]")))
            .collect::<Result<_, _>>()?;
        let columns = top
            .array("columns")?
            .iter()
            .enumerate()
            .map(|(i, v)| parse_column(v, &format!("columns[{i}]")))
            .collect::<Result<_, _>>()?;
        let kind = match top.get("kind")?.as_str() {
            Some("read") => StatementKind::Read,
            Some("write") => StatementKind::Write,
            _ => return Err("`kind` must be \"read\" or \"write\"".to_string()),
        };
        Ok(Entry {
            sql: top.string("sql")?,
            description: Description {
                params,
                columns,
                kind,
            },
            server_version: top.string("server_version")?,
        })
    }

    /// Equal in everything a build depends on (ignores `server_version`).
    pub fn same_metadata(&self, other: &Entry) -> bool {
        self.sql == other.sql && self.description == other.description
    }
}

/// A JSON string literal, escaped as `serde_json` escapes it (`"`, `\\`, and control
/// characters; `\u00xx` for those without a short form), written directly: the macros
/// write an entry per statement, and a `serde_json::Value` per string costs more than the
/// rest of the file.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array with one element a line (`[]` when empty).
fn lines(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_string();
    }
    format!("[\n    {}\n  ]", items.join(",\n    "))
}

fn type_json(t: &PgType) -> String {
    format!("{{ \"oid\": {}, \"name\": {} }}", t.oid, string(&t.name))
}

fn column_json(c: &ColumnInfo) -> String {
    let origin = match &c.origin {
        Some((table, column)) => format!(
            "{{ \"table\": {}, \"column\": {} }}",
            string(table),
            string(column)
        ),
        None => "null".to_string(),
    };
    format!(
        "{{ \"name\": {}, \"type\": {}, \"nullable\": {}, \"origin\": {origin} }}",
        string(&c.name),
        type_json(&c.type_),
        c.nullable == Nullability::Nullable
    )
}

fn parse_type(value: &Value, path: &str) -> Result<PgType, String> {
    let obj = Obj::new(value, path)?;
    obj.only(&["oid", "name"])?;
    Ok(PgType {
        oid: obj.oid("oid")?,
        name: obj.string("name")?.into(),
    })
}

fn parse_column(value: &Value, path: &str) -> Result<ColumnInfo, String> {
    let obj = Obj::new(value, path)?;
    obj.only(&["name", "type", "nullable", "origin"])?;
    let nullable = match obj.get("nullable")?.as_bool() {
        Some(true) => Nullability::Nullable,
        Some(false) => Nullability::NotNull,
        None => return Err(format!("{} must be true or false", obj.field("nullable"))),
    };
    let origin = match obj.get("origin")? {
        Value::Null => None,
        v => {
            let origin_path = format!("{path}.origin");
            let origin = Obj::new(v, &origin_path)
                .map_err(|_| format!("{} must be null or an object", obj.field("origin")))?;
            origin.only(&["table", "column"])?;
            Some((
                origin.string("table")?.into(),
                origin.string("column")?.into(),
            ))
        }
    };
    Ok(ColumnInfo {
        name: obj.string("name")?.into(),
        type_: parse_type(obj.get("type")?, &format!("{path}.type"))?,
        nullable,
        origin,
    })
}

/// A JSON object being read, with its path in the file for messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, path: &'a str) -> Result<Obj<'a>, String> {
        match value.as_object() {
            Some(map) => Ok(Obj { map, path }),
            None if path.is_empty() => Err("the file must hold a JSON object".to_string()),
            None => Err(format!("`{path}` must be an object")),
        }
    }

    /// `` `path.key` `` for messages.
    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            format!("`{key}`")
        } else {
            format!("`{}.{key}`", self.path)
        }
    }

    /// Rejects keys other than `known`.
    fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown key {}", self.field(k))),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Result<&'a Value, String> {
        self.map
            .get(key)
            .ok_or_else(|| format!("{} is missing", self.field(key)))
    }

    fn string(&self, key: &str) -> Result<String, String> {
        match self.get(key)?.as_str() {
            Some(s) => Ok(s.to_string()),
            None => Err(format!("{} must be a string", self.field(key))),
        }
    }

    fn array(&self, key: &str) -> Result<&'a Vec<Value>, String> {
        self.get(key)?
            .as_array()
            .ok_or_else(|| format!("{} must be an array", self.field(key)))
    }

    fn oid(&self, key: &str) -> Result<u32, String> {
        self.get(key)?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "{} must be a type OID (a whole number from 0 to {})",
                    self.field(key),
                    u32::MAX
                )
            })
    }
}

/// The SHA-256 of `sql`, in lower-case hex.
///
/// ```
/// assert_eq!(
///     lifeguard_offline::store::hash("SELECT 1"),
///     "e004ebd5b5532a4b85984a62f8ad48a81aa3460c1ca07701f386135d72cdecf5"
/// );
/// ```
pub fn hash(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file name of `sql`'s entry: `query-<hash>.json`.
///
/// ```
/// let name = lifeguard_offline::store::file_name("SELECT 1");
/// assert!(name.starts_with("query-e004eb") && name.ends_with(".json"));
/// ```
pub fn file_name(sql: &str) -> String {
    format!("query-{}.json", hash(sql))
}

/// Whether `name` looks like an entry's file name (`query-*.json`).
pub fn is_entry_file_name(name: &str) -> bool {
    name.len() > "query-.json".len() && name.starts_with("query-") && name.ends_with(".json")
}

/// The workspace root of a package: the top-most ancestor directory of `manifest_dir`
/// (itself included) whose `Cargo.toml` has a `[workspace]` table, or `manifest_dir`
/// itself when there is none. Found by reading files upwards, without running cargo.
///
/// Top-most, so that a copy of a crate built inside the workspace's `target/` (as trybuild
/// does, with a `[workspace]` of its own) still finds the real workspace's metadata.
///
/// ```no_run
/// use std::path::Path;
///
/// let root = lifeguard_offline::store::workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
/// println!("{}", root.display());
/// ```
pub fn workspace_root(manifest_dir: &Path) -> PathBuf {
    let start = absolute(manifest_dir);
    let mut root = start.clone();
    for dir in start.ancestors() {
        if let Ok(text) = fs::read_to_string(dir.join("Cargo.toml"))
            && has_workspace_table(&text)
        {
            root = dir.to_path_buf();
        }
    }
    root
}

/// Whether a `Cargo.toml` text declares a workspace: a `[workspace]` or `[workspace.*]`
/// table header (a line-based check; the macros do not carry a TOML parser).
fn has_workspace_table(toml: &str) -> bool {
    toml.lines().any(|line| {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix('[') else {
            return false;
        };
        if rest.starts_with('[') {
            return false; // an array of tables such as [[bin]]
        }
        let header = rest.split(']').next().unwrap_or("").trim();
        header == "workspace" || header.starts_with("workspace.")
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `$LIFEGUARD_OFFLINE_DIR` (relative to `root`), when set and not empty.
fn env_dir(env: Option<OsString>, root: &Path) -> Option<PathBuf> {
    env.filter(|v| !v.is_empty()).map(|v| root.join(v))
}

/// Where entries are looked for, in order: `$LIFEGUARD_OFFLINE_DIR` (if set),
/// `<manifest_dir>/.lifeguard`, `<workspace root>/.lifeguard` (see [`workspace_root`]).
/// Without duplicates.
///
/// ```no_run
/// use std::path::Path;
/// use lifeguard_offline::store;
///
/// let dirs = store::search_dirs(Path::new(env!("CARGO_MANIFEST_DIR")));
/// let (path, entry) = store::load(&dirs, "SELECT 1")?;
/// println!("{} describes {} columns", path.display(), entry.description.columns.len());
/// # Ok::<(), store::LoadError>(())
/// ```
pub fn search_dirs(manifest_dir: &Path) -> Vec<PathBuf> {
    search_dirs_with(manifest_dir, std::env::var_os(DIR_ENV))
}

fn search_dirs_with(manifest_dir: &Path, env: Option<OsString>) -> Vec<PathBuf> {
    let root = workspace_root(manifest_dir);
    let mut dirs: Vec<PathBuf> = Vec::new();
    let candidates = env_dir(env, &root)
        .into_iter()
        .chain([absolute(manifest_dir).join(DIR_NAME), root.join(DIR_NAME)]);
    for dir in candidates {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Where an online build writes: `$LIFEGUARD_OFFLINE_DIR` if set, else
/// `<manifest_dir>/.lifeguard` if that directory exists, else `<workspace root>/.lifeguard`.
///
/// ```no_run
/// use std::path::Path;
///
/// let dir = lifeguard_offline::store::write_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
/// println!("{}", dir.display());
/// ```
pub fn write_dir(manifest_dir: &Path) -> PathBuf {
    write_dir_with(manifest_dir, std::env::var_os(DIR_ENV))
}

fn write_dir_with(manifest_dir: &Path, env: Option<OsString>) -> PathBuf {
    let root = workspace_root(manifest_dir);
    if let Some(dir) = env_dir(env, &root) {
        return dir;
    }
    let own = absolute(manifest_dir).join(DIR_NAME);
    if own.is_dir() {
        own
    } else {
        root.join(DIR_NAME)
    }
}

/// The directory `cargo lifeguard prepare` keeps complete for a workspace whose root is
/// `root`: `$LIFEGUARD_OFFLINE_DIR` if set, else `<root>/.lifeguard`.
pub fn prepare_dir(root: &Path) -> PathBuf {
    env_dir(std::env::var_os(DIR_ENV), root).unwrap_or_else(|| root.join(DIR_NAME))
}

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
