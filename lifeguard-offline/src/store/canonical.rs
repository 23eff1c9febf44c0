//! The fast way to read an entry: files in exactly the layout `Entry::to_json` writes
//! (which is every file the macros and `cargo lifeguard prepare` write) are read by a
//! cursor over that layout, without building a JSON value. Any other text, valid or
//! not, gets `None`, and the strict parser in `format.rs` reads it and names what is
//! wrong. The macros read one entry per statement offline, in a proc macro built without
//! optimisation, where a general JSON parser costs more than the rest of the expansion.

use crate::description::{ColumnInfo, Description, Nullability, PgType, StatementKind};

/// An entry's SQL, description and server version, if `text` is laid out exactly as
/// `Entry::to_json` writes an entry of format `format`.
pub(super) fn read(text: &str, format: u32) -> Option<(String, Description, String)> {
    let mut c = Cursor(text);
    c.expect("{\n  \"format\": ")?;
    if c.number()? != u64::from(format) {
        return None;
    }
    c.expect(",\n  \"sql\": ")?;
    let sql = c.string()?;
    c.expect(",\n  \"params\": ")?;
    let params = c.lines(Cursor::pg_type)?;
    c.expect(",\n  \"columns\": ")?;
    let columns = c.lines(Cursor::column)?;
    c.expect(",\n  \"kind\": ")?;
    let kind = match c.string()?.as_str() {
        "read" => StatementKind::Read,
        "write" => StatementKind::Write,
        _ => return None,
    };
    c.expect(",\n  \"server_version\": ")?;
    let server_version = c.string()?;
    c.expect("\n}\n")?;
    let description = Description {
        params: params.into(),
        columns: columns.into(),
        kind,
    };
    c.0.is_empty().then_some((sql, description, server_version))
}

/// The text not read yet.
struct Cursor<'a>(&'a str);

impl Cursor<'_> {
    fn expect(&mut self, text: &str) -> Option<()> {
        self.0 = self.0.strip_prefix(text)?;
        Some(())
    }

    /// `[]`, or one item a line: `[\n    a,\n    b\n  ]`.
    fn lines<T>(&mut self, item: fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut items = Vec::new();
        if self.expect("[]").is_some() {
            return Some(items);
        }
        self.expect("[\n    ")?;
        loop {
            items.push(item(self)?);
            if self.expect(",\n    ").is_none() {
                self.expect("\n  ]")?;
                return Some(items);
            }
        }
    }

    /// `{ "oid": 23, "name": "int4" }`.
    fn pg_type(&mut self) -> Option<PgType> {
        self.expect("{ \"oid\": ")?;
        let oid = u32::try_from(self.number()?).ok()?;
        self.expect(", \"name\": ")?;
        let name = self.string()?;
        self.expect(" }")?;
        Some(PgType {
            oid,
            name: name.into(),
        })
    }

    /// `{ "name": .., "type": { .. }, "nullable": false, "origin": null }`, the origin
    /// being `null` or `{ "table": .., "column": .. }`.
    fn column(&mut self) -> Option<ColumnInfo> {
        self.expect("{ \"name\": ")?;
        let name = self.string()?;
        self.expect(", \"type\": ")?;
        let type_ = self.pg_type()?;
        self.expect(", \"nullable\": ")?;
        let nullable = if self.expect("true").is_some() {
            Nullability::Nullable
        } else {
            self.expect("false")?;
            Nullability::NotNull
        };
        self.expect(", \"origin\": ")?;
        let origin = if self.expect("null").is_some() {
            None
        } else {
            self.expect("{ \"table\": ")?;
            let table = self.string()?;
            self.expect(", \"column\": ")?;
            let column = self.string()?;
            self.expect(" }")?;
            Some((table.into(), column.into()))
        };
        self.expect(" }")?;
        Some(ColumnInfo {
            name: name.into(),
            type_,
            nullable,
            origin,
        })
    }

    /// Decimal digits without a sign, fraction or leading zero, as `to_json` writes them.
    fn number(&mut self) -> Option<u64> {
        let end = self
            .0
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(self.0.len());
        let digits = &self.0[..end];
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        self.0 = &self.0[end..];
        digits.parse().ok()
    }

    /// A JSON string with only the escapes `to_json` writes (`\"`, `\\`, `\n`, `\r`,
    /// `\t`, `\b`, `\f`, and `\u00xx` for the other control characters).
    fn string(&mut self) -> Option<String> {
        self.expect("\"")?;
        let mut out = String::new();
        loop {
            let plain = self
                .0
                .bytes()
                .position(|b| b == b'"' || b == b'\\' || b < b' ')?;
            out.push_str(&self.0[..plain]);
            let rest = &self.0[plain..];
            let (unescaped, len) = match rest.as_bytes() {
                [b'"', ..] => {
                    self.0 = &rest[1..];
                    return Some(out);
                }
                [b'\\', b'"', ..] => ('"', 2),
                [b'\\', b'\\', ..] => ('\\', 2),
                [b'\\', b'n', ..] => ('\n', 2),
                [b'\\', b'r', ..] => ('\r', 2),
                [b'\\', b't', ..] => ('\t', 2),
                [b'\\', b'b', ..] => ('\u{8}', 2),
                [b'\\', b'f', ..] => ('\u{c}', 2),
                [b'\\', b'u', b'0', b'0', hi, lo, ..] => {
                    let code =
                        u8::from_str_radix(std::str::from_utf8(&[*hi, *lo]).ok()?, 16).ok()?;
                    if code >= b' ' {
                        return None;
                    }
                    (char::from(code), 6)
                }
                _ => return None,
            };
            out.push(unescaped);
            self.0 = &rest[len..];
        }
    }
}
