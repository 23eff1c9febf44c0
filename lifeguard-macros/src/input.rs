//! Parsing the input of the `query!` family.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Expr, LitStr, Token};

/// What the rows decode into.
pub enum Output {
    /// A struct the macro generates (`query!`).
    Record,
    /// A type the user names (`query_as!`).
    As(syn::Path),
    /// The single column's value (`query_scalar!`).
    Scalar,
}

/// One argument: the expression, and the type of an `expr as Type` override.
pub struct Arg {
    pub expr: Expr,
    pub override_type: Option<syn::Type>,
}

/// A parsed macro call.
pub struct Input {
    pub output: Output,
    /// The SQL literal or the file path literal.
    pub literal: LitStr,
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
                let literal: LitStr = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected the SQL as a string literal (for SQL built at run time use \
                         lifeguard::query or lifeguard::query_as)",
                    )
                })?;
                let mut args = Vec::new();
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                    let exprs = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
                    args = exprs.into_iter().map(Arg::from_expr).collect();
                }
                Ok(Input {
                    output,
                    literal,
                    args,
                })
            },
            tokens,
        )
    }

    /// The span errors about the statement point at.
    pub fn span(&self) -> Span {
        self.literal.span()
    }
}

impl Arg {
    fn from_expr(expr: Expr) -> Arg {
        match expr {
            Expr::Cast(cast) => Arg {
                expr: *cast.expr,
                override_type: Some(*cast.ty),
            },
            expr => Arg {
                expr,
                override_type: None,
            },
        }
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
    input.parse::<Token![,]>()?;
    Ok(Output::As(path))
}
