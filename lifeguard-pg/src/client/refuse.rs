//! Statements a shared pipelined connection refuses before sending a byte.
//!
//! **COPY FROM STDIN**, always. Once the server starts a COPY FROM STDIN it reads nothing but copy data: it ignores
//! the request's Sync and would take the next caller's Bind as a protocol violation,
//! failing that neighbour too. So the pipelined client refuses such SQL before sending
//! a byte. The check is lexical: each statement of the text (split at `;` outside
//! quotes, comments and dollar quotes) whose first word is `COPY` and that has the
//! words `FROM STDIN` in a row is refused. `COPY ... TO STDOUT` is fine: its data comes
//! back within the response.
//!
//! **Session-changing statements**, when the connection is shared by callers who do
//! not know each other (a pool's, see `Client::refuse_session_changes`): `LISTEN`,
//! `SET`, a `BEGIN` or a temporary table would change the session every later caller
//! runs in, and notifications would pile up where nobody reads them. Refused are the
//! statements whose first word is one of [`SESSION_STATEMENTS`] (`SET LOCAL` and
//! `CREATE` other than of a temporary object are fine), and calls of the session-level
//! advisory lock functions. A function that changes the session from inside
//! (`set_config(.., false)`, a PL/pgSQL `SET`) cannot be seen from the text.

use std::sync::atomic::Ordering;

use super::lexer::{Token, Words};
use super::pipeline::Pipeline;
use crate::error::Error;

/// First words of statements that change the session (or its transaction state).
const SESSION_STATEMENTS: &[&str] = &[
    "listen",
    "unlisten",
    "set",
    "reset",
    "begin",
    "start",
    "commit",
    "end",
    "rollback",
    "abort",
    "savepoint",
    "release",
    "prepare",
    "deallocate",
    "discard",
    "declare",
    "close",
    "load",
];

/// Functions that take a session-level advisory lock, held past the statement.
const SESSION_LOCKS: &[&str] = &[
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

/// What makes `sql` change the session (its first words, or a lock function), if
/// anything does.
pub(super) fn session_change(sql: &str) -> Option<String> {
    let mut words = Words::new(sql);
    let mut head: [Option<&str>; 2] = [None, None];
    let mut position = 0;
    loop {
        let token = words.next_token();
        match token {
            Some(Token::Word(word)) => {
                if SESSION_LOCKS.iter().any(|f| word.eq_ignore_ascii_case(f)) {
                    return Some(format!("{}()", word.to_ascii_lowercase()));
                }
                if let Some(slot) = head.get_mut(position) {
                    *slot = Some(word);
                }
                position += 1;
            }
            Some(Token::Other) => position += 1,
            Some(Token::End) | None => {
                if let Some(found) = classify(head) {
                    return Some(found);
                }
                token.as_ref()?;
                head = [None, None];
                position = 0;
            }
        }
    }
}

/// Whether a statement starting with these two words changes the session.
fn classify([first, second]: [Option<&str>; 2]) -> Option<String> {
    let first = first?;
    let is = |word: Option<&str>, any: &[&str]| {
        word.is_some_and(|w| any.iter().any(|a| w.eq_ignore_ascii_case(a)))
    };
    if first.eq_ignore_ascii_case("create") {
        return is(second, &["temp", "temporary", "local", "global"])
            .then(|| "CREATE TEMPORARY".to_owned());
    }
    if first.eq_ignore_ascii_case("set") && is(second, &["local"]) {
        return None;
    }
    is(Some(first), SESSION_STATEMENTS).then(|| first.to_ascii_uppercase())
}

/// True when some statement in `sql` is a `COPY ... FROM STDIN`.
pub(super) fn copies_from_stdin(sql: &str) -> bool {
    let mut words = Words::new(sql);
    let mut first = true;
    let mut is_copy = false;
    let mut after_from = false;
    while let Some(token) = words.next_token() {
        match token {
            Token::End => {
                first = true;
                is_copy = false;
                after_from = false;
            }
            Token::Word(word) => {
                if first {
                    is_copy = word.eq_ignore_ascii_case("copy");
                    first = false;
                } else if is_copy {
                    if after_from && word.eq_ignore_ascii_case("stdin") {
                        return true;
                    }
                    after_from = word.eq_ignore_ascii_case("from");
                }
            }
            Token::Other => {
                first = false;
                after_from = false;
            }
        }
    }
    false
}

/// Refuses, before anything is sent, SQL the shared connection must not run: COPY FROM
/// STDIN always, session changes when told to.
pub(super) fn check(shared: &Pipeline, sql: &str) -> Result<(), Error> {
    if copies_from_stdin(sql) {
        return Err(Error::Unsupported(
            "COPY FROM STDIN cannot run on a pipelined connection: it would stall every \
             request behind it; use an exclusive Connection's copy_in (in a pool: \
             pool.acquire())"
                .into(),
        ));
    }
    if shared.refuse_session_changes.load(Ordering::Relaxed)
        && let Some(what) = session_change(sql)
    {
        return Err(Error::Unsupported(format!(
            "{what} changes the session, and this connection is shared by every caller \
             of the pool: use pool.acquire() for a session of your own{}",
            if what.contains("LISTEN") {
                ", or pool.listen() for notifications"
            } else if what == "BEGIN" || what == "START" {
                ", or pool.begin() for a transaction"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{copies_from_stdin, session_change};

    #[test]
    fn session_changing_statements_are_named() {
        for (sql, what) in [
            ("LISTEN jobs", "LISTEN"),
            ("  unlisten *", "UNLISTEN"),
            ("SET application_name = 'x'", "SET"),
            ("set session authorization bob", "SET"),
            ("RESET ALL", "RESET"),
            ("BEGIN", "BEGIN"),
            ("begin;", "BEGIN"),
            ("START TRANSACTION", "START"),
            ("COMMIT", "COMMIT"),
            ("PREPARE p AS SELECT 1", "PREPARE"),
            ("DISCARD ALL", "DISCARD"),
            ("CREATE TEMP TABLE t (id int)", "CREATE TEMPORARY"),
            ("create temporary view v as select 1", "CREATE TEMPORARY"),
            ("SELECT pg_advisory_lock(42)", "pg_advisory_lock()"),
            ("SELECT 1; LISTEN x", "LISTEN"),
            ("/* c */ -- d\n LISTEN x", "LISTEN"),
        ] {
            assert_eq!(session_change(sql).as_deref(), Some(what), "{sql}");
        }
    }

    #[test]
    fn ordinary_statements_pass() {
        for sql in [
            "SELECT 1",
            "SET LOCAL statement_timeout = 10",
            "CREATE TABLE t (id int)",
            "INSERT INTO settings (set, listen) VALUES (1, 2)",
            "SELECT 'LISTEN x'",
            "SELECT $$BEGIN$$",
            "DO $$BEGIN PERFORM 1; END$$",
            "SELECT pg_advisory_xact_lock(1)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "",
        ] {
            assert_eq!(session_change(sql), None, "{sql}");
        }
    }

    #[test]
    fn copy_from_stdin_is_spotted_in_any_spelling_and_statement() {
        for sql in [
            "COPY t FROM STDIN",
            "copy t (a, b) from stdin with (format binary)",
            "  -- load\n/* a /* nested */ comment */ Copy public.t FROM\n\tSTDIN;",
            "SELECT 1; COPY t FROM STDIN",
            "COPY \"odd;name\" FROM STDIN",
        ] {
            assert!(copies_from_stdin(sql), "{sql}");
        }
    }

    #[test]
    fn other_statements_and_quoted_text_are_not_copy_in() {
        for sql in [
            "COPY t TO STDOUT",
            "COPY (SELECT 'from stdin') TO STDOUT",
            "SELECT 'COPY t FROM STDIN'",
            "SELECT $$COPY t FROM STDIN$$",
            "SELECT $x$; COPY t FROM STDIN $x$",
            "-- COPY t FROM STDIN\nSELECT 1",
            "/* COPY t FROM STDIN */ SELECT 1",
            "SELECT copy FROM stdin_table",
            "INSERT INTO t SELECT $1 FROM stdin",
            "COPY t FROM '/tmp/file'",
            "",
        ] {
            assert!(!copies_from_stdin(sql), "{sql}");
        }
    }
}
