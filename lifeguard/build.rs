//! Generates, for every PostgreSQL type the macros map, the traits that check an
//! argument (`Bind`) and a `query_as!` field (`Read`, `ReadNullable`) against it.
//!
//! Each trait is written out per type because a `#[diagnostic::on_unimplemented]`
//! message must be a plain string: generating them is how each error can name the
//! PostgreSQL type and list the Rust types that fit it. The types, and the features that
//! gate them, come from `lifeguard-type-table`, the table the macros map from too.

use std::fmt::Write as _;

use lifeguard_type_table::{Check, Side};

/// Writes one check module: shapes are built as a person writes them, which the notes
/// show, and written as code with [`Side::Lifeguard`].
fn emit(out: &mut String, check: &Check) {
    let Check {
        display,
        module: name,
        owned,
        unsized_,
        mapped,
    } = check;
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
            v.join(", ")
        }
    };
    let (binds, reads, nullables) = (
        list(&bind_shapes),
        list(&read_shapes),
        list(&nullable_shapes),
    );
    let code = |shape: &String| Side::Lifeguard.path(shape);
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
        writeln!(
            out,
            "    impl<const N: usize> Bind<N> for {} {{}}",
            code(shape)
        )
        .unwrap();
    }
    for shape in &read_shapes {
        writeln!(out, "    impl<C> Read<C> for {} {{}}", code(shape)).unwrap();
    }
    for shape in &nullable_shapes {
        writeln!(out, "    impl<C> ReadNullable<C> for {} {{}}", code(shape)).unwrap();
    }
    let element = display.trim_end_matches("[]");
    let parse_type = if lifeguard_type_table::EXTENSION_TYPES.contains(&element) {
        "UNKNOWN".to_string()
    } else {
        name.to_ascii_uppercase()
    };
    writeln!(out, "    /// The type sent with Parse and encoded to.").unwrap();
    writeln!(out, "    pub const TYPE: Type = Type::{parse_type};").unwrap();
    writeln!(out, "    /// Checks and encodes the argument for `$N`.").unwrap();
    writeln!(out, "    pub fn bind<const N: usize, T: Bind<N> + ToSql>(value: &T) -> Encoded {{ Encoded::new(value, &TYPE) }}").unwrap();
    writeln!(out, "    /// Reads a non-null column into a checked field.").unwrap();
    writeln!(out, "    pub fn read<C, T: Read<C> + FromSqlOwned>(row: &Row, index: usize) -> Result<T, Error> {{ crate::__private::get(row, index) }}").unwrap();
    writeln!(out, "    /// Reads a nullable column into a checked field.").unwrap();
    writeln!(out, "    pub fn read_nullable<C, T: ReadNullable<C> + FromSqlOwned>(row: &Row, index: usize) -> Result<T, Error> {{ crate::__private::get(row, index) }}").unwrap();
    if let Some(m) = mapped {
        // The type table's contract, checked where both sides meet: the type `query!`
        // names, written as the expansion writes it, resolves and passes these checks.
        let rust = &m.rust;
        write!(
            out,
            "    // `query!` names {rust} for {display} (lifeguard-type-table): it resolves \
             from an expansion and passes these checks.
    const _: fn() = || {{
        fn fits<T: Bind<1> + Read<()> + ToSql + FromSqlOwned>() {{}}
        fn fits_nullable<T: ReadNullable<()>>() {{}}
        fits::<{rust}>();
        fits::<::core::option::Option<{rust}>>();
        fits_nullable::<::core::option::Option<{rust}>>();
    }};
"
        )
        .unwrap();
    }
    writeln!(out, "}}").unwrap();
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let enabled =
        |name: &str| std::env::var_os(format!("CARGO_FEATURE_{}", name.to_uppercase())).is_some();
    // The expansion's paths start at `lifeguard::__private`, as `__lg`.
    let mut out = String::from("use crate::__private as __lg;\n");
    for check in lifeguard_type_table::checks(enabled) {
        emit(&mut out, &check);
    }
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("pg_types.rs");
    std::fs::write(path, out).expect("write pg_types.rs");
}
