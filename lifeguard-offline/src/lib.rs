//! Query metadata for Lifeguard.
//!
//! Module map:
//! - [`describe`]: describes a statement on a live server (parameter and column types,
//!   column origins, the generic plan) and classifies it as a read or a write.
//! - [`nullability`]: infers, from the plan, whether each result column can be NULL.
//!
//! The `.lifeguard/` offline file format (issue #5) is not here yet.

pub mod describe;
pub mod nullability;

pub use lifeguard_pg as pg;
