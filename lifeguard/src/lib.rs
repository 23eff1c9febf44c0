//! Lifeguard: compile-time checked PostgreSQL access for services on the `may`
//! coroutine runtime.
//!
//! Today this crate re-exports the coroutine-native client, [`pg`]; the pool (issue #3)
//! and the `query!` family (issue #4) are built on top of it next.

pub use lifeguard_pg as pg;
