//! Finding the local PostgreSQL installation: [`PgBinaries`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::error::{HarnessError, Result};

/// Environment variable that, when set, names the directory holding `initdb` and
/// `postgres`; it wins over every other place.
pub const BINDIR_ENV: &str = "LIFEGUARD_PG_BINDIR";

const INSTALL_SERVER: &str =
    "install PostgreSQL server binaries, e.g. `apt-get install postgresql`";

/// The directory of the PostgreSQL server programs this crate runs.
///
/// Looked up once per process, in this order: the directory named by
/// `LIFEGUARD_PG_BINDIR`; the directory of an `initdb` found on `PATH` (symlinks
/// resolved, and only if `postgres` sits next to it); the highest version under
/// `/usr/lib/postgresql/*/bin` (Debian, Ubuntu) or `/usr/pgsql-*/bin` (RHEL);
/// `/usr/local/pgsql/bin` (a source build).
///
/// ```no_run
/// let bins = lifeguard_harness::PgBinaries::find()?;
/// println!("PostgreSQL {} in {}", bins.major_version(), bins.bin_dir().display());
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PgBinaries {
    bin_dir: PathBuf,
    major_version: u32,
}

impl PgBinaries {
    /// Finds the installation (cached for the process). The error, when there is none,
    /// names the package to install.
    pub fn find() -> Result<&'static PgBinaries> {
        static FOUND: OnceLock<Result<PgBinaries>> = OnceLock::new();
        FOUND.get_or_init(locate).as_ref().map_err(Clone::clone)
    }

    /// The directory holding `initdb` and `postgres`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The major version reported by `postgres --version` (for example 15).
    pub fn major_version(&self) -> u32 {
        self.major_version
    }

    /// The path of the program `name` (for example `psql` or `pg_basebackup`): the one in
    /// [`bin_dir`](Self::bin_dir) when present, so that client and server versions match,
    /// otherwise the first one on `PATH`.
    pub fn tool(&self, name: &str) -> Result<PathBuf> {
        let local = self.bin_dir.join(name);
        if is_executable(&local) {
            return Ok(local);
        }
        search_path(name).ok_or_else(|| {
            HarnessError::new(format!(
                "`{name}` not found in {} nor on PATH: install the PostgreSQL client \
                 programs, e.g. `apt-get install postgresql-client`",
                self.bin_dir.display()
            ))
        })
    }
}

/// `psql` of the local installation, or the first one on `PATH` when there is no server
/// installation (enough to talk to a `DATABASE_URL`).
pub(crate) fn psql_path() -> Result<PathBuf> {
    match PgBinaries::find() {
        Ok(bins) => bins.tool("psql"),
        Err(_) => search_path("psql").ok_or_else(|| {
            HarnessError::new(
                "`psql` not found on PATH: install the PostgreSQL client programs, \
                 e.g. `apt-get install postgresql-client`",
            )
        }),
    }
}

fn locate() -> Result<PgBinaries> {
    let bin_dir = if let Some(dir) = std::env::var_os(BINDIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !is_server_dir(&dir) {
            return Err(HarnessError::new(format!(
                "{BINDIR_ENV}={} does not hold `initdb` and `postgres`: point it at the \
                 `bin` directory of a PostgreSQL installation, or unset it",
                dir.display()
            )));
        }
        dir
    } else {
        from_path()
            .or_else(from_well_known_dirs)
            .ok_or_else(not_found)?
    };
    let major_version = server_version(&bin_dir)?;
    Ok(PgBinaries {
        bin_dir,
        major_version,
    })
}

fn not_found() -> HarnessError {
    HarnessError::new(format!(
        "no PostgreSQL server binaries found (looked for `initdb` and `postgres` on PATH \
         and under /usr/lib/postgresql/*/bin): {INSTALL_SERVER}"
    ))
}

fn from_path() -> Option<PathBuf> {
    let initdb = search_path("initdb")?;
    let dir = std::fs::canonicalize(&initdb).ok()?.parent()?.to_path_buf();
    is_server_dir(&dir).then_some(dir)
}

fn from_well_known_dirs() -> Option<PathBuf> {
    let mut candidates: Vec<(Vec<u32>, PathBuf)> = Vec::new();
    for (parent, prefix, suffix) in [
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
    ] {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix(prefix).and_then(parse_version) else {
                continue;
            };
            let dir = entry.path().join(suffix);
            if is_server_dir(&dir) {
                candidates.push((version, dir));
            }
        }
    }
    candidates.sort();
    if let Some((_, dir)) = candidates.pop() {
        return Some(dir);
    }
    let source_build = PathBuf::from("/usr/local/pgsql/bin");
    is_server_dir(&source_build).then_some(source_build)
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; anything else is not a version directory.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn server_version(bin_dir: &Path) -> Result<u32> {
    let mut cmd = Command::new(bin_dir.join("postgres"));
    cmd.arg("--version");
    let out = cmd.output().map_err(|e| {
        HarnessError::io("could not run `postgres --version`", e).with_command(&cmd)
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.8 (Debian 15.8-1.pgdg120+1)"
    text.split(')')
        .nth(1)
        .and_then(|rest| rest.trim().split(['.', ' ']).next())
        .and_then(|major| major.parse().ok())
        .filter(|_| out.status.success())
        .ok_or_else(|| {
            HarnessError::new(format!("could not read the version from `{}`", text.trim()))
                .with_command(&cmd)
                .with_output(&out)
        })
}

fn is_server_dir(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::{PgBinaries, not_found, parse_version};

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("15") > parse_version("9.6"));
        assert!(parse_version("10") > parse_version("9.6"));
        assert_eq!(parse_version("common"), None);
    }

    #[test]
    fn missing_installation_names_the_package() {
        let message = not_found().to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
    }

    #[test]
    fn finds_this_machines_installation() {
        if let Ok(bins) = PgBinaries::find() {
            assert!(bins.major_version() >= 10);
            assert!(bins.tool("psql").unwrap().is_file());
            assert!(bins.tool("no-such-program").is_err());
        }
    }
}
