//! Which Rust type each PostgreSQL type maps to, and the marker the argument and field
//! checks use.

use lifeguard_offline::describe::PgType;
use proc_macro2::TokenStream;
use quote::quote;

/// How the generated code handles one PostgreSQL type.
pub struct Mapping {
    /// The Rust type of a field or scalar.
    pub rust: TokenStream,
    /// The module of the type's checks in `lifeguard::__private::pg` (`int4`).
    pub marker: proc_macro2::Ident,
    /// The `Type` sent with Parse and used to encode: a `Type` constant, or `UNKNOWN` for
    /// types whose OID differs between databases (the server infers them).
    pub parse_type: TokenStream,
}

/// Why a type has no mapping.
pub enum Unmapped {
    /// Lifeguard does not map it at all.
    Unsupported,
    /// A feature of `lifeguard` would map it.
    NeedsFeature(&'static str),
}

/// The Rust type for a scalar PostgreSQL type name, or why there is none.
fn scalar(name: &str) -> Result<TokenStream, Unmapped> {
    let p = quote!(::lifeguard::__private);
    Ok(match name {
        "bool" => quote!(bool),
        "int2" => quote!(i16),
        "int4" => quote!(i32),
        "int8" => quote!(i64),
        "float4" => quote!(f32),
        "float8" => quote!(f64),
        "oid" => quote!(u32),
        "text" | "varchar" | "bpchar" | "name" | "citext" => quote!(::std::string::String),
        "bytea" => quote!(::std::vec::Vec<u8>),
        "inet" => quote!(::std::net::IpAddr),
        "interval" => quote!(#p::Interval),
        "uuid" => feature(cfg!(feature = "uuid"), "uuid", quote!(#p::uuid::Uuid))?,
        "json" | "jsonb" => feature(
            cfg!(feature = "serde_json"),
            "serde_json",
            quote!(#p::serde_json::Value),
        )?,
        "numeric" => feature(
            cfg!(feature = "rust_decimal"),
            "rust_decimal",
            quote!(#p::rust_decimal::Decimal),
        )?,
        "date" | "time" | "timestamp" | "timestamptz" => date_time(name)?,
        _ => return Err(Unmapped::Unsupported),
    })
}

/// `rust` when the feature `name` is `on`.
fn feature(on: bool, name: &'static str, rust: TokenStream) -> Result<TokenStream, Unmapped> {
    if on {
        Ok(rust)
    } else {
        Err(Unmapped::NeedsFeature(name))
    }
}

/// chrono when its feature is on (it wins when both are), else time.
fn date_time(name: &str) -> Result<TokenStream, Unmapped> {
    let p = quote!(::lifeguard::__private);
    if cfg!(feature = "chrono") {
        Ok(match name {
            "date" => quote!(#p::chrono::NaiveDate),
            "time" => quote!(#p::chrono::NaiveTime),
            "timestamp" => quote!(#p::chrono::NaiveDateTime),
            _ => quote!(#p::chrono::DateTime<#p::chrono::Utc>),
        })
    } else if cfg!(feature = "time") {
        Ok(match name {
            "date" => quote!(#p::time::Date),
            "time" => quote!(#p::time::Time),
            "timestamp" => quote!(#p::time::PrimitiveDateTime),
            _ => quote!(#p::time::OffsetDateTime),
        })
    } else {
        Err(Unmapped::NeedsFeature("chrono` or `time"))
    }
}

/// The mapping of a described type.
pub fn map(ty: &PgType) -> Result<Mapping, Unmapped> {
    let (element, array) = match ty.name.strip_prefix('_') {
        Some(element) => (element, true),
        None => (ty.name.as_str(), false),
    };
    let builtin = ty.builtin().is_some();
    // Non-built-in types are matched by name; only citext is mapped, and not its array
    // (decoding an array needs the element type the client cannot name).
    if !builtin && (array || element != "citext") {
        return Err(Unmapped::Unsupported);
    }
    let rust = scalar(element)?;
    let marker_name = if array {
        format!("{element}_array")
    } else {
        element.to_string()
    };
    let marker = ident(&marker_name);
    let parse_type = match ty.builtin() {
        Some(t) => {
            let c = ident(&const_name(t.name()));
            quote!(::lifeguard::__private::Type::#c)
        }
        None => quote!(::lifeguard::__private::Type::UNKNOWN),
    };
    Ok(Mapping {
        rust: if array {
            quote!(::std::vec::Vec<#rust>)
        } else {
            rust
        },
        marker,
        parse_type,
    })
}

/// The `Type` constant for a built-in type's name: `INT4`, `INT4_ARRAY` for `_int4`.
fn const_name(name: &str) -> String {
    match name.strip_prefix('_') {
        Some(element) => format!("{}_ARRAY", element.to_ascii_uppercase()),
        None => name.to_ascii_uppercase(),
    }
}

fn ident(s: &str) -> proc_macro2::Ident {
    proc_macro2::Ident::new(s, proc_macro2::Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeguard_offline::pg::types::Type;

    fn mapped(ty: &Type) -> Mapping {
        match map(&PgType::from_type(ty)) {
            Ok(m) => m,
            Err(_) => panic!("{ty} is not mapped"),
        }
    }

    #[test]
    fn scalars_arrays_and_unknown_types() {
        let m = mapped(&Type::INT4_ARRAY);
        assert_eq!(m.rust.to_string(), ":: std :: vec :: Vec < i32 >");
        assert!(m.parse_type.to_string().ends_with("Type :: INT4_ARRAY"));
        assert_eq!(m.marker.to_string(), "int4_array");
        let citext = PgType {
            oid: 16_500,
            name: "citext".into(),
        };
        assert!(map(&citext).is_ok_and(|m| m.parse_type.to_string().ends_with("UNKNOWN")));
        let mood = PgType {
            oid: 16_501,
            name: "mood".into(),
        };
        assert!(matches!(map(&mood), Err(Unmapped::Unsupported)));
        assert!(matches!(
            map(&PgType::from_type(&Type::POINT)),
            Err(Unmapped::Unsupported)
        ));
    }
}
