//! Describing a statement on a live server: types, column origins, nullability and the
//! read/write class.

use std::collections::HashMap;

use lifeguard_pg::types::Type;
use lifeguard_pg::{Connection, Error, SimpleQueryMessage, Stream};
use serde_json::Value;

use crate::nullability::{self, TableColumn};

/// Whether a result column can hold NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nullability {
    /// The column is never NULL.
    NotNull,
    /// The column may be NULL (the conservative answer).
    Nullable,
}

/// One result column of a described statement.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    /// The column's name as the server reports it.
    pub name: String,
    /// The column's type.
    pub type_: Type,
    /// Whether the column can be NULL.
    pub nullable: Nullability,
    /// The table and column it comes from, when it is a plain table column.
    pub origin: Option<(String, String)>,
}

/// Whether a statement only reads or may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Reads only: safe to route to a replica.
    Read,
    /// Writes, locks rows or calls a volatile function.
    Write,
}

/// Everything known about a statement after describing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Parameter types, `$1` first.
    pub params: Vec<Type>,
    /// Result columns in order.
    pub columns: Vec<ColumnInfo>,
    /// The read/write class.
    pub kind: StatementKind,
}

/// Describes `sql` on `conn`: Parse + Describe, `pg_attribute` for table columns, and the
/// generic plan (`EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE`) for nullability and the class.
pub fn describe<S: Stream>(conn: &mut Connection<S>, sql: &str) -> Result<Description, Error> {
    let stmt = conn.describe(sql, &[])?;
    let result = describe_prepared(conn, sql, &stmt);
    // The named statement is not cached by the client: always drop it on the server.
    let dealloc = conn.batch_execute(&format!("DEALLOCATE {}", quote_ident(stmt.name())));
    let desc = result?;
    dealloc?;
    Ok(desc)
}

fn describe_prepared<S: Stream>(
    conn: &mut Connection<S>,
    sql: &str,
    stmt: &lifeguard_pg::Statement,
) -> Result<Description, Error> {
    let table_cols = table_columns(conn, stmt)?;
    let plan = if explainable(sql) {
        Some(explain(conn, stmt.name(), stmt.params().len())?)
    } else {
        None
    };

    let kind = match &plan {
        None => StatementKind::Write,
        Some(plan) => classify(conn, plan)?,
    };

    let root = plan
        .as_ref()
        .and_then(|p| p.get(0))
        .and_then(|p| p.get("Plan"));
    let columns = stmt
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let tc = match (c.table_oid(), c.column_id()) {
                (Some(oid), Some(id)) if oid != 0 && id > 0 => table_cols.get(&(oid, id)),
                _ => None,
            };
            let nullable = match root {
                Some(root) => nullability::infer(root, i, tc),
                // No plan (DDL and the like): only the table's NOT NULL can be trusted.
                None if tc.is_some_and(|t| t.not_null) => Nullability::NotNull,
                None => Nullability::Nullable,
            };
            ColumnInfo {
                name: c.name().to_string(),
                type_: c.type_().clone(),
                nullable,
                origin: tc.map(|t| (t.table.clone(), t.column.clone())),
            }
        })
        .collect();

    Ok(Description {
        params: stmt.params().to_vec(),
        columns,
        kind,
    })
}

/// Looks up all table-column origins of the statement's columns in one query.
fn table_columns<S: Stream>(
    conn: &mut Connection<S>,
    stmt: &lifeguard_pg::Statement,
) -> Result<HashMap<(u32, i16), TableColumn>, Error> {
    let pairs: Vec<String> = stmt
        .columns()
        .iter()
        .filter_map(|c| match (c.table_oid(), c.column_id()) {
            (Some(oid), Some(id)) if oid != 0 && id > 0 => Some(format!("({oid}::oid,{id}::int2)")),
            _ => None,
        })
        .collect();
    let mut out = HashMap::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT a.attrelid::int8, a.attnum, a.attnotnull, c.relname, a.attname \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         WHERE (a.attrelid, a.attnum) IN ({})",
        pairs.join(",")
    );
    for msg in conn.simple_query(&sql)? {
        if let SimpleQueryMessage::Row(row) = msg {
            let oid: u32 = row.get(0).and_then(|s| s.parse().ok()).unwrap_or(0);
            let id: i16 = row.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            out.insert(
                (oid, id),
                TableColumn {
                    not_null: row.get(2) == Some("t"),
                    table: row.get(3).unwrap_or_default().to_string(),
                    column: row.get(4).unwrap_or_default().to_string(),
                },
            );
        }
    }
    Ok(out)
}

/// Runs the generic-plan EXPLAIN of the named statement and parses its JSON.
fn explain<S: Stream>(
    conn: &mut Connection<S>,
    name: &str,
    nparams: usize,
) -> Result<Value, Error> {
    conn.batch_execute("SET plan_cache_mode = force_generic_plan")?;
    let args = if nparams == 0 {
        String::new()
    } else {
        format!("({})", vec!["NULL"; nparams].join(", "))
    };
    let res = conn.simple_query(&format!(
        "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {}{args}",
        quote_ident(name)
    ));
    let reset = conn.batch_execute("RESET plan_cache_mode");
    let msgs = res?;
    reset?;
    let text: String = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Read/write class from the plan.
///
/// Write if the plan has a `ModifyTable` or `LockRows` node. Volatile functions are found
/// by a heuristic: the whole plan JSON is searched for `name(` for every function name
/// with `pg_proc.provolatile = 'v'`. A user function that shares its name with a volatile
/// one (in any schema) makes the statement a write; that errs on the safe side (a write
/// runs on the primary). A volatile function only reached through a view body or another
/// function's body is not seen.
fn classify<S: Stream>(conn: &mut Connection<S>, plan: &Value) -> Result<StatementKind, Error> {
    if nullability::has_node(plan, &["ModifyTable", "LockRows"]) {
        return Ok(StatementKind::Write);
    }
    let text = plan.to_string();
    let msgs = conn.simple_query("SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v'")?;
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m
            && let Some(name) = r.get(0)
            && mentions_call(&text, name)
        {
            return Ok(StatementKind::Write);
        }
    }
    Ok(StatementKind::Read)
}

fn mentions_call(text: &str, name: &str) -> bool {
    let pat = format!("{name}(");
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(pos) = text[start..].find(&pat) {
        let at = start + pos;
        let boundary = at == 0 || {
            let b = bytes[at - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        if boundary {
            return true;
        }
        start = at + 1;
    }
    false
}

/// Whether EXPLAIN accepts this statement (by its first keyword).
fn explainable(sql: &str) -> bool {
    let word = first_keyword(sql).to_ascii_lowercase();
    matches!(
        word.as_str(),
        "select" | "insert" | "update" | "delete" | "values" | "with" | "table" | "merge"
    )
}

fn first_keyword(sql: &str) -> &str {
    let mut s = sql;
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix('(') {
            s = rest;
        } else {
            break;
        }
    }
    let end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    &s[..end]
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
