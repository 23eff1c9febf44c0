//! Column nullability inferred at compile time, shape by shape: for each query the test
//! asserts which columns came out `Option`
//! (`StatementInfo::columns()[i].nullability_in_code()`), then runs it on data that
//! produces every NULL the shape allows (customers without orders, orders without tags,
//! tags without orders, NULL emails and notes). A column wrongly inferred NOT NULL would
//! fail there with `Error::UnexpectedNull`.

use std::sync::OnceLock;

use lifeguard::{CheckedQuery, Pool};

/// Five customers (4 and 5 without orders, 2 and 4 without email), 3000 orders for
/// customers 1..3 (every odd one without a note), tags on orders 1..50 and ten tags on
/// no order. Analyzed, so the planner knows there are few customers and many orders.
const DATA: &str = "
    INSERT INTO customers (id, name, email) VALUES
        (1, 'ann', 'ann@example.com'), (2, 'ben', NULL), (3, 'cat', 'cat@example.com'),
        (4, 'dan', NULL), (5, 'eve', 'eve@example.com');
    INSERT INTO orders (id, customer_id, total, note)
        SELECT g, 1 + g % 3, g, CASE WHEN g % 2 = 0 THEN 'note ' || g END
        FROM generate_series(1, 3000) g;
    INSERT INTO order_tags (id, order_id, label)
        SELECT g, g, 'tag ' || g FROM generate_series(1, 50) g;
    INSERT INTO order_tags (id, order_id, label)
        SELECT g, NULL, 'orphan ' || g FROM generate_series(1001, 1010) g;
    ANALYZE customers;
    ANALYZE orders;
    ANALYZE order_tags;
";

/// One pool on one fresh database holding [`DATA`], for the whole file.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| lifeguard_suite::schema_pool("nullability", DATA))
}

/// Which columns the macro made `Option` (true) and which plain `T` (false).
fn nullable<R>(q: &CheckedQuery<R>) -> Vec<bool> {
    q.statement()
        .columns()
        .iter()
        .map(|c| c.nullability_in_code() == lifeguard::Nullability::Nullable)
        .collect()
}

/// Asserts the inferred nullability, then runs the query on the pool: every NOT NULL
/// inference meets the data's NULLs and must hold. Returns the rows.
fn shape<R>(q: CheckedQuery<R>, expected: &[bool]) -> Vec<R> {
    let sql = q.statement().sql;
    assert_eq!(nullable(&q), expected, "nullability of\n{sql}");
    q.fetch_all(pool())
        .unwrap_or_else(|e| panic!("running\n{sql}\nfailed: {e}"))
}

/// As [`shape`], for writes: runs inside a transaction that is rolled back, so the
/// other tests keep their data.
fn write_shape<R>(q: CheckedQuery<R>, expected: &[bool]) -> Vec<R> {
    let sql = q.statement().sql;
    assert_eq!(nullable(&q), expected, "nullability of\n{sql}");
    let mut tx = pool().begin().unwrap();
    let rows = q
        .fetch_all(&mut tx)
        .unwrap_or_else(|e| panic!("running\n{sql}\nfailed: {e}"));
    tx.rollback().unwrap();
    rows
}

/// The first line of the plan the server picks for `sql` on the loaded data.
fn top_plan_node(sql: &str) -> String {
    let rows = lifeguard::query(&format!("EXPLAIN {sql}"))
        .fetch_all(pool())
        .unwrap();
    rows[0].get::<String>(0).unwrap()
}

/// Table columns keep their `NOT NULL`; nullable columns are `Option`.
#[test]
fn plain_table_columns() {
    let rows = shape(
        lifeguard::query!("SELECT id, name, email FROM customers"),
        &[false, false, true],
    );
    assert!(rows.iter().any(|r| r.email.is_none()));
    shape(
        lifeguard::query!("SELECT id, order_id, label FROM order_tags ORDER BY id"),
        &[false, true, false],
    );
}

/// An inner join keeps both sides' `NOT NULL`, whichever syntax writes it.
#[test]
fn inner_joins() {
    shape(
        lifeguard::query!(
            "SELECT c.id, c.name, o.id AS order_id, o.note
             FROM customers c JOIN orders o ON o.customer_id = c.id"
        ),
        &[false, false, false, true],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, o.total FROM customers c, orders o WHERE o.customer_id = c.id"
        ),
        &[false, false],
    );
    shape(
        lifeguard::query!(
            "SELECT DISTINCT c.name FROM customers c JOIN orders o ON o.customer_id = c.id"
        ),
        &[false],
    );
}

/// A LEFT JOIN the planner runs as a Hash Right Join (few customers, many orders: it
/// hashes the customers) keeps the customers NOT NULL and makes the orders nullable
/// (sqlx issue 367 got this backwards).
#[test]
fn left_join_planned_as_hash_right_join() {
    let q = lifeguard::query!(
        "SELECT c.id, c.name, o.id AS order_id, o.total
         FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
    );
    let plan = top_plan_node(q.statement().sql);
    assert!(plan.starts_with("Hash Right Join"), "plan: {plan}");
    let rows = shape(q, &[false, false, true, true]);
    let lonely: Vec<i32> = rows
        .iter()
        .filter(|r| r.order_id.is_none())
        .map(|r| r.id)
        .collect();
    assert_eq!(lonely.len(), 2, "customers 4 and 5 have no orders");
    assert!(lonely.contains(&4) && lonely.contains(&5));
    assert!(
        rows.iter()
            .all(|r| r.order_id.is_some() == r.total.is_some())
    );
}

/// A LEFT JOIN run as a nested loop (one customer by id) gives the same answer.
#[test]
fn left_join_planned_as_nested_loop() {
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name, o.total FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id WHERE c.id = $1",
            4
        ),
        &[false, true],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].name.as_str(), rows[0].total), ("dan", None));
}

/// RIGHT JOIN: the right side is preserved, the left side nullable.
#[test]
fn right_joins() {
    shape(
        lifeguard::query!(
            "SELECT c.id, o.id AS order_id FROM orders o RIGHT JOIN customers c
             ON o.customer_id = c.id"
        ),
        &[false, true],
    );
    let rows = shape(
        lifeguard::query!(
            "SELECT o.id AS order_id, t.label FROM order_tags t RIGHT JOIN orders o
             ON t.order_id = o.id"
        ),
        &[false, true],
    );
    assert!(rows.iter().any(|r| r.label.is_none()));
}

/// FULL JOIN: both sides nullable (orphan tags, untagged orders).
#[test]
fn full_join() {
    let rows = shape(
        lifeguard::query!(
            "SELECT o.id AS order_id, o.total, t.id AS tag_id, t.label
             FROM orders o FULL JOIN order_tags t ON t.order_id = o.id"
        ),
        &[true, true, true, true],
    );
    assert!(rows.iter().any(|r| r.order_id.is_none()));
    assert!(rows.iter().any(|r| r.tag_id.is_none()));
    shape(
        lifeguard::query!("SELECT id, a.name FROM customers a FULL JOIN customers b USING (id)"),
        // The merged USING column is COALESCE(a.id, b.id) of two NOT NULL keys, never
        // NULL, but coalesce of columns is not traced: a known conservative answer.
        &[true, true],
    );
}

/// Nested joins: an inner join nested on the nullable side of a LEFT JOIN is nullable
/// as a whole; a LEFT JOIN after an inner join only nulls its own side.
#[test]
fn nested_joins() {
    shape(
        lifeguard::query!(
            "SELECT c.name, o.total, t.label
             FROM customers c
             LEFT JOIN (orders o JOIN order_tags t ON t.order_id = o.id)
                 ON o.customer_id = c.id"
        ),
        &[false, true, true],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, o.total, t.label
             FROM customers c
             JOIN orders o ON o.customer_id = c.id
             LEFT JOIN order_tags t ON t.order_id = o.id"
        ),
        &[false, false, true],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, o.total, t.label
             FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id
             LEFT JOIN order_tags t ON t.order_id = o.id"
        ),
        &[false, true, true],
    );
}

/// Outer joins the planner turns into inner joins (a later inner join or a strict
/// WHERE on the nullable side) come out NOT NULL, because the plan has no outer join.
#[test]
fn outer_joins_reduced_to_inner_joins() {
    shape(
        lifeguard::query!(
            "SELECT c.name, o.total, t.label
             FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id
             JOIN order_tags t ON t.order_id = o.id"
        ),
        &[false, false, false],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, o.total FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id WHERE o.total > $1",
            10
        ),
        &[false, false],
    );
}

/// An anti join (LEFT JOIN .. WHERE right IS NULL) keeps the left side NOT NULL.
#[test]
fn anti_join() {
    let rows = shape(
        lifeguard::query!(
            "SELECT c.id, c.name FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id WHERE o.id IS NULL ORDER BY c.id"
        ),
        &[false, false],
    );
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, [4, 5]);
}

/// The same table on both sides of a LEFT JOIN: the alias decides, not the table.
#[test]
fn self_left_join() {
    let rows = shape(
        lifeguard::query!(
            "SELECT a.name, b.name AS other FROM customers a
             LEFT JOIN customers b ON b.id = a.id + 3"
        ),
        &[false, true],
    );
    assert!(rows.iter().any(|r| r.other.is_none()));
}

/// Outer joins under GROUP BY: grouped preserved-side columns and count() stay NOT
/// NULL; sum/max over the nullable side are nullable (sqlx issues 3164, 3202).
#[test]
fn outer_join_under_group_by() {
    let rows = shape(
        lifeguard::query!(
            "SELECT c.id, c.name, count(o.id) AS orders, count(*) AS rows,
                    sum(o.total) AS total, max(o.note) AS last_note
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
             GROUP BY c.id, c.name"
        ),
        &[false, false, false, false, true, true],
    );
    let dan = rows.iter().find(|r| r.id == 4).unwrap();
    assert_eq!((dan.orders, dan.rows, dan.total), (0, 1, None));
    // Under a Sort, the aggregates show in parentheses: `(count(o.id))`.
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name, count(o.id) AS orders, max(o.total) AS most
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
             GROUP BY c.name ORDER BY count(o.id) DESC, c.name LIMIT $1",
            10
        ),
        &[false, false, true],
    );
    assert_eq!(rows.last().map(|r| (r.orders, r.most)), Some((0, None)));
}

/// Aggregates without GROUP BY return one row even on no input: count() is NOT NULL,
/// max/sum are nullable.
#[test]
fn aggregates_without_group_by() {
    let rows = shape(
        lifeguard::query!(
            "SELECT count(*) AS n, count(o.note) AS notes, max(o.total) AS most,
                    sum(o.total) AS total
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE c.id > $1",
            3
        ),
        &[false, false, true, true],
    );
    assert_eq!((rows[0].n, rows[0].most), (2, None));
    let n: i64 = lifeguard::query_scalar!("SELECT count(*) FROM orders WHERE total < 0")
        .fetch_one(pool())
        .unwrap();
    assert_eq!(n, 0);
}

/// Outer joins under ORDER BY and LIMIT (Sort and Limit nodes above the join).
#[test]
fn outer_join_under_sort_and_limit() {
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name, o.total FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id
             ORDER BY o.total NULLS FIRST, c.name LIMIT $1",
            3
        ),
        &[false, true],
    );
    assert_eq!(rows[0].total, None);
}

/// Outer joins inside subqueries in FROM, flattened by the planner or kept as a
/// Subquery Scan, and a LATERAL subquery.
#[test]
fn outer_join_in_subqueries() {
    shape(
        lifeguard::query!(
            "SELECT s.name, s.total FROM
             (SELECT c.name, o.total FROM customers c
              LEFT JOIN orders o ON o.customer_id = c.id) s"
        ),
        &[false, true],
    );
    shape(
        lifeguard::query!(
            "SELECT s.name, s.total FROM
             (SELECT c.name, o.total FROM customers c
              LEFT JOIN orders o ON o.customer_id = c.id
              ORDER BY o.total LIMIT 5000) s"
        ),
        &[false, true],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, x.n, x.most FROM customers c
             LEFT JOIN (SELECT customer_id, count(*) AS n, max(total) AS most
                        FROM orders GROUP BY customer_id) x ON x.customer_id = c.id"
        ),
        &[false, true, true],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, g.g FROM customers c
             LEFT JOIN LATERAL generate_series(1, c.id - 3) g ON true"
        ),
        &[false, true],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, best.total FROM customers c
             LEFT JOIN LATERAL (SELECT o.total FROM orders o WHERE o.customer_id = c.id
                                ORDER BY o.total DESC LIMIT 1) best ON true"
        ),
        &[false, true],
    );
}

/// A subquery that hides a table on the nullable side of its own outer join: the
/// column is nullable even though its table column is NOT NULL.
#[test]
fn hidden_nullable_side_stays_nullable() {
    let rows = shape(
        lifeguard::query!(
            "SELECT s.name FROM
             (SELECT c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id + 1000
              LIMIT 10) s"
        ),
        &[true],
    );
    assert!(rows.iter().all(|r| r.name.is_none()));
}

/// Renamed columns of a subquery: the origin table column is found through the alias.
#[test]
fn renamed_subquery_columns() {
    shape(
        lifeguard::query!(
            "SELECT s.who, s.amount FROM
             (SELECT c.name AS who, o.total AS amount FROM customers c
              LEFT JOIN orders o ON o.customer_id = c.id) s"
        ),
        &[false, true],
    );
}

/// CTEs, inlined or materialized, around an outer join.
#[test]
fn outer_join_in_ctes() {
    shape(
        lifeguard::query!(
            "WITH co AS (SELECT c.id, c.name, o.total FROM customers c
                         LEFT JOIN orders o ON o.customer_id = c.id)
             SELECT id, name, total FROM co"
        ),
        &[false, false, true],
    );
    shape(
        lifeguard::query!(
            "WITH co AS MATERIALIZED (SELECT c.id, c.name, o.total FROM customers c
                                      LEFT JOIN orders o ON o.customer_id = c.id)
             SELECT co.id, co.name, co.total FROM co"
        ),
        &[false, false, true],
    );
    let rows = shape(
        lifeguard::query!(
            "WITH x AS MATERIALIZED (SELECT b.name FROM customers a
                                     LEFT JOIN customers b ON b.id = a.id + 3)
             SELECT name FROM x"
        ),
        &[true],
    );
    assert!(rows.iter().any(|r| r.name.is_none()));
}

/// UNION, UNION ALL, INTERSECT and EXCEPT: NOT NULL where every arm is NOT NULL at that
/// position; a NULL in any arm (a nullable column, a NULL literal, an outer join's
/// nullable side) makes the column nullable.
#[test]
fn set_operations() {
    shape(
        lifeguard::query!("SELECT name FROM customers UNION SELECT label FROM order_tags"),
        &[false],
    );
    shape(
        lifeguard::query!(
            "SELECT id, name FROM customers UNION ALL SELECT id, label FROM order_tags
             UNION ALL SELECT 0, 'zero'"
        ),
        &[false, false],
    );
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name FROM customers c INTERSECT SELECT lower(c.name) FROM customers c"
        ),
        &[false],
    );
    assert_eq!(rows.len(), 5);
    shape(
        lifeguard::query!(
            "SELECT c.id, c.name FROM customers c EXCEPT SELECT o.customer_id, 'x' FROM orders o
             ORDER BY 1"
        ),
        &[false, false],
    );
    // Must not fire: one arm can be NULL.
    let rows = shape(
        lifeguard::query!("SELECT name FROM customers UNION ALL SELECT NULL"),
        &[true],
    );
    assert!(rows.iter().any(|r| r.name.is_none()));
    let rows = shape(
        lifeguard::query!("SELECT name FROM customers UNION SELECT email FROM customers"),
        &[true],
    );
    assert!(rows.iter().any(|r| r.name.is_none()));
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id
             UNION SELECT c.name, o.total FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id"
        ),
        &[false, true],
    );
    assert!(rows.iter().any(|r| r.total.is_none()));
    let rows = shape(
        lifeguard::query!(
            "SELECT email FROM customers INTERSECT SELECT email FROM customers WHERE id > 1"
        ),
        &[true],
    );
    assert!(rows.iter().any(|r| r.email.is_none()));
    shape(
        lifeguard::query!("SELECT email FROM customers UNION SELECT note FROM orders"),
        &[true],
    );
}

/// The view `customer_orders` (customers LEFT JOIN orders) is looked through to its
/// base columns: `id` and `name` come from the preserved side and are NOT NULL, `total`
/// from the nullable side must stay nullable (sqlx issue 3192). Read from the nullable
/// side of an outer join, every column of the view is nullable.
#[test]
fn view_columns() {
    let rows = shape(
        lifeguard::query!("SELECT id, name, total FROM customer_orders"),
        &[false, false, true],
    );
    assert!(rows.iter().any(|r| r.total.is_none()));
    let rows = shape(
        lifeguard::query!(
            "SELECT v.name, v.total, v.id + 1 AS next FROM customer_orders v WHERE v.id > $1",
            3
        ),
        &[false, true, false],
    );
    assert!(rows.iter().all(|r| r.total.is_none()));
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name, v.name AS other, upper(v.name) AS shout FROM customers c
             LEFT JOIN customer_orders v ON v.id = c.id + 3"
        ),
        &[false, true, true],
    );
    assert!(rows.iter().any(|r| r.other.is_none() && r.shout.is_none()));
}

/// A set-returning function's columns.
#[test]
fn function_columns() {
    // A SQL function is inlined: planned as its body, `SELECT name FROM customers`.
    shape(
        lifeguard::query!("SELECT n FROM customer_names()"),
        &[false],
    );
    shape(
        lifeguard::query!(
            "SELECT c.name, f.n FROM customers c LEFT JOIN customer_names() f ON f.n = c.email"
        ),
        &[false, true],
    );
}

/// Literals are NOT NULL (sqlx issues 864, 3428); a NULL literal is nullable.
#[test]
fn literals() {
    shape(
        lifeguard::query!(
            "SELECT 1 AS one, -2 AS minus_two, 1.5 AS half, 'x' AS x, 'y'::varchar(3) AS y,
                    true AS yes, NULL::int4 AS nothing"
        ),
        &[false, false, false, false, false, false, true],
    );
    shape(
        lifeguard::query!("SELECT 'a' AS k, c.email FROM customers c"),
        &[false, true],
    );
}

/// `count(*)` and `count(col)` are NOT NULL, also over an outer join's nullable side.
#[test]
fn counts() {
    let n: i64 = shape(
        lifeguard::query_scalar!("SELECT count(*) FROM orders"),
        &[false],
    )[0];
    assert_eq!(n, 3000);
    let per: Vec<i64> = shape(
        lifeguard::query_scalar!(
            "SELECT count(o.note) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
             GROUP BY c.id ORDER BY c.id"
        ),
        &[false],
    );
    assert_eq!(per[3..], [0, 0]);
}

/// EXISTS and NOT EXISTS run as plain or initial sub-plans are NOT NULL; a scalar
/// subquery is nullable; IN is nullable.
#[test]
fn sub_links() {
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name,
                    EXISTS (SELECT 1 FROM orders o WHERE o.total > c.id * 100) AS big,
                    NOT EXISTS (SELECT 1 FROM orders o WHERE o.total > c.id * 100) AS small,
                    EXISTS (SELECT 1 FROM order_tags t WHERE t.order_id IS NULL) AS orphans
             FROM customers c ORDER BY c.id"
        ),
        &[false, false, false, false],
    );
    assert!(rows.iter().all(|r| r.big && !r.small && r.orphans));
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name,
                    EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AS has_orders,
                    NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AS none,
                    (SELECT max(o.total) FROM orders o WHERE o.customer_id = c.id) AS best
             FROM customers c ORDER BY c.id"
        ),
        // An EXISTS correlated by equality is planned as a hashed sub-plan, which the
        // plan shows exactly like an IN (`(hashed SubPlan 2)`), and IN can be NULL: the
        // EXISTS is reported nullable. A known conservative answer.
        &[false, true, true, true],
    );
    assert_eq!(
        (rows[4].has_orders, rows[4].none),
        (Some(false), Some(true))
    );
    assert!(rows[4].best.is_none());
    shape(
        lifeguard::query!(
            "SELECT c.id FROM customers c
             WHERE c.id IN (SELECT customer_id FROM orders) ORDER BY c.id"
        ),
        &[false],
    );
    shape(
        lifeguard::query!(
            "SELECT c.id IN (SELECT o.customer_id FROM orders o) AS ordered FROM customers c"
        ),
        &[true],
    );
}

/// coalesce is NOT NULL when one argument is a literal; otherwise nullable.
#[test]
fn coalesce() {
    let rows = shape(
        lifeguard::query!(
            "SELECT coalesce(c.email, 'none') AS email, coalesce(o.total, 0) AS total,
                    coalesce(o.note, c.name) AS label, coalesce(c.email, o.note) AS either
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
        ),
        // `label`: c.name is NOT NULL on the preserved side.
        &[false, false, false, true],
    );
    assert!(rows.iter().any(|r| r.either.is_none()));
}

/// Window functions: ranking and distribution functions and count() OVER never return
/// NULL, also over an outer join's nullable side; ntile(n) of a non-NULL n neither.
/// lag/lead, first_value and aggregates over the nullable side can.
#[test]
fn window_functions() {
    let rows = shape(
        lifeguard::query!(
            "SELECT c.name,
                    row_number() OVER (ORDER BY c.id, o.id) AS rn,
                    rank() OVER (ORDER BY c.id) AS rank,
                    dense_rank() OVER (ORDER BY o.total) AS dense,
                    ntile(4) OVER (ORDER BY c.id) AS quarter,
                    percent_rank() OVER (ORDER BY o.total) AS pct,
                    cume_dist() OVER (PARTITION BY c.id ORDER BY o.id) AS cume,
                    count(o.id) OVER (PARTITION BY c.id) AS orders,
                    count(*) OVER () AS all_rows,
                    lag(c.name) OVER (ORDER BY c.id, o.id) AS prev,
                    sum(o.total) OVER (PARTITION BY c.id) AS per_customer,
                    first_value(o.note) OVER (PARTITION BY c.id ORDER BY o.id) AS first_note
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
        ),
        &[
            false, false, false, false, false, false, false, false, false, true, true, true,
        ],
    );
    assert!(rows.iter().any(|r| r.prev.is_none()));
    assert!(rows.iter().any(|r| r.per_customer.is_none()));
    assert!(rows.iter().any(|r| r.first_note.is_none()));
    assert!(rows.iter().any(|r| r.orders == 0));
    // ntile of a value that can be NULL is nullable.
    let rows = shape(
        lifeguard::query!(
            "SELECT ntile(o.total) OVER (ORDER BY c.id) AS bucket
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.id < 3"
        ),
        &[true],
    );
    assert!(rows.iter().any(|r| r.bucket.is_none()));
}

/// CASE: NOT NULL when it has an ELSE and every THEN and the ELSE is NOT NULL. Without
/// an ELSE, with `ELSE NULL`, or with a result that can be NULL, it is nullable.
#[test]
fn case_expressions() {
    let rows = shape(
        lifeguard::query!(
            "SELECT CASE WHEN c.id > 2 THEN 'big' ELSE 'small' END AS size,
                    CASE c.id WHEN 1 THEN c.name WHEN 2 THEN upper(c.name) ELSE 'other' END AS who,
                    CASE WHEN o.id IS NULL THEN 0 ELSE 1 END AS has_order,
                    CASE WHEN c.id > 2 THEN 'big' END AS no_else,
                    CASE WHEN c.id > 2 THEN 'big' ELSE NULL END AS else_null,
                    CASE WHEN c.id > 1 THEN c.email ELSE 'none' END AS branch,
                    CASE WHEN c.id > 1 THEN 'some' ELSE o.note END AS other_side
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
        ),
        &[false, false, false, true, true, true, true],
    );
    assert!(rows.iter().any(|r| r.no_else.is_none()));
    assert!(rows.iter().any(|r| r.else_null.is_none()));
    assert!(rows.iter().any(|r| r.branch.is_none()));
    assert!(rows.iter().any(|r| r.other_side.is_none()));
}

/// Strict built-in operators, functions and casts over NOT NULL operands of built-in
/// types are NOT NULL; over an operand that can be NULL (a nullable column, the
/// nullable side of an outer join) they are nullable, and so is nullif.
#[test]
fn strict_operators_and_functions() {
    shape(
        lifeguard::query!(
            "SELECT c.id + 1 AS next, c.id * o.total - 1 AS product, -c.id AS minus,
                    upper(c.name) AS shout, lower(c.name) AS quiet, length(c.name) AS len,
                    c.name || '!' AS bang, btrim(c.name) AS trimmed, abs(o.total) AS absolute,
                    c.id > 2 AS big, c.name LIKE 'a%' AS a_name, c.id = 1 OR o.total > 5 AS either,
                    (c.id)::text AS id_text, c.id::bigint AS wide, c.email IS NULL AS no_email,
                    round(o.total / 3.0, 2) AS third
             FROM customers c JOIN orders o ON o.customer_id = c.id"
        ),
        &[
            false, false, false, false, false, false, false, false, false, false, false, false,
            false, false, false, false,
        ],
    );
    let rows = shape(
        lifeguard::query!(
            "SELECT upper(c.email) AS shout, c.email || '!' AS bang, length(o.note) AS len,
                    nullif(c.name, 'ann') AS not_ann, c.id + o.total AS sum,
                    (o.total)::text AS total_text, o.id > 2 AS big
             FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
        ),
        &[true, true, true, true, true, true, true],
    );
    assert!(rows.iter().any(|r| r.shout.is_none() && r.bang.is_none()));
    assert!(rows.iter().any(|r| r.len.is_none()));
    assert!(rows.iter().any(|r| r.not_ann.is_none()));
    assert!(
        rows.iter()
            .any(|r| r.sum.is_none() && r.total_text.is_none() && r.big.is_none())
    );
}

/// now(), CURRENT_TIMESTAMP, CURRENT_DATE and their kin are never NULL.
#[test]
fn current_time_and_kin() {
    shape(
        lifeguard::query!(
            "SELECT now() AS at, current_timestamp AS ts, current_date AS today,
                    localtimestamp AS local, current_timestamp(3) AS ms, statement_timestamp() AS st,
                    current_user AS who, current_database() AS db"
        ),
        &[false, false, false, false, false, false, false, false],
    );
}

/// ROLLUP nulls out grouped columns in its subtotal rows.
#[test]
fn grouping_sets() {
    let rows = shape(
        lifeguard::query!("SELECT c.name, count(*) AS n FROM customers c GROUP BY ROLLUP (c.name)"),
        &[true, false],
    );
    assert!(rows.iter().any(|r| r.name.is_none()));
}

/// INSERT, UPDATE and DELETE ... RETURNING report the target table's NOT NULL.
#[test]
fn writes_returning() {
    let rows = write_shape(
        lifeguard::query!(
            "INSERT INTO customers (id, name, email) VALUES ($1, $2, $3)
             RETURNING id, name, email",
            100,
            "new",
            None::<&str>
        ),
        &[false, false, true],
    );
    assert_eq!(rows[0].email, None);
    write_shape(
        lifeguard::query!(
            "UPDATE orders SET note = NULL WHERE id = $1 RETURNING id, total, note",
            2
        ),
        &[false, false, true],
    );
    write_shape(
        lifeguard::query!(
            "DELETE FROM order_tags WHERE id IN ($1, $2) RETURNING id, order_id, label",
            1,
            1001
        ),
        &[false, true, false],
    );
    write_shape(
        lifeguard::query!(
            "UPDATE orders o SET total = o.total + 1 FROM customers c
             WHERE c.id = o.customer_id AND c.id = $1 RETURNING o.id, c.name, c.email",
            2
        ),
        &[false, false, true],
    );
    write_shape(
        lifeguard::query!(
            "INSERT INTO customers (id, name)
             SELECT c.id + 100, coalesce(o.note, c.name) FROM customers c
             LEFT JOIN orders o ON o.customer_id = c.id AND o.id = 2
             RETURNING id, name, email"
        ),
        &[false, false, true],
    );
}

/// Expressions a pulled-up subquery, a LATERAL subquery or VALUES, or a UNION ALL
/// branch computes on the nullable side of an outer join are NULL in the rows the join
/// adds (customers 4 and 5 have no orders), whatever the expression is: literals,
/// coalesce, EXISTS, count(*). The plan shows them in parentheses, `(1)`,
/// `(COALESCE(..))`, `($0)`, `(count(*))`: Lifeguard trusts such an expression only
/// where it is computed above every join (an aggregate under a Sort), so these are all
/// nullable and every query runs on data that makes them NULL.
#[test]
fn expressions_from_the_nullable_side_of_an_outer_join() {
    let mut wrong = Vec::new();
    let mut check = |sql: &str, expected: &[bool], got: Vec<bool>, run: Result<usize, _>| {
        if got != expected || run.is_err() {
            wrong.push(format!("{sql}\n  nullable: {got:?}, run: {run:?}"));
        }
    };
    // The query! call is written at each use (not built from a literal inside this
    // macro) so that `cargo lifeguard prepare` finds its SQL.
    macro_rules! probe {
        ($q:expr, $expected:expr) => {{
            let q = $q;
            let run = q.fetch_all(pool()).map(|rows| rows.len());
            check(q.statement().sql, &$expected, nullable(&q), run);
        }};
    }
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.one FROM customers c
         LEFT JOIN (SELECT o.customer_id, 1 AS one FROM orders o) x ON x.customer_id = c.id"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.one FROM customers c
         LEFT JOIN (SELECT o.customer_id, -1 AS one FROM orders o) x ON x.customer_id = c.id"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.yes FROM customers c
         LEFT JOIN (SELECT o.customer_id, true AS yes FROM orders o) x ON x.customer_id = c.id"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.k FROM customers c
         LEFT JOIN (SELECT DISTINCT customer_id, 'k' AS k FROM orders) x ON x.customer_id = c.id"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.n FROM customers c
         LEFT JOIN (SELECT o.customer_id, coalesce(o.note, 'none') AS n FROM orders o) x
             ON x.customer_id = c.id"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.e FROM customers c
         LEFT JOIN (SELECT o.customer_id, EXISTS (SELECT 1 FROM order_tags) AS e FROM orders o) x
             ON x.customer_id = c.id"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, x.n FROM customers c
         LEFT JOIN LATERAL (SELECT count(*) AS n FROM orders o WHERE o.customer_id = c.id) x
             ON c.id < 3"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, v.x FROM customers c LEFT JOIN LATERAL (VALUES (1.5)) v(x) ON c.id < 4"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT c.name, u.one FROM customers c
         LEFT JOIN (SELECT customer_id, 1 AS one FROM orders
                    UNION ALL SELECT order_id, 2 FROM order_tags) u ON u.customer_id = c.id + 1000"
        ),
        [false, true]
    );
    probe!(
        lifeguard::query!(
            "SELECT x.name, x.k FROM
         (SELECT c.name, 1 AS k FROM customers c ORDER BY c.name LIMIT 3) x
         RIGHT JOIN orders o ON o.customer_id = x.k"
        ),
        [true, true]
    );
    assert!(wrong.is_empty(), "wrong NOT NULL:\n{}", wrong.join("\n"));
}
