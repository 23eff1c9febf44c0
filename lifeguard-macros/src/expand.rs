//! The code a `query!` call expands to: a row type, a decoder, a `static`
//! `StatementInfo`, one checked and encoded value per argument, and a `CheckedQuery`
//! built from them.
//!
//! Most of the expansion is written as source text and parsed once: building it token
//! by token through the compiler's proc-macro bridge costs several times more per call.
//! Only what errors must point at is built as tokens with spans: each argument (its
//! check fails at the argument) and `query_as!`'s struct literal (its field errors point
//! at the SQL).

use std::fmt::Write as _;
use std::path::PathBuf;

use lifeguard_offline::description::{Description, Nullability};
use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{format_ident, quote_spanned};

use crate::columns::field_ident;
use crate::input::{Input, Output};
use crate::metadata;
use crate::sql_error::Origin;
use crate::types::{self, Unmapped};
use lifeguard_offline::settings::Settings;

/// Expands a call; `from_file` when the literal is a path to the SQL.
pub fn expand(input: Input, from_file: bool) -> syn::Result<TokenStream> {
    let span = input.span();
    let (sql, file) = if from_file {
        let (sql, path) = read_file(&input)?;
        (sql, Some(path))
    } else {
        (input.literal.clone(), None)
    };
    let Described {
        description: desc,
        entry_file,
        settings,
    } = describe(&sql, None).map_err(|e| syn::Error::new(span, e))?;
    let args = arguments(&input, &desc)?;
    let fields = columns(&desc, span)?;

    let mut code = String::from("use ::lifeguard::__private as __lg;");
    let mut tracking = String::new();
    track(
        &mut tracking,
        file.iter().chain(&entry_file),
        &settings,
        Track::InBody,
    );
    statement_info(&mut code, &sql, &desc, &location(span));
    let struct_literal = row(&mut code, &input.output, &fields, span, &tracking)?;
    let mut block = tokens(&code);
    if let Some(literal) = struct_literal {
        // `query_as!`'s decoder: its struct literal carries the SQL's span.
        block.extend(literal);
    }
    // __lg::CheckedQuery::new(&__LIFEGUARD_STATEMENT, [args], __lifeguard_decode)
    block.extend(tokens("__lg::CheckedQuery::new"));
    let mut call = tokens("&__LIFEGUARD_STATEMENT,");
    call.extend([group(Delimiter::Bracket, join(args))]);
    call.extend(tokens(",__lifeguard_decode"));
    block.extend([group(Delimiter::Parenthesis, call)]);
    Ok(TokenStream::from(group(Delimiter::Brace, block)))
}

/// A statement's metadata, where it came from, and the settings that decided it.
pub struct Described {
    pub description: Description,
    /// The `.lifeguard/` file it was read from (offline).
    pub entry_file: Option<PathBuf>,
    pub settings: Settings,
}

/// Describes `sql` online or reads it offline, as the settings say; refuses what the
/// `query!` family cannot run (COPY). The error is the compile error's text; `origin`
/// places a server error's caret in a `.sql` file.
pub fn describe(sql: &str, origin: Option<&Origin>) -> Result<Described, String> {
    if let Some(why) = lifeguard_offline::describe::refused(sql) {
        return Err(why.to_string());
    }
    let settings = metadata::settings()?;
    let (description, entry_file) = match settings.online_url() {
        Some(url) => (metadata::describe_online(url, sql, origin)?, None),
        None => {
            let (description, path) = metadata::describe_offline(sql, &settings)?;
            (description, Some(path))
        }
    };
    Ok(Described {
        description,
        entry_file,
        settings,
    })
}

/// Where [`track`] writes: among items, or as statements in a function's body (the
/// decoder's), which costs the compiler less than an item per tracked file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Track {
    AsItems,
    InBody,
}

/// Appends what makes the compiler expand again when it changes: `files` (a SQL file,
/// offline entries) and, once per crate, the settings' variables and `.env` file.
/// Nothing of it reaches the binary: the values are read and dropped.
pub fn track<'a>(
    code: &mut String,
    files: impl Iterator<Item = &'a PathBuf>,
    settings: &'a Settings,
    place: Track,
) {
    let first = metadata::first_in_process();
    let env_file = settings.env_file.as_ref().filter(|_| first);
    let (bytes, text) = match place {
        Track::AsItems => (
            "const _: &[u8] = ",
            "const _: ::core::option::Option<&str> = ",
        ),
        Track::InBody => ("let _ = ", "let _ = "),
    };
    for path in files.chain(env_file) {
        let _ = write!(code, "{bytes}::core::include_bytes!({path:?});");
    }
    if first {
        for variable in TRACKED_VARIABLES {
            let _ = write!(code, "{text}::core::option_env!({variable:?});");
        }
    }
}

/// The environment variables whose change re-runs the checks, once per crate.
const TRACKED_VARIABLES: [&str; 3] = ["DATABASE_URL", "LIFEGUARD_OFFLINE", "LIFEGUARD_OFFLINE_DIR"];

/// Reads a `query_file!` file, relative to the crate root.
fn read_file(input: &Input) -> syn::Result<(String, PathBuf)> {
    let rel = &input.literal;
    let path = metadata::manifest_dir().join(rel);
    let sql = std::fs::read_to_string(&path).map_err(|e| {
        syn::Error::new(
            input.span(),
            format!(
                "could not read {} (paths are relative to the crate root): {e}",
                path.display()
            ),
        )
    })?;
    Ok((sql, path))
}

/// One checked, encoded value per argument, its check spanned at the argument.
fn arguments(input: &Input, desc: &Description) -> syn::Result<Vec<TokenStream>> {
    let expected = desc.params.len();
    if input.args.len() != expected {
        let span = input.args.get(expected).map_or(input.span(), |a| a.span);
        let dollars: Vec<String> = (1..=expected).map(|n| format!("${n}")).collect();
        return Err(syn::Error::new(
            span,
            format!(
                "the statement has {expected} parameter{} ({}) but {} argument{} given",
                plural(expected),
                if dollars.is_empty() {
                    "none".into()
                } else {
                    dollars.join(", ")
                },
                input.args.len(),
                if input.args.len() == 1 {
                    " was"
                } else {
                    "s were"
                },
            ),
        ));
    }
    input
        .args
        .iter()
        .zip(desc.params.iter())
        .enumerate()
        .map(|(i, (arg, param))| {
            let n = i + 1;
            match (&arg.override_type, types::map(param)) {
                (Some(ty), mapping) => {
                    // `expr as Type` is a Rust cast (`len() as i64` converts), and the
                    // check is skipped: the value only needs to implement ToSql.
                    let parse_type = mapping.map_or(types::UNKNOWN.to_string(), |m| m.parse_type);
                    let ty = quote_spanned!(arg.span=> #ty);
                    let mut cast =
                        TokenStream::from(group(Delimiter::Parenthesis, arg.expr.clone()));
                    cast.extend(quote_spanned!(arg.span=> as #ty));
                    Ok(bind_call("__lg::bind_as::<", ty, &cast, Some(&parse_type)))
                }
                (None, Ok(m)) => {
                    // The `_` the bound is checked on carries the argument's span.
                    let under = TokenStream::from(TokenTree::Ident(Ident::new("_", arg.span)));
                    let head = format!("__lg::pg::{}::bind::<{n},", m.marker);
                    Ok(bind_call(&head, under, &arg.expr, None))
                }
                (None, Err(why)) => Err(syn::Error::new(
                    arg.span,
                    format!(
                        "${n} has PostgreSQL type {}, which {}; pass the value as a type that \
                         implements ToSql for it: `value as MyType`",
                        param.display_name(),
                        unmapped(&why)
                    ),
                )),
            }
        })
        .collect()
}

/// `<head><generic>>(&(<expr>))`, or `<head><generic>>(&(<expr>), &<parse_type>)`.
pub fn bind_call(
    head: &str,
    generic: TokenStream,
    expr: &TokenStream,
    parse_type: Option<&str>,
) -> TokenStream {
    let mut out = tokens(head);
    out.extend(generic);
    out.extend([TokenTree::Punct(Punct::new('>', Spacing::Alone))]);
    let mut inner = TokenStream::from(TokenTree::Punct(Punct::new('&', Spacing::Alone)));
    inner.extend([group(Delimiter::Parenthesis, expr.clone())]);
    if let Some(parse_type) = parse_type {
        inner.extend(tokens(&format!(",&{parse_type}")));
    }
    out.extend([group(Delimiter::Parenthesis, inner)]);
    out
}

/// Generated source text as tokens. The compiler lexes it directly: proc-macro2's
/// `parse` would first validate it with its own lexer, which costs more than the rest of
/// the expansion, for text that is valid by construction.
pub fn tokens(code: &str) -> TokenStream {
    code.parse::<proc_macro::TokenStream>()
        .expect("the expansion is valid Rust")
        .into()
}

pub fn group(delimiter: Delimiter, stream: TokenStream) -> TokenTree {
    TokenTree::Group(Group::new(delimiter, stream))
}

/// `a, b, c`.
pub fn join(items: Vec<TokenStream>) -> TokenStream {
    let mut out = TokenStream::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
        }
        out.extend(item);
    }
    out
}

/// A result column as the generated code sees it.
pub struct Field {
    pub ident: Ident,
    pub name: String,
    pub nullable: bool,
    /// The Rust type (`Option<..>` included) for `query!`/`query_scalar!`, or the error
    /// for an unmapped type (only `query_as!` can read such a column).
    pub rust: Result<String, String>,
    marker: Option<String>,
    overridden_type: bool,
}

pub fn columns(desc: &Description, span: Span) -> syn::Result<Vec<Field>> {
    let mut names = std::collections::HashSet::new();
    for c in desc.columns.iter() {
        let name = c.alias().name;
        if !names.insert(name) {
            return Err(syn::Error::new(
                span,
                format!(
                    "two columns are named `{name}`; give one of them another name with an \
                     alias: `... AS other_{name}`"
                ),
            ));
        }
    }
    desc.columns
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let col = info.alias();
            let Some(mut ident) = field_ident(col.name) else {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "column {} is named `{}`, which is not a Rust identifier; give it a \
                         name with an alias: `... AS column_{}`",
                        i + 1,
                        info.name,
                        i + 1
                    ),
                ));
            };
            ident.set_span(span);
            let nullable = info.nullability_in_code() == Nullability::Nullable;
            let mapping = types::map(&info.type_);
            let base = match (col.rust_type, &mapping) {
                (Some(text), _) => syn::parse_str::<syn::Type>(text)
                    .map(|_| text.to_string())
                    .map_err(|e| {
                        syn::Error::new(
                            span,
                            format!("column `{}`: bad type `{text}` in the alias: {e}", col.name),
                        )
                    })?,
                (None, Ok(m)) => m.rust.clone(),
                (None, Err(why)) => {
                    let (name, ty) = (col.name, info.type_.display_name());
                    return Ok(Field {
                        ident,
                        name: col.name.to_string(),
                        nullable,
                        rust: Err(format!(
                            "column `{name}` has PostgreSQL type {ty}, which {}; name a Rust type \
                             that implements FromSql for it in the alias: \
                             `SELECT ... AS \"{name}: MyType\"`",
                            unmapped(why)
                        )),
                        marker: None,
                        overridden_type: false,
                    });
                }
            };
            Ok(Field {
                ident,
                name: col.name.to_string(),
                nullable,
                rust: Ok(if nullable {
                    format!("::core::option::Option<{base}>")
                } else {
                    base
                }),
                marker: mapping.ok().map(|m| m.marker),
                overridden_type: col.rust_type.is_some(),
            })
        })
        .collect()
}

/// Appends the row type and `fn __lifeguard_decode` to `code`, the decoder's body
/// starting with `tracking` (see [`track`]); for `query_as!` returns the decoder's body as
/// tokens, its struct literal spanned at the SQL, to follow the `code`.
fn row(
    code: &mut String,
    output: &Output,
    fields: &[Field],
    span: Span,
    tracking: &str,
) -> syn::Result<Option<TokenStream>> {
    let typed = |f: &Field| f.rust.clone().map_err(|msg| syn::Error::new(span, msg));
    match output {
        Output::Record => {
            code.push_str("#[derive(Debug)] #[allow(dead_code)] struct Record {");
            for f in fields {
                let _ = write!(code, "pub {}: {},", f.ident, typed(f)?);
            }
            code.push('}');
            decoder(code, "Record", fields, tracking);
            Ok(None)
        }
        Output::Scalar => {
            if fields.len() != 1 {
                let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
                return Err(syn::Error::new(
                    span,
                    format!(
                        "query_scalar! needs a statement with exactly one column; this one has {}{}",
                        fields.len(),
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", names.join(", "))
                        }
                    ),
                ));
            }
            signature(code, &typed(&fields[0])?);
            let _ = write!(code, "{{ {tracking} __lg::get(row, 0) }}");
            Ok(None)
        }
        Output::As(path) => {
            // Errors point at the SQL; names resolve where the expansion defines them.
            let span = span.resolved_at(Span::call_site());
            // One empty enum per column, named after it, so that errors name the column.
            let markers: Vec<Ident> = fields
                .iter()
                .map(|f| {
                    format_ident!(
                        "{}",
                        f.ident.to_string().trim_start_matches("r#"),
                        span = span
                    )
                })
                .collect();
            for m in &markers {
                let _ = write!(
                    code,
                    "#[allow(non_camel_case_types, dead_code)] enum {m} {{}}"
                );
            }
            let path_text = quote::quote!(#path).to_string();
            signature(code, &path_text);
            let values = fields.iter().enumerate().zip(&markers).map(|((i, f), c)| {
                match (&f.marker, f.overridden_type) {
                    (Some(p), false) => {
                        let p = Ident::new(p, span);
                        let read =
                            Ident::new(if f.nullable { "read_nullable" } else { "read" }, span);
                        quote_spanned!(span=> __lg::pg::#p::#read::<#c, _>(row, #i)?)
                    }
                    _ => quote_spanned!(span=> __lg::get(row, #i)?),
                }
            });
            let idents = fields.iter().map(|f| &f.ident);
            let tracking = tokens(tracking);
            let body = quote_spanned! {span=>
                { #tracking __lg::Ok(#path { #(#idents: #values,)* }) }
            };
            Ok(Some(body))
        }
    }
}

/// `fn __lifeguard_decode(row: &__lg::Row) -> __lg::Decoded<row_type>`.
fn signature(code: &mut String, row_type: &str) {
    let _ = write!(
        code,
        "fn __lifeguard_decode(row: &__lg::Row) -> __lg::Decoded<{row_type}>"
    );
}

/// Appends `fn __lifeguard_decode`, which reads a row into the struct `row_type` whose
/// fields are `fields`, its body starting with `tracking` (see [`track`]).
pub fn decoder(code: &mut String, row_type: &str, fields: &[Field], tracking: &str) {
    signature(code, row_type);
    code.push('{');
    code.push_str(tracking);
    // Up to 16 columns of the types the macros name are read as one tuple (`FromRow`),
    // its types inferred from the fields: fewer expressions for the compiler than one
    // read each. A type named in an alias is read on its own, so that a type without
    // `FromSql` is an error about that type.
    let tuple = (1..=16).contains(&fields.len()) && !fields.iter().any(|f| f.overridden_type);
    if tuple {
        code.push_str("let (");
        for i in 0..fields.len() {
            let _ = write!(code, "__c{i},");
        }
        code.push_str(") = __lg::columns(row)?;");
    }
    let _ = write!(code, "__lg::Ok({row_type} {{");
    for (i, f) in fields.iter().enumerate() {
        if tuple {
            let _ = write!(code, "{}: __c{i},", f.ident);
        } else {
            let _ = write!(code, "{}: __lg::get(row, {i})?,", f.ident);
        }
    }
    code.push_str("}) }");
}

/// Appends the `static` descriptor: the SQL, where it was written, and the description
/// as one string literal ([`Description::pack`]), which the runtime reads on first use.
pub fn statement_info(code: &mut String, sql: &str, desc: &Description, location: &str) {
    // The descriptor lives in a link section, where `Pool::verify_statements` finds every
    // statement compiled into the binary (a registration macro would cost more than the
    // rest of the expansion).
    let _ = write!(
        code,
        "#[used] \
         #[cfg_attr(target_os = \"linux\", unsafe(link_section = \"lifeguard_statements\"))] \
         static __LIFEGUARD_STATEMENT: __lg::StatementInfo = __lg::statement({sql:?},{location:?},",
    );
    packed_literal(code, &desc.pack());
    code.push_str(");");
}

/// `packed` as a string literal whose NULs are written `\x00`: `\0` followed by a digit
/// reads as an octal escape to a reader (and to clippy), which Rust has not.
fn packed_literal(code: &mut String, packed: &str) {
    code.push('"');
    for c in packed.chars() {
        match c {
            '\0' => code.push_str("\\x00"),
            c => code.extend(c.escape_debug()),
        }
    }
    code.push('"');
}

/// `file:line` of the SQL literal.
fn location(span: Span) -> String {
    let span = span.unwrap();
    format!("{}:{}", span.file(), span.line())
}

pub fn unmapped(why: &Unmapped) -> String {
    match why {
        Unmapped::Unsupported => "Lifeguard does not map to a Rust type".into(),
        Unmapped::NeedsFeature(f) => {
            format!("maps to a Rust type only with the `{f}` feature of lifeguard")
        }
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_literals_read_back_exactly() {
        for packed in [
            "r\x000",
            "w\x001\x0023\x00int4\x00a\\0b \"c\" 'd'\n\té☃\u{301}\x00",
            "\x00\x00\x00",
        ] {
            let mut code = String::new();
            packed_literal(&mut code, packed);
            assert!(packed.contains('\\') || !code.contains("\\0"), "{code}");
            let literal: syn::LitStr = syn::parse_str(&code).unwrap();
            assert_eq!(literal.value(), packed);
        }
    }
}
