//! What the describer reads from the SQL text itself, without a server: the parameter
//! count, the first keyword (does EXPLAIN accept it), the names called in a plan, and
//! identifier quoting.

/// The highest `$n` in `sql` outside literals, quoted identifiers and comments: the
/// parameter count PostgreSQL will find, unless the SQL is unusual enough to fool this
/// (then the plan batch runs a second time with the server's count).
pub(super) fn parameter_count(sql: &str) -> usize {
    let b = sql.as_bytes();
    let (mut i, mut max) = (0, 0);
    let skip_to = |from: usize, end: &[u8]| {
        b[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(b.len(), |p| from + p + end.len())
    };
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let quote = b[i];
                let escapes = quote == b'\'' && i > 0 && matches!(b[i - 1], b'e' | b'E');
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                    } else if b[i] == quote {
                        i += 1;
                        if b.get(i) != Some(&quote) {
                            break;
                        }
                        i += 1;
                    } else {
                        i += 1;
                    }
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_to(i, b"\n"),
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_to(i + 2, b"*/"),
            b'$' => {
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 {
                    let n = sql[i + 1..i + 1 + digits].parse().unwrap_or(0);
                    max = max.max(n);
                    i += 1 + digits;
                } else {
                    // A dollar-quoted string: $tag$ ... $tag$.
                    let tag_len = b[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                        .count();
                    if b.get(i + 1 + tag_len) == Some(&b'$') {
                        let tag = &b[i..i + tag_len + 2];
                        i = skip_to(i + tag.len(), tag);
                    } else {
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    max
}

/// Every identifier directly followed by `(` in `text`.
pub(super) fn called_names(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    text.match_indices('(').filter_map(move |(at, _)| {
        let start = bytes[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .map_or(0, |p| p + 1);
        (start < at).then(|| &text[start..at])
    })
}

/// Whether EXPLAIN accepts this statement (by its first keyword).
pub(super) fn explainable(sql: &str) -> bool {
    let word = first_keyword(sql).to_ascii_lowercase();
    matches!(
        word.as_str(),
        "select" | "insert" | "update" | "delete" | "values" | "with" | "table" | "merge"
    )
}

/// The first word of `sql`, past comments and opening parentheses.
pub(super) fn first_keyword(sql: &str) -> &str {
    let mut s = sql;
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix('(') {
            s = rest;
        } else {
            break;
        }
    }
    let end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    &s[..end]
}

/// `s` as a SQL string literal.
pub(super) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn called_names_finds_identifiers_before_parens() {
        let names: Vec<_> = called_names("nextval('s'::regclass), (1), x.pg_notify(a)").collect();
        assert_eq!(names, ["nextval", "pg_notify"]);
    }

    #[test]
    fn parameter_counts() {
        assert_eq!(parameter_count("SELECT 1"), 0);
        assert_eq!(parameter_count("SELECT $1, $2 WHERE x = $1"), 2);
        assert_eq!(parameter_count("SELECT '$3', \"$4\", $2 -- $9\n"), 2);
        assert_eq!(
            parameter_count("SELECT /* $7 */ $$ $5 $$, $tag$ $6 $tag$, $1"),
            1
        );
        assert_eq!(parameter_count("SELECT E'\\' $8', $3"), 3);
        assert_eq!(parameter_count("SELECT 'it''s $4', $10"), 10);
    }
}
