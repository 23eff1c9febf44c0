//! A checked statement's summary, `SELECT users` or `INSERT orders`: its operation and
//! the tables it touches, as OpenTelemetry's `db.query.summary`, `db.operation.name`
//! and `db.collection.name` want them.
//!
//! It comes from what the compile-time check left in the statement's descriptor: the
//! command word of its SQL text (after a `WITH` list, that of the main statement), the
//! table an `INSERT`/`UPDATE`/`DELETE`/`MERGE` writes, the tables named after `FROM`,
//! `JOIN` and `USING` (common table expressions left out), and the tables its result
//! columns come from. Worked out once per statement (tracing keeps it with the
//! statement's span callsite), never per query, and never for SQL built at run time.
//! It reads only identifiers and keywords: literals, comments and quoted text are
//! skipped, so no value written in the SQL reaches it.

use std::fmt;

use lifeguard_offline::description::Description;

use crate::checked::StatementInfo;

/// A statement's operation and tables (see the module docs).
///
/// ```
/// use lifeguard::{Description, StatementKind, Summary};
///
/// let description = Description::new(&[], &[], StatementKind::Write);
/// let summary = Summary::of("UPDATE users SET name = $1 WHERE id = $2", &description);
/// assert_eq!(summary.to_string(), "UPDATE users");
/// assert_eq!(summary.collection(), Some("users"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    operation: Option<String>,
    tables: Vec<String>,
}

impl StatementInfo {
    /// Its summary: operation and tables (see [`Summary`]).
    pub fn summary(&self) -> Summary {
        Summary::of(self.sql, self.description())
    }
}

impl Summary {
    /// The summary of `sql` described as `description`.
    pub fn of(sql: &str, description: &Description) -> Summary {
        let tokens = lex(sql);
        let mut at = 0;
        let mut ctes = Vec::new();
        if word_at(&tokens, at) == Some("with") {
            at = skip_with(&tokens, at + 1, &mut ctes);
        }
        let operation = word_at(&tokens, at).map(str::to_ascii_uppercase);
        let mut tables = Vec::new();
        let target = match operation.as_deref() {
            Some("INSERT" | "MERGE") => name_at(&tokens, at + 1, &["into"]),
            Some("UPDATE" | "TABLE") => name_at(&tokens, at + 1, &[]),
            Some("DELETE") => name_at(&tokens, at + 1, &["from"]),
            _ => None,
        };
        tables.extend(target);
        for i in 0..tokens.len() {
            if matches!(word_at(&tokens, i), Some("from" | "join" | "using"))
                && let Some(table) = name_after(&tokens, i + 1, &[])
            {
                tables.push(table);
            }
        }
        tables.extend(
            description
                .columns
                .iter()
                .filter_map(|c| c.origin.map(|(table, _)| table.to_string())),
        );
        let mut seen = Vec::new();
        for table in tables {
            if !ctes.contains(&table) && !seen.contains(&table) {
                seen.push(table);
            }
        }
        Summary {
            operation,
            tables: seen,
        }
    }

    /// The operation (`SELECT`, `INSERT`, ...), upper case.
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// The tables, the one written first.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// The table, when it touches exactly one (`db.collection.name`).
    pub fn collection(&self) -> Option<&str> {
        match self.tables.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

impl fmt::Display for Summary {
    /// The operation and the tables, space-separated; `postgresql` when the operation
    /// is unknown (empty SQL).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.operation.as_deref().unwrap_or("postgresql"))?;
        for table in &self.tables {
            write!(f, " {table}")?;
        }
        Ok(())
    }
}

/// What the summary reads of SQL text: words (unquoted identifiers and keywords, lower
/// case), quoted identifiers, and punctuation; everything else is skipped.
#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

fn lex(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i = skip_block_comment(&chars, i);
        } else if c == '\'' {
            let escapes = i > 0 && matches!(chars[i - 1], 'e' | 'E');
            i = skip_quoted(&chars, i, '\'', escapes);
        } else if c == '"' {
            let end = skip_quoted(&chars, i, '"', false);
            let inner: String = chars[i + 1..end.saturating_sub(1).max(i + 1)]
                .iter()
                .collect();
            tokens.push(Token::Quoted(inner.replace("\"\"", "\"")));
            i = end;
        } else if c == '$' {
            i = skip_dollar(&chars, i);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Token::Word(word.to_lowercase()));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

/// Past a `/* */` comment starting at `i` (they nest in PostgreSQL).
fn skip_block_comment(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Past text quoted with `quote` starting at `i` (a doubled quote stays inside; so does
/// a backslash-escaped one in an `E''` string).
fn skip_quoted(chars: &[char], mut i: usize, quote: char, escapes: bool) -> usize {
    i += 1;
    while i < chars.len() {
        if escapes && chars[i] == '\\' {
            i += 2;
        } else if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Past a `$1` parameter or a `$tag$ ... $tag$` string starting at `i`.
fn skip_dollar(chars: &[char], i: usize) -> usize {
    let mut end = i + 1;
    while end < chars.len() && chars[end].is_ascii_digit() {
        end += 1;
    }
    if end > i + 1 {
        return end;
    }
    while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
        end += 1;
    }
    if chars.get(end) != Some(&'$') {
        return i + 1;
    }
    let tag = &chars[i..=end];
    let mut j = end + 1;
    while j + tag.len() <= chars.len() {
        if &chars[j..j + tag.len()] == tag {
            return j + tag.len();
        }
        j += 1;
    }
    chars.len()
}

fn word_at(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

/// The table name after `FROM`, `JOIN` or `USING` at `i`: none when a function call or
/// a subquery stands there.
fn name_after(tokens: &[Token], i: usize, words: &[&str]) -> Option<String> {
    let (name, end) = name_and_end(tokens, i, words)?;
    (tokens.get(end) != Some(&Token::Punct('('))).then_some(name)
}

/// The table name a write names at `i` (a column list may follow it).
fn name_at(tokens: &[Token], i: usize, words: &[&str]) -> Option<String> {
    name_and_end(tokens, i, words).map(|(name, _)| name)
}

/// The (possibly schema-qualified) name at `i`, after the optional `words`, `ONLY` and
/// `LATERAL`, and the index past it.
fn name_and_end(tokens: &[Token], mut i: usize, words: &[&str]) -> Option<(String, usize)> {
    while let Some(w) = word_at(tokens, i)
        && (words.contains(&w) || w == "only" || w == "lateral")
    {
        i += 1;
    }
    let mut name = part(tokens.get(i)?)?;
    i += 1;
    while tokens.get(i) == Some(&Token::Punct('.')) {
        name.push('.');
        name.push_str(&part(tokens.get(i + 1)?)?);
        i += 2;
    }
    Some((name, i))
}

fn part(token: &Token) -> Option<String> {
    match token {
        Token::Word(w) if !is_reserved(w) => Some(w.clone()),
        Token::Quoted(q) => Some(q.clone()),
        _ => None,
    }
}

/// Words that cannot be a table name where one is looked for.
fn is_reserved(word: &str) -> bool {
    matches!(
        word,
        "select" | "values" | "with" | "where" | "set" | "on" | "as" | "default"
    )
}

/// Past a `WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (...) [, ...]` list
/// starting at `i`, noting each name.
fn skip_with(tokens: &[Token], mut i: usize, names: &mut Vec<String>) -> usize {
    if word_at(tokens, i) == Some("recursive") {
        i += 1;
    }
    loop {
        if let Some(name) = tokens.get(i).and_then(part) {
            names.push(name);
        }
        i += 1;
        if tokens.get(i) == Some(&Token::Punct('(')) {
            i = skip_parens(tokens, i);
        }
        while matches!(word_at(tokens, i), Some("as" | "not" | "materialized")) {
            i += 1;
        }
        i = skip_parens(tokens, i);
        if tokens.get(i) == Some(&Token::Punct(',')) {
            i += 1;
        } else {
            return i;
        }
    }
}

/// Past the balanced parentheses opening at `i` (or `i` itself if none opens there).
fn skip_parens(tokens: &[Token], mut i: usize) -> usize {
    if tokens.get(i) != Some(&Token::Punct('(')) {
        return i;
    }
    let mut depth = 0;
    while i < tokens.len() {
        match tokens[i] {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use lifeguard_offline::description::{
        ColumnInfo, Description, Nullability, PgType, StatementKind,
    };

    use super::Summary;

    fn of(sql: &str) -> String {
        Summary::of(sql, &Description::new(&[], &[], StatementKind::Read)).to_string()
    }

    #[test]
    fn names_the_operation_and_its_tables() {
        assert_eq!(of("SELECT id FROM users WHERE id = $1"), "SELECT users");
        assert_eq!(of("insert into Orders (id) values ($1)"), "INSERT orders");
        assert_eq!(
            of("DELETE FROM ONLY public.t WHERE x = 1"),
            "DELETE public.t"
        );
        assert_eq!(
            of("SELECT p.title FROM posts p JOIN users u ON u.id = p.author_id"),
            "SELECT posts users"
        );
        assert_eq!(
            of("WITH recent AS (SELECT * FROM posts) UPDATE users SET n = 1 FROM recent"),
            "UPDATE users posts"
        );
        assert_eq!(of("SELECT 1"), "SELECT");
        assert_eq!(of("SELECT * FROM generate_series(1, 3)"), "SELECT");
        assert_eq!(of("TABLE \"Mixed\"\"Case\""), "TABLE Mixed\"Case");
        assert_eq!(of(""), "postgresql");
    }

    #[test]
    fn skips_literals_and_comments() {
        let sql = "/* FROM a */ SELECT 'FROM b', $x$ FROM c $x$, E'\\' FROM d' -- FROM e\n FROM t";
        assert_eq!(of(sql), "SELECT t");
    }

    #[test]
    fn adds_the_tables_of_the_result_columns() {
        const COLUMNS: &[ColumnInfo] = &[ColumnInfo::new(
            "id",
            PgType::new(23, "int4"),
            Nullability::NotNull,
            Some(("users", "id")),
        )];
        let description = Description::new(&[], COLUMNS, StatementKind::Write);
        let summary = Summary::of(
            "INSERT INTO log SELECT id FROM v RETURNING id",
            &description,
        );
        assert_eq!(summary.to_string(), "INSERT log v users");
        assert_eq!(summary.operation(), Some("INSERT"));
        assert_eq!(summary.collection(), None);
    }
}
