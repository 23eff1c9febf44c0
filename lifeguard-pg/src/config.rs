//! Connection configuration: URLs, libpq `key=value` strings and `PG*` variables.
//!
//! (Being written; see the helper task.)
