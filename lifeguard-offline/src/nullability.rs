//! Column nullability inferred from a `EXPLAIN (VERBOSE, FORMAT JSON)` plan.
//!
//! The rule is conservative: a column is [`Nullability::NotNull`] only when it can be
//! proven so; anything unrecognised is [`Nullability::Nullable`].

use std::collections::HashSet;

use serde_json::Value;

use crate::description::Nullability;

/// A table column a result column comes from (from `pg_attribute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    /// The table's name.
    pub table: String,
    /// The column's name.
    pub column: String,
    /// `pg_attribute.attnotnull`.
    pub not_null: bool,
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
/// `table` is the column's table origin from Describe, if any.
pub fn infer(root: &Value, index: usize, table: Option<&TableColumn>) -> Nullability {
    let Some(expr) = root
        .get("Output")
        .and_then(|o| o.get(index))
        .and_then(Value::as_str)
    else {
        return Nullability::Nullable;
    };
    let mut nullable = NullSides::default();
    nullable.walk(root, false);
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
                return Nullability::Nullable;
            }
            inner
        }
        _ => expr,
    };
    if expr_not_null(expr, table, &nullable) {
        Nullability::NotNull
    } else {
        Nullability::Nullable
    }
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
}

impl NullSides {
    fn walk(&mut self, node: &Value, nullable: bool) {
        let alias = node.get("Alias").and_then(Value::as_str);
        let relation = node.get("Relation Name").and_then(Value::as_str);
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
            self.walk(child, nullable || side);
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

/// A single plain or double-quoted identifier.
fn bare_ident(expr: &str) -> Option<String> {
    if let Some(inner) = expr.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if inner.replace("\"\"", "").contains('"') {
            return None;
        }
        return Some(inner.replace("\"\"", "\""));
    }
    let ok = !expr.is_empty()
        && expr
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !expr.starts_with(|c: char| c.is_ascii_digit() || c == '$');
    ok.then(|| expr.to_string())
}

/// `alias.column` with plain or double-quoted identifiers.
fn split_column_ref(expr: &str) -> Option<(String, String)> {
    let mut parts = Vec::new();
    let mut rest = expr;
    loop {
        let (ident, after) = if let Some(r) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = r.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if r[i + 1..].starts_with('"') {
                        out.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    out.push(c);
                }
            }
            (out, &r[end?..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            (rest[..end].to_string(), &rest[end..])
        };
        parts.push(ident);
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix('.')?;
    }
    if parts.len() == 2 {
        let column = parts.pop()?;
        Some((parts.pop()?, column))
    } else {
        None
    }
}

/// A non-NULL constant: a number, or a quoted string with optional casts.
fn is_literal(expr: &str) -> bool {
    let mut s = expr;
    // Strip a trailing chain of `::type` casts when the head is a string literal.
    if let Some(r) = s.strip_prefix('\'') {
        let mut i = 0;
        let b = r.as_bytes();
        loop {
            match b.get(i) {
                None => return false,
                Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                Some(b'\'') => break,
                _ => i += 1,
            }
        }
        s = &r[i + 1..];
        return s.is_empty() || is_cast_chain(s);
    }
    let (head, tail) = match s.find("::") {
        Some(p) => (&s[..p], &s[p..]),
        None => (s, ""),
    };
    // PostgreSQL prints a negative number in parentheses: `(-1)`. Any other
    // parenthesised literal is a reference to one computed below (see `infer`).
    let head = head
        .strip_prefix("(-")
        .and_then(|h| h.strip_suffix(')'))
        .or_else(|| head.strip_prefix('-'))
        .unwrap_or(head);
    let numeric = !head.is_empty()
        && head.chars().all(|c| c.is_ascii_digit() || c == '.')
        && head.chars().any(|c| c.is_ascii_digit());
    numeric && (tail.is_empty() || is_cast_chain(tail)) || matches!(s, "true" | "false")
}

fn is_cast_chain(s: &str) -> bool {
    s.split("::").skip(1).all(|t| {
        !t.is_empty()
            && t.chars().all(|c| {
                c.is_alphanumeric() || matches!(c, '_' | ' ' | '"' | '(' | ')' | ',' | '[' | ']')
            })
    }) && s.starts_with("::")
}

/// The top-level arguments of `name(...)` when `expr` is exactly one call of `name`.
fn call_args<'a>(expr: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let rest = expr.strip_prefix(name)?.strip_prefix('(')?;
    let mut depth = 1usize;
    let mut in_str = false;
    let mut args = Vec::new();
    let mut start = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '\'' => in_str = !in_str,
            _ if in_str => {}
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    if i + 1 != rest.len() {
                        return None;
                    }
                    let last = rest[start..i].trim();
                    if !last.is_empty() {
                        args.push(last);
                    }
                    return Some(args);
                }
            }
            ',' if depth == 1 => {
                args.push(rest[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    None
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
        let children: Vec<&Value> = node
            .get("Plans")
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
            .unwrap_or_default();
        match children.as_slice() {
            [only] => node = only,
            _ => return false,
        }
    }
}

/// The inside of `expr` when one pair of parentheses encloses all of it.
fn wrapped(expr: &str) -> Option<&str> {
    let inner = expr.strip_prefix('(')?.strip_suffix(')')?;
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            _ => {}
        }
    }
    (depth == 0).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert!(is_literal("1"));
        assert!(is_literal("'x'::text"));
        assert!(is_literal("'it''s'::character varying(3)"));
        assert!(!is_literal("NULL::text"));
        assert!(!is_literal("u.id"));
    }

    #[test]
    fn calls() {
        assert_eq!(call_args("count(*)", "count"), Some(vec!["*"]));
        assert_eq!(wrapped("(count(p.id))"), Some("count(p.id)"));
        assert_eq!(wrapped("(a) + (b)"), None);
        assert_eq!(call_args("count(*) + 1", "count"), None);
        assert_eq!(
            call_args("COALESCE(u.email, 'x'::text)", "COALESCE"),
            Some(vec!["u.email", "'x'::text"])
        );
    }

    #[test]
    fn column_refs() {
        assert_eq!(split_column_ref("u.id"), Some(("u".into(), "id".into())));
        assert_eq!(
            split_column_ref("\"U\".\"a.b\""),
            Some(("U".into(), "a.b".into()))
        );
        assert_eq!(split_column_ref("id"), None);
        assert_eq!(split_column_ref("lower(u.id)"), None);
    }
}
