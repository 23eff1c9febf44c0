//! The `query!` family of macros for Lifeguard.
//!
//! The macros are built in issue #4; this crate exists now so that the workspace has its
//! final shape and the runtime crate can already depend on it.
