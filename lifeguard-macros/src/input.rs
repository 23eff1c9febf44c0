//! Parsing the input of the `query!` family: `[Type,] "literal" [, arg]*`.
//!
//! Arguments are split at top-level commas and passed through as tokens: they are Rust
//! expressions the compiler checks, so the macro does not parse them (which keeps each
//! expansion cheap). An argument whose last top-level `as` is followed by a type is an
//! override: `expr as Type`.

use proc_macro2::{Literal, Span, TokenStream, TokenTree};
use syn::LitStr;
use syn::parse::ParseStream;

/// What the rows decode into.
pub enum Output {
    /// A struct the macro generates (`query!`).
    Record,
    /// A type the user names (`query_as!`).
    As(syn::Path),
    /// The single column's value (`query_scalar!`).
    Scalar,
}

/// One argument: the expression's tokens, and the type of an `expr as Type` override.
pub struct Arg {
    pub expr: TokenStream,
    pub override_type: Option<syn::Type>,
    /// The argument's first token: where errors about it point.
    pub span: Span,
}

/// A parsed macro call.
pub struct Input {
    pub output: Output,
    /// The value of the SQL literal or of the file path literal.
    pub literal: String,
    /// Where errors about the statement point: the literal.
    span: Span,
    pub args: Vec<Arg>,
}

impl Input {
    /// Parses `[Type,] "literal" [, arg]*`.
    pub fn parse(
        tokens: proc_macro::TokenStream,
        output: fn(ParseStream) -> syn::Result<Output>,
    ) -> syn::Result<Input> {
        syn::parse::Parser::parse(
            |input: ParseStream| {
                let output = output(input)?;
                let (literal, span) = string_literal(input).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected the SQL as a string literal (for SQL built at run time use \
                         lifeguard::query or lifeguard::query_as)",
                    )
                })?;
                let rest: TokenStream = input.parse()?;
                Ok(Input {
                    output,
                    literal,
                    span,
                    args: split_args(rest)?,
                })
            },
            tokens,
        )
    }

    /// The span errors about the statement point at.
    pub fn span(&self) -> Span {
        self.span
    }
}

/// A string literal's value and span. A literal without escapes or suffix, as most SQL
/// is, is read from its text (`"..."`, `r"..."`, `r#"..."#`); syn unescapes the others,
/// which costs more than the rest of reading the call in a proc macro built without
/// optimisation.
fn string_literal(input: ParseStream) -> syn::Result<(String, Span)> {
    let literal: Literal = input.parse()?;
    let span = literal.span();
    let text = literal.to_string();
    let value = match plain_string(&text) {
        Some(value) => value.to_string(),
        None => syn::parse2::<LitStr>(TokenTree::Literal(literal).into())?.value(),
    };
    Ok((value, span))
}

/// The value of a string literal written `text` that needs no unescaping, else `None`.
fn plain_string(text: &str) -> Option<&str> {
    match text.strip_prefix('r') {
        Some(raw) => {
            let hashes = &raw[..raw.len() - raw.trim_start_matches('#').len()];
            raw[hashes.len()..]
                .strip_prefix('"')?
                .strip_suffix(hashes)?
                .strip_suffix('"')
        }
        None => {
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            (!inner.contains('\\')).then_some(inner)
        }
    }
}

/// Splits `, a, b as T, c` into arguments.
fn split_args(rest: TokenStream) -> syn::Result<Vec<Arg>> {
    let mut tokens = rest.into_iter().peekable();
    match tokens.next() {
        None => return Ok(Vec::new()),
        Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
        Some(other) => {
            return Err(syn::Error::new(
                other.span(),
                "expected `,` before the arguments",
            ));
        }
    }
    let mut args = Vec::new();
    let mut current: Vec<TokenTree> = Vec::new();
    for token in tokens {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    return Err(syn::Error::new(p.span(), "expected an argument before `,`"));
                }
                args.push(Arg::from_tokens(std::mem::take(&mut current))?);
            }
            _ => current.push(token),
        }
    }
    if !current.is_empty() {
        args.push(Arg::from_tokens(current)?);
    }
    Ok(args)
}

impl Arg {
    fn from_tokens(tokens: Vec<TokenTree>) -> syn::Result<Arg> {
        let span = tokens[0].span();
        let cast = tokens
            .iter()
            .rposition(|t| matches!(t, TokenTree::Ident(i) if i == "as"));
        Ok(match cast {
            Some(at) if at > 0 && at + 1 < tokens.len() => {
                let ty: TokenStream = tokens[at + 1..].iter().cloned().collect();
                Arg {
                    expr: tokens[..at].iter().cloned().collect(),
                    override_type: Some(syn::parse2(ty)?),
                    span,
                }
            }
            _ => Arg {
                expr: tokens.into_iter().collect(),
                override_type: None,
                span,
            },
        })
    }
}

/// `query!`: no type before the SQL.
pub fn record(_: ParseStream) -> syn::Result<Output> {
    Ok(Output::Record)
}

/// `query_scalar!`.
pub fn scalar(_: ParseStream) -> syn::Result<Output> {
    Ok(Output::Scalar)
}

/// `query_as!(Type, ..)`.
pub fn as_type(input: ParseStream) -> syn::Result<Output> {
    let path: syn::Path = input.parse()?;
    input.parse::<syn::Token![,]>()?;
    Ok(Output::As(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(src: &str) -> Vec<(String, Option<String>)> {
        split_args(src.parse().unwrap())
            .unwrap()
            .into_iter()
            .map(|a| {
                let ty = a.override_type.map(|t| quote::quote!(#t).to_string());
                (a.expr.to_string(), ty)
            })
            .collect()
    }

    #[test]
    fn splits_at_top_level_commas_and_finds_overrides() {
        assert_eq!(args(""), vec![]);
        assert_eq!(
            args(", f(a, b), x as Mood, [1, 2],"),
            vec![
                ("f (a , b)".into(), None),
                ("x".into(), Some("Mood".into())),
                ("[1 , 2]".into(), None),
            ]
        );
        assert!(split_args(", a,, b".parse().unwrap()).is_err());
    }

    fn value(src: &str) -> syn::Result<String> {
        syn::parse::Parser::parse2(string_literal, src.parse().unwrap()).map(|(v, _)| v)
    }

    #[test]
    fn string_literals_read_as_rust_reads_them() {
        assert_eq!(value(r#""SELECT 1""#).unwrap(), "SELECT 1");
        assert_eq!(value(r#"r"a\nb""#).unwrap(), "a\\nb");
        assert_eq!(value(r###"r#"x = "y""#"###).unwrap(), r#"x = "y""#);
        assert_eq!(value(r#""a\tb\"c\u{e9}""#).unwrap(), "a\tb\"c\u{e9}");
        assert_eq!(value("\"a\\\n   b\"").unwrap(), "ab");
        assert!(value("1").is_err());
        assert!(value("b\"x\"").is_err());
        assert!(value("users").is_err());
    }

    #[test]
    fn only_literals_without_escapes_or_suffix_skip_syn() {
        assert_eq!(plain_string(r#""SELECT 1""#), Some("SELECT 1"));
        assert_eq!(plain_string(r#"r"\x""#), Some("\\x"));
        assert_eq!(plain_string(r##"r#""a""#"##), Some("\"a\""));
        assert_eq!(plain_string(r#""a\nb""#), None);
        assert_eq!(plain_string(r#""x"sfx"#), None);
        assert_eq!(plain_string(r##"r#"x""##), None);
        assert_eq!(plain_string("1"), None);
    }
}
