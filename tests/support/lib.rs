//! Support code shared by the workspace-level integration tests in `tests/`.
//!
//! The tests themselves talk to a real PostgreSQL: `DATABASE_URL` when it is set, else a
//! private cluster started by `lifeguard-harness`. Their `query!` calls are checked at
//! compile time against a database holding `queries/schema.sql` (or, offline, against
//! `.lifeguard/`).

pub mod scrape;

/// The schema every `query!` in this repository is checked against.
pub const SCHEMA: &str = include_str!("../../queries/schema.sql");

/// A fresh database with [`SCHEMA`] applied; its URL.
pub fn schema_database(prefix: &str) -> String {
    let url = lifeguard_harness::test_server().fresh_database(prefix);
    lifeguard_harness::psql(&url, SCHEMA).expect("apply queries/schema.sql");
    url
}

/// A pool on a fresh database with [`SCHEMA`] and then `data` applied: two shared
/// connections, four exclusive ones, 30 s bounds on acquiring and on each statement.
pub fn schema_pool(prefix: &str, data: &str) -> lifeguard::Pool {
    let url = schema_database(prefix);
    if !data.is_empty() {
        lifeguard_harness::psql(&url, data).expect("load the test's data");
    }
    let config = lifeguard::PoolConfig::new(&url)
        .expect("the harness's URL")
        .connections(2)
        .max_exclusive(4)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .statement_timeout(Some(std::time::Duration::from_secs(30)));
    lifeguard::Pool::new(config).expect("pool")
}

/// The `mood` enum of [`SCHEMA`], read and written through overrides
/// (`"m: Mood"`, `value as Mood`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, postgres_types::ToSql, postgres_types::FromSql)]
#[postgres(name = "mood")]
pub enum Mood {
    /// `sad`
    #[postgres(name = "sad")]
    Sad,
    /// `ok`
    #[postgres(name = "ok")]
    Meh,
    /// `happy`
    #[postgres(name = "happy")]
    Happy,
}
