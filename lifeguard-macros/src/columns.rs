//! Field names for result columns. The alias overrides (`"col!"`, `"col?"`,
//! `"col: Type"`) are parsed by `lifeguard_offline::description::Alias`, beside the
//! description they apply to.

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
