//! Nullability and read/write classification against a real server.

use lifeguard_offline::describe::describe;
use lifeguard_offline::description::{Nullability, StatementKind};
use lifeguard_offline::pg::{Config, Connection, Runtime, SimpleQueryMessage};

const N: Nullability = Nullability::NotNull;
const Y: Nullability = Nullability::Nullable;

const SCHEMA: &str = "
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, total int NOT NULL, note text);
CREATE TABLE tags (id int PRIMARY KEY, order_id int REFERENCES orders, label text NOT NULL);
CREATE VIEW user_orders AS SELECT u.id, u.name, o.total FROM users u LEFT JOIN orders o ON o.user_id = u.id;
CREATE SEQUENCE s;
CREATE FUNCTION user_names() RETURNS TABLE (n text) LANGUAGE sql AS 'SELECT name FROM users';
INSERT INTO users SELECT g, 'user' || g, CASE WHEN g % 2 = 0 THEN NULL ELSE 'e' || g END FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, g % 50 + 1, g * 10, CASE WHEN g % 2 = 0 THEN NULL ELSE 'n' END FROM generate_series(1, 20000) g;
INSERT INTO tags VALUES (1, 1, 'a'), (2, NULL, 'b');
ANALYZE;
";

fn connect() -> Connection {
    let url = lifeguard_harness::test_server().fresh_database("lgnull");
    let config: Config = url.parse().expect("url");
    let mut conn = Connection::connect_with(&config, Runtime::Std).expect("connect");
    conn.batch_execute(SCHEMA).expect("schema");
    conn
}

/// How many statements the session has prepared.
fn prepared_statements(conn: &mut Connection) -> String {
    let msgs = conn
        .simple_query("SELECT count(*) FROM pg_prepared_statements")
        .unwrap();
    let SimpleQueryMessage::Row(r) = &msgs[0] else {
        panic!("no row")
    };
    r.get(0).unwrap_or_default().to_string()
}

fn shapes() -> Vec<(&'static str, Vec<Nullability>)> {
    vec![
        ("SELECT id, name, email FROM users", vec![N, N, Y]),
        (
            "SELECT u.id, u.name FROM users u WHERE u.id = $1",
            vec![N, N],
        ),
        (
            "SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id",
            vec![N, N],
        ),
        (
            "SELECT u.name, o.total, o.note FROM users u LEFT JOIN orders o ON o.user_id = u.id",
            vec![N, Y, Y],
        ),
        (
            "SELECT u.name, o.total FROM orders o RIGHT JOIN users u ON o.user_id = u.id",
            vec![N, Y],
        ),
        (
            "SELECT u.name, o.total FROM users u FULL JOIN orders o ON o.user_id = u.id",
            vec![Y, Y],
        ),
        // Few users, many orders: the planner runs this LEFT JOIN as a Hash Right Join.
        (
            "SELECT o.id, u.id FROM users u LEFT JOIN orders o ON o.user_id = u.id",
            vec![Y, N],
        ),
        (
            "SELECT u.name, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.name",
            vec![N, N],
        ),
        (
            "SELECT u.name, max(o.total) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.name",
            vec![N, Y],
        ),
        (
            "SELECT u.name, o.total FROM users u LEFT JOIN orders o ON o.user_id = u.id ORDER BY u.name",
            vec![N, Y],
        ),
        (
            "SELECT u.name, o.total FROM users u LEFT JOIN orders o ON o.user_id = u.id ORDER BY o.total LIMIT 20",
            vec![N, Y],
        ),
        (
            "SELECT u.name, o.total, t.label FROM users u LEFT JOIN orders o ON o.user_id = u.id LEFT JOIN tags t ON t.order_id = o.id",
            vec![N, Y, Y],
        ),
        (
            "SELECT u.name, o.total, t.label FROM users u LEFT JOIN (orders o JOIN tags t ON t.order_id = o.id) ON o.user_id = u.id",
            vec![N, Y, Y],
        ),
        (
            "SELECT o.total, t.label FROM orders o JOIN tags t ON t.order_id = o.id",
            vec![N, N],
        ),
        (
            "SELECT t.label, o.total FROM tags t LEFT JOIN orders o ON o.id = t.order_id",
            vec![N, Y],
        ),
        (
            "SELECT s.name FROM (SELECT name FROM users OFFSET 0) s",
            vec![N],
        ),
        (
            "SELECT s.total FROM users u LEFT JOIN (SELECT user_id, total FROM orders OFFSET 0) s ON s.user_id = u.id",
            vec![Y],
        ),
        (
            "WITH c AS MATERIALIZED (SELECT id, name FROM users) SELECT id, name FROM c",
            vec![N, N],
        ),
        (
            "WITH c AS (SELECT u.name, o.total FROM users u LEFT JOIN orders o ON o.user_id = u.id) SELECT name, total FROM c",
            vec![N, Y],
        ),
        (
            "SELECT name FROM users UNION SELECT label FROM tags",
            vec![N],
        ),
        (
            "SELECT name FROM users INTERSECT SELECT u.name FROM users u WHERE u.id < 5",
            vec![N],
        ),
        (
            "SELECT name FROM users EXCEPT SELECT email FROM users",
            vec![Y],
        ),
        (
            "SELECT name FROM users UNION ALL SELECT email FROM users",
            vec![Y],
        ),
        ("SELECT id, name, total FROM user_orders", vec![N, N, Y]),
        ("SELECT n FROM user_names()", vec![Y]),
        ("SELECT lower(name) FROM users", vec![N]),
        ("SELECT lower(email) FROM users", vec![Y]),
        (
            "SELECT u.id + 1, u.name || '!', CASE WHEN u.id > 1 THEN 'a' ELSE 'b' END, \
             CASE WHEN u.id > 1 THEN 'a' END, nullif(u.name, 'x'), now(), current_date, \
             row_number() OVER (), u.email IS NULL, (u.id)::text FROM users u",
            vec![N, N, N, Y, Y, N, N, N, N, N],
        ),
        (
            "SELECT 1 AS one, 'x'::text AS x, NULL::int AS z",
            vec![N, N, Y],
        ),
        ("SELECT count(*) FROM users", vec![N]),
        ("SELECT count(email) FROM users", vec![N]),
        ("SELECT sum(total) FROM orders", vec![Y]),
        (
            "SELECT name, count(*) FROM users GROUP BY ROLLUP (name)",
            vec![Y, N],
        ),
        (
            "SELECT u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id GROUP BY CUBE (u.name, o.total)",
            vec![Y, Y],
        ),
        ("SELECT COALESCE(email, 'none') FROM users", vec![N]),
        (
            "SELECT COALESCE(email, note) FROM users u LEFT JOIN orders o ON o.user_id = u.id",
            vec![Y],
        ),
        (
            "SELECT u.id, (SELECT max(total) FROM orders o WHERE o.user_id = u.id) FROM users u",
            vec![N, Y],
        ),
        (
            "SELECT id FROM users WHERE id IN (SELECT user_id FROM orders)",
            vec![N],
        ),
        (
            "SELECT u.id FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)",
            vec![N],
        ),
        (
            "SELECT id, name FROM users WHERE id = $1 FOR UPDATE",
            vec![N, N],
        ),
        (
            "SELECT a.name, b.name FROM users a LEFT JOIN users b ON b.id = a.id + 1000",
            vec![N, Y],
        ),
        (
            "SELECT u.id, o.total FROM users u CROSS JOIN LATERAL (SELECT total FROM orders o WHERE o.user_id = u.id LIMIT 1) o",
            vec![N, N],
        ),
        (
            "SELECT u.id, o.total FROM users u LEFT JOIN LATERAL (SELECT total FROM orders o WHERE o.user_id = u.id LIMIT 1) o ON true",
            vec![N, Y],
        ),
        // EXISTS: correlated (a SubPlan), uncorrelated (an InitPlan), NOT EXISTS; IN in the
        // select list stays nullable. An EXISTS the planner runs as a hashed sub-plan is
        // reported nullable (indistinguishable from IN in the plan).
        (
            "SELECT u.id, EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) FROM users u",
            vec![N, N],
        ),
        (
            "SELECT EXISTS (SELECT 1 FROM orders WHERE total < 0), NOT EXISTS (SELECT FROM tags)",
            vec![N, N],
        ),
        (
            "SELECT t.id, EXISTS (SELECT 1 FROM orders o WHERE o.id = t.order_id AND o.total > t.id) FROM tags t",
            vec![N, N],
        ),
        (
            "SELECT t.id, t.order_id IN (SELECT id FROM orders) FROM tags t",
            vec![N, Y],
        ),
        (
            "SELECT u.id, (SELECT o.total FROM orders o WHERE o.user_id = u.id LIMIT 1) FROM users u",
            vec![N, Y],
        ),
        (
            "INSERT INTO users (id, name) VALUES ($1, $2) RETURNING id, name, email",
            vec![N, N, Y],
        ),
        (
            "UPDATE orders SET note = $1 WHERE id = $2 RETURNING id, total, note",
            vec![N, N, Y],
        ),
        (
            "DELETE FROM tags WHERE id = $1 RETURNING id, order_id, label",
            vec![N, Y, N],
        ),
    ]
}

fn literal_params(n: usize) -> Vec<&'static str> {
    // Values that make the statements above run on the test data.
    ["1", "'x'"].iter().cycle().take(n).copied().collect()
}

#[test]
fn nullability_table() {
    let mut conn = connect();
    let mut failures = Vec::new();
    for (sql, expected) in shapes() {
        let desc = describe(&mut conn, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got: Vec<_> = desc.columns.iter().map(|c| c.nullable).collect();
        if got != expected {
            let plan = conn
                .simple_query(&format!(
                    "EXPLAIN (VERBOSE) {}",
                    sql.replace("$1", "1").replace("$2", "2")
                ))
                .unwrap();
            for m in plan {
                if let SimpleQueryMessage::Row(r) = m {
                    eprintln!("{}", r.get(0).unwrap_or(""));
                }
            }
            failures.push(format!(
                "{sql}\n  expected {expected:?}\n  got      {got:?}"
            ));
            continue;
        }
        prove(&mut conn, sql, desc.params.len(), &got);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs the statement (in a rolled-back transaction) and checks no NotNull column is NULL.
fn prove(conn: &mut Connection, sql: &str, nparams: usize, nulls: &[Nullability]) {
    let mut text = sql.to_string();
    let params = if sql.starts_with("INSERT") {
        vec!["100000", "'new'"]
    } else if sql.starts_with("UPDATE") {
        vec!["'x'", "1"]
    } else {
        literal_params(nparams)
    };
    for (i, p) in params.iter().enumerate().rev() {
        text = text.replace(&format!("${}", i + 1), p);
    }
    conn.batch_execute("BEGIN").unwrap();
    let msgs = conn
        .simple_query(&text)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    conn.batch_execute("ROLLBACK").unwrap();
    let mut rows = 0;
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m {
            rows += 1;
            for (i, n) in nulls.iter().enumerate() {
                if *n == Nullability::NotNull {
                    assert!(r.get(i).is_some(), "{sql}: column {i} is NULL");
                }
            }
        }
    }
    assert!(
        rows > 0 || !nulls.contains(&Nullability::NotNull),
        "{sql}: no rows to prove with"
    );
}

#[test]
fn left_join_runs_as_right_join() {
    let mut conn = connect();
    let plan: String = conn
        .simple_query(
            "EXPLAIN SELECT o.id, u.id FROM users u LEFT JOIN orders o ON o.user_id = u.id",
        )
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert!(plan.contains("Right Join"), "{plan}");
}

#[test]
fn read_write() {
    let mut conn = connect();
    let cases = [
        ("SELECT id FROM users", StatementKind::Read),
        ("SELECT now()", StatementKind::Read),
        (
            "INSERT INTO users (id, name) VALUES ($1, $2)",
            StatementKind::Write,
        ),
        ("UPDATE users SET name = $1", StatementKind::Write),
        ("DELETE FROM users WHERE id = $1", StatementKind::Write),
        ("SELECT id FROM users FOR UPDATE", StatementKind::Write),
        ("SELECT nextval('s')", StatementKind::Write),
        ("SELECT pg_notify('c', 'x')", StatementKind::Write),
        ("CREATE TABLE t2 (a int)", StatementKind::Write),
    ];
    for (sql, kind) in cases {
        let desc = describe(&mut conn, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(desc.kind, kind, "{sql}");
    }
    // The statement was deallocated and the session setting reset.
    assert_eq!(prepared_statements(&mut conn), "0");
    let msgs = conn.simple_query("SHOW plan_cache_mode").unwrap();
    let SimpleQueryMessage::Row(r) = &msgs[0] else {
        panic!()
    };
    assert_eq!(r.get(0), Some("auto"));
}

#[test]
fn description_fields() {
    use lifeguard_offline::pg::types::Type;
    let mut conn = connect();
    let desc = describe(
        &mut conn,
        "SELECT u.id, u.email, 1 AS one FROM users u WHERE u.id = $1 AND u.name = $2",
    )
    .unwrap();
    let params: Vec<_> = desc.params.iter().map(|p| p.builtin().unwrap()).collect();
    assert_eq!(params, vec![Type::INT4, Type::TEXT]);
    assert_eq!(desc.kind, StatementKind::Read);
    let names: Vec<_> = desc.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "email", "one"]);
    assert_eq!(desc.columns[0].type_.builtin(), Some(Type::INT4));
    assert_eq!(desc.columns[0].origin, Some(("users".into(), "id".into())));
    assert_eq!(
        desc.columns[1].origin,
        Some(("users".into(), "email".into()))
    );
    assert_eq!(desc.columns[2].origin, None);
    // DDL has no plan: no columns, a write.
    let ddl = describe(&mut conn, "CREATE INDEX ON users (email)").unwrap();
    assert!(ddl.columns.is_empty());
    assert_eq!(ddl.kind, StatementKind::Write);
}

/// SQL that fools the parameter count sent along with Parse (a nested comment hides
/// `$5` from PostgreSQL, not from the counter): the plan batch runs again with the
/// server's count, and nothing is left prepared.
#[test]
fn a_wrong_parameter_guess_is_retried() {
    let mut conn = connect();
    let desc = describe(&mut conn, "SELECT 1 AS one /* outer /* inner */ $5 */").unwrap();
    assert!(desc.params.is_empty());
    assert_eq!(desc.columns[0].nullable, N);
    assert_eq!(prepared_statements(&mut conn), "0");
}
