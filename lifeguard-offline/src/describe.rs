//! Describing a statement on a live server: types, column origins, nullability and the
//! read/write class.
//!
//! A [`Describer`] owns one connection and answers each statement in two round trips:
//! Parse + Describe, then one batch with the generic-plan `EXPLAIN`, the column origins
//! from `pg_attribute` and the names of types the client does not know. What it finds
//! is a [`Description`] (see [`crate::description`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use lifeguard_pg::types::Type;
use lifeguard_pg::{Config, Connection, Error, Runtime, SimpleQueryMessage, SimpleRow, Stream};
use serde_json::Value;

use crate::description::{ColumnInfo, Description, Nullability, PgType, StatementKind};
use crate::nullability::{self, TableColumn};

mod sql_text;
use sql_text::{
    called_names, explainable, first_keyword, parameter_count, quote_ident, quote_literal,
};

/// Describes statements on one connection, remembering what does not change between
/// statements (the volatile functions, type names).
///
/// ```no_run
/// use lifeguard_offline::describe::Describer;
///
/// let mut describer = Describer::connect("postgres://postgres@localhost/app")?;
/// let desc = describer.describe("SELECT id, email FROM users WHERE id = $1")?;
/// println!("{:?} -> {:?}", desc.params, desc.columns);
/// # Ok::<(), lifeguard_offline::pg::Error>(())
/// ```
pub struct Describer<S: Stream = lifeguard_pg::Socket> {
    conn: Connection<S>,
    known: Known,
}

/// What a describer looked up once and keeps: volatile function names and the names of
/// types the client does not know.
#[derive(Default)]
struct Known {
    volatile: Option<HashSet<String>>,
    types: HashMap<u32, PgType>,
    /// Every column of the tables seen lately, by table OID: a burst of statements on the
    /// same tables (one crate's compilation) looks each table up once.
    tables: HashMap<u32, (Instant, HashMap<i16, TableColumn>)>,
    /// Every column of the relations plans scanned lately, by schema and name (what the
    /// nullability rules ask about columns inside expressions and views).
    relations: RelationColumns,
}

/// Every column of relations, by schema and relation name, with when they were looked up.
type RelationColumns = HashMap<(String, String), (Instant, HashMap<String, TableColumn>)>;

/// The columns of [`Known::relations`], as the nullability rules ask for them.
struct Relations<'a>(&'a RelationColumns);

impl nullability::Catalog for Relations<'_> {
    fn column(&self, schema: &str, relation: &str, column: &str) -> Option<&TableColumn> {
        self.0
            .get(&(schema.to_string(), relation.to_string()))?
            .1
            .get(column)
    }
}

/// How long looked-up table columns are trusted. Long enough for one crate's burst of
/// statements, short enough that a long-lived process (an IDE's macro server) sees an
/// `ALTER TABLE` on its next expansion.
const TABLE_TTL: Duration = Duration::from_secs(2);

impl Describer {
    /// Connects with std sockets (no coroutine runtime needed) to the database at `url`.
    pub fn connect(url: &str) -> Result<Describer, Error> {
        let config: Config = url.parse()?;
        Ok(Describer::new(Connection::connect_with(
            &config,
            Runtime::Std,
        )?))
    }
}

impl<S: Stream> Describer<S> {
    /// Describes on an open connection.
    pub fn new(conn: Connection<S>) -> Describer<S> {
        Describer {
            conn,
            known: Known::default(),
        }
    }

    /// The connection underneath.
    pub fn connection(&mut self) -> &mut Connection<S> {
        &mut self.conn
    }

    /// The server's version (`server_version`).
    pub fn server_version(&self) -> &str {
        self.conn.parameter("server_version").unwrap_or("")
    }

    /// Describes `sql`: Parse + Describe, `pg_attribute` for table columns, and the
    /// generic plan (`EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) EXECUTE`) for nullability and the
    /// read/write class. Nothing is executed and the statement is dropped afterwards.
    pub fn describe(&mut self, sql: &str) -> Result<Description, Error> {
        describe_with(&mut self.conn, &mut self.known, sql)
    }
}

/// Describes `sql` on `conn` (see [`Describer::describe`]); for many statements keep a
/// [`Describer`], which remembers what it looked up.
pub fn describe<S: Stream>(conn: &mut Connection<S>, sql: &str) -> Result<Description, Error> {
    describe_with(conn, &mut Known::default(), sql)
}

/// Why the `query!` family refuses `sql` without asking a server, or `None`. COPY is
/// refused: its data does not travel as rows and parameters but through the COPY API of
/// an exclusive connection, which the message names. [`Describer::describe`] refuses the
/// same statements with [`Error::Unsupported`] and this message.
///
/// ```
/// use lifeguard_offline::describe::refused;
///
/// assert!(refused("COPY users (id, name) FROM STDIN").unwrap().contains("copy_in"));
/// assert!(refused("/* load */ copy users TO STDOUT").is_some());
/// assert_eq!(refused("SELECT 'COPY'"), None);
/// ```
pub fn refused(sql: &str) -> Option<&'static str> {
    first_keyword(sql)
        .eq_ignore_ascii_case("copy")
        .then_some(COPY_REFUSED)
}

const COPY_REFUSED: &str = "COPY cannot run through the query! family: its data goes through \
     the COPY API of an exclusive connection instead, `pool.acquire()?.copy_in(\"COPY t (a, b) \
     FROM STDIN\")` (write the data, then `.finish()`) or `.copy_out(\"COPY t TO STDOUT\")` \
     (read it); inside a transaction, `tx.connection().copy_in(..)`";

fn describe_with<S: Stream>(
    conn: &mut Connection<S>,
    known: &mut Known,
    sql: &str,
) -> Result<Description, Error> {
    if let Some(why) = refused(sql) {
        return Err(Error::Unsupported(why.to_string()));
    }
    // Parse + Describe and the plan batch go out in one write; the batch needs the
    // parameter count, counted from the SQL text.
    let guess = explainable(sql).then(|| parameter_count(sql));
    let (described, batch) = conn.describe_then(sql, |name| plan_batch(name, guess))?;
    // When Parse failed, the batch failed too: there is no statement to drop.
    let stmt = described?;
    let plan_rows = match (guess, batch) {
        (None, batch) => {
            batch?;
            None
        }
        (Some(_), Ok(rows)) => Some(rows),
        // A wrong count (or any EXPLAIN error) rolled the batch back, DEALLOCATE included:
        // run it again with the count the server found.
        (Some(_), Err(_)) => {
            let batch = plan_batch(stmt.name(), Some(stmt.params().len()));
            match conn.simple_query(&batch) {
                Ok(rows) => Some(rows),
                Err(e) => {
                    conn.batch_execute(&format!("DEALLOCATE {}", quote_ident(stmt.name())))?;
                    return Err(e);
                }
            }
        }
    };
    known.describe_prepared(conn, &stmt, plan_rows)
}

/// One simple query (one implicit transaction, so the `SET LOCAL` ends with it): the
/// generic-plan EXPLAIN of statement `name` with `nparams` NULL arguments, when it has a
/// plan, and `DEALLOCATE`.
fn plan_batch(name: &str, nparams: Option<usize>) -> String {
    let deallocate = format!("DEALLOCATE {}", quote_ident(name));
    match nparams {
        Some(n) => format!(
            "SET LOCAL plan_cache_mode = force_generic_plan;{};{deallocate}",
            explain_sql(name, n)
        ),
        None => deallocate,
    }
}

impl Known {
    fn describe_prepared<S: Stream>(
        &mut self,
        conn: &mut Connection<S>,
        stmt: &lifeguard_pg::Statement,
        plan_rows: Option<Vec<SimpleQueryMessage>>,
    ) -> Result<Description, Error> {
        let plan = plan_rows.map(parse_plan).transpose()?;
        let unknown: Vec<u32> = stmt
            .params()
            .iter()
            .chain(stmt.columns().iter().map(|c| c.type_()))
            .map(Type::oid)
            .filter(|oid| Type::from_oid(*oid).is_none() && !self.types.contains_key(oid))
            .collect();
        let relations_sql = plan.as_ref().and_then(|(p, _)| self.stale_relations_sql(p));
        let lookups = Lookups::run(
            conn,
            self.stale_tables_sql(stmt).as_deref(),
            (!unknown.is_empty())
                .then(|| types_sql(&unknown))
                .as_deref(),
            relations_sql.as_deref(),
        )?;
        for (oid, ty) in lookups.types {
            self.types.insert(oid, ty);
        }
        let now = Instant::now();
        for ((table, id), column) in lookups.columns {
            let entry = self
                .tables
                .entry(table)
                .or_insert_with(|| (now, HashMap::new()));
            entry.0 = now;
            entry.1.insert(id, column);
        }
        for (schema, relation, column) in lookups.relation_columns {
            let entry = self
                .relations
                .entry((schema, relation))
                .or_insert_with(|| (now, HashMap::new()));
            entry.0 = now;
            entry.1.insert(column.column.clone(), column);
        }
        let kind = match &plan {
            None => StatementKind::Write,
            Some((plan, text)) => self.classify(conn, plan, text)?,
        };

        let root = plan
            .as_ref()
            .and_then(|(p, _)| p.get(0))
            .and_then(|p| p.get("Plan"));
        let columns = stmt
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let tc = match (c.table_oid(), c.column_id()) {
                    (Some(oid), Some(id)) if oid != 0 && id > 0 => {
                        self.tables.get(&oid).and_then(|(_, cols)| cols.get(&id))
                    }
                    _ => None,
                };
                let nullable = match root {
                    Some(root) => nullability::infer(root, i, tc, &Relations(&self.relations)),
                    // No plan (DDL and the like): only the table's NOT NULL can be trusted.
                    None if tc.is_some_and(|t| t.not_null) => Nullability::NotNull,
                    None => Nullability::Nullable,
                };
                ColumnInfo {
                    name: c.name().into(),
                    type_: self.pg_type(c.type_()),
                    nullable,
                    origin: tc.map(|t| (t.table.as_str().into(), t.column.as_str().into())),
                }
            })
            .collect();

        Ok(Description {
            params: stmt.params().iter().map(|t| self.pg_type(t)).collect(),
            columns,
            kind,
        })
    }

    /// The catalog query for every column of the tables the statement's columns come
    /// from, unless they were looked up within [`TABLE_TTL`]. Index probes of
    /// pg_attribute, no join: planning a join costs more than the lookups.
    fn stale_tables_sql(&mut self, stmt: &lifeguard_pg::Statement) -> Option<String> {
        let now = Instant::now();
        self.tables
            .retain(|_, (at, _)| now.duration_since(*at) < TABLE_TTL);
        let mut stale: Vec<u32> = stmt
            .columns()
            .iter()
            .filter_map(|c| c.table_oid().filter(|oid| *oid != 0))
            .filter(|oid| !self.tables.contains_key(oid))
            .collect();
        stale.sort_unstable();
        stale.dedup();
        if stale.is_empty() {
            return None;
        }
        let list: Vec<String> = stale.iter().map(u32::to_string).collect();
        Some(format!(
            "SELECT attrelid::int8, attnum, attnotnull, \
             (SELECT relname FROM pg_class WHERE oid = attrelid), attname, atttypid < 16384 \
             FROM pg_attribute WHERE attrelid IN ({}) AND attnum > 0 AND NOT attisdropped",
            list.join(",")
        ))
    }

    /// The catalog query for every column of the relations the plan scans, unless they
    /// were looked up within [`TABLE_TTL`]: one `UNION ALL` arm per relation, each an
    /// index probe of pg_attribute by `regclass`.
    fn stale_relations_sql(&mut self, plan: &Value) -> Option<String> {
        let now = Instant::now();
        self.relations
            .retain(|_, (at, _)| now.duration_since(*at) < TABLE_TTL);
        let arms: Vec<String> = nullability::relations(plan)
            .into_iter()
            .filter(|key| !self.relations.contains_key(key))
            .map(|(schema, relation)| {
                let name = format!("{}.{}", quote_ident(&schema), quote_ident(&relation));
                format!(
                    "SELECT {}, {}, attname, attnotnull, atttypid < 16384 FROM pg_attribute \
                     WHERE attrelid = {}::regclass AND attnum > 0 AND NOT attisdropped",
                    quote_literal(&schema),
                    quote_literal(&relation),
                    quote_literal(&name)
                )
            })
            .collect();
        (!arms.is_empty()).then(|| arms.join(" UNION ALL "))
    }

    fn pg_type(&self, ty: &Type) -> PgType {
        match Type::from_oid(ty.oid()) {
            Some(known) => PgType::from_type(&known),
            None => self.types.get(&ty.oid()).cloned().unwrap_or(PgType {
                oid: ty.oid(),
                name: ty.name().into(),
            }),
        }
    }

    /// Read/write class from the plan.
    ///
    /// Write if the plan has a `ModifyTable` or `LockRows` node. Volatile functions are
    /// found by a heuristic: the plan JSON is searched for `name(` for every function
    /// name with `pg_proc.provolatile = 'v'`. A user function that shares its name with
    /// a volatile one (in any schema) makes the statement a write; that errs on the safe
    /// side (a write runs on the primary). A volatile function only reached through a
    /// view body or another function's body is not seen.
    fn classify<S: Stream>(
        &mut self,
        conn: &mut Connection<S>,
        plan: &Value,
        text: &str,
    ) -> Result<StatementKind, Error> {
        if nullability::has_node(plan, &["ModifyTable", "LockRows"]) {
            return Ok(StatementKind::Write);
        }
        let volatile = match &mut self.volatile {
            Some(names) => names,
            empty => {
                let mut names = HashSet::new();
                for m in conn
                    .simple_query("SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v'")?
                {
                    if let SimpleQueryMessage::Row(r) = m
                        && let Some(name) = r.get(0)
                    {
                        names.insert(name.to_string());
                    }
                }
                empty.insert(names)
            }
        };
        Ok(if called_names(text).any(|n| volatile.contains(n)) {
            StatementKind::Write
        } else {
            StatementKind::Read
        })
    }
}

/// The plan batch's EXPLAIN output, parsed, with its JSON text.
fn parse_plan(rows: Vec<SimpleQueryMessage>) -> Result<(Value, String), Error> {
    // Results: SET, EXPLAIN, DEALLOCATE.
    let text: String = split_results(rows)
        .into_iter()
        .nth(1)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get(0))
        .collect();
    let plan = serde_json::from_str(&text)
        .map_err(|e| Error::Protocol(format!("EXPLAIN returned a plan that is not JSON: {e}")))?;
    Ok((plan, text))
}

/// What the catalog lookups found: table columns, the names of unknown types, and the
/// columns of the relations a plan scans (with their schema and relation).
#[derive(Default)]
struct Lookups {
    columns: HashMap<(u32, i16), TableColumn>,
    types: Vec<(u32, PgType)>,
    relation_columns: Vec<(String, String, TableColumn)>,
}

impl Lookups {
    /// Runs the lookups that are needed, as one simple query (none: no round trip).
    fn run<S: Stream>(
        conn: &mut Connection<S>,
        columns_sql: Option<&str>,
        types_sql: Option<&str>,
        relations_sql: Option<&str>,
    ) -> Result<Lookups, Error> {
        let sql: Vec<&str> = [columns_sql, types_sql, relations_sql]
            .into_iter()
            .flatten()
            .collect();
        if sql.is_empty() {
            return Ok(Lookups::default());
        }
        let mut results = split_results(conn.simple_query(&sql.join(";"))?).into_iter();
        let columns = columns_sql
            .and_then(|_| results.next())
            .unwrap_or_default()
            .iter()
            .map(|row| {
                let oid: u32 = row.get(0).and_then(|s| s.parse().ok()).unwrap_or(0);
                let id: i16 = row.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                let column = TableColumn {
                    not_null: row.get(2) == Some("t"),
                    table: row.get(3).unwrap_or_default().to_string(),
                    column: row.get(4).unwrap_or_default().to_string(),
                    builtin_type: row.get(5) == Some("t"),
                };
                ((oid, id), column)
            })
            .collect();
        let types = types_sql
            .and_then(|_| results.next())
            .unwrap_or_default()
            .iter()
            .map(|row| {
                let oid: u32 = row.get(0).and_then(|s| s.parse().ok()).unwrap_or(0);
                let base: u32 = row.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
                let ty = match Type::from_oid(base) {
                    Some(base) => PgType::from_type(&base),
                    None => PgType {
                        oid: base,
                        name: row.get(1).unwrap_or_default().into(),
                    },
                };
                (oid, ty)
            })
            .collect();
        let relation_columns = relations_sql
            .and_then(|_| results.next())
            .unwrap_or_default()
            .iter()
            .map(|row| {
                let text = |i| row.get(i).unwrap_or_default().to_string();
                let column = TableColumn {
                    table: text(1),
                    column: text(2),
                    not_null: row.get(3) == Some("t"),
                    builtin_type: row.get(4) == Some("t"),
                };
                (text(0), text(1), column)
            })
            .collect();
        Ok(Lookups {
            columns,
            types,
            relation_columns,
        })
    }
}

/// The rows of each statement of a simple query, in order.
fn split_results(msgs: Vec<SimpleQueryMessage>) -> Vec<Vec<SimpleRow>> {
    let mut out = vec![Vec::new()];
    for m in msgs {
        match m {
            SimpleQueryMessage::Row(r) => out.last_mut().expect("never empty").push(r),
            SimpleQueryMessage::CommandComplete(_) => out.push(Vec::new()),
            _ => {}
        }
    }
    out
}

fn explain_sql(name: &str, nparams: usize) -> String {
    let args = if nparams == 0 {
        String::new()
    } else {
        format!("({})", vec!["NULL"; nparams].join(", "))
    };
    format!(
        "EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) EXECUTE {}{args}",
        quote_ident(name)
    )
}

/// The catalog query for types the client does not know: the name, and for a domain
/// (followed down to its base) the base type.
fn types_sql(oids: &[u32]) -> String {
    let list = oids
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "WITH RECURSIVE d(start, oid) AS ( \
           SELECT oid, oid FROM pg_type WHERE oid IN ({list}) \
           UNION ALL SELECT d.start, t.typbasetype FROM d JOIN pg_type t ON t.oid = d.oid \
           WHERE t.typtype = 'd') \
         SELECT d.start::int8, t.typname, t.oid::int8 FROM d JOIN pg_type t ON t.oid = d.oid \
         WHERE t.typtype <> 'd'"
    )
}
