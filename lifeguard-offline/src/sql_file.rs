//! Files of named statements, which `lifeguard::queries!` turns into a module of typed
//! functions: the file's syntax and its parser, shared by the macro and by
//! `cargo lifeguard prepare` (which must find the very same SQL texts).
//!
//! ```sql
//! -- Anything before the first name is a comment.
//!
//! -- name: user_by_email(email) :one
//! SELECT id, name, email FROM users WHERE email = $1;
//!
//! -- name: rename_user(id, name) :execute
//! -- A comment under a name is part of the statement's SQL.
//! UPDATE users SET name = $2 WHERE id = $1;
//!
//! -- name: set_mood(id, mood: crate::Mood)
//! UPDATE people SET mood = $2 WHERE id = $1 RETURNING id, mood AS "mood: crate::Mood";
//! ```
//!
//! - A statement starts at a line `-- name: <name>`, `<name>` being a Rust identifier
//!   (the function's name). Its SQL is every line after it up to the next such line or
//!   the end of the file, without leading and trailing blank lines and without one final
//!   `;`. It is sent to the server as it is, its comments included.
//! - `(a, b, ...)` after the name names the parameters: the first is `$1`, the second
//!   `$2`, and so on; their number must match the statement's. Without it the parameters
//!   are called `p1`, `p2`, ... A parameter written `name: Type` takes that Rust type
//!   and skips the type check (like `expr as Type` in `query!`): the type only needs to
//!   implement `ToSql` (for user enums and the like).
//! - `:one`, `:optional`, `:many` or `:execute` at the end of the line says what the
//!   function returns: the row (`fetch_one`), `Option` of it (`fetch_optional`), a `Vec`
//!   of rows (`fetch_all`) or the number of rows affected (`execute`). Without it: `:many`
//!   for a statement that returns columns, `:execute` for one that does not.
//!
//! ```
//! use lifeguard_offline::sql_file::{self, Returns};
//!
//! let text = "-- name: by_id(id) :one\nSELECT name FROM users\nWHERE id = $1;\n";
//! let statements = sql_file::parse(text)?;
//! assert_eq!(statements[0].name, "by_id");
//! assert_eq!(statements[0].sql, "SELECT name FROM users\nWHERE id = $1");
//! assert_eq!(statements[0].line, 2);
//! assert_eq!(statements[0].returns, Some(Returns::One));
//! # Ok::<(), lifeguard_offline::sql_file::ParseError>(())
//! ```

use std::fmt;

/// One named statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedStatement {
    /// The name after `-- name:`.
    pub name: String,
    /// The parameters, `$1` first; `None` when the header names none (`p1`, `p2`, ...).
    pub params: Option<Vec<Param>>,
    /// What the function returns, when the header says.
    pub returns: Option<Returns>,
    /// The SQL text, as sent to the server and as `.lifeguard/` keys it.
    pub sql: String,
    /// The line of the file (from 1) where the SQL starts.
    pub line: usize,
    /// The line of the `-- name:` header.
    pub header_line: usize,
}

/// A parameter of a named statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name: the function's argument.
    pub name: String,
    /// The Rust type after `:`, when given (the check is skipped).
    pub rust_type: Option<String>,
}

/// What the function made from a statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// `:one`: exactly one row.
    One,
    /// `:optional`: at most one row.
    Optional,
    /// `:many`: every row.
    Many,
    /// `:execute`: the number of rows affected.
    Execute,
}

/// A file that does not follow the syntax: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line (from 1).
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The header's text after `--` when `line` is a `-- name:` line.
fn header(line: &str) -> Option<&str> {
    line.trim_start()
        .strip_prefix("--")?
        .trim_start()
        .strip_prefix("name:")
}

/// Parses a file's text into its named statements, in order.
pub fn parse(text: &str) -> Result<Vec<NamedStatement>, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<NamedStatement> = Vec::new();
    let mut i = 0;
    // Before the first name: only comments and blank lines.
    while i < lines.len() && header(lines[i]).is_none() {
        let line = lines[i].trim();
        if !line.is_empty() && !line.starts_with("--") {
            return Err(ParseError {
                line: i + 1,
                message: "SQL before the first `-- name: <function>` line: every statement \
                          needs a name"
                    .into(),
            });
        }
        i += 1;
    }
    while i < lines.len() {
        let header_line = i + 1;
        let head = header(lines[i]).expect("at a header");
        let (name, params, returns) = parse_header(head).map_err(|message| ParseError {
            line: header_line,
            message,
        })?;
        if out.iter().any(|s| s.name == name) {
            return Err(ParseError {
                line: header_line,
                message: format!("a second statement named `{name}`"),
            });
        }
        i += 1;
        let start = i;
        while i < lines.len() && header(lines[i]).is_none() {
            i += 1;
        }
        let body = &lines[start..i];
        let first = body.iter().position(|l| !l.trim().is_empty());
        let last = body.iter().rposition(|l| !l.trim().is_empty());
        let (Some(first), Some(last)) = (first, last) else {
            return Err(ParseError {
                line: header_line,
                message: format!("`{name}` has no SQL"),
            });
        };
        let sql = body[first..=last].join("\n");
        let sql = sql.trim_end();
        let sql = sql.strip_suffix(';').unwrap_or(sql).trim_end().to_string();
        out.push(NamedStatement {
            name,
            params,
            returns,
            sql,
            line: start + first + 1,
            header_line,
        });
    }
    Ok(out)
}

type Header = (String, Option<Vec<Param>>, Option<Returns>);

/// `name[(params)] [:returns]`.
fn parse_header(head: &str) -> Result<Header, String> {
    let head = head.trim();
    let name_end = head
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(head.len());
    let name = &head[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "`-- name:` must be followed by the function's name, a Rust identifier (found \
             `{head}`)"
        ));
    }
    let mut rest = head[name_end..].trim_start();
    let params = match rest.strip_prefix('(') {
        Some(inner) => {
            let close = matching_paren(inner)
                .ok_or_else(|| format!("the parameter list of `{name}` has no closing `)`"))?;
            rest = inner[close + 1..].trim_start();
            Some(parse_params(&inner[..close])?)
        }
        None => None,
    };
    let returns = match rest {
        "" => None,
        ":one" => Some(Returns::One),
        ":optional" => Some(Returns::Optional),
        ":many" => Some(Returns::Many),
        ":execute" => Some(Returns::Execute),
        other => {
            return Err(format!(
                "unexpected `{other}` after `{name}`: expected `:one`, `:optional`, `:many` \
                 or `:execute`"
            ));
        }
    };
    Ok((name.to_string(), params, returns))
}

/// The index of the `)` that closes an opened `(`, nested brackets counted.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ']' | '>' => depth = depth.saturating_sub(1),
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `a, b: Type<X, Y>, c`.
fn parse_params(list: &str) -> Result<Vec<Param>, String> {
    let mut params = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (i, c) in list.char_indices() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' | '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                pieces.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&list[start..]);
    if pieces.len() == 1 && pieces[0].trim().is_empty() {
        return Ok(params);
    }
    for piece in pieces {
        let (name, rust_type) = match piece.split_once(':') {
            // `a::b` is a path, not a type annotation.
            Some((name, ty)) if !ty.starts_with(':') => (name.trim(), Some(ty.trim())),
            _ => (piece.trim(), None),
        };
        let ident = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !ident {
            return Err(format!("`{}` is not a parameter name", piece.trim()));
        }
        if rust_type.is_some_and(str::is_empty) {
            return Err(format!("parameter `{name}` has `:` but no type"));
        }
        if params.iter().any(|p: &Param| p.name == name) {
            return Err(format!("two parameters are named `{name}`"));
        }
        params.push(Param {
            name: name.to_string(),
            rust_type: rust_type.map(str::to_string),
        });
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_with_their_lines_params_and_returns() {
        let text = "-- users\n\n-- name: by_email(email) :one\nSELECT id FROM users WHERE email = $1;\n\n\
                    -- name: rename(id, name: crate::Name<'static, X>)\n-- keeps this comment\n\
                    UPDATE users SET name = $2\n  WHERE id = $1 ;  \n\n-- name: all\nTABLE users\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].name.as_str(), s[0].line, s[0].header_line),
            ("by_email", 4, 3)
        );
        assert_eq!(s[0].sql, "SELECT id FROM users WHERE email = $1");
        assert_eq!(s[0].returns, Some(Returns::One));
        let params = s[1].params.as_ref().unwrap();
        assert_eq!(params[0].name, "id");
        assert_eq!(
            params[1].rust_type.as_deref(),
            Some("crate::Name<'static, X>")
        );
        assert_eq!(
            s[1].sql,
            "-- keeps this comment\nUPDATE users SET name = $2\n  WHERE id = $1"
        );
        assert_eq!((s[1].line, s[1].returns), (7, None));
        assert_eq!(
            (s[2].params.as_ref(), s[2].sql.as_str()),
            (None, "TABLE users")
        );
        assert_eq!(
            parse("-- name: f()\nSELECT 1").unwrap()[0].params,
            Some(vec![])
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text| parse(text).unwrap_err();
        assert_eq!(err("SELECT 1;\n-- name: f\nSELECT 2").line, 1);
        assert_eq!(err("\n-- name: f\n\n-- name: g\nSELECT 1").line, 2);
        assert!(
            err("-- name: f\nSELECT 1\n-- name: f\nSELECT 2")
                .message
                .contains("second")
        );
        assert!(err("-- name: f(a b)\nSELECT 1").message.contains("`a b`"));
        assert!(
            err("-- name: f(a, a)\nSELECT 1")
                .message
                .contains("two parameters")
        );
        assert!(err("-- name: f :all\nSELECT 1").message.contains(":all"));
        assert!(err("-- name: (x)\nSELECT 1").message.contains("name"));
        assert!(err("-- name: f(x\nSELECT 1").message.contains("closing"));
    }
}
