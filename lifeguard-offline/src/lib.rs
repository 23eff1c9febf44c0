//! Query metadata for Lifeguard.
//!
//! This crate will hold everything about a statement's metadata: describing it on a
//! server, inferring column nullability, classifying it as a read or a write, and the
//! `.lifeguard/` offline file format (issues #4 and #5). Today it only re-exports the
//! client it will describe statements with.

pub use lifeguard_pg as pg;
