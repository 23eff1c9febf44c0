//! `#[derive(FromRow)]`: fields read by column name (`#[lifeguard(rename = "col")]`
//! names another column), tuple-struct fields by position.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

pub fn derive(tokens: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(tokens as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "FromRow can be derived for structs only",
        ));
    };
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = match &data.fields {
        Fields::Named(named) => {
            let fields = named
                .named
                .iter()
                .map(|f| {
                    let name = f.ident.as_ref().expect("named field");
                    let column = rename(f)?
                        .unwrap_or_else(|| name.to_string().trim_start_matches("r#").to_string());
                    Ok(quote!(#name: row.get(#column)?))
                })
                .collect::<syn::Result<Vec<_>>>()?;
            quote!(Self { #(#fields,)* })
        }
        Fields::Unnamed(unnamed) => {
            let fields = (0..unnamed.unnamed.len()).map(|i| quote!(row.get(#i)?));
            quote!(Self(#(#fields,)*))
        }
        Fields::Unit => quote!(Self),
    };
    Ok(quote! {
        impl #impl_generics ::lifeguard::FromRow for #ident #ty_generics #where_clause {
            fn from_row(
                row: &::lifeguard::__private::Row,
            ) -> ::core::result::Result<Self, ::lifeguard::__private::Error> {
                ::core::result::Result::Ok(#body)
            }
        }
    })
}

/// The column named by `#[lifeguard(rename = "..")]`, if any.
fn rename(field: &syn::Field) -> syn::Result<Option<String>> {
    let mut out = None;
    for attr in field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("lifeguard"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                out = Some(meta.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else {
                Err(meta.error("expected `rename = \"column\"`"))
            }
        })?;
    }
    Ok(out)
}
