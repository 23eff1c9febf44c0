//! Query metadata for Lifeguard.
//!
//! Module map:
//! - [`description`]: the one model of a statement's metadata (types, columns,
//!   nullability, read/write class) that every stage shares, the column-alias overrides
//!   and the caret under an error position.
//! - [`describe`]: describes a statement on a live server (parameter and column types,
//!   column origins, the generic plan) and classifies it as a read or a write.
//! - [`nullability`]: infers, from the plan, whether each result column can be NULL.
//! - [`settings`]: `DATABASE_URL`, `LIFEGUARD_OFFLINE` and `LIFEGUARD_OFFLINE_DIR`, from
//!   the environment or a `.env` file.
//! - [`sql_file`]: files of named statements for `queries!` (`-- name: f(a, b) :one`).
//! - [`store`]: the `.lifeguard/` offline files (one JSON file per statement): format,
//!   where they are looked for and written, load and save.
//! - `scan` (feature `cli`): finds every `query!`-family statement of a workspace in its
//!   source text, without compiling.
//! - `prepare` (feature `cli`): `cargo lifeguard prepare [--check]`, which makes
//!   `.lifeguard/` complete and fresh; the binary is `src/bin/cargo-lifeguard.rs`.
//!
//! Without the default `cli` feature only `description`, `describe`, `nullability`,
//! `settings`, `sql_file` and `store` are built (what the macros and the runtime need).

pub mod describe;
pub mod description;
pub mod nullability;
#[cfg(feature = "cli")]
pub mod prepare;
#[cfg(feature = "cli")]
pub mod scan;
pub mod settings;
pub mod sql_file;
pub mod store;

pub use lifeguard_pg as pg;
