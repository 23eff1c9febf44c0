//! Reading expressions as `EXPLAIN (VERBOSE)` prints them (PostgreSQL's `ruleutils`):
//! literals, column references, calls, `CASE`, casts, operators, and the parentheses that
//! mark an expression computed lower in the plan. Text only: what an expression means is
//! decided in `nullability.rs`.
//!
//! How `EXPLAIN` prints, which the readers below rely on: an operator expression always
//! has its own parentheses (`(c.id + 1)`, `(- c.id)`, `(c.email IS NULL)`); a function
//! call has none (`upper(c.name)`); a cast is `'x'::text` for a constant and
//! `(c.id)::bigint` otherwise; a reference to an expression a lower node computed gets
//! an extra pair (`(count(*))`, `((c.id + 1))`).

/// The characters of a text outside quotes and outside parentheses and brackets, with
/// their byte offsets (the quotes and brackets themselves are not yielded). Once
/// exhausted, [`TopLevel::balanced`] tells whether every bracket and quote closed.
struct TopLevel<'a> {
    chars: std::str::CharIndices<'a>,
    depth: i32,
    quote: Option<char>,
    closed_below_top: bool,
}

fn top_level(text: &str) -> TopLevel<'_> {
    TopLevel {
        chars: text.char_indices(),
        depth: 0,
        quote: None,
        closed_below_top: false,
    }
}

impl Iterator for TopLevel<'_> {
    type Item = (usize, char);

    fn next(&mut self) -> Option<(usize, char)> {
        for (i, c) in self.chars.by_ref() {
            match (self.quote, c) {
                (Some(q), c) if c == q => self.quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => self.quote = Some(c),
                (None, '(' | '[') => self.depth += 1,
                (None, ')' | ']') => {
                    self.depth -= 1;
                    self.closed_below_top |= self.depth < 0;
                }
                (None, c) if self.depth == 0 => return Some((i, c)),
                _ => {}
            }
        }
        None
    }
}

impl TopLevel<'_> {
    /// Reads to the end: whether the parentheses balance, none closing below the top
    /// level, and no quote is left open.
    fn balanced(mut self) -> bool {
        self.by_ref().for_each(drop);
        !self.closed_below_top && self.depth == 0 && self.quote.is_none()
    }
}

/// Splits `text` at top-level occurrences of `sep` (outside parentheses, brackets and
/// quotes).
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in top_level(text) {
        if c == sep {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&text[start..]);
    out
}

/// Whether `text`'s parentheses balance with none closing below the top level, outside
/// quotes.
fn balanced(text: &str) -> bool {
    top_level(text).balanced()
}

/// The inside of `expr` when one pair of parentheses encloses all of it.
pub(super) fn wrapped(expr: &str) -> Option<&str> {
    let inner = expr.strip_prefix('(')?.strip_suffix(')')?;
    balanced(inner).then_some(inner)
}

/// `name(args)` when `expr` is exactly one call: the name (possibly schema-qualified)
/// and the top-level arguments (none for `f()`).
pub(super) fn call(expr: &str) -> Option<(&str, Vec<&str>)> {
    let open = expr.find('(')?;
    let name = &expr[..open];
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '"');
    if !is_name {
        return None;
    }
    let inner = expr[open + 1..].strip_suffix(')')?;
    if !balanced(inner) {
        return None;
    }
    let args = if inner.trim().is_empty() {
        Vec::new()
    } else {
        split_top(inner, ',').into_iter().map(str::trim).collect()
    };
    Some((name.trim_matches('"'), args))
}

/// The top-level arguments of `name(...)` when `expr` is exactly one call of `name`.
pub(super) fn call_args<'a>(expr: &'a str, name: &str) -> Option<Vec<&'a str>> {
    match call(expr) {
        Some((n, args)) if n == name => Some(args),
        _ => None,
    }
}

/// `f(args) OVER (...)` (a window function, as `EXPLAIN` prints it): the call.
pub(super) fn window_call(expr: &str) -> Option<(&str, Vec<&str>)> {
    let at = expr.rfind(" OVER ")?;
    let (head, over) = (&expr[..at], &expr[at + " OVER ".len()..]);
    // `OVER (...)`, or a named window: `OVER w1`.
    let window = over.starts_with('(') || !over.contains(' ');
    if !balanced(head) || !window {
        return None;
    }
    call(head)
}

/// The result expressions of a `CASE ... END` that has an `ELSE`: every `THEN` and the
/// `ELSE`. `None` for anything else (a `CASE` without `ELSE` can be NULL).
pub(super) fn case_results(expr: &str) -> Option<Vec<&str>> {
    let body = expr.strip_prefix("CASE ")?.strip_suffix(" END")?;
    // Top-level keywords, skipping nested CASE ... END, parentheses and quotes.
    let mut results = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut pending_then: Option<usize> = None;
    let mut else_at: Option<usize> = None;
    let bytes = body.as_bytes();
    let word_at = |i: usize, word: &str| {
        body[i..].starts_with(word)
            && (i == 0 || bytes[i - 1] == b' ')
            && bytes.get(i + word.len()).is_none_or(|b| *b == b' ')
    };
    let mut i = 0;
    while i < body.len() {
        let c = bytes[i] as char;
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, _) if depth == 0 && word_at(i, "CASE") => depth += 1000,
            (None, _) if depth >= 1000 && word_at(i, "END") => depth -= 1000,
            (None, _) if depth == 0 && word_at(i, "WHEN") => {
                if let Some(start) = pending_then.take() {
                    results.push(body[start..i].trim());
                }
            }
            (None, _) if depth == 0 && word_at(i, "THEN") => pending_then = Some(i + 4),
            (None, _) if depth == 0 && word_at(i, "ELSE") => {
                if let Some(start) = pending_then.take() {
                    results.push(body[start..i].trim());
                }
                else_at = Some(i + 4);
            }
            _ => {}
        }
        i += c.len_utf8().max(1);
        while i < body.len() && !body.is_char_boundary(i) {
            i += 1;
        }
    }
    let else_at = else_at?;
    if results.is_empty() || pending_then.is_some() {
        return None;
    }
    results.push(body[else_at..].trim());
    Some(results)
}

/// `X::type` (a cast): `X` without the parentheses the cast adds, and the type.
pub(super) fn cast(expr: &str) -> Option<(&str, &str)> {
    // The last top-level `::`.
    let bytes = expr.as_bytes();
    let last = top_level(expr)
        .filter(|&(i, c)| c == ':' && bytes.get(i + 1) == Some(&b':'))
        .last()
        .map(|(i, _)| i);
    let at = last?;
    let (value, ty) = (&expr[..at], &expr[at + 2..]);
    if value.is_empty() || ty.is_empty() || ty.contains("::") {
        return None;
    }
    Some((wrapped(value).unwrap_or(value), ty))
}

/// An operator expression inside its own parentheses: `a op b` split at its top-level
/// operator, or a prefix operator (`- a`, `NOT a`) with an empty left side. `None` when
/// `inner` is no operator expression (then parentheses around it mark a reference to a
/// lower node's output).
pub(super) fn operator(inner: &str) -> Option<(&str, &str, &str)> {
    for prefix in ["NOT ", "- ", "+ "] {
        if let Some(rest) = inner.strip_prefix(prefix) {
            return Some(("", prefix.trim(), rest));
        }
    }
    for postfix in [
        " IS NOT NULL",
        " IS NULL",
        " IS NOT TRUE",
        " IS NOT FALSE",
        " IS TRUE",
        " IS FALSE",
    ] {
        if let Some(rest) = inner.strip_suffix(postfix)
            && balanced(rest)
        {
            return Some((rest, postfix.trim(), ""));
        }
    }
    // A binary operator: ` op ` at the top level, op made of operator characters or a
    // keyword (AND, OR, IS DISTINCT FROM, ...).
    let bytes = inner.as_bytes();
    for (i, _) in top_level(inner).filter(|&(i, c)| c == ' ' && i > 0) {
        let rest = &inner[i + 1..];
        let end = rest.find(' ')?;
        let op = &rest[..end];
        for keyword in ["IS NOT DISTINCT FROM", "IS DISTINCT FROM", "AND", "OR"] {
            if rest.starts_with(keyword) && rest[keyword.len()..].starts_with(' ') {
                let right = &rest[keyword.len() + 1..];
                return Some((&inner[..i], keyword, right));
            }
        }
        let symbolic = !op.is_empty() && op.chars().all(|c| "+-*/<>=~!@#%^&|`?".contains(c));
        if symbolic && bytes.get(i + 1 + end) == Some(&b' ') {
            return Some((&inner[..i], op, &rest[end + 1..]));
        }
    }
    None
}

/// A single plain or double-quoted identifier.
pub(super) fn bare_ident(expr: &str) -> Option<String> {
    if let Some(inner) = expr.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if inner.replace("\"\"", "").contains('"') {
            return None;
        }
        return Some(inner.replace("\"\"", "\""));
    }
    let ok = !expr.is_empty()
        && expr
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !expr.starts_with(|c: char| c.is_ascii_digit() || c == '$');
    ok.then(|| expr.to_string())
}

/// `alias.column` with plain or double-quoted identifiers.
pub(super) fn split_column_ref(expr: &str) -> Option<(String, String)> {
    let mut parts = Vec::new();
    let mut rest = expr;
    loop {
        let (ident, after) = if let Some(r) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = r.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if r[i + 1..].starts_with('"') {
                        out.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    out.push(c);
                }
            }
            (out, &r[end?..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            (rest[..end].to_string(), &rest[end..])
        };
        parts.push(ident);
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix('.')?;
    }
    if parts.len() == 2 {
        let column = parts.pop()?;
        Some((parts.pop()?, column))
    } else {
        None
    }
}

/// A non-NULL constant: a number, `true`/`false`, or a quoted string with optional
/// casts.
pub(super) fn is_literal(expr: &str) -> bool {
    let mut s = expr;
    // Strip a trailing chain of `::type` casts when the head is a string literal.
    if let Some(r) = s.strip_prefix('\'') {
        let mut i = 0;
        let b = r.as_bytes();
        loop {
            match b.get(i) {
                None => return false,
                Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                Some(b'\'') => break,
                _ => i += 1,
            }
        }
        s = &r[i + 1..];
        return s.is_empty() || is_cast_chain(s);
    }
    let (head, tail) = match s.find("::") {
        Some(p) => (&s[..p], &s[p..]),
        None => (s, ""),
    };
    // PostgreSQL prints a negative number in parentheses: `(-1)`. Any other
    // parenthesised literal is a reference to one computed below.
    let head = head
        .strip_prefix("(-")
        .and_then(|h| h.strip_suffix(')'))
        .or_else(|| head.strip_prefix('-'))
        .unwrap_or(head);
    let numeric = !head.is_empty()
        && head.chars().all(|c| c.is_ascii_digit() || c == '.')
        && head.chars().any(|c| c.is_ascii_digit());
    numeric && (tail.is_empty() || is_cast_chain(tail)) || matches!(s, "true" | "false")
}

/// The type names of a literal's casts (`'x'::character varying(3)` →
/// `["character varying"]`), without type modifiers.
pub(super) fn literal_cast_types(expr: &str) -> Vec<&str> {
    let tail = match expr.strip_prefix('\'') {
        Some(r) => {
            let b = r.as_bytes();
            let mut i = 0;
            loop {
                match b.get(i) {
                    None => return Vec::new(),
                    Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => break,
                    _ => i += 1,
                }
            }
            &r[i + 1..]
        }
        None => expr.find("::").map_or("", |p| &expr[p..]),
    };
    tail.split("::")
        .skip(1)
        .map(|t| t.split('(').next().unwrap_or(t).trim())
        .collect()
}

fn is_cast_chain(s: &str) -> bool {
    s.split("::").skip(1).all(|t| {
        !t.is_empty()
            && t.chars().all(|c| {
                c.is_alphanumeric() || matches!(c, '_' | ' ' | '"' | '(' | ')' | ',' | '[' | ']')
            })
    }) && s.starts_with("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert!(is_literal("1"));
        assert!(is_literal("'x'::text"));
        assert!(is_literal("'it''s'::character varying(3)"));
        assert!(!is_literal("NULL::text"));
        assert!(!is_literal("u.id"));
        assert_eq!(
            literal_cast_types("'it''s'::character varying(3)"),
            ["character varying"]
        );
        assert_eq!(literal_cast_types("1"), Vec::<&str>::new());
    }

    #[test]
    fn calls() {
        assert_eq!(call_args("count(*)", "count"), Some(vec!["*"]));
        assert_eq!(wrapped("(count(p.id))"), Some("count(p.id)"));
        assert_eq!(wrapped("(a) + (b)"), None);
        assert_eq!(call_args("count(*) + 1", "count"), None);
        assert_eq!(
            call_args("COALESCE(u.email, 'x'::text)", "COALESCE"),
            Some(vec!["u.email", "'x'::text"])
        );
        assert_eq!(call("now()"), Some(("now", vec![])));
        assert_eq!(call("lower(')'::text)"), Some(("lower", vec!["')'::text"])));
        assert_eq!(
            window_call("count(o.id) OVER (?)"),
            Some(("count", vec!["o.id"]))
        );
        assert_eq!(window_call("ntile(3) OVER w1"), Some(("ntile", vec!["3"])));
        assert_eq!(window_call("count(o.id)"), None);
    }

    #[test]
    fn cases() {
        assert_eq!(
            case_results("CASE WHEN (id > 2) THEN 'big'::text ELSE 'small'::text END"),
            Some(vec!["'big'::text", "'small'::text"])
        );
        assert_eq!(
            case_results(
                "CASE c.id WHEN 1 THEN c.name WHEN 2 THEN 'x' ELSE CASE WHEN true THEN 'a' END END"
            ),
            Some(vec!["c.name", "'x'", "CASE WHEN true THEN 'a' END"])
        );
        assert_eq!(
            case_results("CASE WHEN (id > 2) THEN 'big'::text END"),
            None
        );
        assert_eq!(
            case_results("CASE WHEN (x = 'ELSE') THEN 'a' ELSE 'b' END"),
            Some(vec!["'a'", "'b'"])
        );
    }

    #[test]
    fn casts_and_operators() {
        assert_eq!(cast("(c.id)::bigint"), Some(("c.id", "bigint")));
        assert_eq!(cast("((count(*)))::text"), Some(("(count(*))", "text")));
        assert_eq!(cast("lower(x)"), None);
        assert_eq!(operator("c.id + 1"), Some(("c.id", "+", "1")));
        assert_eq!(
            operator("name || '!'::text"),
            Some(("name", "||", "'!'::text"))
        );
        assert_eq!(operator("- c.id"), Some(("", "-", "c.id")));
        assert_eq!(operator("email IS NULL"), Some(("email", "IS NULL", "")));
        assert_eq!(
            operator("(a > 1) AND (b < 2)"),
            Some(("(a > 1)", "AND", "(b < 2)"))
        );
        assert_eq!(
            operator("a IS DISTINCT FROM b"),
            Some(("a", "IS DISTINCT FROM", "b"))
        );
        assert_eq!(operator("count(*)"), None);
        assert_eq!(operator("row_number() OVER (?)"), None);
    }

    #[test]
    fn column_refs() {
        assert_eq!(split_column_ref("u.id"), Some(("u".into(), "id".into())));
        assert_eq!(
            split_column_ref("\"U\".\"a.b\""),
            Some(("U".into(), "a.b".into()))
        );
        assert_eq!(split_column_ref("id"), None);
        assert_eq!(split_column_ref("lower(u.id)"), None);
    }
}
