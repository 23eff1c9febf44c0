//! The per-process template data directory: `initdb` runs once per process and every
//! cluster starts from a copy (`cp -a`), which is much faster than `initdb` each time.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::binaries::PgBinaries;
use crate::error::{HarnessError, Result};
use crate::guard::Guard;
use crate::hba;
use crate::process;

/// Settings appended to every cluster's `postgresql.conf`: durability off for speed,
/// enough connections for a pool under test, and what streaming replication needs.
const BASE_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "127.0.0.1"),
    ("max_connections", "200"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("wal_level", "replica"),
    ("max_wal_senders", "10"),
    ("max_replication_slots", "10"),
    ("hot_standby", "on"),
    ("password_encryption", "scram-sha-256"),
    // In the data directory (removed with it) rather than /dev/shm, which a killed
    // server would leave behind.
    ("dynamic_shared_memory_type", "mmap"),
    ("huge_pages", "off"),
    ("logging_collector", "off"),
];

struct Template {
    data: PathBuf,
    /// Removes the template at process exit.
    _guard: Guard,
}

/// The template data directory, created on first use.
fn template() -> Result<&'static Path> {
    static TEMPLATE: OnceLock<Result<Template>> = OnceLock::new();
    TEMPLATE
        .get_or_init(create)
        .as_ref()
        .map(|t| t.data.as_path())
        .map_err(Clone::clone)
}

fn create() -> Result<Template> {
    let bins = PgBinaries::find()?;
    let guard = Guard::create("template", &bins.bin_dir().join("postgres"))?;
    let data = guard.dir().join("data");
    let mut cmd = process::command(&bins.bin_dir().join("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .args(["-N", "--auth=trust", "-U", "postgres", "--encoding=UTF8"])
        .args(["--locale=C"]);
    process::as_server_user(&mut cmd, guard.dir())?;
    process::run(&mut cmd, None, "initdb")?;
    overwrite(&data.join("pg_hba.conf"), hba::INITIAL)?;
    append_settings(
        &data,
        "throwaway-cluster settings",
        BASE_SETTINGS.iter().copied(),
    )?;
    Ok(Template {
        data,
        _guard: guard,
    })
}

/// Copies the template data directory to `DIR/data` of `guard`'s directory.
pub(crate) fn copy_into(guard: &Guard) -> Result<PathBuf> {
    let template = template()?;
    let data = guard.dir().join("data");
    let mut cmd = process::command(Path::new("cp"));
    cmd.arg("-a").arg(template).arg(&data);
    process::run(&mut cmd, None, "copying the template data directory")?;
    Ok(data)
}

/// Appends `settings` to `DATA/postgresql.conf` (later lines win), under a comment.
pub(crate) fn append_settings<'a>(
    data: &Path,
    title: &str,
    settings: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let mut text = format!("\n# --- lifeguard-harness: {title} ---\n");
    for (name, value) in settings {
        let _ = writeln!(text, "{name} = '{}'", value.replace('\'', "''"));
    }
    let path = data.join("postgresql.conf");
    // Never create files here: as root they would belong to root, not to the server.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| HarnessError::io(format!("could not write {}", path.display()), e))
}

/// Replaces the contents of an existing file, keeping its owner and mode.
pub(crate) fn overwrite(path: &Path, text: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| HarnessError::io(format!("could not write {}", path.display()), e))
}
