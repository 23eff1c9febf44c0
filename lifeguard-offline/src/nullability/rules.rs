//! The curated lists behind the expression rules: built-in functions, operators and
//! window functions that never return NULL (for any input, or for non-NULL input), and
//! the built-in type names a cast may target. Each list is short on purpose: an entry
//! wrongly here is a wrong NOT NULL, a runtime error for the user; one missing is only a
//! needless `Option`.
//!
//! Names are matched as `EXPLAIN` prints them. A function is the built-in one when it is
//! printed unqualified (`pg_catalog` is searched first unless a `search_path` puts another
//! schema before it explicitly: such a path can make these rules wrong). Operators are
//! trusted only between operands the rules can vouch for: columns of built-in types,
//! literals of built-in types, and expressions these rules accept.

/// Functions and SQL value functions that never return NULL, whatever their (absent)
/// arguments: the current time and date, the session's user and database.
pub(super) const NEVER_NULL: &[&str] = &[
    "now()",
    "CURRENT_TIMESTAMP",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "LOCALTIMESTAMP",
    "LOCALTIME",
    "CURRENT_USER",
    "CURRENT_ROLE",
    "SESSION_USER",
    "USER",
    "CURRENT_CATALOG",
    "statement_timestamp()",
    "transaction_timestamp()",
    "clock_timestamp()",
    "timeofday()",
    "current_database()",
    "pg_backend_pid()",
    "random()",
    "gen_random_uuid()",
    "version()",
];

/// SQL value functions with a precision: `CURRENT_TIMESTAMP(3)` and the like.
pub(super) const NEVER_NULL_WITH_PRECISION: &[&str] = &[
    "CURRENT_TIMESTAMP(",
    "CURRENT_TIME(",
    "LOCALTIMESTAMP(",
    "LOCALTIME(",
];

/// Built-in functions that are strict (NULL in, NULL out) and never return NULL for
/// non-NULL arguments: string length and case, trimming and padding, arithmetic helpers,
/// `date_trunc`, `age`, `md5`. Not here on purpose: `nullif`, `array_length` (NULL for an
/// empty array), `regexp_match`, `substring` with a regular expression, `date_part`, JSON
/// accessors, and anything user-defined.
pub(super) const STRICT_NOT_NULL: &[&str] = &[
    "lower",
    "upper",
    "initcap",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "btrim",
    "ltrim",
    "rtrim",
    "lpad",
    "rpad",
    "left",
    "right",
    "repeat",
    "replace",
    "reverse",
    "translate",
    "strpos",
    "md5",
    "abs",
    "sign",
    "round",
    "trunc",
    "floor",
    "ceil",
    "ceiling",
    "mod",
    "power",
    "date_trunc",
    "age",
    "cardinality",
];

/// Built-in binary operators that never return NULL for non-NULL operands: arithmetic,
/// concatenation, comparisons, pattern matches (`LIKE` prints as `~~`), containment,
/// and `AND`/`OR`. Not here: JSON and array accessors (`->`, `->>`, `#>`), which give
/// NULL for a missing key or index.
pub(super) const STRICT_OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "||", "=", "<>", "<", ">", "<=", ">=", "~~", "!~~", "~~*",
    "!~~*", "~", "~*", "!~", "!~*", "@>", "<@", "&&", "AND", "OR",
];

/// Operators that never return NULL, whatever their operands: `IS [NOT] NULL`,
/// `IS [NOT] TRUE`/`FALSE`, `IS [NOT] DISTINCT FROM`.
pub(super) const NEVER_NULL_OPERATORS: &[&str] = &[
    "IS NULL",
    "IS NOT NULL",
    "IS TRUE",
    "IS NOT TRUE",
    "IS FALSE",
    "IS NOT FALSE",
    "IS DISTINCT FROM",
    "IS NOT DISTINCT FROM",
];

/// Prefix operators, strict and never NULL for a non-NULL operand.
pub(super) const STRICT_PREFIX: &[&str] = &["-", "+", "NOT"];

/// Window functions that never return NULL: ranking and distribution, and `count`.
/// `ntile(n)` is NULL only when `n` is (see `nullability.rs`).
pub(super) const WINDOW_NEVER_NULL: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "count",
];

/// Built-in types (as `EXPLAIN` names them, without modifiers) that casts between never
/// turn a non-NULL value into NULL, and that literals and operands may have.
pub(super) const BUILTIN_TYPES: &[&str] = &[
    "text",
    "character varying",
    "character",
    "bpchar",
    "name",
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "real",
    "double precision",
    "boolean",
    "date",
    "time without time zone",
    "time with time zone",
    "timestamp without time zone",
    "timestamp with time zone",
    "interval",
    "bytea",
    "uuid",
    "json",
    "jsonb",
    "oid",
    "inet",
];

/// Whether `ty` (a cast's target as `EXPLAIN` prints it) is a built-in type of
/// [`BUILTIN_TYPES`] or an array of one, modifiers aside.
pub(super) fn builtin_type(ty: &str) -> bool {
    let ty = ty.trim();
    let base = ty.strip_suffix("[]").unwrap_or(ty);
    let base = base.split('(').next().unwrap_or(base).trim();
    BUILTIN_TYPES.contains(&base)
}
