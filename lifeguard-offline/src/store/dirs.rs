//! Where `.lifeguard/` files are: the file of a statement (the SHA-256 of its SQL), the
//! workspace root, the directories a build searches and the one it writes.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::settings::Settings;

/// The name of the metadata directory: `.lifeguard`.
pub const DIR_NAME: &str = ".lifeguard";

/// The environment variable that names the metadata directory instead of `.lifeguard/`
/// (also read from `.env`, see [`crate::settings`]). A relative path is taken relative to
/// the workspace root (see [`workspace_root`]).
pub const DIR_ENV: &str = "LIFEGUARD_OFFLINE_DIR";

/// The SHA-256 of `sql`, in lower-case hex.
///
/// ```
/// assert_eq!(
///     lifeguard_offline::store::hash("SELECT 1"),
///     "e004ebd5b5532a4b85984a62f8ad48a81aa3460c1ca07701f386135d72cdecf5"
/// );
/// ```
pub fn hash(sql: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(sql.as_bytes()) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
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

/// Where entries are looked for, in order: `$LIFEGUARD_OFFLINE_DIR` (if set, in the
/// environment or `.env`),
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
    search_dirs_with(manifest_dir, offline_dir_setting(manifest_dir))
}

/// [`search_dirs`] with the value of `LIFEGUARD_OFFLINE_DIR` given.
pub fn search_dirs_with(manifest_dir: &Path, env: Option<OsString>) -> Vec<PathBuf> {
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
    write_dir_with(manifest_dir, offline_dir_setting(manifest_dir))
}

/// [`write_dir`] with the value of `LIFEGUARD_OFFLINE_DIR` given.
pub fn write_dir_with(manifest_dir: &Path, env: Option<OsString>) -> PathBuf {
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
    env_dir(offline_dir_setting(root), root).unwrap_or_else(|| root.join(DIR_NAME))
}

/// `LIFEGUARD_OFFLINE_DIR` from the environment, else from the `.env` file (see
/// [`crate::settings`]). A `.env` that cannot be parsed counts as none here: the macros
/// and `cargo lifeguard` report it when they read their settings.
fn offline_dir_setting(manifest_dir: &Path) -> Option<OsString> {
    let root = workspace_root(manifest_dir);
    match Settings::load(manifest_dir, &root) {
        Ok(settings) => settings.offline_dir,
        Err(_) => std::env::var_os(DIR_ENV),
    }
}
