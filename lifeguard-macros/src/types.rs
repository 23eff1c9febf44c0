//! Which Rust type each described PostgreSQL type maps to, and the marker the argument
//! and field checks use: `lifeguard-type-table` holds the table (shared with
//! `lifeguard`'s build script, which generates the checks); this file adds what depends
//! on the description (built-in or not, the `Type` sent with Parse) and this crate's
//! features.

use lifeguard_offline::description::PgType;

/// How the generated code handles one PostgreSQL type. Everything is source text: the
/// expansion is assembled as a string and parsed once, far cheaper than building it
/// token by token through the compiler's proc-macro bridge.
pub struct Mapping {
    /// The Rust type of a field or scalar.
    pub rust: String,
    /// The module of the type's checks in `lifeguard::__private::pg` (`int4`); the
    /// expansion reaches `lifeguard::__private` as `__lg`.
    pub marker: String,
    /// The `Type` an argument written `expr as Type` is encoded to: a `Type` constant, or
    /// `UNKNOWN` for types whose OID differs between databases (the server infers
    /// them). A checked argument is encoded by its module's `bind`, to its `TYPE`.
    pub parse_type: String,
}

/// The `Type` for types whose OID is not stable: the server infers it.
pub const UNKNOWN: &str = "__lg::Type::UNKNOWN";

/// Why a type has no mapping.
pub enum Unmapped {
    /// Lifeguard does not map it at all.
    Unsupported,
    /// A feature of `lifeguard` would map it (or one of several: "chrono` or `time").
    NeedsFeature(String),
}

/// The features of `lifeguard` this crate sees, by the names the type table gates its
/// rows with (each `lifeguard` feature enables ours of the same name).
const FEATURES: [(&str, bool); 5] = [
    ("chrono", cfg!(feature = "chrono")),
    ("time", cfg!(feature = "time")),
    ("uuid", cfg!(feature = "uuid")),
    ("serde_json", cfg!(feature = "serde_json")),
    ("rust_decimal", cfg!(feature = "rust_decimal")),
];

fn enabled(feature: &str) -> bool {
    FEATURES.iter().any(|&(name, on)| on && name == feature)
}

/// The mapping of a described type.
pub fn map(ty: &PgType) -> Result<Mapping, Unmapped> {
    let (element, array) = match ty.name.strip_prefix('_') {
        Some(element) => (element, true),
        None => (ty.name.as_str(), false),
    };
    let builtin = ty.builtin();
    // Non-built-in types are matched by name, and only an extension's in the table.
    if builtin.is_none() && (array || !lifeguard_type_table::EXTENSION_TYPES.contains(&element)) {
        return Err(Unmapped::Unsupported);
    }
    let mapped = lifeguard_type_table::map(element, array, enabled).map_err(|why| match why {
        lifeguard_type_table::Unmapped::Unsupported => Unmapped::Unsupported,
        lifeguard_type_table::Unmapped::NeedsFeature(f) => Unmapped::NeedsFeature(f.join("` or `")),
    })?;
    Ok(Mapping {
        rust: mapped.rust,
        marker: mapped.module,
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

    /// Every feature the table gates a row with is one this crate sees: a feature left
    /// out here would leave its types unmapped while `lifeguard` generates their checks.
    #[test]
    fn sees_every_feature_of_the_table() {
        let ours: Vec<&str> = FEATURES.iter().map(|&(name, _)| name).collect();
        assert_eq!(ours, lifeguard_type_table::features());
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
