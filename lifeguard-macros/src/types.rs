//! Which Rust type each PostgreSQL type maps to, and the marker the argument and field
//! checks use.

use lifeguard_offline::describe::PgType;

/// How the generated code handles one PostgreSQL type. Everything is source text: the
/// expansion is assembled as a string and parsed once, far cheaper than building it
/// token by token through the compiler's proc-macro bridge.
pub struct Mapping {
    /// The Rust type of a field or scalar.
    pub rust: String,
    /// The module of the type's checks in `lifeguard::__private::pg` (`int4`); the
    /// expansion reaches `lifeguard::__private` as `__lg`.
    pub marker: String,
    /// The `Type` sent with Parse and used to encode: a `Type` constant, or `UNKNOWN` for
    /// types whose OID differs between databases (the server infers them).
    pub parse_type: String,
}

/// The `Type` for types whose OID is not stable: the server infers it.
pub const UNKNOWN: &str = "__lg::Type::UNKNOWN";

/// Why a type has no mapping.
pub enum Unmapped {
    /// Lifeguard does not map it at all.
    Unsupported,
    /// A feature of `lifeguard` would map it.
    NeedsFeature(&'static str),
}

/// The Rust type for a scalar PostgreSQL type name, or why there is none.
fn scalar(name: &str) -> Result<&'static str, Unmapped> {
    Ok(match name {
        "bool" => "bool",
        "int2" => "i16",
        "int4" => "i32",
        "int8" => "i64",
        "float4" => "f32",
        "float8" => "f64",
        "oid" => "u32",
        "text" | "varchar" | "bpchar" | "name" | "citext" => "::std::string::String",
        "bytea" => "::std::vec::Vec<u8>",
        "inet" => "::std::net::IpAddr",
        "interval" => "__lg::Interval",
        "uuid" => feature(cfg!(feature = "uuid"), "uuid", "__lg::uuid::Uuid")?,
        "json" | "jsonb" => feature(
            cfg!(feature = "serde_json"),
            "serde_json",
            "__lg::serde_json::Value",
        )?,
        "numeric" => feature(
            cfg!(feature = "rust_decimal"),
            "rust_decimal",
            "__lg::rust_decimal::Decimal",
        )?,
        "date" | "time" | "timestamp" | "timestamptz" => date_time(name)?,
        _ => return Err(Unmapped::Unsupported),
    })
}

/// `rust` when the feature `name` is `on`.
fn feature(on: bool, name: &'static str, rust: &'static str) -> Result<&'static str, Unmapped> {
    if on {
        Ok(rust)
    } else {
        Err(Unmapped::NeedsFeature(name))
    }
}

/// chrono when its feature is on (it wins when both are), else time.
fn date_time(name: &str) -> Result<&'static str, Unmapped> {
    if cfg!(feature = "chrono") {
        Ok(match name {
            "date" => "__lg::chrono::NaiveDate",
            "time" => "__lg::chrono::NaiveTime",
            "timestamp" => "__lg::chrono::NaiveDateTime",
            _ => "__lg::chrono::DateTime<__lg::chrono::Utc>",
        })
    } else if cfg!(feature = "time") {
        Ok(match name {
            "date" => "__lg::time::Date",
            "time" => "__lg::time::Time",
            "timestamp" => "__lg::time::PrimitiveDateTime",
            _ => "__lg::time::OffsetDateTime",
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
    let builtin = ty.builtin();
    // Non-built-in types are matched by name; only citext is mapped, and not its array
    // (decoding an array needs the element type the client cannot name).
    if builtin.is_none() && (array || element != "citext") {
        return Err(Unmapped::Unsupported);
    }
    let rust = scalar(element)?;
    Ok(Mapping {
        rust: if array {
            format!("::std::vec::Vec<{rust}>")
        } else {
            rust.to_string()
        },
        marker: if array {
            format!("{element}_array")
        } else {
            element.to_string()
        },
        parse_type: match builtin {
            Some(t) => format!("__lg::Type::{}", const_name(t.name())),
            None => UNKNOWN.to_string(),
        },
    })
}

/// The `Type` constant for a built-in type's name: `INT4`, `INT4_ARRAY` for `_int4`.
fn const_name(name: &str) -> String {
    match name.strip_prefix('_') {
        Some(element) => format!("{}_ARRAY", element.to_ascii_uppercase()),
        None => name.to_ascii_uppercase(),
    }
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
        assert_eq!(m.rust, "::std::vec::Vec<i32>");
        assert_eq!(m.parse_type, "__lg::Type::INT4_ARRAY");
        assert_eq!(m.marker, "int4_array");
        let citext = PgType {
            oid: 16_500,
            name: "citext".into(),
        };
        assert!(map(&citext).is_ok_and(|m| m.parse_type == UNKNOWN));
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
