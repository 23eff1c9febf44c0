//! Generates, for every PostgreSQL type the macros map, the traits that check an
//! argument (`Bind`) and a `query_as!` field (`Read`, `ReadNullable`) against it.
//!
//! Each trait is written out per type because a `#[diagnostic::on_unimplemented]`
//! message must be a plain string: generating them is how each error can name the
//! PostgreSQL type and list the Rust types that fit it.

use std::fmt::Write as _;

/// A PostgreSQL scalar type and the Rust types that hold it: owned (bound as `T`, `&T`,
/// `Option<T>`, `Option<&T>`; read as `T` or `Option<T>`) and unsized (bound as `&U`,
/// `Option<&U>`). Its array type `_name` is derived.
struct Scalar {
    name: &'static str,
    owned: Vec<&'static str>,
    unsized_: Vec<&'static str>,
}

fn scalars() -> Vec<Scalar> {
    let s = |name, owned: &[&'static str], unsized_: &[&'static str]| Scalar {
        name,
        owned: owned.to_vec(),
        unsized_: unsized_.to_vec(),
    };
    let feature =
        |name: &str| std::env::var_os(format!("CARGO_FEATURE_{}", name.to_uppercase())).is_some();
    let text = ["String"];
    let mut out = vec![
        s("bool", &["bool"], &[]),
        s("int2", &["i16"], &[]),
        s("int4", &["i32"], &[]),
        s("int8", &["i64"], &[]),
        s("float4", &["f32"], &[]),
        s("float8", &["f64"], &[]),
        s("oid", &["u32"], &[]),
        s("interval", &["::lifeguard_pg::Interval"], &[]),
        s("inet", &["::std::net::IpAddr"], &[]),
        s("bytea", &["Vec<u8>"], &["[u8]"]),
        s("text", &text, &["str"]),
        s("varchar", &text, &["str"]),
        s("bpchar", &text, &["str"]),
        s("name", &text, &["str"]),
        s("citext", &text, &["str"]),
    ];
    let optional = |on: bool, owned: &[&'static str]| if on { owned.to_vec() } else { Vec::new() };
    let uuid = optional(feature("uuid"), &["::uuid::Uuid"]);
    let json = optional(feature("serde_json"), &["::serde_json::Value"]);
    let numeric = optional(feature("rust_decimal"), &["::rust_decimal::Decimal"]);
    let chrono = feature("chrono");
    let time = feature("time");
    let dt = |name, c: &[&'static str], t: &[&'static str]| {
        let mut owned = optional(chrono, c);
        owned.extend(optional(time, t));
        Scalar {
            name,
            owned,
            unsized_: Vec::new(),
        }
    };
    let dates = [
        dt("date", &["::chrono::NaiveDate"], &["::time::Date"]),
        dt("time", &["::chrono::NaiveTime"], &["::time::Time"]),
        dt(
            "timestamp",
            &["::chrono::NaiveDateTime"],
            &["::time::PrimitiveDateTime"],
        ),
        dt(
            "timestamptz",
            &[
                "::chrono::DateTime<::chrono::Utc>",
                "::chrono::DateTime<::chrono::FixedOffset>",
                "::chrono::DateTime<::chrono::Local>",
            ],
            &["::time::OffsetDateTime"],
        ),
    ];
    out.extend(dates);
    let with = |name, owned: Vec<&'static str>| Scalar {
        name,
        owned,
        unsized_: Vec::new(),
    };
    out.push(with("uuid", uuid));
    out.push(with("json", json.clone()));
    out.push(with("jsonb", json));
    out.push(with("numeric", numeric));
    out
}

/// The array type of a scalar: `Vec<T>`, `Vec<Option<T>>` owned; `[T]`, `[Option<T>]`
/// and, for unsized elements, `[&U]` as slices.
fn array(s: &Scalar) -> (String, Vec<String>, Vec<String>) {
    let mut owned = Vec::new();
    let mut unsized_ = Vec::new();
    for t in &s.owned {
        owned.push(format!("Vec<{t}>"));
        owned.push(format!("Vec<Option<{t}>>"));
        unsized_.push(format!("[{t}]"));
        unsized_.push(format!("[Option<{t}>]"));
    }
    for u in &s.unsized_ {
        unsized_.push(format!("[&{u}]"));
    }
    (format!("{}_array", s.name), owned, unsized_)
}

fn emit(out: &mut String, name: &str, display: &str, owned: &[String], unsized_: &[String]) {
    let mut bind_shapes = Vec::new();
    for t in owned {
        bind_shapes.extend([
            t.clone(),
            format!("&{t}"),
            format!("Option<{t}>"),
            format!("Option<&{t}>"),
        ]);
    }
    for u in unsized_ {
        bind_shapes.extend([format!("&{u}"), format!("Option<&{u}>")]);
    }
    let mut read_shapes = Vec::new();
    for t in owned {
        read_shapes.extend([t.clone(), format!("Option<{t}>")]);
    }
    let nullable_shapes: Vec<String> = owned.iter().map(|t| format!("Option<{t}>")).collect();
    let list = |v: &[String]| {
        if v.is_empty() {
            "none with the features enabled".to_string()
        } else {
            v.iter().map(|t| readable(t)).collect::<Vec<_>>().join(", ")
        }
    };
    let (binds, reads, nullables) = (
        list(&bind_shapes),
        list(&read_shapes),
        list(&nullable_shapes),
    );
    writeln!(out, "/// The PostgreSQL type `{display}`.").unwrap();
    writeln!(out, "pub mod {name} {{").unwrap();
    writeln!(out, "    use super::*;").unwrap();
    writeln!(out, "    #[diagnostic::on_unimplemented(message = \"`{{Self}}` cannot be bound to ${{N}}, a parameter of PostgreSQL type {display}\", label = \"${{N}} has PostgreSQL type {display}\", note = \"the Rust types that fit {display}: {binds}; `<expr> as <Type>` skips this check\")]").unwrap();
    writeln!(out, "    pub trait Bind<const N: usize> {{}}").unwrap();
    writeln!(out, "    #[diagnostic::on_unimplemented(message = \"column `{{C}}` has PostgreSQL type {display}, which cannot be read into `{{Self}}`\", label = \"the field for column `{{C}}`\", note = \"the Rust types that hold {display}: {reads}; a type override in the column's alias (`AS \\\"name: Type\\\"`) skips this check\")]").unwrap();
    writeln!(out, "    pub trait Read<C> {{}}").unwrap();
    writeln!(out, "    #[diagnostic::on_unimplemented(message = \"column `{{C}}` can be NULL, so it cannot be read into `{{Self}}`\", label = \"the field for column `{{C}}`, which can be NULL\", note = \"use {nullables}; if the column is never NULL, say so in its alias: `AS \\\"name!\\\"`\")]").unwrap();
    writeln!(out, "    pub trait ReadNullable<C> {{}}").unwrap();
    for shape in &bind_shapes {
        writeln!(out, "    impl<const N: usize> Bind<N> for {shape} {{}}").unwrap();
    }
    for shape in &read_shapes {
        writeln!(out, "    impl<C> Read<C> for {shape} {{}}").unwrap();
    }
    for shape in &nullable_shapes {
        writeln!(out, "    impl<C> ReadNullable<C> for {shape} {{}}").unwrap();
    }
    writeln!(out, "    /// Checks and encodes the argument for `$N`.").unwrap();
    writeln!(out, "    pub fn bind<const N: usize, T: Bind<N> + ToSql>(value: &T, ty: &Type) -> Encoded {{ Encoded::new(value, ty) }}").unwrap();
    writeln!(out, "    /// Reads a non-null column into a checked field.").unwrap();
    writeln!(out, "    pub fn read<C, T: Read<C> + FromSqlOwned>(row: &Row, index: usize) -> Result<T, Error> {{ crate::__private::get(row, index) }}").unwrap();
    writeln!(out, "    /// Reads a nullable column into a checked field.").unwrap();
    writeln!(out, "    pub fn read_nullable<C, T: ReadNullable<C> + FromSqlOwned>(row: &Row, index: usize) -> Result<T, Error> {{ crate::__private::get(row, index) }}").unwrap();
    writeln!(out, "}}").unwrap();
}

/// A type path as a person writes it: `Vec<uuid::Uuid>` for `Vec<::uuid::Uuid>`.
fn readable(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(at) = rest.find("::") {
        let leading = out.is_empty() && at == 0
            || rest[..at].ends_with(|c: char| !(c.is_alphanumeric() || c == '_'))
            || (at == 0 && out.ends_with(|c: char| !(c.is_alphanumeric() || c == '_')));
        out.push_str(&rest[..at]);
        if !leading {
            out.push_str("::");
        }
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut out = String::new();
    for s in scalars() {
        let owned: Vec<String> = s.owned.iter().map(|t| t.to_string()).collect();
        let unsized_: Vec<String> = s.unsized_.iter().map(|t| t.to_string()).collect();
        emit(&mut out, s.name, s.name, &owned, &unsized_);
        let (name, owned, unsized_) = array(&s);
        emit(&mut out, &name, &format!("{}[]", s.name), &owned, &unsized_);
    }
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("pg_types.rs");
    std::fs::write(path, out).expect("write pg_types.rs");
}
