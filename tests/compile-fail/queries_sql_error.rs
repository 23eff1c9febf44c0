// A SQL error in a file of named statements: the message names the statement, the
// file and line 10, with a caret under the error. The path is relative to trybuild's
// copy of this crate (target/tests/trybuild/lifeguard-suite).
lifeguard::queries!(mod bad = "../../../../tests/compile-fail/queries_sql_error.sql");

fn main() {}
