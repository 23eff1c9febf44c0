//! The file format of one `.lifeguard/` entry: [`Entry`] to and from its JSON text,
//! strict on reading (see the module doc of `store`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::description::{ColumnInfo, Description, Nullability, PgType, StatementKind};

/// The version of the file format this build reads and writes.
pub const FORMAT: u32 = 1;

/// One statement's offline metadata: the contents of one file.
///
/// ```
/// use lifeguard_offline::description::{Description, StatementKind};
/// use lifeguard_offline::store::Entry;
///
/// let entry = Entry {
///     sql: "SELECT 1".to_string(),
///     description: Description::new(&[], &[], StatementKind::Read),
///     server_version: "15.10".to_string(),
/// };
/// let text = entry.to_json();
/// assert_eq!(Entry::from_json(&text), Ok(entry));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The statement's text, exactly as the macro sees it.
    pub sql: String,
    /// Parameter and column types, nullability and the read/write class.
    pub description: Description,
    /// The `server_version` of the server it was described on (informational).
    pub server_version: String,
}

impl Entry {
    /// The file's text: pretty-printed JSON in a fixed key order, ending with a newline.
    pub fn to_json(&self) -> String {
        let d = &self.description;
        let mut out = String::from("{\n");
        out.push_str(&format!("  \"format\": {FORMAT},\n"));
        out.push_str(&format!("  \"sql\": {},\n", string(&self.sql)));
        let params: Vec<String> = d.params.iter().map(type_json).collect();
        out.push_str(&format!("  \"params\": {},\n", lines(&params)));
        let columns: Vec<String> = d.columns.iter().map(column_json).collect();
        out.push_str(&format!("  \"columns\": {},\n", lines(&columns)));
        let kind = match d.kind {
            StatementKind::Read => "read",
            StatementKind::Write => "write",
        };
        out.push_str(&format!("  \"kind\": \"{kind}\",\n"));
        out.push_str(&format!(
            "  \"server_version\": {}\n",
            string(&self.server_version)
        ));
        out.push_str("}\n");
        out
    }

    /// Parses a file's text; the error says precisely what is wrong (e.g.
    /// "`columns[1].nullable` must be true or false", "unknown format 7 (this build reads
    /// format 1)").
    ///
    /// ```
    /// use lifeguard_offline::store::Entry;
    ///
    /// let err = Entry::from_json(r#"{ "format": 7 }"#).unwrap_err();
    /// assert_eq!(err, "unknown format 7 (this build reads format 1)");
    /// ```
    pub fn from_json(text: &str) -> Result<Entry, String> {
        if let Some((sql, description, server_version)) = super::canonical::read(text, FORMAT) {
            return Ok(Entry {
                sql,
                description,
                server_version,
            });
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let top = Obj::new(&value, "")?;
        let format = top.get("format")?;
        match format.as_u64() {
            Some(n) if n == u64::from(FORMAT) => {}
            Some(n) => {
                return Err(format!(
                    "unknown format {n} (this build reads format {FORMAT})"
                ));
            }
            None => return Err("`format` must be a whole number".to_string()),
        }
        top.only(&[
            "format",
            "sql",
            "params",
            "columns",
            "kind",
            "server_version",
        ])?;
        let params = top.each("params", parse_type)?;
        let columns = top.each("columns", parse_column)?;
        let kind = match top.get("kind")?.as_str() {
            Some("read") => StatementKind::Read,
            Some("write") => StatementKind::Write,
            _ => return Err("`kind` must be \"read\" or \"write\"".to_string()),
        };
        Ok(Entry {
            sql: top.string("sql")?,
            description: Description {
                params: params.into(),
                columns: columns.into(),
                kind,
            },
            server_version: top.string("server_version")?,
        })
    }

    /// Equal in everything a build depends on (ignores `server_version`).
    pub fn same_metadata(&self, other: &Entry) -> bool {
        self.sql == other.sql && self.description == other.description
    }
}

/// A JSON string literal, escaped as `serde_json` escapes it (`"`, `\\`, and control
/// characters; `\u00xx` for those without a short form), written directly: the macros
/// write an entry per statement, and a `serde_json::Value` per string costs more than the
/// rest of the file.
pub(super) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array with one element a line (`[]` when empty).
fn lines(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_string();
    }
    format!("[\n    {}\n  ]", items.join(",\n    "))
}

fn type_json(t: &PgType) -> String {
    format!("{{ \"oid\": {}, \"name\": {} }}", t.oid, string(&t.name))
}

fn column_json(c: &ColumnInfo) -> String {
    let origin = match &c.origin {
        Some((table, column)) => format!(
            "{{ \"table\": {}, \"column\": {} }}",
            string(table),
            string(column)
        ),
        None => "null".to_string(),
    };
    format!(
        "{{ \"name\": {}, \"type\": {}, \"nullable\": {}, \"origin\": {origin} }}",
        string(&c.name),
        type_json(&c.type_),
        c.nullable == Nullability::Nullable
    )
}

fn parse_type(value: &Value, path: &str) -> Result<PgType, String> {
    let obj = Obj::new(value, path)?;
    obj.only(&["oid", "name"])?;
    Ok(PgType {
        oid: obj.oid("oid")?,
        name: obj.string("name")?.into(),
    })
}

fn parse_column(value: &Value, path: &str) -> Result<ColumnInfo, String> {
    let obj = Obj::new(value, path)?;
    obj.only(&["name", "type", "nullable", "origin"])?;
    let nullable = match obj.get("nullable")?.as_bool() {
        Some(true) => Nullability::Nullable,
        Some(false) => Nullability::NotNull,
        None => return Err(format!("{} must be true or false", obj.field("nullable"))),
    };
    let origin = match obj.get("origin")? {
        Value::Null => None,
        v => {
            let origin_path = format!("{path}.origin");
            let origin = Obj::new(v, &origin_path)
                .map_err(|_| format!("{} must be null or an object", obj.field("origin")))?;
            origin.only(&["table", "column"])?;
            Some((
                origin.string("table")?.into(),
                origin.string("column")?.into(),
            ))
        }
    };
    Ok(ColumnInfo {
        name: obj.string("name")?.into(),
        type_: parse_type(obj.get("type")?, &format!("{path}.type"))?,
        nullable,
        origin,
    })
}

/// A JSON object being read, with its path in the file for messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, path: &'a str) -> Result<Obj<'a>, String> {
        match value.as_object() {
            Some(map) => Ok(Obj { map, path }),
            None if path.is_empty() => Err("the file must hold a JSON object".to_string()),
            None => Err(format!("`{path}` must be an object")),
        }
    }

    /// `` `path.key` `` for messages.
    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            format!("`{key}`")
        } else {
            format!("`{}.{key}`", self.path)
        }
    }

    /// Rejects keys other than `known`.
    fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown key {}", self.field(k))),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Result<&'a Value, String> {
        self.map
            .get(key)
            .ok_or_else(|| format!("{} is missing", self.field(key)))
    }

    fn string(&self, key: &str) -> Result<String, String> {
        match self.get(key)?.as_str() {
            Some(s) => Ok(s.to_string()),
            None => Err(format!("{} must be a string", self.field(key))),
        }
    }

    fn array(&self, key: &str) -> Result<&'a Vec<Value>, String> {
        self.get(key)?
            .as_array()
            .ok_or_else(|| format!("{} must be an array", self.field(key)))
    }

    /// Parses each element of the array at `key` with `parse`, naming it `key[i]`.
    fn each<T>(
        &self,
        key: &str,
        parse: fn(&Value, &str) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| parse(v, &format!("{key}[{i}]")))
            .collect()
    }

    fn oid(&self, key: &str) -> Result<u32, String> {
        self.get(key)?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "{} must be a type OID (a whole number from 0 to {})",
                    self.field(key),
                    u32::MAX
                )
            })
    }
}
