//! The code a `query!` call expands to: a row type, a decoder, a `static`
//! [`StatementInfo`](../../lifeguard/struct.StatementInfo.html), one checked and encoded
//! value per argument, and a `CheckedQuery` built from them.

use std::path::PathBuf;

use lifeguard_offline::describe::{ColumnInfo, Description, Nullability, StatementKind};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::columns::{Column, field_ident};
use crate::input::{Input, Output};
use crate::metadata::{self, Mode};
use crate::types::{self, Unmapped};

/// Expands a call; `from_file` when the literal is a path to the SQL.
pub fn expand(input: Input, from_file: bool) -> syn::Result<TokenStream> {
    let span = input.span();
    let (sql, file) = if from_file {
        let (sql, path) = read_file(&input)?;
        (sql, Some(path))
    } else {
        (input.literal.value(), None)
    };
    let (desc, entry_file) = match Mode::from_env() {
        Mode::Online(url) => metadata::describe_online(&url, &sql).map(|d| (d, None)),
        Mode::Offline => metadata::describe_offline(&sql).map(|(d, path)| (d, Some(path))),
    }
    .map_err(|e| syn::Error::new(span, e))?;

    let args = arguments(&input, &desc)?;
    let columns = columns(&desc, span)?;
    let (row_type, decode, row_def) = row(&input.output, &columns, span)?;
    let info = statement_info(&sql, &desc, &columns);
    // Rebuild when the SQL file or the offline entry changes.
    let include = file.map(|path| {
        let path = path.to_string_lossy().into_owned();
        quote!(
            const _: &str = ::core::include_str!(#path);
        )
    });
    let include_entry = entry_file.map(|path| {
        let path = path.to_string_lossy().into_owned();
        quote!(
            const _: &[u8] = ::core::include_bytes!(#path);
        )
    });

    Ok(quote! {{
        #row_def
        #include
        #include_entry
        // Rebuild when the database or the mode changes.
        const _: ::core::option::Option<&str> = ::core::option_env!("DATABASE_URL");
        const _: ::core::option::Option<&str> = ::core::option_env!("LIFEGUARD_OFFLINE");
        static __LIFEGUARD_STATEMENT: ::lifeguard::__private::StatementInfo = #info;
        fn __lifeguard_decode(
            row: &::lifeguard::__private::Row,
        ) -> ::core::result::Result<#row_type, ::lifeguard::__private::Error> {
            #decode
        }
        ::lifeguard::__private::CheckedQuery::new(
            &__LIFEGUARD_STATEMENT,
            ::std::vec![#(#args),*],
            __lifeguard_decode,
        )
    }})
}

/// Reads a `query_file!` file, relative to the crate root.
fn read_file(input: &Input) -> syn::Result<(String, PathBuf)> {
    let rel = input.literal.value();
    let path = metadata::manifest_dir().join(&rel);
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

/// One checked, encoded value per argument, spanned at the argument.
fn arguments(input: &Input, desc: &Description) -> syn::Result<Vec<TokenStream>> {
    let expected = desc.params.len();
    if input.args.len() != expected {
        let span = input
            .args
            .get(expected)
            .map_or(input.span(), |a| a.expr.span());
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
    let mut out = Vec::new();
    for (i, (arg, param)) in input.args.iter().zip(&desc.params).enumerate() {
        let n = i + 1;
        let expr = &arg.expr;
        let aspan = expr.span();
        let code = match (&arg.override_type, types::map(param)) {
            (Some(ty), mapping) => {
                let parse_type = mapping
                    .map_or(quote!(::lifeguard::__private::Type::UNKNOWN), |m| {
                        m.parse_type
                    });
                quote_spanned!(aspan=> ::lifeguard::__private::bind_as::<#ty>(&(#expr), &#parse_type))
            }
            (None, Ok(m)) => {
                let (marker, parse_type) = (m.marker, m.parse_type);
                quote_spanned!(aspan=> ::lifeguard::__private::pg::#marker::bind::<#n, _>(&(#expr), &#parse_type))
            }
            (None, Err(why)) => {
                return Err(syn::Error::new(
                    aspan,
                    format!(
                        "${n} has PostgreSQL type {}, which {}; pass the value as a type that \
                         implements ToSql for it: `value as MyType`",
                        param.display_name(),
                        unmapped(&why)
                    ),
                ));
            }
        };
        out.push(code);
    }
    Ok(out)
}

/// A result column as the generated code sees it.
struct Field {
    ident: syn::Ident,
    name: String,
    info: ColumnInfo,
    nullable: bool,
    /// The Rust type (`Option<..>` included) for `query!`/`query_scalar!`; `None` when
    /// the type is unmapped (only `query_as!` can read such a column).
    rust: Result<TokenStream, String>,
    marker: Option<proc_macro2::Ident>,
    overridden_type: bool,
}

fn columns(desc: &Description, span: Span) -> syn::Result<Vec<Field>> {
    desc.columns
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let col = Column::parse(&info.name);
            let Some(mut ident) = field_ident(&col.name) else {
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
            let nullable = match col.not_null {
                Some(not_null) => !not_null,
                None => info.nullable == Nullability::Nullable,
            };
            let mapping = types::map(&info.type_);
            let marker = mapping.as_ref().ok().map(|m| m.marker.clone());
            let base = match &col.rust_type {
                Some(text) => syn::parse_str::<syn::Type>(text)
                    .map(|t| quote!(#t))
                    .map_err(|e| {
                        syn::Error::new(
                            span,
                            format!("column `{}`: bad type `{text}` in the alias: {e}", col.name),
                        )
                    })?,
                None => match &mapping {
                    Ok(m) => m.rust.clone(),
                    Err(why) => {
                        let ty = info.type_.display_name();
                        let name = &col.name;
                        let msg = format!(
                            "column `{name}` has PostgreSQL type {ty}, which {}; name a Rust type \
                             that implements FromSql for it in the alias: \
                             `SELECT ... AS \"{name}: MyType\"`",
                            unmapped(why)
                        );
                        return Ok(Field {
                            ident,
                            name: col.name,
                            info: info.clone(),
                            nullable,
                            rust: Err(msg),
                            marker: None,
                            overridden_type: false,
                        });
                    }
                },
            };
            Ok(Field {
                ident,
                name: col.name,
                info: info.clone(),
                nullable,
                rust: Ok(if nullable {
                    quote!(::core::option::Option<#base>)
                } else {
                    base
                }),
                marker,
                overridden_type: col.rust_type.is_some(),
            })
        })
        .collect()
}

/// The row type, the decoder body, and the items that define the row type.
fn row(
    output: &Output,
    fields: &[Field],
    span: Span,
) -> syn::Result<(TokenStream, TokenStream, TokenStream)> {
    let typed = |f: &Field| f.rust.clone().map_err(|msg| syn::Error::new(span, msg));
    match output {
        Output::Record => {
            let idents: Vec<_> = fields.iter().map(|f| &f.ident).collect();
            let types = fields.iter().map(typed).collect::<syn::Result<Vec<_>>>()?;
            let index = 0..fields.len();
            let def = quote! {
                #[derive(Debug)]
                #[allow(non_camel_case_types, dead_code)]
                struct Record { #(pub #idents: #types,)* }
            };
            let decode = quote! {
                ::core::result::Result::Ok(Record {
                    #(#idents: ::lifeguard::__private::get(row, #index)?,)*
                })
            };
            Ok((quote!(Record), decode, def))
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
            let ty = typed(&fields[0])?;
            Ok((
                ty,
                quote!(::lifeguard::__private::get(row, 0)),
                TokenStream::new(),
            ))
        }
        Output::As(path) => {
            // Errors point at the SQL; names resolve where the expansion defines them.
            let span = span.resolved_at(Span::call_site());
            // One empty enum per column, named after it, so that errors name the column.
            let markers: Vec<_> = fields
                .iter()
                .map(|f| {
                    format_ident!(
                        "{}",
                        f.ident.to_string().trim_start_matches("r#"),
                        span = span
                    )
                })
                .collect();
            let values = fields.iter().enumerate().zip(&markers).map(|((i, f), c)| {
                match (&f.marker, f.overridden_type) {
                    (Some(p), false) if f.nullable => {
                        quote_spanned!(span=> ::lifeguard::__private::pg::#p::read_nullable::<#c, _>(row, #i)?)
                    }
                    (Some(p), false) => {
                        quote_spanned!(span=> ::lifeguard::__private::pg::#p::read::<#c, _>(row, #i)?)
                    }
                    _ => quote_spanned!(span=> ::lifeguard::__private::get(row, #i)?),
                }
            });
            let idents = fields.iter().map(|f| &f.ident);
            let def = quote! {
                #(#[allow(non_camel_case_types, dead_code)] enum #markers {})*
            };
            let decode = quote_spanned! {span=>
                ::core::result::Result::Ok(#path { #(#idents: #values,)* })
            };
            Ok((quote!(#path), decode, def))
        }
    }
}

fn statement_info(sql: &str, desc: &Description, fields: &[Field]) -> TokenStream {
    let type_info = |t: &lifeguard_offline::describe::PgType| {
        let (oid, name) = (t.oid, &t.name);
        quote!(::lifeguard::__private::TypeInfo { oid: #oid, name: #name })
    };
    let params = desc.params.iter().map(type_info);
    let parse_types = desc.params.iter().map(|p| match types::map(p) {
        Ok(m) => m.parse_type,
        Err(_) => quote!(::lifeguard::__private::Type::UNKNOWN),
    });
    let columns = fields.iter().map(|f| {
        let (name, ty, nullable) = (&f.name, type_info(&f.info.type_), f.nullable);
        quote!(::lifeguard::__private::ColumnInfo { name: #name, type_: #ty, nullable: #nullable })
    });
    let kind = match desc.kind {
        StatementKind::Read => quote!(Read),
        StatementKind::Write => quote!(Write),
    };
    quote! {
        ::lifeguard::__private::StatementInfo {
            sql: #sql,
            params: &[#(#params),*],
            parse_types: &[#(#parse_types),*],
            columns: &[#(#columns),*],
            kind: ::lifeguard::__private::StatementKind::#kind,
            location: ::core::concat!(::core::file!(), ":", ::core::line!()),
        }
    }
}

fn unmapped(why: &Unmapped) -> String {
    match why {
        Unmapped::Unsupported => "Lifeguard does not map to a Rust type".into(),
        Unmapped::NeedsFeature(f) => {
            format!("maps to a Rust type only with the `{f}` feature of lifeguard")
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
