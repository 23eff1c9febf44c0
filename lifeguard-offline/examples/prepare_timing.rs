//! Times `cargo lifeguard prepare` on a workspace of 200 statements. Reports; asserts
//! nothing.
//!
//! ```text
//! cargo build --release -p lifeguard-offline --bin cargo-lifeguard
//! cargo run --release -p lifeguard-offline --example prepare_timing -- target/release/cargo-lifeguard
//! ```
//!
//! Each statement is `SELECT id, randomnumber, <i> AS k<i> FROM world WHERE id = $1` in a
//! fixture workspace in a temporary directory; the database is a fresh one on the test
//! server (`DATABASE_URL` or a private cluster). Three runs: the first writes every file,
//! the second finds them fresh, the third is `--check`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const STATEMENTS: usize = 200;

fn main() {
    let Some(bin) = std::env::args().nth(1) else {
        eprintln!("usage: prepare_timing <path to cargo-lifeguard>");
        std::process::exit(2);
    };
    let bin = std::path::absolute(&bin).expect("binary path");
    let url = lifeguard_harness::test_server().fresh_database("lgtiming");
    lifeguard_harness::psql(
        &url,
        "CREATE TABLE world (id int PRIMARY KEY, randomnumber int NOT NULL)",
    )
    .expect("schema");

    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let mut lib = String::from("pub fn all(pool: &Pool, id: i32) {\n");
    for i in 0..STATEMENTS {
        let _ = writeln!(
            lib,
            "    let _ = query!(\"SELECT id, randomnumber, {i} AS k{i} FROM world WHERE id = $1\", id);"
        );
    }
    lib.push_str("}\n");
    write(root, "Cargo.toml", "[workspace]\nmembers = [\"app\"]\n");
    write(
        root,
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(root, "app/src/lib.rs", &lib);

    for args in [&["prepare"][..], &["prepare"], &["prepare", "--check"]] {
        let start = Instant::now();
        let output = Command::new(&bin)
            .arg("lifeguard")
            .args(args)
            .current_dir(root)
            .env("DATABASE_URL", &url)
            .env_remove("LIFEGUARD_OFFLINE_DIR")
            .output()
            .expect("runs cargo-lifeguard");
        let took = start.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or("");
        println!(
            "cargo lifeguard {:<16} {:>7.3} s  exit {}  {last}",
            args.join(" "),
            took.as_secs_f64(),
            output.status.code().unwrap_or(-1)
        );
    }
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, text).expect("write");
}
