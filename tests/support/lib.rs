//! Support code shared by the workspace-level integration tests in `tests/`.
//!
//! The tests themselves talk to a real PostgreSQL: `DATABASE_URL` when it is set, else a
//! private cluster started by `lifeguard-harness`.
