//! A small SQL tokenizer: words, statement ends and everything else, with whitespace,
//! comments (nested ones too), quoted strings and identifiers and dollar quotes
//! skipped whole. Enough to find what a statement starts with, never a parser.

pub(super) enum Token<'a> {
    /// A bare word (keyword or unquoted identifier).
    Word(&'a str),
    /// `;`: the end of a statement.
    End,
    /// Anything else: a quoted string or identifier, a number, punctuation.
    Other,
}

/// The tokens of SQL text, with whitespace and comments skipped.
pub(super) struct Words<'a> {
    sql: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    pub(super) fn new(sql: &'a str) -> Words<'a> {
        Words { sql, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.sql[self.at..]
    }

    pub(super) fn next_token(&mut self) -> Option<Token<'a>> {
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
