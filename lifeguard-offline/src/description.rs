//! What is known about a statement: its [`Description`] (parameter types, result columns
//! with their nullability, the read/write class), the alias overrides a column's name can
//! carry ([`Alias`]), and the caret under a server error's position ([`caret`]).
//!
//! The one model of a statement, for every stage: the [`Describer`](crate::describe::Describer)
//! produces it, [`store`](crate::store) writes and reads it as `.lifeguard/` JSON, the
//! macros turn it into code and embed it in the binary as one string
//! ([`Description::pack`]), which the runtime reads once per statement
//! ([`Description::unpack`]).
//!
//! ```
//! use lifeguard_offline::description::{ColumnInfo, Nullability, PgType};
//!
//! const EMAIL: ColumnInfo =
//!     ColumnInfo::new("email!", PgType::new(25, "text"), Nullability::Nullable, None);
//! assert_eq!(EMAIL.alias().name, "email");
//! assert_eq!(EMAIL.nullability_in_code(), Nullability::NotNull);
//! ```

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Mutex, PoisonError};

use lifeguard_pg::types::Type;

/// A name (of a type, a column, a table): a string that lives as long as the program.
/// Names in the static data the macros emit are literals; a name described or read
/// from a file is interned, each distinct one allocated once per process (few: type,
/// column and table names), so that the types of a [`Description`] hold no owned text
/// and their arrays can be static data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(&'static str);

impl Name {
    /// A name in static data.
    pub const fn new(name: &'static str) -> Name {
        Name(name)
    }

    /// The interned name equal to `name`.
    pub fn intern(name: &str) -> Name {
        static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
        let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
        let names = names.get_or_insert_with(HashSet::new);
        match names.get(name) {
            Some(known) => Name(known),
            None => {
                let leaked: &'static str = Box::leak(name.into());
                names.insert(leaked);
                Name(leaked)
            }
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<String> for Name {
    fn from(name: String) -> Name {
        Name::intern(&name)
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Name {
        Name::intern(name)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0.to_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Whether a result column can hold NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nullability {
    /// The column is never NULL.
    NotNull,
    /// The column may be NULL (the conservative answer).
    Nullable,
}

/// A PostgreSQL type as a statement uses it: its OID and name.
///
/// Domains are replaced by their base type. Built-in types (those
/// [`Type::from_oid`] knows) have stable OIDs; other types (extensions such as `citext`,
/// user enums) are matched by name, because their OIDs differ between databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PgType {
    /// The type's OID on the server it was described on.
    pub oid: u32,
    /// The type's name (`int4`, `_text` for `text[]`, `citext`).
    pub name: Name,
}

impl PgType {
    /// A type in static data.
    pub const fn new(oid: u32, name: &'static str) -> PgType {
        PgType {
            oid,
            name: Name::new(name),
        }
    }

    /// The built-in type, if this is one.
    pub fn builtin(&self) -> Option<Type> {
        Type::from_oid(self.oid)
    }

    /// A built-in type's [`PgType`].
    pub fn from_type(ty: &Type) -> PgType {
        PgType {
            oid: ty.oid(),
            name: ty.name().into(),
        }
    }

    /// The name as SQL writes it: `int4[]` for the array type `_int4`.
    pub fn display_name(&self) -> String {
        match self.name.strip_prefix('_') {
            Some(element) => format!("{element}[]"),
            None => self.name.to_string(),
        }
    }
}

/// One result column of a described statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColumnInfo {
    /// The column's name as the server reports it: the alias, overrides included
    /// (`email!`); [`ColumnInfo::alias`] splits them off.
    pub name: Name,
    /// The column's type.
    pub type_: PgType,
    /// Whether the column can be NULL, as inferred (before the alias's override).
    pub nullable: Nullability,
    /// The table and column it comes from, when it is a plain table column.
    pub origin: Option<(Name, Name)>,
}

impl ColumnInfo {
    /// A column in static data.
    pub const fn new(
        name: &'static str,
        type_: PgType,
        nullable: Nullability,
        origin: Option<(&'static str, &'static str)>,
    ) -> ColumnInfo {
        ColumnInfo {
            name: Name::new(name),
            type_,
            nullable,
            origin: match origin {
                Some((table, column)) => Some((Name::new(table), Name::new(column))),
                None => None,
            },
        }
    }

    /// The overrides the column's alias carries, and its name without them.
    pub fn alias(&self) -> Alias<'_> {
        Alias::parse(&self.name)
    }

    /// Whether the generated code accepts NULL in this column: the alias's override,
    /// else the inferred [`ColumnInfo::nullable`].
    pub fn nullability_in_code(&self) -> Nullability {
        self.alias().nullability.unwrap_or(self.nullable)
    }
}

/// What a column alias asks for: `"col!"` (never NULL), `"col?"` (may be NULL),
/// `"col: Type"`, `"col!: Type"`, `"col?: Type"`.
///
/// ```
/// use lifeguard_offline::description::{Alias, Nullability};
///
/// let alias = Alias::parse("mood?: crate::Mood");
/// assert_eq!(alias.name, "mood");
/// assert_eq!(alias.nullability, Some(Nullability::Nullable));
/// assert_eq!(alias.rust_type, Some("crate::Mood"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias<'a> {
    /// The name without overrides: the field's name.
    pub name: &'a str,
    /// The nullability `!` ([`Nullability::NotNull`]) or `?` ([`Nullability::Nullable`])
    /// forces.
    pub nullability: Option<Nullability>,
    /// The Rust type after `:`, as written (trimmed).
    pub rust_type: Option<&'a str>,
}

impl<'a> Alias<'a> {
    /// Splits the overrides off a column name.
    pub fn parse(raw: &'a str) -> Alias<'a> {
        let (head, rust_type) = match raw.split_once(':') {
            Some((head, ty)) => (head.trim_end(), Some(ty.trim())),
            None => (raw, None),
        };
        let (name, nullability) = if let Some(name) = head.strip_suffix('!') {
            (name, Some(Nullability::NotNull))
        } else if let Some(name) = head.strip_suffix('?') {
            (name, Some(Nullability::Nullable))
        } else {
            (head, None)
        };
        Alias {
            name,
            nullability,
            rust_type,
        }
    }
}

/// Whether a statement only reads or may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// Reads only: no `ModifyTable` or `LockRows` in the plan and no volatile function;
    /// safe to route to a replica.
    Read,
    /// Writes, locks rows or calls a volatile function.
    Write,
}

/// Everything known about a statement after describing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Description {
    /// Parameter types, `$1` first.
    pub params: Cow<'static, [PgType]>,
    /// Result columns in order.
    pub columns: Cow<'static, [ColumnInfo]>,
    /// The read/write class.
    pub kind: StatementKind,
}

impl Description {
    /// A description in static data.
    pub const fn new(
        params: &'static [PgType],
        columns: &'static [ColumnInfo],
        kind: StatementKind,
    ) -> Description {
        Description {
            params: Cow::Borrowed(params),
            columns: Cow::Borrowed(columns),
            kind,
        }
    }

    /// The description as one string, the form the macros embed in a statement's
    /// descriptor: one string literal costs the compiler far less than the same data
    /// written as `const fn` calls. [`Description::unpack`] reads it back.
    ///
    /// Fields are separated by NUL, which no PostgreSQL name can hold: the class (`r` or
    /// `w`), the number of parameters, each parameter's OID and type name, then six
    /// fields per column: name, type OID, type name, `1` if nullable else `0`, and the
    /// table and column it comes from (both empty for none).
    ///
    /// ```
    /// use lifeguard_offline::description::{ColumnInfo, Description, Nullability, PgType, StatementKind};
    ///
    /// const PARAMS: &[PgType] = &[PgType::new(25, "text")];
    /// const COLUMNS: &[ColumnInfo] = &[ColumnInfo::new(
    ///     "id", PgType::new(23, "int4"), Nullability::NotNull, Some(("users", "id")),
    /// )];
    /// let description = Description::new(PARAMS, COLUMNS, StatementKind::Read);
    /// let packed = description.pack();
    /// assert_eq!(packed, "r\x001\x0025\x00text\x00id\x0023\x00int4\x000\x00users\x00id");
    /// let packed: &'static str = Box::leak(packed.into_boxed_str());
    /// assert_eq!(Description::unpack(packed), Some(description));
    /// ```
    pub fn pack(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(match self.kind {
            StatementKind::Read => "r",
            StatementKind::Write => "w",
        });
        let _ = write!(out, "\0{}", self.params.len());
        for p in self.params.iter() {
            let _ = write!(out, "\0{}\0{}", p.oid, p.name);
        }
        for c in self.columns.iter() {
            let (table, column) = c.origin.map_or(("", ""), |(t, c)| (t.as_str(), c.as_str()));
            let nullable = u8::from(c.nullable == Nullability::Nullable);
            let _ = write!(
                out,
                "\0{}\0{}\0{}\0{nullable}\0{table}\0{column}",
                c.name, c.type_.oid, c.type_.name
            );
        }
        out
    }

    /// Reads what [`Description::pack`] wrote, borrowing every name from `packed`;
    /// `None` if it is not in that form.
    pub fn unpack(packed: &'static str) -> Option<Description> {
        let mut fields = packed.split('\0');
        let kind = match fields.next()? {
            "r" => StatementKind::Read,
            "w" => StatementKind::Write,
            _ => return None,
        };
        let nparams: usize = fields.next()?.parse().ok()?;
        let mut params = Vec::with_capacity(nparams);
        for _ in 0..nparams {
            params.push(PgType::new(fields.next()?.parse().ok()?, fields.next()?));
        }
        let mut columns = Vec::new();
        while let Some(name) = fields.next() {
            let type_ = PgType::new(fields.next()?.parse().ok()?, fields.next()?);
            let nullable = match fields.next()? {
                "1" => Nullability::Nullable,
                "0" => Nullability::NotNull,
                _ => return None,
            };
            let origin = match (fields.next()?, fields.next()?) {
                ("", "") => None,
                (table, column) => Some((table, column)),
            };
            columns.push(ColumnInfo::new(name, type_, nullable, origin));
        }
        Some(Description {
            params: params.into(),
            columns: columns.into(),
            kind,
        })
    }
}

/// The line of `sql` holding a server error's position, and the padding that puts a
/// caret under it; see [`caret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caret<'a> {
    /// The line's number in the SQL, from 1.
    pub line_no: usize,
    /// The line, without its line end.
    pub line: &'a str,
    /// Whitespace as wide as the line's characters before the position (tabs kept, so the
    /// caret lines up under the same characters).
    pub pad: String,
}

/// Where the 1-based character `position` (as the server counts) falls in `sql`; past
/// the end (the server's position for "syntax error at end of input"), the end of the
/// last line. `None` for empty SQL.
///
/// ```
/// let at = lifeguard_offline::description::caret("SELECT id\nFROM nosuch", 16).unwrap();
/// assert_eq!((at.line_no, at.line, at.pad.as_str()), (2, "FROM nosuch", "     "));
/// ```
pub fn caret(sql: &str, position: usize) -> Option<Caret<'_>> {
    let target = sql
        .char_indices()
        .nth(position.saturating_sub(1))
        .map_or(sql.len(), |(i, _)| i);
    let mut start = 0;
    for (i, line) in sql.split_inclusive('\n').enumerate() {
        let end = start + line.len();
        if target < end || end == sql.len() {
            let line = line.trim_end_matches(['\n', '\r']);
            let pad = line[..(target - start).min(line.len())]
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            return Some(Caret {
                line_no: i + 1,
                line,
                pad,
            });
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let a = Alias::parse("id!");
        assert_eq!(
            (a.name, a.nullability, a.rust_type),
            ("id", Some(Nullability::NotNull), None)
        );
        let a = Alias::parse("email?");
        assert_eq!(
            (a.name, a.nullability),
            ("email", Some(Nullability::Nullable))
        );
        let a = Alias::parse("mood: crate::Mood");
        assert_eq!((a.name, a.rust_type), ("mood", Some("crate::Mood")));
        let a = Alias::parse("m!: Mood");
        assert_eq!((a.name, a.nullability), ("m", Some(Nullability::NotNull)));
        assert_eq!(Alias::parse("plain").nullability, None);
    }

    #[test]
    fn overrides_decide_the_code_nullability() {
        let column =
            |name| ColumnInfo::new(name, PgType::new(25, "text"), Nullability::NotNull, None);
        assert_eq!(column("a").nullability_in_code(), Nullability::NotNull);
        assert_eq!(column("a?").nullability_in_code(), Nullability::Nullable);
        assert_eq!(column("a!: T").nullability_in_code(), Nullability::NotNull);
    }

    #[test]
    fn display_names() {
        let arr = PgType::from_type(&Type::INT4_ARRAY);
        assert_eq!(arr.display_name(), "int4[]");
        assert_eq!(PgType::from_type(&Type::TEXT).display_name(), "text");
    }

    #[test]
    fn packed_descriptions_round_trip() {
        let odd = "\"x y\"!: Option<T>\n";
        let description = Description {
            params: vec![PgType::new(23, "int4"), PgType::new(16_385, "citext")].into(),
            columns: vec![
                ColumnInfo::new(odd, PgType::new(25, "text"), Nullability::Nullable, None),
                ColumnInfo::new(
                    "id",
                    PgType::new(23, "int4"),
                    Nullability::NotNull,
                    Some(("users", "id")),
                ),
            ]
            .into(),
            kind: StatementKind::Write,
        };
        let packed: &'static str = Box::leak(description.pack().into_boxed_str());
        assert_eq!(Description::unpack(packed), Some(description));
        let empty = Description::new(&[], &[], StatementKind::Read);
        assert_eq!(
            Description::unpack(Box::leak(empty.pack().into())),
            Some(empty)
        );
    }

    #[test]
    fn malformed_packed_descriptions_are_refused() {
        for bad in [
            "",
            "x\x000",
            "r",
            "r\x00one",
            "r\x001\x0023",
            "r\x000\x00id\x0023\x00int4\x00yes\x00\x00",
            "r\x000\x00id\x0023\x00int4\x000\x00users",
            "r\x000\x00id\x00-1\x00int4\x000\x00\x00",
        ] {
            assert_eq!(Description::unpack(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn static_and_owned_names_are_equal() {
        assert_eq!(PgType::new(23, "int4"), PgType::from_type(&Type::INT4));
    }

    #[test]
    fn carets() {
        let at = |sql, position| {
            let c = caret(sql, position).expect("not empty");
            (c.line_no, c.line, c.pad)
        };
        assert_eq!(
            at("SELECT id\nFROM nosuch\nWHERE id = 1", 16),
            (2, "FROM nosuch", " ".repeat(5))
        );
        assert_eq!(at("SELEC 1", 1), (1, "SELEC 1", String::new()));
        // Past the end.
        assert_eq!(at("SELECT 1 +", 11), (1, "SELECT 1 +", " ".repeat(10)));
        // Characters, not bytes; tabs kept.
        assert_eq!(
            at("SELECT 'é', x", 13),
            (1, "SELECT 'é', x", " ".repeat(12))
        );
        assert_eq!(
            at("SELECT a,\n\tb FROM t\n", 12),
            (2, "\tb FROM t", "\t".into())
        );
        assert_eq!(caret("", 1), None);
    }
}
