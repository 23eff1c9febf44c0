//! `cargo lifeguard prepare` end to end: the real binary on a fixture workspace in a
//! temporary directory, describing on a real server.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use lifeguard_offline::store;

const BIN: &str = env!("CARGO_BIN_EXE_cargo-lifeguard");

const SCHEMA: &str = "
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, total int NOT NULL);
";

const LIB: &str = r#"
use lifeguard::{query, query_file};

pub fn user(pool: &Pool, id: i32) {
    let _ = query!("SELECT id, name FROM users WHERE id = $1", id).fetch_one(pool);
    let _ = query_file!("queries/q.sql").fetch_all(pool);
}
"#;

const TEST: &str = r#"
#[test]
fn counts() {
    assert_eq!(lifeguard::query_scalar!("SELECT count(*) FROM orders").fetch_one(&pool).unwrap(), 0);
}
"#;

const EXAMPLE: &str = r#"
fn main() {
    let _ = query_as!(User, "SELECT id, email FROM users").fetch_all(&pool);
}
"#;

const FILE_SQL: &str = "SELECT name\nFROM users\nORDER BY id\n";

/// A workspace whose one member has no dependencies: `cargo metadata --no-deps` works on
/// it without a network, and nothing in it ever needs to compile.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    url: String,
}

impl Fixture {
    fn new(prefix: &str) -> Fixture {
        let url = lifeguard_harness::test_server().fresh_database(prefix);
        lifeguard_harness::psql(&url, SCHEMA).expect("schema");
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("ws");
        let fixture = Fixture {
            _tmp: tmp,
            root,
            url,
        };
        fixture.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\"]\nresolver = \"2\"\n",
        );
        fixture.write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        );
        fixture.write("app/src/lib.rs", LIB);
        fixture.write("app/tests/x.rs", TEST);
        fixture.write("app/examples/e.rs", EXAMPLE);
        fixture.write("app/queries/q.sql", FILE_SQL);
        fixture
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        fs::write(path, text).expect("write");
    }

    fn store(&self) -> PathBuf {
        self.root.join(".lifeguard")
    }

    /// The entry file names in `.lifeguard/`, sorted.
    fn stored(&self) -> Vec<String> {
        let mut names: Vec<String> = match fs::read_dir(self.store()) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Runs the binary in the workspace root with `args`; checks that no source file
    /// changed. Returns the exit code and stdout + stderr.
    fn run(&self, args: &[&str]) -> (i32, String) {
        self.run_in(&self.root, args, &[("DATABASE_URL", Some(&self.url))])
    }

    fn run_in(&self, dir: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> (i32, String) {
        let before = source_mtimes(&self.root);
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(dir)
            .env_remove(store::DIR_ENV)
            .env_remove("DATABASE_URL");
        for (key, value) in env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        let output = cmd.output().expect("runs cargo-lifeguard");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("$ cargo-lifeguard {}\n{text}", args.join(" "));
        assert_eq!(
            source_mtimes(&self.root),
            before,
            "a source file changed: {text}"
        );
        (output.status.code().expect("exit code"), text)
    }
}

/// Modification times of every `.rs`, `.sql` and `Cargo.toml` under `dir`.
fn source_mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "sql")
                || path.ends_with("Cargo.toml")
            {
                let mtime = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .expect("mtime");
                out.insert(path, mtime);
            }
        }
    }
    out
}

fn name(sql: &str) -> String {
    store::file_name(sql)
}

#[test]
fn finds_and_fixes_missing_stale_and_orphaned_files() {
    let f = Fixture::new("lgprep");
    let by_id = "SELECT id, name FROM users WHERE id = $1";
    let count = "SELECT count(*) FROM orders";
    let emails = "SELECT id, email FROM users";

    // A workspace never prepared: everything is missing.
    let (code, out) = f.run(&["lifeguard", "prepare", "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("4 missing, 0 stale, 0 orphaned"), "{out}");
    assert!(!f.store().exists(), "--check wrote: {out}");

    let (code, out) = f.run(&["lifeguard", "prepare"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("4 added, 0 updated, 0 removed, 0 unchanged"),
        "{out}"
    );
    let mut all = vec![name(by_id), name(FILE_SQL), name(count), name(emails)];
    all.sort();
    assert_eq!(f.stored(), all);
    let (code, out) = f.run(&["prepare", "--check"]);
    assert_eq!((code, out.as_str()), (0, "4 statements, all fresh\n"));

    // Missing: a new query.
    let added = "SELECT o.total, u.email FROM orders o JOIN users u ON u.id = o.user_id";
    f.write(
        "app/src/lib.rs",
        &LIB.replace(
            "    let _ = query_file!",
            &format!("    let _ = query!(\"{added}\");\n    let _ = query_file!"),
        ),
    );
    let (code, out) = f.run(&["lifeguard", "prepare", "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "missing: {} (app/src/lib.rs:6)\n    {added}\n",
            name(added)
        )),
        "{out}"
    );
    assert!(out.contains("1 missing, 0 stale, 0 orphaned"), "{out}");

    // Stale: the schema changed under two statements.
    lifeguard_harness::psql(
        &f.url,
        "ALTER TABLE users ALTER COLUMN name DROP NOT NULL; \
         ALTER TABLE users ALTER COLUMN id TYPE bigint",
    )
    .expect("alter");
    // Orphaned: the example's query is gone.
    f.write("app/examples/e.rs", "fn main() {}\n");

    let (code, out) = f.run(&["lifeguard", "prepare", "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 missing, 2 stale, 1 orphaned"), "{out}");
    assert!(
        out.contains(&format!("stale: {} (app/src/lib.rs:5)\n", name(by_id))),
        "{out}"
    );
    assert!(
        out.contains(&format!("stale: {} (app/src/lib.rs:7)\n", name(FILE_SQL))),
        "{out}"
    );
    assert!(out.contains("+++ described now"), "{out}");
    assert!(
        out.contains(
            "-    { \"name\": \"id\", \"type\": { \"oid\": 23, \"name\": \"int4\" }, \"nullable\": false"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "+    { \"name\": \"id\", \"type\": { \"oid\": 20, \"name\": \"int8\" }, \"nullable\": false"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "+    { \"name\": \"name\", \"type\": { \"oid\": 25, \"name\": \"text\" }, \"nullable\": true"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "orphaned: {} (no statement in the workspace uses it)\n    {emails}\n",
            name(emails)
        )),
        "{out}"
    );
    assert!(
        out.contains("run `cargo lifeguard prepare` to fix"),
        "{out}"
    );

    // prepare fixes all three, and only touches .lifeguard/.
    let (code, out) = f.run(&["lifeguard", "prepare"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("added    {}  {added}", name(added))),
        "{out}"
    );
    assert!(out.contains(&format!("updated  {}", name(by_id))), "{out}");
    assert!(
        out.contains(&format!("updated  {}", name(FILE_SQL))),
        "{out}"
    );
    assert!(
        out.contains(&format!("removed  {}  {emails}", name(emails))),
        "{out}"
    );
    assert!(
        out.contains("1 added, 2 updated, 1 removed, 1 unchanged"),
        "{out}"
    );
    let mut all = vec![name(by_id), name(FILE_SQL), name(count), name(added)];
    all.sort();
    assert_eq!(f.stored(), all);
    let stored = fs::read_to_string(f.store().join(name(by_id))).expect("stored");
    let entry = store::Entry::from_json(&stored).expect("parses");
    assert_eq!(entry.description.params[0].name, "int8");

    let (code, out) = f.run(&["lifeguard", "prepare", "--check"]);
    assert_eq!((code, out.as_str()), (0, "4 statements, all fresh\n"));
    // A second prepare has nothing to do.
    let (code, out) = f.run(&["lifeguard", "prepare"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 added, 0 updated, 0 removed, 4 unchanged"),
        "{out}"
    );
}

#[test]
fn a_statement_the_server_rejects_fails_both_modes() {
    let f = Fixture::new("lgprepbad");
    // The first file scanned, so that the statements after it are described on the same
    // connection after the error.
    f.write(
        "app/examples/e.rs",
        "fn main() {\n    query!(\"SELECT id, nope FROM users\");\n}\n",
    );
    for args in [&["prepare"][..], &["prepare", "--check"]] {
        let (code, out) = f.run(args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(
                "error: app/examples/e.rs:2: ERROR: column \"nope\" does not exist (SQLSTATE 42703)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("    SELECT id, nope FROM users\n               ^\n"),
            "{out}"
        );
        assert!(out.contains("1 statement failed"), "{out}");
        assert!(out.contains("4 statements"), "{out}");
    }
    // The statements that describe were written all the same; the failed one has no file.
    let count = "SELECT count(*) FROM orders";
    let mut expected = vec![
        name("SELECT id, name FROM users WHERE id = $1"),
        name(FILE_SQL),
        name(count),
    ];
    expected.sort();
    assert_eq!(f.stored(), expected);

    // A corrupt file is stale, and prepare rewrites it.
    f.write(&format!(".lifeguard/{}", name(count)), "{ \"format\": 1,");
    let (code, out) = f.run(&["prepare", "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "stale: {} (app/tests/x.rs:4)\n    {count}\n    the file is unreadable: not valid JSON",
            name(count)
        )),
        "{out}"
    );
    let (code, out) = f.run(&["prepare"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("0 added, 1 updated, 0 removed, 2 unchanged"),
        "{out}"
    );
    let text = fs::read_to_string(f.store().join(name(count))).expect("rewritten");
    assert_eq!(store::Entry::from_json(&text).expect("parses").sql, count);
}

#[test]
fn statements_no_target_compiles_only_warn() {
    let f = Fixture::new("lgprepui");
    // trybuild-style fixtures: no target's module tree reaches tests/ui/.
    f.write(
        "app/tests/ui/bad_sql.rs",
        "fn main() {\n    lifeguard::query!(\"SELEC 1\");\n}\n",
    );
    f.write(
        "app/tests/ui/wrong_arg.rs",
        "fn main() {\n    lifeguard::query!(\"SELECT name FROM users WHERE id = $1\", \"x\");\n}\n",
    );
    let (code, out) = f.run(&["prepare"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "warning: app/tests/ui/bad_sql.rs:2 (no target compiles this file): ERROR: syntax error"
        ),
        "{out}"
    );
    assert!(out.contains("    SELEC 1\n    ^\n"), "{out}");
    assert!(
        out.contains("5 added, 0 updated, 0 removed, 0 unchanged (1 skipped"),
        "{out}"
    );
    // The fixture whose SQL is fine gets its file: an offline trybuild run needs it.
    assert!(
        f.stored()
            .contains(&name("SELECT name FROM users WHERE id = $1"))
    );
    let (code, out) = f.run(&["prepare", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 statements, all fresh (1 skipped"), "{out}");
}

#[test]
fn manifest_path_database_url_and_offline_dir() {
    let f = Fixture::new("lgprepargs");
    let elsewhere = f.root.parent().expect("tmp").to_path_buf();
    let manifest = f.root.join("app/Cargo.toml");
    let manifest = manifest.to_str().expect("utf-8 path");

    // No URL anywhere: a clear error, exit 2.
    let (code, out) = f.run_in(&elsewhere, &["prepare", "--manifest-path", manifest], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("DATABASE_URL is not set"), "{out}");

    // The URL on the command line, the workspace found from a member's manifest, and the
    // files put where LIFEGUARD_OFFLINE_DIR says (relative to the workspace root).
    let (code, out) = f.run_in(
        &elsewhere,
        &[
            "lifeguard",
            "prepare",
            "--manifest-path",
            manifest,
            "--database-url",
            &f.url,
        ],
        &[(store::DIR_ENV, Some("meta"))],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 added"), "{out}");
    assert_eq!(fs::read_dir(f.root.join("meta")).expect("meta").count(), 4);
    assert!(!f.store().exists());

    // An unreachable server: exit 2.
    let (code, out) = f.run(&[
        "prepare",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("error: cannot talk to the database"),
        "{out}"
    );
}

/// `queries!` files: each named statement is prepared, located by its line in the file;
/// editing one makes its entry missing and the old one orphaned.
#[test]
fn prepares_the_statements_of_queries_files() {
    let f = Fixture::new("lgprepqueries");
    let named = "-- name: by_name(name) :optional\nSELECT id FROM users WHERE name = $1;\n\n\
                 -- name: totals\nSELECT user_id, sum(total) AS total\nFROM orders GROUP BY user_id;\n";
    f.write("app/queries/named.sql", named);
    f.write(
        "app/src/lib.rs",
        &format!("{LIB}\nlifeguard::queries!(pub mod named = \"queries/named.sql\");\n"),
    );
    let (code, out) = f.run(&["lifeguard", "prepare"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 added"), "{out}");
    let by_name = "SELECT id FROM users WHERE name = $1";
    let totals = "SELECT user_id, sum(total) AS total\nFROM orders GROUP BY user_id";
    assert!(f.stored().contains(&name(by_name)), "{:?}", f.stored());
    assert!(f.stored().contains(&name(totals)), "{:?}", f.stored());
    let (code, out) = f.run(&["prepare", "--check"]);
    assert_eq!((code, out.as_str()), (0, "6 statements, all fresh\n"));

    f.write(
        "app/queries/named.sql",
        &named.replace("GROUP BY user_id", "GROUP BY 1"),
    );
    let (code, out) = f.run(&["prepare", "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing: "), "{out}");
    assert!(out.contains("(app/queries/named.sql:5)"), "{out}");
    assert!(out.contains("1 missing, 0 stale, 1 orphaned"), "{out}");
}

/// `cargo lifeguard` reads `DATABASE_URL` and `LIFEGUARD_OFFLINE_DIR` from the
/// workspace's `.env` when the environment does not set them, and the environment wins.
#[test]
fn reads_the_workspace_dot_env() {
    let f = Fixture::new("lgprepenv");
    f.write(
        ".env",
        &format!("# settings for cargo lifeguard\nDATABASE_URL={}\nLIFEGUARD_OFFLINE_DIR=from-env-file\n", f.url),
    );
    let (code, out) = f.run_in(&f.root, &["lifeguard", "prepare"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 added"), "{out}");
    assert_eq!(
        fs::read_dir(f.root.join("from-env-file"))
            .expect("dir")
            .count(),
        4
    );
    assert!(!f.store().exists());

    // The environment wins over the file, for both settings.
    let (code, out) = f.run_in(
        &f.root,
        &["lifeguard", "prepare"],
        &[
            ("DATABASE_URL", Some("postgres://nobody@127.0.0.1:1/x")),
            (store::DIR_ENV, Some("from-environment")),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("127.0.0.1:1"), "{out}");
    let (code, out) = f.run_in(
        &f.root,
        &["lifeguard", "prepare"],
        &[(store::DIR_ENV, Some("from-environment"))],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        fs::read_dir(f.root.join("from-environment"))
            .expect("dir")
            .count(),
        4
    );

    // A .env that cannot be parsed is named.
    f.write(".env", "DATABASE_URL='unterminated\n");
    let (code, out) = f.run_in(&f.root, &["lifeguard", "prepare"], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(".env cannot be parsed"), "{out}");
}

#[test]
fn help_and_version() {
    let out = Command::new(BIN)
        .args(["lifeguard", "--help"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("Usage: cargo lifeguard <COMMAND>"), "{text}");
    assert!(text.contains("prepare"), "{text}");

    let out = Command::new(BIN)
        .args(["prepare", "--help"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--check"), "{text}");
    assert!(text.contains("--database-url <URL>"), "{text}");
    assert!(text.contains("--manifest-path <PATH>"), "{text}");

    let out = Command::new(BIN).arg("--version").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("cargo-lifeguard {}", env!("CARGO_PKG_VERSION"))
    );

    let out = Command::new(BIN)
        .args(["prepare", "--bogus"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

/// The describe every `query!` and `prepare` run goes through works over TLS, its
/// certificate checked in full.
#[test]
fn describes_on_a_tls_database_url() {
    let cluster = lifeguard_harness::Cluster::builder()
        .tls()
        .start()
        .expect("a TLS cluster");
    cluster.create_database("app").expect("database");
    let certs = cluster.tls().expect("certificates");
    // Without the query LIFEGUARD_HARNESS_TLS adds: this test sets its own.
    let app = cluster.url_for("postgres", None, "app");
    let app = app.split('?').next().expect("a URL");
    let mut f = Fixture::new("lgpreptls");
    f.url = format!("{app}?{}", certs.verify_full_params());
    lifeguard_harness::psql(&f.url, SCHEMA).expect("schema over TLS");
    let (code, out) = f.run(&["prepare"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 added"), "{out}");
    // A certificate that does not check out fails the run with what to do.
    let other = certs.other_ca_cert().display();
    f.url = format!("{app}?sslmode=verify-full&sslrootcert={other}");
    let (code, out) = f.run(&["prepare", "--check"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not signed by a trusted root"), "{out}");
}
