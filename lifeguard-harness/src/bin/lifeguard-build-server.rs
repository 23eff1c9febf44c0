//! A private PostgreSQL for compile-time checks: starts a cluster, creates the database
//! `lifeguard`, runs each `--schema FILE` in it, prints `DATABASE_URL=<url>` and keeps the
//! server until this process is stopped (the harness's guard removes the cluster then,
//! whatever signal ended it).
//!
//! ```sh
//! cargo run -p lifeguard-harness --bin lifeguard-build-server -- --schema queries/schema.sql
//! ```

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut schemas = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--schema", Some(file)) => schemas.push(file),
            _ => {
                eprintln!("usage: lifeguard-build-server [--schema FILE]...");
                return ExitCode::from(2);
            }
        }
    }
    match serve(&schemas) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("lifeguard-build-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(schemas: &[String]) -> Result<std::convert::Infallible, Box<dyn std::error::Error>> {
    let cluster = lifeguard_harness::Cluster::start()?;
    cluster.create_database("lifeguard")?;
    for file in schemas {
        let sql = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        cluster.psql("lifeguard", &sql)?;
    }
    let url = cluster.url_for("postgres", None, "lifeguard");
    let mut out = std::io::stdout().lock();
    writeln!(out, "DATABASE_URL={url}")?;
    out.flush()?;
    loop {
        std::thread::park();
    }
}
