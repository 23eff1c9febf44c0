//! `queries!("queries/users.sql")`: a file of named statements (its syntax is
//! `lifeguard_offline::sql_file`'s) becomes a module with one typed function per
//! statement, each checked like a `query!` (the same describe, nullability, overrides,
//! offline entries), and one row struct per statement that returns columns.
//!
//! Errors point at the path literal (a proc macro cannot point into another file) and
//! name the statement and its line in the file; a server error carries the caret under
//! its position in the file. Every statement is checked: the errors of all come at once.

use std::fmt::Write as _;
use std::path::PathBuf;

use lifeguard_offline::description::Description;
use lifeguard_offline::sql_file::{self, NamedStatement, Returns};
use proc_macro2::{Delimiter, Ident, Span, TokenStream};
use quote::quote_spanned;
use syn::parse::ParseStream;
use syn::{LitStr, Token, Visibility};

use crate::columns::field_ident;
use crate::expand::{self, Described};
use crate::metadata;
use crate::sql_error::Origin;
use crate::types;

/// A parsed call: `[vis] [mod name =] "path"`.
pub struct Call {
    vis: Visibility,
    name: Option<Ident>,
    path: LitStr,
}

impl Call {
    pub fn parse(input: ParseStream) -> syn::Result<Call> {
        let vis: Visibility = input.parse()?;
        let name = if input.peek(Token![mod]) {
            input.parse::<Token![mod]>()?;
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            Some(name)
        } else {
            None
        };
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the path of a .sql file, relative to the crate root: \
                 `queries!(\"queries/users.sql\")` or `queries!(pub mod users = \"queries/users.sql\")`",
            )
        })?;
        let _: Option<Token![,]> = input.parse()?;
        Ok(Call { vis, name, path })
    }
}

/// Expands a call into the module.
pub fn expand(call: Call) -> syn::Result<TokenStream> {
    let span = call.path.span();
    let rel = call.path.value();
    let path = metadata::manifest_dir().join(&rel);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        syn::Error::new(
            span,
            format!(
                "could not read {} (paths are relative to the crate root): {e}",
                path.display()
            ),
        )
    })?;
    let module = match &call.name {
        Some(name) => name.clone(),
        None => module_name(&path, span)?,
    };
    let statements =
        sql_file::parse(&text).map_err(|e| syn::Error::new(span, format!("{rel}: {e}")))?;

    let mut code =
        String::from("#[allow(unused_imports)] use super::*; use ::lifeguard::__private as __lg;");
    let mut tracked: Vec<PathBuf> = vec![path.clone()];
    let mut errors: Option<syn::Error> = None;
    let mut settings = None;
    for statement in &statements {
        let place = format!("{rel}:{}", statement.line);
        let origin = Origin {
            file: rel.clone(),
            first_line: statement.line,
        };
        let result = expand::describe(&statement.sql, Some(&origin))
            .and_then(|described| {
                let out = function(&mut code, statement, &described, &place, span);
                tracked.extend(described.entry_file.clone());
                settings = Some(described.settings);
                out
            })
            .map_err(|e| syn::Error::new(span, format!("in `{}` ({place}): {e}", statement.name)));
        if let Err(e) = result {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    if let Some(settings) = &settings {
        expand::track(&mut code, tracked.iter(), settings, expand::Track::AsItems);
    } else {
        let _ = write!(code, "const _: &[u8] = ::core::include_bytes!({path:?});");
    }
    let vis = &call.vis;
    let doc = format!(" The statements of `{rel}`, checked at compile time.");
    let body = expand::tokens(&code);
    let module = quote_spanned!(span=> #[doc = #doc] #vis mod #module);
    let mut out = module;
    out.extend([expand::group(Delimiter::Brace, body)]);
    Ok(out)
}

/// The module's name from the file's stem: `users` for `queries/users.sql`.
fn module_name(path: &std::path::Path, span: Span) -> syn::Result<Ident> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match field_ident(&stem) {
        Some(mut ident) => {
            ident.set_span(span);
            Ok(ident)
        }
        None => Err(syn::Error::new(
            span,
            format!(
                "the file's name `{stem}` is not a Rust identifier; name the module: \
                 `queries!(mod name = \"...\")`"
            ),
        )),
    }
}

/// `user_by_email` → `UserByEmail`.
fn type_name(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Appends one statement's row struct and function to `code`; the error is the compile
/// error's text.
fn function(
    code: &mut String,
    statement: &NamedStatement,
    described: &Described,
    place: &str,
    span: Span,
) -> Result<(), String> {
    let desc = &described.description;
    let name = &statement.name;
    if field_ident(name).is_none_or(|i| i.to_string().starts_with("r#")) {
        return Err(format!("`{name}` cannot be a function's name"));
    }
    let params = parameters(statement, desc)?;
    let fields = expand::columns(desc, span).map_err(|e| e.to_string())?;
    let returns = statement.returns.unwrap_or(if desc.columns.is_empty() {
        Returns::Execute
    } else {
        Returns::Many
    });
    let row_type = type_name(name);
    let sql_doc = statement.sql.replace('`', "'");
    if returns != Returns::Execute {
        if fields.is_empty() {
            return Err(format!(
                "the statement returns no columns: write `:execute` (rows affected) instead \
                 of `:{}`",
                returns_word(returns)
            ));
        }
        let _ = write!(
            code,
            "#[doc = {:?}] #[derive(Debug)] #[allow(non_camel_case_types)] pub struct {row_type} {{",
            format!(" A row of [`{name}`] ({place}).")
        );
        for f in &fields {
            let ty = f.rust.clone()?;
            let _ = write!(code, "pub {}: {ty},", f.ident);
        }
        code.push('}');
    }
    let result = match returns {
        Returns::One => row_type.clone(),
        Returns::Optional => format!("::core::option::Option<{row_type}>"),
        Returns::Many => format!("::std::vec::Vec<{row_type}>"),
        Returns::Execute => "u64".to_string(),
    };
    let _ = write!(
        code,
        "#[doc = {:?}] #[doc = \"\"] #[doc = {:?}] \
         #[allow(clippy::too_many_arguments)] pub fn {name}(executor: impl ::lifeguard::Executor",
        format!(
            " `{}` ({place}), checked at compile time.",
            returns_word(returns)
        ),
        format!(" ```sql\n{sql_doc}\n```"),
    );
    for p in &params {
        let _ = write!(code, ", {}: {}", p.name, p.rust_type);
    }
    let _ = write!(
        code,
        ") -> ::core::result::Result<{result}, __lg::Error> {{"
    );
    expand::statement_info(code, &statement.sql, desc, place);
    if returns == Returns::Execute {
        code.push_str(
            "fn __lifeguard_decode(_: &__lg::Row) -> ::core::result::Result<(), __lg::Error> \
             { ::core::result::Result::Ok(()) }",
        );
    } else {
        expand::decoder(code, &row_type, &fields, "");
    }
    code.push_str("__lg::CheckedQuery::new(&__LIFEGUARD_STATEMENT, [");
    for p in &params {
        code.push_str(&p.bind);
        code.push(',');
    }
    let method = match returns {
        Returns::One => "fetch_one",
        Returns::Optional => "fetch_optional",
        Returns::Many => "fetch_all",
        Returns::Execute => "execute",
    };
    let _ = write!(code, "], __lifeguard_decode).{method}(executor) }}");
    Ok(())
}

fn returns_word(returns: Returns) -> &'static str {
    match returns {
        Returns::One => "one",
        Returns::Optional => "optional",
        Returns::Many => "many",
        Returns::Execute => "execute",
    }
}

/// A function parameter: its name, its type, and the expression that encodes it.
struct FnParam {
    name: String,
    rust_type: String,
    bind: String,
}

fn parameters(statement: &NamedStatement, desc: &Description) -> Result<Vec<FnParam>, String> {
    let expected = desc.params.len();
    let named: Vec<(String, Option<String>)> = match &statement.params {
        Some(params) => params
            .iter()
            .map(|p| (p.name.clone(), p.rust_type.clone()))
            .collect(),
        None => (1..=expected).map(|n| (format!("p{n}"), None)).collect(),
    };
    if named.len() != expected {
        return Err(format!(
            "the statement has {expected} parameter{} but the `-- name:` line names {}",
            expand::plural(expected),
            named.len()
        ));
    }
    named
        .into_iter()
        .zip(desc.params.iter())
        .enumerate()
        .map(|(i, ((name, rust_type), param))| {
            let n = i + 1;
            if field_ident(&name).is_none_or(|id| id.to_string().starts_with("r#"))
                || name == "executor"
            {
                return Err(format!("`{name}` cannot be a parameter's name"));
            }
            if let Some(ty) = rust_type {
                syn::parse_str::<syn::Type>(&ty)
                    .map_err(|e| format!("parameter `{name}`: bad type `{ty}`: {e}"))?;
                let parse_type =
                    types::map(param).map_or(types::UNKNOWN.to_string(), |m| m.parse_type);
                return Ok(FnParam {
                    bind: format!("__lg::bind_as::<{ty}>(&{name}, &{parse_type})"),
                    name,
                    rust_type: ty,
                });
            }
            match types::map(param) {
                Ok(m) => Ok(FnParam {
                    rust_type: format!("impl __lg::pg::{}::Bind<{n}> + __lg::ToSql", m.marker),
                    bind: format!("__lg::pg::{}::bind::<{n}, _>(&{name})", m.marker),
                    name,
                }),
                Err(why) => Err(format!(
                    "${n} (`{name}`) has PostgreSQL type {}, which {}; give the parameter a \
                     Rust type that implements ToSql for it: `-- name: {}(.., {name}: MyType)`",
                    param.display_name(),
                    expand::unmapped(&why),
                    statement.name
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(type_name("user_by_email"), "UserByEmail");
        assert_eq!(type_name("all"), "All");
        assert_eq!(type_name("top_10_posts"), "Top10Posts");
    }
}
