//! Spotting `COPY ... FROM STDIN` before it reaches a shared connection.
//!
//! Once the server starts a COPY FROM STDIN it reads nothing but copy data: it ignores
//! the request's Sync and would take the next caller's Bind as a protocol violation,
//! failing that neighbour too. So the pipelined client refuses such SQL before sending
//! a byte. The check is lexical: each statement of the text (split at `;` outside
//! quotes, comments and dollar quotes) whose first word is `COPY` and that has the
//! words `FROM STDIN` in a row is refused. `COPY ... TO STDOUT` is fine: its data comes
//! back within the response.

/// True when some statement in `sql` is a `COPY ... FROM STDIN`.
pub(crate) fn copies_from_stdin(sql: &str) -> bool {
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

enum Token<'a> {
    /// A bare word (keyword or unquoted identifier).
    Word(&'a str),
    /// `;`: the end of a statement.
    End,
    /// Anything else: a quoted string or identifier, a number, punctuation.
    Other,
}

/// The tokens of SQL text, with whitespace and comments skipped.
struct Words<'a> {
    sql: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    fn new(sql: &'a str) -> Words<'a> {
        Words { sql, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.sql[self.at..]
    }

    fn next_token(&mut self) -> Option<Token<'a>> {
        self.skip_space_and_comments();
        let rest = self.rest();
        let c = rest.chars().next()?;
        if c == ';' {
            self.at += 1;
            return Some(Token::End);
        }
        if c.is_alphabetic() || c == '_' {
            let len = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .unwrap_or(rest.len());
            self.at += len;
            return Some(Token::Word(&rest[..len]));
        }
        match c {
            '\'' | '"' => self.skip_quoted(c),
            '$' => self.skip_dollar_quoted(),
            _ => self.at += c.len_utf8(),
        }
        Some(Token::Other)
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.at += rest.len() - trimmed.len();
            if trimmed.starts_with("--") {
                self.at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                self.skip_block_comment();
            } else {
                return;
            }
        }
    }

    /// Skips a `/* ... */` comment, nested ones included.
    fn skip_block_comment(&mut self) {
        let bytes = self.sql.as_bytes();
        let mut depth = 0usize;
        let mut i = self.at;
        while i + 1 < bytes.len() {
            match (bytes[i], bytes[i + 1]) {
                (b'/', b'*') => {
                    depth += 1;
                    i += 2;
                }
                (b'*', b'/') => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        self.at = i;
                        return;
                    }
                }
                _ => i += 1,
            }
        }
        self.at = self.sql.len();
    }

    /// Skips a string or quoted identifier; a doubled quote stays inside.
    fn skip_quoted(&mut self, quote: char) {
        let mut chars = self.rest().char_indices().skip(1).peekable();
        while let Some((i, ch)) = chars.next() {
            if ch == quote {
                if chars.peek().is_some_and(|&(_, next)| next == quote) {
                    chars.next();
                    continue;
                }
                self.at += i + 1;
                return;
            }
        }
        self.at = self.sql.len();
    }

    /// Skips `$tag$ ... $tag$`, or a lone `$` (a parameter such as `$1`).
    fn skip_dollar_quoted(&mut self) {
        let rest = self.rest();
        let tag_len = rest[1..]
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .map(|n| n + 1);
        match tag_len {
            Some(n) if rest[n..].starts_with('$') && !rest[1..n].starts_with(char::is_numeric) => {
                let tag = &rest[..=n];
                match rest[tag.len()..].find(tag) {
                    Some(end) => self.at += tag.len() + end + tag.len(),
                    None => self.at = self.sql.len(),
                }
            }
            _ => self.at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copies_from_stdin;

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
