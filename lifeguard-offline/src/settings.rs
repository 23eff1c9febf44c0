//! The settings that decide how statements are checked, read where users expect them:
//! `DATABASE_URL`, `LIFEGUARD_OFFLINE` and `LIFEGUARD_OFFLINE_DIR`, from the environment,
//! else from a `.env` file.
//!
//! The `.env` file is the crate's (`<manifest dir>/.env`) when it has one, else the
//! workspace's (`<workspace root>/.env`); only the first file found is read, and only
//! these three keys are taken from it (it may hold others: they are left alone). A
//! variable set in the environment, even to an empty value, wins over the file. The
//! file is parsed by [`dotenvy`] (quotes, `export`, comments and `${VAR}` substitution
//! as it documents); nothing is written to the process environment.
//!
//! The macros and `cargo lifeguard` both read their settings here, so a `.env` that works
//! for one works for the other. A macro expansion also makes the compiler track the file
//! it read: editing it re-runs the checks on the next build. A `.env` created where a
//! crate's last successful build found none is not tracked yet: that crate sees it the
//! next time it is compiled for another reason (an edit, `cargo clean -p`).
//!
//! ```no_run
//! use std::path::Path;
//! use lifeguard_offline::settings::Settings;
//!
//! let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
//! let root = lifeguard_offline::store::workspace_root(crate_dir);
//! let settings = Settings::load(crate_dir, &root)?;
//! if let Some(url) = settings.online_url() {
//!     println!("checking against {url} (.env: {:?})", settings.env_file);
//! }
//! # Ok::<(), String>(())
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The database statements are checked against when building online.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// `true` (or `1`, `yes`) builds offline from `.lifeguard/` even with a `DATABASE_URL`.
pub const OFFLINE: &str = "LIFEGUARD_OFFLINE";
/// The metadata directory instead of `.lifeguard/` (see [`crate::store::DIR_ENV`]).
pub const OFFLINE_DIR: &str = "LIFEGUARD_OFFLINE_DIR";
/// The name of the file read: `.env`.
pub const ENV_FILE: &str = ".env";

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The process environment.
    Environment,
    /// The `.env` file ([`Settings::env_file`]).
    EnvFile,
    /// Neither: not set.
    Unset,
}

/// The three settings, each with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `DATABASE_URL`, when set and not empty.
    pub database_url: Option<String>,
    /// Where `DATABASE_URL` came from.
    pub database_url_source: Source,
    /// Whether `LIFEGUARD_OFFLINE` is true.
    pub offline: bool,
    /// `LIFEGUARD_OFFLINE_DIR`, when set (an empty value means "not set").
    pub offline_dir: Option<OsString>,
    /// The `.env` file that was read, if there is one.
    pub env_file: Option<PathBuf>,
}

impl Settings {
    /// Reads the settings for the crate at `manifest_dir` in the workspace at
    /// `workspace_root`: the environment first, then the `.env` file (see the module
    /// doc). Fails only when a `.env` file exists but cannot be read or parsed; the
    /// error names the file and the line.
    pub fn load(manifest_dir: &Path, workspace_root: &Path) -> Result<Settings, String> {
        Settings::load_with(manifest_dir, workspace_root, |name| std::env::var_os(name))
    }

    /// [`Settings::load`] with the environment given as a function.
    pub fn load_with(
        manifest_dir: &Path,
        workspace_root: &Path,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Settings, String> {
        let env_file = env_file(manifest_dir, workspace_root);
        let file = match &env_file {
            Some(path) => read_env_file(path)?,
            None => Vec::new(),
        };
        let get = |name: &str| -> (Option<OsString>, Source) {
            if let Some(value) = env(name) {
                return (Some(value), Source::Environment);
            }
            match file.iter().rev().find(|(key, _)| key == name) {
                Some((_, value)) => (Some(value.into()), Source::EnvFile),
                None => (None, Source::Unset),
            }
        };
        let (url, database_url_source) = get(DATABASE_URL);
        let database_url = url
            .and_then(|u| u.into_string().ok())
            .filter(|u| !u.trim().is_empty());
        let offline = get(OFFLINE)
            .0
            .is_some_and(|v| is_true(&v.to_string_lossy()));
        let offline_dir = get(OFFLINE_DIR).0.filter(|v| !v.is_empty());
        Ok(Settings {
            database_url,
            database_url_source,
            offline,
            offline_dir,
            env_file,
        })
    }

    /// The URL to check against: `DATABASE_URL` unless `LIFEGUARD_OFFLINE` is true.
    pub fn online_url(&self) -> Option<&str> {
        self.database_url.as_deref().filter(|_| !self.offline)
    }
}

/// Whether a `LIFEGUARD_OFFLINE` value means true: `true`, `1` or `yes`, in any case.
pub fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    )
}

/// The `.env` file that applies to the crate at `manifest_dir`: its own, else the
/// workspace root's; `None` when neither exists.
pub fn env_file(manifest_dir: &Path, workspace_root: &Path) -> Option<PathBuf> {
    [manifest_dir, workspace_root]
        .into_iter()
        .map(|dir| dir.join(ENV_FILE))
        .find(|path| path.is_file())
}

/// Every `KEY=value` of the file, in order.
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    iter.map(|pair| pair.map_err(|e| format!("{} cannot be parsed: {e}", path.display())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_environment_wins_over_the_file_and_the_crate_over_the_workspace() {
        let root = tempfile::tempdir().unwrap();
        let member = root.path().join("member");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(
            root.path().join(".env"),
            "# the workspace's\nDATABASE_URL=postgres://ws@localhost/db\nOTHER=1\n",
        )
        .unwrap();

        let s = Settings::load_with(&member, root.path(), env_of(&[])).unwrap();
        assert_eq!(
            s.database_url.as_deref(),
            Some("postgres://ws@localhost/db")
        );
        assert_eq!(s.database_url_source, Source::EnvFile);
        assert_eq!(s.env_file, Some(root.path().join(".env")));
        assert!(!s.offline && s.offline_dir.is_none());

        let s = Settings::load_with(
            &member,
            root.path(),
            env_of(&[("DATABASE_URL", "postgres://env@localhost/db")]),
        )
        .unwrap();
        assert_eq!(
            s.database_url.as_deref(),
            Some("postgres://env@localhost/db")
        );
        assert_eq!(s.database_url_source, Source::Environment);

        // Set but empty in the environment: unset, and the file does not fill it in.
        let s = Settings::load_with(&member, root.path(), env_of(&[("DATABASE_URL", "")])).unwrap();
        assert_eq!(s.database_url, None);

        std::fs::write(
            member.join(".env"),
            "export LIFEGUARD_OFFLINE=yes\nLIFEGUARD_OFFLINE_DIR=\"meta dir\"\n",
        )
        .unwrap();
        let s = Settings::load_with(&member, root.path(), env_of(&[])).unwrap();
        assert_eq!(s.env_file, Some(member.join(".env")));
        // Only the first file found is read.
        assert_eq!(s.database_url, None);
        assert!(s.offline);
        assert_eq!(s.offline_dir, Some(OsString::from("meta dir")));
        assert_eq!(s.online_url(), None);

        let s = Settings::load_with(
            &member,
            root.path(),
            env_of(&[
                ("LIFEGUARD_OFFLINE", "false"),
                ("DATABASE_URL", "postgres://x/y"),
            ]),
        )
        .unwrap();
        assert_eq!(s.online_url(), Some("postgres://x/y"));
    }

    #[test]
    fn a_broken_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "DATABASE_URL='unterminated\n").unwrap();
        let err = Settings::load_with(dir.path(), dir.path(), env_of(&[])).unwrap_err();
        assert!(err.contains(".env cannot be parsed"), "{err}");
    }

    #[test]
    fn no_file_no_settings() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_with(dir.path(), dir.path(), env_of(&[])).unwrap();
        assert_eq!(
            (s.database_url, s.offline, s.offline_dir, s.env_file),
            (None, false, None, None)
        );
    }
}
