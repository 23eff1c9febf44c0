//! Support code shared by the workspace-level integration tests in `tests/`.
//!
//! The tests themselves talk to a real PostgreSQL: `DATABASE_URL` when it is set, else a
//! private cluster started by `lifeguard-harness`. Their `query!` calls are checked at
//! compile time against a database holding `queries/schema.sql` (or, offline, against
//! `.lifeguard/`).

/// The schema every `query!` in this repository is checked against.
pub const SCHEMA: &str = include_str!("../../queries/schema.sql");

/// A fresh database with [`SCHEMA`] applied; its URL.
pub fn schema_database(prefix: &str) -> String {
    let url = lifeguard_harness::test_server().fresh_database(prefix);
    lifeguard_harness::psql(&url, SCHEMA).expect("apply queries/schema.sql");
    url
}
