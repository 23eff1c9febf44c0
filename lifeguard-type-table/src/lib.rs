//! Which Rust types hold each PostgreSQL type, and which feature of `lifeguard` each
//! needs: the one table ([`TABLE`]) both sides of a checked query are generated from.
//!
//! - `lifeguard-macros` asks [`map`] for the Rust type `query!` gives a column or scalar
//!   and the check module its arguments and `query_as!` fields go through;
//! - `lifeguard`'s build script asks [`checks`] for those modules, one per type in
//!   `lifeguard::__private::pg`, with the Rust types each accepts, and asserts in the
//!   generated code that what [`map`] names passes them.
//!
//! Rust types are written as a person writes them (`chrono::NaiveDate`, `Vec<u8>`), the
//! form the diagnostics show; [`Side::path`] roots them for the code each side emits.
//! Which features are on is the one thing each side answers for itself (the macros by
//! `cfg!`, the build script by `CARGO_FEATURE_*`): [`map`] and [`checks`] take it as
//! `enabled`, and the tests here hold the two to each other for every combination.

/// PostgreSQL types that one set of Rust types holds.
pub struct Row {
    /// PostgreSQL type names (`pg_type.typname`); each also has an array type, `_name`.
    pub names: &'static [&'static str],
    /// The `lifeguard` feature that maps them, or `None` when always mapped.
    pub feature: Option<&'static str>,
    /// Owned Rust types: bound as `T`, `&T`, `Option<T>`, `Option<&T>`; read as `T` or
    /// `Option<T>`. The first is what `query!` gives a column, from the first of a
    /// type's rows whose feature is on.
    pub owned: &'static [&'static str],
    /// Unsized Rust types, bound as `&U` or `Option<&U>`.
    pub unsized_: &'static [&'static str],
}

const fn row(
    names: &'static [&'static str],
    feature: Option<&'static str>,
    owned: &'static [&'static str],
    unsized_: &'static [&'static str],
) -> Row {
    Row {
        names,
        feature,
        owned,
        unsized_,
    }
}

const TEXT: &[&str] = &["text", "varchar", "bpchar", "name", "citext"];

/// The mapped types an extension defines: their OIDs differ from database to database,
/// so they are matched by name, sent with Parse as `unknown` (the server infers them)
/// and never as arrays (decoding one needs an element type the client cannot name).
/// Every other name in [`TABLE`] is a built-in type with a `postgres_types::Type`
/// constant of its name in upper case (`INT4`, `INT4_ARRAY` for `int4[]`).
pub const EXTENSION_TYPES: &[&str] = &["citext"];
const CHRONO: Option<&str> = Some("chrono");
const TIME: Option<&str> = Some("time");

/// The table. Rows of one type are tried in order: chrono's come before time's, so
/// `query!` uses chrono when both features are on, and the checks accept either.
#[rustfmt::skip]
pub const TABLE: &[Row] = &[
    // PostgreSQL           feature                owned Rust types (the first is query!'s)   unsized
    row(&["bool"],          None,                  &["bool"],                                 &[]),
    row(&["int2"],          None,                  &["i16"],                                  &[]),
    row(&["int4"],          None,                  &["i32"],                                  &[]),
    row(&["int8"],          None,                  &["i64"],                                  &[]),
    row(&["float4"],        None,                  &["f32"],                                  &[]),
    row(&["float8"],        None,                  &["f64"],                                  &[]),
    row(&["oid"],           None,                  &["u32"],                                  &[]),
    row(&["interval"],      None,                  &["lifeguard_pg::Interval"],               &[]),
    row(&["inet"],          None,                  &["std::net::IpAddr"],                     &[]),
    row(&["bytea"],         None,                  &["Vec<u8>"],                              &["[u8]"]),
    row(TEXT,               None,                  &["String"],                               &["str"]),
    row(&["date"],          CHRONO,                &["chrono::NaiveDate"],                    &[]),
    row(&["date"],          TIME,                  &["time::Date"],                           &[]),
    row(&["time"],          CHRONO,                &["chrono::NaiveTime"],                    &[]),
    row(&["time"],          TIME,                  &["time::Time"],                           &[]),
    row(&["timestamp"],     CHRONO,                &["chrono::NaiveDateTime"],                &[]),
    row(&["timestamp"],     TIME,                  &["time::PrimitiveDateTime"],              &[]),
    row(&["timestamptz"],   CHRONO,                &["chrono::DateTime<chrono::Utc>",
                                                     "chrono::DateTime<chrono::FixedOffset>",
                                                     "chrono::DateTime<chrono::Local>"],       &[]),
    row(&["timestamptz"],   TIME,                  &["time::OffsetDateTime"],                 &[]),
    row(&["uuid"],          Some("uuid"),          &["uuid::Uuid"],                           &[]),
    row(&["json", "jsonb"], Some("serde_json"),    &["serde_json::Value"],                    &[]),
    row(&["numeric"],       Some("rust_decimal"),  &["rust_decimal::Decimal"],                &[]),
];

/// The features the table names, in order of first use.
pub fn features() -> Vec<&'static str> {
    let mut out = Vec::new();
    for f in TABLE.iter().filter_map(|r| r.feature) {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// The PostgreSQL type names the table maps, in order of first use.
pub fn names() -> Vec<&'static str> {
    let mut out = Vec::new();
    for &n in TABLE.iter().flat_map(|r| r.names) {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The name of the check module for a type: its own name, `int4_array` for `int4[]`.
pub fn module(name: &str, array: bool) -> String {
    if array {
        format!("{name}_array")
    } else {
        name.to_string()
    }
}

/// Where the Rust types of the table are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// In a `query!` expansion, in the user's crate, where `__lg` is
    /// `lifeguard::__private`: crates through its re-exports (`__lg::chrono::NaiveDate`,
    /// `lifeguard_pg`'s items at its root), the prelude's types by full path.
    Expansion,
    /// Inside `lifeguard` (its generated check modules): crates from the root
    /// (`::chrono::NaiveDate`), the prelude's types as they are.
    Lifeguard,
}

impl Side {
    /// `ty`, written as a person writes it, as code on this side:
    /// `Vec<chrono::NaiveDate>` is `::std::vec::Vec<__lg::chrono::NaiveDate>` in an
    /// expansion and `Vec<::chrono::NaiveDate>` in `lifeguard`.
    pub fn path(self, ty: &str) -> String {
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let mut out = String::new();
        let mut rest = ty;
        while let Some(c) = rest.chars().next() {
            if !ident(c) {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            // The first segment of a path: everything here starts one.
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            let (segment, after) = rest.split_at(end);
            let rooted = after.starts_with("::");
            out.push_str(&match (self, segment, rooted) {
                (Side::Lifeguard, _, true) => format!("::{segment}"),
                (Side::Lifeguard, _, false) => segment.to_string(),
                (Side::Expansion, "std", true) => "::std".to_string(),
                (Side::Expansion, "lifeguard_pg", true) => "__lg".to_string(),
                (Side::Expansion, _, true) => format!("__lg::{segment}"),
                (Side::Expansion, "String", false) => "::std::string::String".to_string(),
                (Side::Expansion, "Vec", false) => "::std::vec::Vec".to_string(),
                (Side::Expansion, _, false) => segment.to_string(),
            });
            rest = after;
            // The rest of the path: `::Segment`s, kept as they are.
            while let Some(tail) = rest.strip_prefix("::") {
                let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
                out.push_str("::");
                out.push_str(&tail[..end]);
                rest = &tail[end..];
            }
        }
        out
    }
}

/// What `query!` does with a PostgreSQL type the table maps.
#[derive(Debug, PartialEq, Eq)]
pub struct Mapped {
    /// The Rust type of a field or scalar, as an expansion writes it.
    pub rust: String,
    /// The check module in `lifeguard::__private::pg` ([`module`]).
    pub module: String,
}

/// Why a PostgreSQL type has no mapping.
#[derive(Debug, PartialEq, Eq)]
pub enum Unmapped {
    /// The table does not map it.
    Unsupported,
    /// One of these features would map it.
    NeedsFeature(Vec<&'static str>),
}

/// The mapping of PostgreSQL type `name` (an element type, when `array`) with the
/// features `enabled` says are on.
pub fn map(name: &str, array: bool, enabled: impl Fn(&str) -> bool) -> Result<Mapped, Unmapped> {
    let rows = || TABLE.iter().filter(|r| r.names.contains(&name));
    let Some(row) = rows().find(|r| r.feature.is_none_or(&enabled)) else {
        let needed: Vec<_> = rows().filter_map(|r| r.feature).collect();
        return Err(if needed.is_empty() {
            Unmapped::Unsupported
        } else {
            Unmapped::NeedsFeature(needed)
        });
    };
    let rust = row.owned[0];
    let rust = if array {
        format!("Vec<{rust}>")
    } else {
        rust.to_string()
    };
    Ok(Mapped {
        rust: Side::Expansion.path(&rust),
        module: module(name, array),
    })
}

/// One check module: the Rust types that hold one PostgreSQL type, as a person writes
/// them.
#[derive(Debug)]
pub struct Check {
    /// The PostgreSQL type (`int4`, `int4[]`).
    pub display: String,
    /// The module's name ([`module`]).
    pub module: String,
    /// What [`map`] gives for the type: the type `query!` names, which these checks
    /// must accept (the build script asserts it in the code it generates).
    pub mapped: Option<Mapped>,
    /// Owned types (`T`): bound as `T`, `&T`, `Option<T>`, `Option<&T>`; read as `T`
    /// or `Option<T>`.
    pub owned: Vec<String>,
    /// Unsized types (`U`): bound as `&U`, `Option<&U>`.
    pub unsized_: Vec<String>,
}

/// The check modules, a type then its array, for every type of the table (with no
/// Rust types when its feature is off) with the features `enabled` says are on. An
/// array `_name` is held by `Vec<T>` and `Vec<Option<T>>`, bound also as `&[T]`,
/// `&[Option<T>]` and, for unsized elements, `&[&U]`.
pub fn checks(enabled: impl Fn(&str) -> bool) -> Vec<Check> {
    let mut out = Vec::new();
    for name in names() {
        let on = || {
            TABLE
                .iter()
                .filter(|r| r.names.contains(&name) && r.feature.is_none_or(&enabled))
        };
        let owned: Vec<String> = on().flat_map(|r| r.owned).map(|t| t.to_string()).collect();
        let unsized_: Vec<String> = on()
            .flat_map(|r| r.unsized_)
            .map(|t| t.to_string())
            .collect();
        let mut array_owned = Vec::new();
        let mut array_unsized = Vec::new();
        for t in &owned {
            array_owned.extend([format!("Vec<{t}>"), format!("Vec<Option<{t}>>")]);
            array_unsized.extend([format!("[{t}]"), format!("[Option<{t}>]")]);
        }
        array_unsized.extend(unsized_.iter().map(|u| format!("[&{u}]")));
        for (array, owned, unsized_) in
            [(false, owned, unsized_), (true, array_owned, array_unsized)]
        {
            out.push(Check {
                display: if array {
                    format!("{name}[]")
                } else {
                    name.to_string()
                },
                module: module(name, array),
                mapped: map(name, array, &enabled).ok(),
                owned,
                unsized_,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the table's features, as an `enabled` for each.
    fn combinations() -> Vec<Vec<&'static str>> {
        let all = features();
        (0..1u32 << all.len())
            .map(|mask| {
                (0..all.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| all[i])
                    .collect()
            })
            .collect()
    }

    /// The contract between the two users: for every combination of features, every
    /// type `query!` maps has a check module that accepts the Rust type it names, and
    /// every check module that accepts a Rust type belongs to a type `query!` maps.
    #[test]
    fn the_macros_and_the_checks_agree() {
        for on in combinations() {
            let enabled = |f: &str| on.contains(&f);
            let checks = checks(enabled);
            for name in names() {
                for array in [false, true] {
                    let check = checks.iter().find(|c| c.module == module(name, array));
                    let check = check.unwrap_or_else(|| panic!("no check module for {name}"));
                    match map(name, array, enabled) {
                        Ok(m) => assert!(
                            check
                                .owned
                                .iter()
                                .any(|t| Side::Expansion.path(t) == m.rust),
                            "with {on:?}, query! gives {name} (array: {array}) the type {}, \
                             which its checks do not accept: {:?}",
                            m.rust,
                            check.owned
                        ),
                        Err(Unmapped::NeedsFeature(f)) => assert!(
                            check.owned.is_empty() && f.iter().all(|f| !on.contains(f)),
                            "with {on:?}, {name} is checked as {:?} but query! wants {f:?}",
                            check.owned
                        ),
                        Err(Unmapped::Unsupported) => panic!("{name} is in the table"),
                    }
                    assert_eq!(check.mapped, map(name, array, enabled).ok());
                }
            }
            assert_eq!(
                checks.len(),
                2 * names().len(),
                "one module per type and array"
            );
        }
    }

    #[test]
    fn every_row_maps_something_and_modules_are_distinct() {
        for r in TABLE {
            assert!(!r.names.is_empty() && !r.owned.is_empty(), "{:?}", r.names);
        }
        let mut modules: Vec<String> = checks(|_| true).into_iter().map(|c| c.module).collect();
        let n = modules.len();
        modules.sort();
        modules.dedup();
        assert_eq!(modules.len(), n, "two types share a check module");
    }

    /// The features the table names are features of `lifeguard`, each passed on to
    /// `lifeguard-macros` under the same name: otherwise the build script (which reads
    /// `lifeguard`'s) and the macros (which read their own) see different features.
    #[test]
    fn the_table_features_are_wired_through_both_crates() {
        let manifest = |krate: &str| {
            let path = format!("{}/../{krate}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let features = |text: &str| -> Vec<(String, String)> {
            let section = text.split("\n[features]\n").nth(1).unwrap_or_default();
            let section = section.split("\n[").next().unwrap_or_default();
            section
                .lines()
                .filter_map(|l| l.split_once(" = "))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect()
        };
        let (lifeguard, macros) = (
            features(&manifest("lifeguard")),
            features(&manifest("lifeguard-macros")),
        );
        for f in super::features() {
            let forwarded = format!("\"lifeguard-macros/{f}\"");
            assert!(
                lifeguard
                    .iter()
                    .any(|(k, v)| k == f && v.contains(&forwarded)),
                "lifeguard has no feature `{f}` that enables lifeguard-macros/{f}"
            );
            assert!(
                macros.iter().any(|(k, _)| k == f),
                "lifeguard-macros has no feature `{f}`"
            );
        }
    }

    #[test]
    fn paths_on_each_side() {
        let t = "chrono::DateTime<chrono::Utc>";
        assert_eq!(
            Side::Expansion.path(t),
            "__lg::chrono::DateTime<__lg::chrono::Utc>"
        );
        assert_eq!(Side::Lifeguard.path(t), "::chrono::DateTime<::chrono::Utc>");
        assert_eq!(
            Side::Expansion.path("Vec<String>"),
            "::std::vec::Vec<::std::string::String>"
        );
        assert_eq!(Side::Lifeguard.path("Option<&[&str]>"), "Option<&[&str]>");
        assert_eq!(
            Side::Expansion.path("lifeguard_pg::Interval"),
            "__lg::Interval"
        );
        assert_eq!(
            Side::Lifeguard.path("std::net::IpAddr"),
            "::std::net::IpAddr"
        );
        assert_eq!(
            Side::Expansion.path("std::net::IpAddr"),
            "::std::net::IpAddr"
        );
    }

    #[test]
    fn chrono_wins_and_features_are_named() {
        let both = |f: &str| f == "chrono" || f == "time";
        assert_eq!(
            map("timestamptz", false, both).map(|m| m.rust),
            Ok("__lg::chrono::DateTime<__lg::chrono::Utc>".to_string())
        );
        assert_eq!(
            map("date", true, |f| f == "time"),
            Ok(Mapped {
                rust: "::std::vec::Vec<__lg::time::Date>".into(),
                module: "date_array".into(),
            })
        );
        assert_eq!(
            map("date", false, |_| false),
            Err(Unmapped::NeedsFeature(vec!["chrono", "time"]))
        );
        assert_eq!(map("point", false, |_| true), Err(Unmapped::Unsupported));
    }
}
