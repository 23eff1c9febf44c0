//! The `query!` family for Lifeguard. Use them through the `lifeguard` crate, which
//! re-exports them with their documentation.
//!
//! Module map:
//! - `input`: parsing a call (`[Type,] "sql" [, args]`);
//! - `metadata`: describing the SQL on `DATABASE_URL` (one connection per URL for the
//!   compiler process) or reading `.lifeguard/`;
//! - `columns`: field names for result columns (the alias overrides `"col!"`, `"col?"`,
//!   `"col: Type"` are parsed by `lifeguard_offline::description::Alias`);
//! - `types`: PostgreSQL type → Rust type and check marker;
//! - `sql_error`: server errors with a caret under the position;
//! - `expand`: the generated code, the statement's description embedded as one string;
//! - `queries`: `queries!`, a `.sql` file of named statements as a module of functions;
//! - `from_row`: `#[derive(FromRow)]`.

use proc_macro::TokenStream;

mod columns;
mod expand;
mod from_row;
mod input;
mod metadata;
mod queries;
mod sql_error;
mod types;

use input::Input;

fn run(
    tokens: TokenStream,
    output: fn(syn::parse::ParseStream) -> syn::Result<input::Output>,
    from_file: bool,
) -> TokenStream {
    Input::parse(tokens, output)
        .and_then(|input| expand::expand(input, from_file))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// See `lifeguard::query!`.
#[proc_macro]
pub fn query(tokens: TokenStream) -> TokenStream {
    run(tokens, input::record, false)
}

/// See `lifeguard::query_as!`.
#[proc_macro]
pub fn query_as(tokens: TokenStream) -> TokenStream {
    run(tokens, input::as_type, false)
}

/// See `lifeguard::query_scalar!`.
#[proc_macro]
pub fn query_scalar(tokens: TokenStream) -> TokenStream {
    run(tokens, input::scalar, false)
}

/// See `lifeguard::query_file!`.
#[proc_macro]
pub fn query_file(tokens: TokenStream) -> TokenStream {
    run(tokens, input::record, true)
}

/// See `lifeguard::query_file_as!`.
#[proc_macro]
pub fn query_file_as(tokens: TokenStream) -> TokenStream {
    run(tokens, input::as_type, true)
}

/// See `lifeguard::query_file_scalar!`.
#[proc_macro]
pub fn query_file_scalar(tokens: TokenStream) -> TokenStream {
    run(tokens, input::scalar, true)
}

/// See `lifeguard::queries!`.
#[proc_macro]
pub fn queries(tokens: TokenStream) -> TokenStream {
    syn::parse::Parser::parse(queries::Call::parse, tokens)
        .and_then(queries::expand)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// See `lifeguard::FromRow`.
#[proc_macro_derive(FromRow, attributes(lifeguard))]
pub fn derive_from_row(tokens: TokenStream) -> TokenStream {
    from_row::derive(tokens)
}
