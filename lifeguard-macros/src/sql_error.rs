//! A server error on a statement, as a compile error a person can act on: the message,
//! SQLSTATE, detail and hint, and the SQL line with a caret under the position.

use lifeguard_offline::pg::{DbError, Error};

/// Where a statement of a `.sql` file of named statements is: the file as the macro
/// call names it, and the line its SQL starts on.
pub struct Origin {
    pub file: String,
    pub first_line: usize,
}

/// The compile error text for a failure to describe `sql`; with an `origin`, the caret's
/// line is named by its place in the file.
pub fn describe_error(sql: &str, error: &Error, origin: Option<&Origin>) -> String {
    match error {
        Error::Db(db) => db_error(sql, db, origin),
        other => format!("could not check the statement against the database: {other}"),
    }
}

fn db_error(sql: &str, db: &DbError, origin: Option<&Origin>) -> String {
    let mut out = format!(
        "PostgreSQL rejected the statement: {} (SQLSTATE {})",
        db.message, db.code
    );
    match (db.position, origin) {
        (Some(position), None) => out.push_str(&caret(sql, position as usize)),
        (Some(position), Some(origin)) => {
            if let Some(at) = lifeguard_offline::description::caret(sql, position as usize) {
                let line = origin.first_line + at.line_no - 1;
                let width = line.to_string().len();
                out.push_str(&format!(
                    "\n{:width$}--> {}:{line}\n{line} | {}\n{:width$} | {}^",
                    "", origin.file, at.line, "", at.pad
                ));
            }
        }
        (None, Some(origin)) => {
            out.push_str(&format!("\n --> {}:{}", origin.file, origin.first_line));
        }
        (None, None) => {}
    }
    if let Some(detail) = &db.detail {
        out.push_str(&format!("\ndetail: {detail}"));
    }
    if let Some(hint) = &db.hint {
        out.push_str(&format!("\nhint: {hint}"));
    }
    out
}

/// The line holding character `position` (1-based, as the server counts) with a caret
/// under it, each line indented.
fn caret(sql: &str, position: usize) -> String {
    match lifeguard_offline::description::caret(sql, position) {
        Some(at) => format!("\n    {}\n    {}^", at.line, at.pad),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_position_on_its_line() {
        let sql = "SELECT id\nFROM nosuch\nWHERE id = 1";
        // Character 16 is the `n` of `nosuch`.
        assert_eq!(caret(sql, 16), "\n    FROM nosuch\n         ^");
        assert_eq!(caret("SELEC 1", 1), "\n    SELEC 1\n    ^");
        // Past the end (the server's position for "syntax error at end of input").
        assert_eq!(caret("SELECT 1 +", 11), "\n    SELECT 1 +\n              ^");
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(
            caret("SELECT 'é', x", 13),
            "\n    SELECT 'é', x\n                ^"
        );
    }
}
