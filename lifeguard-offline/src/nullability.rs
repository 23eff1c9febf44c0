//! Column nullability inferred from a `EXPLAIN (VERBOSE, FORMAT JSON)` plan.
//!
//! The rule is conservative: a column is [`Nullability::NotNull`] only when it can be
//! proven so; anything unrecognised is [`Nullability::Nullable`]. Two ways prove it:
//!
//! - the result column's origin (from Describe) is a `NOT NULL` table column, reached
//!   through no nullable side of an outer join (plain columns, also through subqueries
//!   and CTEs);
//! - the expression the plan's root outputs for it is never NULL, by these rules:
//!   literals, `count(..)`, `EXISTS`, `COALESCE` with a non-NULL argument; a column of a
//!   relation the plan scans (a view is planned as its base tables) whose `pg_attribute`
//!   says `NOT NULL`, on no nullable side; `now()`, `CURRENT_TIMESTAMP`,
//!   `CURRENT_DATE` and their kin; window functions that never return NULL
//!   (`row_number`, `rank`, `dense_rank`, `percent_rank`, `cume_dist`, `count`, and
//!   `ntile(n)` of a non-NULL `n`); `CASE` with an `ELSE` whose every result is non-NULL;
//!   the curated strict functions and operators of `rules.rs` over non-NULL operands of
//!   built-in types, and casts to built-in types; `IS [NOT] NULL` and its kin; and a
//!   `UNION [ALL]`, `INTERSECT` or `EXCEPT` whose every arm is non-NULL at that position.
//!
//! A column the catalog vouches for is trusted only where the plan shows it is read:
//! not on the nullable side of any outer join, not under `GROUPING SETS`, and not through
//! a set operation's `Append` (whose output is printed with the first arm's names).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::description::Nullability;

mod expr_text;
mod rules;

use expr_text::{
    bare_ident, call, call_args, case_results, cast, is_literal, literal_cast_types, operator,
    split_column_ref, window_call, wrapped,
};

/// A table column a result column comes from (from `pg_attribute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    /// The table's name.
    pub table: String,
    /// The column's name.
    pub column: String,
    /// `pg_attribute.attnotnull`.
    pub not_null: bool,
    /// Whether the column's type is built into PostgreSQL (`atttypid` below 16384), so
    /// that the built-in operators and functions of the rules apply to it.
    pub builtin_type: bool,
}

/// What the catalog says about the columns of the relations a plan scans, by the plan's
/// `Schema` and `Relation Name` (see [`relations`]); the describer looks them up in
/// `pg_attribute`. `()` knows nothing.
pub trait Catalog {
    /// The column `column` of `schema.relation`, if known.
    fn column(&self, schema: &str, relation: &str, column: &str) -> Option<&TableColumn>;
}

impl Catalog for () {
    fn column(&self, _: &str, _: &str, _: &str) -> Option<&TableColumn> {
        None
    }
}

/// Every relation a plan scans, as `(schema, relation)`, without duplicates: what a
/// [`Catalog`] must know for [`infer`] to use it.
pub fn relations(plan: &Value) -> Vec<(String, String)> {
    fn walk(node: &Value, out: &mut Vec<(String, String)>) {
        match node {
            Value::Object(map) => {
                if let (Some(Value::String(schema)), Some(Value::String(relation))) =
                    (map.get("Schema"), map.get("Relation Name"))
                {
                    let key = (schema.clone(), relation.clone());
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(plan, &mut out);
    out
}

/// Whether any node of the plan (given as the whole EXPLAIN JSON or one node) has one of
/// the `Node Type`s in `types`.
pub fn has_node(plan: &Value, types: &[&str]) -> bool {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(t)) = map.get("Node Type")
                && types.contains(&t.as_str())
            {
                return true;
            }
            map.values().any(|v| has_node(v, types))
        }
        Value::Array(items) => items.iter().any(|v| has_node(v, types)),
        _ => false,
    }
}

/// Infers the nullability of result column `index` from the plan's root node `root`;
/// `table` is the column's table origin from Describe, if any; `catalog` knows the
/// columns of the relations the plan scans.
pub fn infer(
    root: &Value,
    index: usize,
    table: Option<&TableColumn>,
    catalog: &dyn Catalog,
) -> Nullability {
    let mut sides = NullSides::default();
    sides.walk(root, false, 0);
    let judge = Judge {
        sides: &sides,
        catalog,
        node: root,
        appends: 0,
    };
    if origin_not_null(root, index, table, &sides) || judge.output_not_null(index) {
        Nullability::NotNull
    } else {
        Nullability::Nullable
    }
}

/// The first way: the Describe origin of the column (see the module doc).
fn origin_not_null(
    root: &Value,
    index: usize,
    table: Option<&TableColumn>,
    nullable: &NullSides,
) -> bool {
    let Some(expr) = output(root, index) else {
        return false;
    };
    // A parenthesised output refers to an expression computed lower in the plan: by an
    // Aggregate under a Sort, say, or, for a sub-query pulled up from the nullable side of
    // an outer join, below that join (where unmatched rows make it NULL). Judge it only
    // where it is computed above every join.
    let expr = match wrapped(expr.trim()) {
        Some(inner)
            if !nullable.exists_refs.contains(expr.trim())
                && !inner.starts_with("NOT ")
                && !inner.starts_with('-') =>
        {
            if !computed_above_joins(root, inner) {
                return false;
            }
            inner
        }
        _ => expr,
    };
    expr_not_null(expr, table, nullable)
}

/// Output `index` of a plan node.
fn output(node: &Value, index: usize) -> Option<&str> {
    node.get("Output")?.get(index)?.as_str()
}

fn node_type(node: &Value) -> &str {
    node.get("Node Type").and_then(Value::as_str).unwrap_or("")
}

/// A node's children that produce its input (not its InitPlans and SubPlans).
fn inputs(node: &Value) -> Vec<&Value> {
    node.get("Plans")
        .and_then(Value::as_array)
        .map(|plans| {
            plans
                .iter()
                .filter(|c| {
                    !matches!(
                        c.get("Parent Relationship").and_then(Value::as_str),
                        Some("InitPlan" | "SubPlan")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The nodes that merge the arms of a set operation (and partitions).
const APPENDS: [&str; 2] = ["Append", "MergeAppend"];

/// The second way: the expressions of the plan, judged by the rules of the module doc
/// at one node (`node`, under `appends` Append nodes).
struct Judge<'a> {
    sides: &'a NullSides,
    catalog: &'a dyn Catalog,
    node: &'a Value,
    appends: usize,
}

impl<'a> Judge<'a> {
    fn at(&self, node: &'a Value, appends: usize) -> Judge<'a> {
        Judge {
            sides: self.sides,
            catalog: self.catalog,
            node,
            appends,
        }
    }

    /// Whether this node's output `index` is never NULL.
    fn output_not_null(&self, index: usize) -> bool {
        if let Some(all_arms) = self.set_operation(index) {
            return all_arms;
        }
        output(self.node, index).is_some_and(|e| self.not_null(e))
    }

    /// When this node is a set operation (an Append of arms, under nodes that pass its
    /// columns through: Sort, Unique, Limit, the Aggregate or SetOp of UNION, INTERSECT
    /// and EXCEPT), whether every arm's output `index` is never NULL.
    fn set_operation(&self, index: usize) -> Option<bool> {
        let mut node = self.node;
        while !APPENDS.contains(&node_type(node)) {
            let passes = matches!(
                node_type(node),
                "Sort"
                    | "Incremental Sort"
                    | "Limit"
                    | "Unique"
                    | "Aggregate"
                    | "SetOp"
                    | "Materialize"
            );
            match inputs(node).as_slice() {
                [only] if passes => node = only,
                _ => return None,
            }
        }
        let arms = inputs(node);
        let first = arms.first()?;
        // The nodes above print the first arm's names: the column must be the first
        // arm's output at the same position.
        if !std::ptr::eq(node, self.node) {
            let above = output(self.node, index)?;
            if output(first, index) != Some(above) {
                return None;
            }
        }
        Some(
            arms.iter()
                .all(|arm| self.at(arm, self.appends + 1).arm(index)),
        )
    }

    /// One arm of a set operation, as this judge's node.
    fn arm(&self, index: usize) -> bool {
        if let Some(all_arms) = self.set_operation(index) {
            return all_arms;
        }
        // INTERSECT and EXCEPT arms are sub-query scans named "*SELECT* n", whose own
        // columns are their sub-plan's, in order (a constant they compute themselves).
        let alias = self.node.get("Alias").and_then(Value::as_str).unwrap_or("");
        if node_type(self.node) == "Subquery Scan" && alias.starts_with("*SELECT* ") {
            let own = output(self.node, index)
                .and_then(split_column_ref)
                .is_some_and(|(a, _)| a == alias);
            if own {
                return match inputs(self.node).as_slice() {
                    [child] => self.at(child, self.appends).arm(index),
                    _ => false,
                };
            }
        }
        self.output_not_null(index)
    }

    /// Whether `expr`, computed at this node, is never NULL.
    fn not_null(&self, expr: &str) -> bool {
        let e = expr.trim();
        if is_literal(e) || self.sides.exists_refs.contains(e) {
            return true;
        }
        if rules::NEVER_NULL.contains(&e)
            || rules::NEVER_NULL_WITH_PRECISION
                .iter()
                .any(|p| e.starts_with(p) && e.ends_with(')') && !e.contains(' '))
        {
            return true;
        }
        if let Some((name, args)) = window_call(e) {
            return match name {
                "ntile" => matches!(args.as_slice(), [n] if self.operand(n)),
                name => rules::WINDOW_NEVER_NULL.contains(&name),
            };
        }
        if let Some(results) = case_results(e) {
            return results.iter().all(|r| self.not_null(r));
        }
        if let Some((name, args)) = call(e) {
            return match name {
                "count" => !args.is_empty(),
                "COALESCE" => args.iter().any(|a| self.not_null(a)),
                name if rules::STRICT_NOT_NULL.contains(&name) => {
                    !args.is_empty() && args.iter().all(|a| self.operand(a))
                }
                _ => false,
            };
        }
        if let Some(inner) = wrapped(e) {
            if let Some((left, op, right)) = operator(inner) {
                return self.operator_not_null(left, op, right);
            }
            // A reference to an expression a lower node computes: trusted only where
            // that node is above every join (see `origin_not_null`).
            return computed_above_joins(self.node, inner) && self.not_null(inner);
        }
        if let Some((value, ty)) = cast(e) {
            return rules::builtin_type(ty) && self.operand(value);
        }
        self.column(e).is_some_and(|c| c.not_null)
    }

    /// An operand of a strict operator, function or cast: never NULL, and of a
    /// built-in type when it is a literal or a column.
    fn operand(&self, expr: &str) -> bool {
        let e = expr.trim();
        if is_literal(e) {
            return literal_cast_types(e).iter().all(|t| rules::builtin_type(t));
        }
        match self.column(e) {
            Some(c) => c.not_null && c.builtin_type,
            None => self.not_null(e),
        }
    }

    fn operator_not_null(&self, left: &str, op: &str, right: &str) -> bool {
        if rules::NEVER_NULL_OPERATORS.contains(&op) {
            return true;
        }
        if left.is_empty() {
            return rules::STRICT_PREFIX.contains(&op) && self.operand(right);
        }
        rules::STRICT_OPERATORS.contains(&op) && self.operand(left) && self.operand(right)
    }

    /// The catalog's column for a column reference (`alias.column`, or a bare name when
    /// the statement has a single range table entry), where the plan reads it on no
    /// nullable side, outside grouping sets, and not through an Append.
    fn column(&self, expr: &str) -> Option<&TableColumn> {
        let (alias, column) = match split_column_ref(expr) {
            Some(pair) => pair,
            None => {
                let column = bare_ident(expr)?;
                // Names are unqualified only when the statement has one range table
                // entry.
                let [alias] = Vec::from_iter(&self.sides.all_aliases)[..] else {
                    return None;
                };
                (alias.clone(), column)
            }
        };
        if self.sides.grouping_sets || self.sides.aliases.contains(&alias) {
            return None;
        }
        let [scan] = self.sides.scans.get(&alias)?.as_slice() else {
            return None;
        };
        if scan.appends != self.appends {
            return None;
        }
        self.catalog.column(&scan.schema, &scan.relation, &column)
    }
}

/// Where a plan scans a relation under an alias.
struct Scan {
    schema: String,
    relation: String,
    /// How many Append nodes are above the scan.
    appends: usize,
}

/// Aliases and relations found on the nullable side of an outer join, and every alias
/// that scans a base relation directly.
#[derive(Default)]
struct NullSides {
    aliases: HashSet<String>,
    relations: HashSet<String>,
    base_aliases: HashSet<String>,
    all_aliases: HashSet<String>,
    /// References (`$3`, `(SubPlan 2)`) to sub-plans with no output columns: these are
    /// EXISTS tests (PostgreSQL empties an EXISTS sub-query's target list), never NULL.
    exists_refs: HashSet<String>,
    /// GROUPING SETS / ROLLUP / CUBE null out grouped columns in some result rows.
    grouping_sets: bool,
    /// The relations scanned under each alias.
    scans: HashMap<String, Vec<Scan>>,
}

impl NullSides {
    fn walk(&mut self, node: &Value, nullable: bool, appends: usize) {
        let alias = node.get("Alias").and_then(Value::as_str);
        let relation = node.get("Relation Name").and_then(Value::as_str);
        let schema = node.get("Schema").and_then(Value::as_str);
        if let (Some(a), Some(r), Some(s)) = (alias, relation, schema) {
            self.scans.entry(a.to_string()).or_default().push(Scan {
                schema: s.to_string(),
                relation: r.to_string(),
                appends,
            });
        }
        if let Some(a) = alias {
            self.all_aliases.insert(a.to_string());
            if relation.is_some() {
                self.base_aliases.insert(a.to_string());
            }
            if nullable {
                self.aliases.insert(a.to_string());
            }
        }
        if let Some(r) = relation
            && nullable
        {
            self.relations.insert(r.to_string());
        }
        if let Some(name) = node.get("Subplan Name").and_then(Value::as_str) {
            let no_output = node
                .get("Output")
                .and_then(Value::as_array)
                .is_none_or(|o| o.is_empty());
            if no_output {
                self.exists_refs.extend(subplan_refs(name));
            }
        }
        if node.get("Grouping Sets").is_some() {
            self.grouping_sets = true;
        }
        let join = node.get("Join Type").and_then(Value::as_str).unwrap_or("");
        let appends = appends + usize::from(APPENDS.contains(&node_type(node)));
        let Some(children) = node.get("Plans").and_then(Value::as_array) else {
            return;
        };
        for child in children {
            let rel = child
                .get("Parent Relationship")
                .and_then(Value::as_str)
                .unwrap_or("");
            let side = matches!(
                (join, rel),
                ("Left", "Inner") | ("Right", "Outer") | ("Full", _)
            );
            self.walk(child, nullable || side, appends);
        }
    }
}

/// The expressions that refer to a sub-plan's result: `(SubPlan 2)` for "SubPlan 2",
/// `$3` for "InitPlan 4 (returns $3)". Hashed sub-plans are left out: they implement
/// `IN`/`ANY`, which can be NULL.
fn subplan_refs(name: &str) -> Vec<String> {
    if let Some(n) = name.strip_prefix("SubPlan ") {
        return vec![format!("(SubPlan {n})")];
    }
    match name.split_once("(returns ") {
        Some((_, rest)) => {
            let params = rest.trim_end_matches(')');
            // Only a sub-plan returning exactly one parameter.
            if params.contains(',') {
                Vec::new()
            } else {
                vec![params.trim().to_string()]
            }
        }
        None => Vec::new(),
    }
}

fn expr_not_null(expr: &str, table: Option<&TableColumn>, sides: &NullSides) -> bool {
    let expr = expr.trim();
    if is_literal(expr) || sides.exists_refs.contains(expr) {
        return true;
    }
    if let Some(inner) = expr.strip_prefix("(NOT ").and_then(|r| r.strip_suffix(')'))
        && sides.exists_refs.contains(inner.trim())
    {
        return true;
    }
    if let Some(args) = call_args(expr, "count") {
        return !args.is_empty();
    }
    if let Some(args) = call_args(expr, "COALESCE") {
        return args
            .iter()
            .any(|a| expr_not_null(a, None, sides) || is_literal(a.trim()));
    }
    let Some(table) = table else {
        return false;
    };
    if sides.grouping_sets {
        return false;
    }
    let Some((alias, column)) = split_column_ref(expr) else {
        // PostgreSQL leaves column names unqualified when the statement has a single range
        // table entry (one table, or the target of INSERT/UPDATE/DELETE): no outer join
        // is possible at that level, but a hidden subquery or CTE might still hold one.
        return bare_ident(expr).is_some_and(|c| c == table.column)
            && table.not_null
            && sides.aliases.is_empty()
            && !sides.relations.contains(&table.table);
    };
    if !table.not_null || column != table.column || !sides.all_aliases.contains(&alias) {
        return false;
    }
    if sides.aliases.contains(&alias) {
        return false;
    }
    if sides.base_aliases.contains(&alias) {
        return true;
    }
    // A subquery, CTE or function scan alias: the base scan is hidden, so require that
    // the origin table is on no nullable side anywhere in the plan.
    !sides.relations.contains(&table.table)
}

/// Whether `expr` is computed by a node reached from `root` through single-input nodes
/// (Sort, Limit, Unique, Result, an Aggregate's input, ...) without crossing a join: it
/// appears there as is, not in parentheses.
fn computed_above_joins(root: &Value, expr: &str) -> bool {
    let mut node = root;
    loop {
        if node.get("Join Type").is_some() {
            return false;
        }
        let outputs = node.get("Output").and_then(Value::as_array);
        if outputs.is_some_and(|o| o.iter().any(|e| e.as_str() == Some(expr))) {
            return true;
        }
        match inputs(node).as_slice() {
            [only] => node = only,
            _ => return false,
        }
    }
}
