//! Column names as the SQL writes them, with Lifeguard's overrides in the alias:
//! `"col!"` (never NULL), `"col?"` (may be NULL), `"col: Type"`, `"col!: Type"`,
//! `"col?: Type"`.

/// What the alias asks for.
#[derive(Debug, PartialEq)]
pub struct Column {
    /// The name without overrides: the field's name.
    pub name: String,
    /// `Some(true)` for `!`, `Some(false)` for `?`.
    pub not_null: Option<bool>,
    /// The Rust type after `:`, as written.
    pub rust_type: Option<String>,
}

impl Column {
    /// Splits the overrides off a column name.
    pub fn parse(raw: &str) -> Column {
        let (head, rust_type) = match raw.split_once(':') {
            Some((head, ty)) => (head.trim_end(), Some(ty.trim().to_string())),
            None => (raw, None),
        };
        let (name, not_null) = if let Some(n) = head.strip_suffix('!') {
            (n, Some(true))
        } else if let Some(n) = head.strip_suffix('?') {
            (n, Some(false))
        } else {
            (head, None)
        };
        Column {
            name: name.to_string(),
            not_null,
            rust_type,
        }
    }
}

/// The field name for a column: the name itself, `r#name` for a keyword; `None` when
/// it is not an identifier at all.
pub fn field_ident(name: &str) -> Option<proc_macro2::Ident> {
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name == "_"
    {
        return None;
    }
    let span = proc_macro2::Span::call_site();
    match name {
        "self" | "Self" | "super" | "crate" => None,
        _ if KEYWORDS.contains(&name) => Some(proc_macro2::Ident::new_raw(name, span)),
        _ => Some(proc_macro2::Ident::new(name, span)),
    }
}

/// Rust's keywords (strict and reserved, all editions) that can be raw identifiers.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let c = Column::parse("id!");
        assert_eq!(
            (c.name.as_str(), c.not_null, c.rust_type),
            ("id", Some(true), None)
        );
        let c = Column::parse("email?");
        assert_eq!((c.name.as_str(), c.not_null), ("email", Some(false)));
        let c = Column::parse("mood: crate::Mood");
        assert_eq!(c.name, "mood");
        assert_eq!(c.rust_type.as_deref(), Some("crate::Mood"));
        let c = Column::parse("m!: Mood");
        assert_eq!((c.name.as_str(), c.not_null), ("m", Some(true)));
        assert_eq!(Column::parse("plain").not_null, None);
    }

    #[test]
    fn identifiers() {
        assert_eq!(field_ident("user_id").unwrap().to_string(), "user_id");
        assert_eq!(field_ident("type").unwrap().to_string(), "r#type");
        assert!(field_ident("?column?").is_none());
        assert!(field_ident("count(*)").is_none());
        assert!(field_ident("1st").is_none());
        assert!(field_ident("self").is_none());
        assert!(field_ident("_").is_none());
    }
}
