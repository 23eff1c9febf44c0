//! The load generator's parts, shared by its binary (`src/main.rs`) and the criterion
//! benches (`benches/codec.rs`).
//!
//! | module | holds |
//! |---|---|
//! | [`workload`] | the TechEmpower "single query" table, its setup, the query, the time window |
//! | [`stats`] | per-worker latency recording and the merged summary |
//! | [`cpu`] | the process's CPU time over the measured window (client CPU per query) |
//! | [`targets`] | one request loop per client under test: `client` (lifeguard-pg on may), `pool` (lifeguard's pool on may), `tokio-postgres`, `deadpool` (deadpool-postgres), `sqlx` |

pub mod cpu;
pub mod stats;
pub mod targets;
pub mod workload;

/// The database to load: `DATABASE_URL` when set, else the private server of
/// `lifeguard-harness` (started on first use, stopped and removed when the process exits).
pub fn default_database_url() -> Result<String, lifeguard_harness::HarnessError> {
    match std::env::var(lifeguard_harness::DATABASE_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => lifeguard_harness::try_test_server().map(|server| server.url().to_owned()),
    }
}
