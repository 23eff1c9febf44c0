//! Column and argument overrides of the `query!` family, the run-time escape hatches
//! (`#[derive(FromRow)]`, `query_as`, `query_unchecked!`, `query_as_unchecked!`), what
//! each way of running a query returns, the read/write class in `StatementInfo`, and the
//! three executors (pool, transaction, pooled connection), against a real database.

use std::sync::OnceLock;

use lifeguard::{CheckedQuery, Error, Nullability, Pool, StatementKind};
use lifeguard_suite::Mood;
use postgres_types::{FromSql, ToSql};

/// A newtype over `int4`, as a user would write for ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSql, FromSql)]
#[postgres(transparent)]
struct UserId(i32);

/// A newtype over `text` with a hand-written `FromSql` (not derived).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Email(String);

impl<'a> FromSql<'a> for Email {
    fn from_sql(
        ty: &postgres_types::Type,
        raw: &'a [u8],
    ) -> Result<Email, Box<dyn std::error::Error + Sync + Send>> {
        String::from_sql(ty, raw).map(Email)
    }

    fn accepts(ty: &postgres_types::Type) -> bool {
        <String as FromSql>::accepts(ty)
    }
}

/// The users every test reads (ids 1..=3); tests that write use ids of their own.
const SEED: &str = "
    INSERT INTO users (id, name, email) VALUES
        (1, 'ada', 'ada@example.com'), (2, 'bob', NULL), (3, 'cy', 'cy@example.com');
    INSERT INTO samples (id, m) VALUES (1, 'happy'), (2, NULL), (3, 'sad');
";

/// One pool on one fresh database for the whole file.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| lifeguard_suite::schema_pool("overrides", SEED))
}

/// Each result column's name (overrides removed) and whether its field is an `Option`.
fn columns<R>(q: &CheckedQuery<R>) -> Vec<(String, bool)> {
    q.statement()
        .columns()
        .iter()
        .map(|c| {
            let nullable = c.nullability_in_code() == Nullability::Nullable;
            (c.alias().name.to_string(), nullable)
        })
        .collect()
}

/// `"col!"` makes a nullable column a plain `T` field.
#[test]
fn bang_forces_not_null() {
    let q = lifeguard::query!(r#"SELECT email AS "email!" FROM users WHERE id = $1"#, 1);
    assert_eq!(columns(&q), [("email".to_string(), false)]);
    let row = q.fetch_one(pool()).unwrap();
    let email: String = row.email;
    assert_eq!(email, "ada@example.com");

    let max: i32 = lifeguard::query_scalar!(r#"SELECT max(id) AS "max!" FROM users"#)
        .fetch_one(pool())
        .unwrap();
    assert!(max >= 3);
}

/// A NULL in a `"col!"` column is `Error::UnexpectedNull` naming the column, not a
/// panic, through `query!`, `query_scalar!` and `query_as!` alike.
#[test]
fn bang_on_a_null_is_an_error_naming_the_column() {
    let err = lifeguard::query!(
        r#"SELECT id, email AS "email!" FROM users WHERE id = $1"#,
        2
    )
    .fetch_one(pool())
    .unwrap_err();
    assert_unexpected_null(&err, "email");

    let err = lifeguard::query_scalar!(r#"SELECT email AS "email!" FROM users WHERE id = 2"#)
        .fetch_all(pool())
        .unwrap_err();
    assert_unexpected_null(&err, "email");

    struct Strict {
        email: String,
    }
    let err = lifeguard::query_as!(
        Strict,
        r#"SELECT email AS "email!" FROM users WHERE id = 2"#
    )
    .fetch_optional(pool())
    .map(|found| found.map(|s| s.email))
    .unwrap_err();
    assert_unexpected_null(&err, "email");

    // The pool is fine afterwards.
    let n: i64 = lifeguard::query_scalar!("SELECT count(*) FROM users WHERE id <= 3")
        .fetch_one(pool())
        .unwrap();
    assert_eq!(n, 3);
}

/// The error is `UnexpectedNull` and names the column as the code does: `email`, the
/// alias's overrides (`email!`, `m!: Mood`) removed.
fn assert_unexpected_null(err: &Error, name: &str) {
    match err {
        Error::UnexpectedNull { column } => assert_eq!(column, name),
        other => panic!("expected UnexpectedNull for {name}, got {other:?}"),
    }
}

/// `"col?"` makes a NOT NULL column an `Option<T>` field.
#[test]
fn question_mark_forces_nullable() {
    let q = lifeguard::query!(r#"SELECT id AS "id?", name FROM users WHERE id = $1"#, 1);
    assert_eq!(
        columns(&q),
        [("id".to_string(), true), ("name".to_string(), false)]
    );
    let row = q.fetch_one(pool()).unwrap();
    let id: Option<i32> = row.id;
    assert_eq!((id, row.name.as_str()), (Some(1), "ada"));
}

/// `"col: Type"` reads into a user type: a derived newtype, a hand-written `FromSql`,
/// and an enum; the inferred nullability still decides `T` or `Option<T>`.
#[test]
fn colon_names_the_rust_type() {
    let row = lifeguard::query!(
        r#"SELECT id AS "id: UserId", email AS "email: Email" FROM users WHERE id = $1"#,
        1
    )
    .fetch_one(pool())
    .unwrap();
    let id: UserId = row.id;
    let email: Option<Email> = row.email;
    assert_eq!(id, UserId(1));
    assert_eq!(email, Some(Email("ada@example.com".into())));

    let moods: Vec<Option<Mood>> =
        lifeguard::query_scalar!(r#"SELECT m AS "m: Mood" FROM samples WHERE id <= 3 ORDER BY id"#)
            .fetch_all(pool())
            .unwrap();
    assert_eq!(moods, vec![Some(Mood::Happy), None, Some(Mood::Sad)]);
}

/// `"col!: Type"` is a non-`Option` user type; a NULL in it is `UnexpectedNull`.
#[test]
fn bang_colon_is_a_non_null_user_type() {
    let q = lifeguard::query!(
        r#"SELECT email AS "email!: Email", m AS "m!: Mood" FROM users, samples
           WHERE users.id = $1 AND samples.id = $2"#,
        3,
        3
    );
    assert_eq!(
        columns(&q),
        [("email".to_string(), false), ("m".to_string(), false)]
    );
    let row = q.fetch_one(pool()).unwrap();
    let (email, mood): (Email, Mood) = (row.email, row.m);
    assert_eq!((email, mood), (Email("cy@example.com".into()), Mood::Sad));

    let err = lifeguard::query_scalar!(r#"SELECT m AS "m!: Mood" FROM samples WHERE id = 2"#)
        .fetch_one(pool())
        .unwrap_err();
    assert_unexpected_null(&err, "m");
}

/// `"col?: Type"` is an `Option` of a user type, even for a NOT NULL column.
#[test]
fn question_colon_is_an_optional_user_type() {
    let ids: Vec<Option<UserId>> = lifeguard::query_scalar!(
        r#"SELECT id AS "id?: UserId" FROM users WHERE id <= 3 ORDER BY id"#
    )
    .fetch_all(pool())
    .unwrap();
    assert_eq!(ids, vec![Some(UserId(1)), Some(UserId(2)), Some(UserId(3))]);
    let emails: Vec<Option<Email>> = lifeguard::query_scalar!(
        r#"SELECT email AS "email?: Email" FROM users WHERE id <= 3 ORDER BY id"#
    )
    .fetch_all(pool())
    .unwrap();
    assert_eq!(emails[1], None);
}

/// `expr as Type` binds a user type the argument check does not know: a newtype for
/// `int4`, an enum for `mood`, and an `Option` of one.
#[test]
fn as_type_binds_user_types() {
    let id = UserId(2);
    let name = lifeguard::query_scalar!("SELECT name FROM users WHERE id = $1", id as UserId)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(name, "bob");

    let written = lifeguard::query_scalar!(
        r#"INSERT INTO samples (id, m) VALUES ($1, $2) RETURNING m AS "m: Mood""#,
        100,
        Mood::Meh as Mood
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(written, Some(Mood::Meh));
    let cleared = lifeguard::query_scalar!(
        r#"UPDATE samples SET m = $2 WHERE id = $1 RETURNING m AS "m: Mood""#,
        100,
        None::<Mood> as Option<Mood>
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(cleared, None);
    let happy = Mood::Happy;
    let found = lifeguard::query_scalar!(
        "SELECT count(*) FROM samples WHERE m = $1 AND id <= 3",
        &happy as &Mood
    )
    .fetch_one(pool())
    .unwrap();
    assert_eq!(found, 1);
}

/// A user's row type for the run-time API.
#[derive(Debug, PartialEq, lifeguard::FromRow)]
struct User {
    id: i32,
    name: String,
    #[lifeguard(rename = "email")]
    address: Option<String>,
}

/// `#[derive(FromRow)]` with `lifeguard::query_as::<T>` reads columns by name (and by
/// `rename`), and a NULL into a non-`Option` field is `UnexpectedNull`.
#[test]
fn derived_from_row_with_query_as() {
    let users: Vec<User> =
        lifeguard::query_as::<User>("SELECT email, name, id FROM users WHERE id <= $1 ORDER BY id")
            .bind(&2)
            .fetch_all(pool())
            .unwrap();
    assert_eq!(
        users,
        vec![
            User {
                id: 1,
                name: "ada".into(),
                address: Some("ada@example.com".into()),
            },
            User {
                id: 2,
                name: "bob".into(),
                address: None,
            },
        ]
    );

    #[derive(Debug, lifeguard::FromRow)]
    struct Strict {
        #[allow(dead_code)]
        email: String,
    }
    let err = lifeguard::query_as::<Strict>("SELECT email FROM users WHERE id = 2")
        .fetch_one(pool())
        .unwrap_err();
    assert_unexpected_null(&err, "email");

    // Two columns called `id` (a join without aliases): the derived reader does not
    // guess which one the field means.
    let err = lifeguard::query_as::<User>(
        "SELECT u.id, u.name, u.email, v.id FROM users u JOIN users v ON v.id = u.id WHERE u.id = 1",
    )
    .fetch_one(pool())
    .unwrap_err();
    assert!(
        matches!(&err, lifeguard::Error::AmbiguousColumn { name, positions } if name == "id" && positions == &[0, 3]),
        "{err:?}"
    );

    let pair: Option<(i32, String)> =
        lifeguard::query_as::<(i32, String)>("SELECT id, name FROM users WHERE id = 404")
            .fetch_optional(pool())
            .unwrap();
    assert_eq!(pair, None);
}

/// The unchecked macros bind their arguments and run SQL built at run time.
#[test]
fn unchecked_macros_run_runtime_sql() {
    let table = "users";
    let sql = format!("SELECT id, name, email FROM {table} WHERE id = $1");
    let user = lifeguard::query_as_unchecked!(User, &sql, &3)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(user.name, "cy");

    let count_sql = format!("SELECT count(*) FROM {table} WHERE id BETWEEN $1 AND $2");
    let row = lifeguard::query_unchecked!(&count_sql, &1, &3)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(row.get::<i64>(0).unwrap(), 3);
    let rows = lifeguard::query_unchecked!("SELECT 1 UNION ALL SELECT 2")
        .fetch_all(pool())
        .unwrap();
    assert_eq!(rows.len(), 2);
}

/// `.execute` returns the rows a write affected (0 when none matched).
#[test]
fn execute_returns_rows_affected() {
    let inserted = lifeguard::query!(
        "INSERT INTO users (id, name) SELECT g, 'exec' || g FROM generate_series($1::int4, $2) g",
        200,
        204
    )
    .execute(pool())
    .unwrap();
    assert_eq!(inserted, 5);
    let updated = lifeguard::query!(
        "UPDATE users SET email = $1 WHERE id BETWEEN $2 AND $3",
        "x@example.com",
        200,
        202
    )
    .execute(pool())
    .unwrap();
    assert_eq!(updated, 3);
    let none = lifeguard::query!("DELETE FROM users WHERE id = $1", 999)
        .execute(pool())
        .unwrap();
    assert_eq!(none, 0);
    let deleted = lifeguard::query!("DELETE FROM users WHERE id BETWEEN $1 AND $2", 200, 204)
        .execute(pool())
        .unwrap();
    assert_eq!(deleted, 5);
}

/// `.fetch_optional` is `None` for no row, `Some` for one, `RowCount` for more.
#[test]
fn fetch_optional_none_some_and_too_many() {
    let q = |id: i32| lifeguard::query!("SELECT name FROM users WHERE id = $1", id);
    assert!(q(404).fetch_optional(pool()).unwrap().is_none());
    assert_eq!(q(1).fetch_optional(pool()).unwrap().unwrap().name, "ada");
    let err = lifeguard::query_scalar!("SELECT id FROM users WHERE id <= 2")
        .fetch_optional(pool())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::RowCount {
                expected: "at most one",
                found: 2
            }
        ),
        "{err:?}"
    );
}

/// `.fetch_one` on zero rows (or two) is `Error::RowCount`.
#[test]
fn fetch_one_needs_exactly_one_row() {
    let err = lifeguard::query!("SELECT name FROM users WHERE id = $1", 404)
        .fetch_one(pool())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::RowCount {
                expected: "exactly one",
                found: 0
            }
        ),
        "{err:?}"
    );
    let err = lifeguard::query_scalar!("SELECT id FROM users WHERE id IN (1, 3)")
        .fetch_one(pool())
        .unwrap_err();
    assert!(matches!(err, Error::RowCount { found: 2, .. }), "{err:?}");
}

/// `.for_each` hands every row over in order and returns the count; an error from the
/// closure ends the run, comes back, and leaves the pool usable.
#[test]
fn for_each_visits_rows() {
    let mut seen = Vec::new();
    let n = lifeguard::query!("SELECT id, name FROM users WHERE id <= $1 ORDER BY id", 3)
        .for_each(pool(), |row| {
            seen.push((row.id, row.name));
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 3);
    let names: Vec<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["ada", "bob", "cy"]);

    let mut visited = 0;
    let stopped = lifeguard::query_scalar!("SELECT g FROM generate_series(1, 100) g").for_each(
        pool(),
        |_| {
            visited += 1;
            if visited == 2 {
                Err(Error::RowCount {
                    expected: "a test's stop",
                    found: 2,
                })
            } else {
                Ok(())
            }
        },
    );
    assert!(matches!(stopped, Err(Error::RowCount { found: 2, .. })));
    assert_eq!(visited, 2);
    let after: i32 = lifeguard::query_scalar!(r#"SELECT 7 AS "seven!""#)
        .fetch_one(pool())
        .unwrap();
    assert_eq!(after, 7);
}

/// `StatementInfo::kind`: plain SELECTs are reads; writes, row locks and volatile
/// functions are writes.
#[test]
fn statement_kind_classifies_reads_and_writes() {
    let read = [
        lifeguard::query!("SELECT id, name FROM users").statement(),
        lifeguard::query!("SELECT count(*) AS n FROM users u JOIN posts p ON p.author_id = u.id")
            .statement(),
        lifeguard::query!("SELECT n FROM customer_names()").statement(),
        lifeguard::query!("WITH x AS (SELECT id FROM users) SELECT id FROM x").statement(),
    ];
    for s in read {
        assert_eq!(s.kind(), StatementKind::Read, "{}", s.sql);
    }
    let write = [
        lifeguard::query!("INSERT INTO users (name) VALUES ($1)", "w").statement(),
        lifeguard::query!("UPDATE users SET name = $1 WHERE id = $2", "w", 1).statement(),
        lifeguard::query!("DELETE FROM users WHERE id = $1", 1).statement(),
        lifeguard::query!("SELECT nextval('users_id_seq') AS next").statement(),
        lifeguard::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", 1).statement(),
        lifeguard::query!("SELECT id FROM users FOR SHARE SKIP LOCKED").statement(),
        lifeguard::query!("SELECT random() AS r").statement(),
        lifeguard::query!(
            "WITH gone AS (DELETE FROM users WHERE id = $1 RETURNING id) SELECT id FROM gone",
            1
        )
        .statement(),
    ];
    for s in write {
        assert_eq!(s.kind(), StatementKind::Write, "{}", s.sql);
    }
}

/// The same checked query runs on the pool, in a transaction (closure and explicit),
/// and on a pooled connection.
#[test]
fn every_executor_runs_checked_queries() {
    let name_of = |id: i32| lifeguard::query_scalar!("SELECT name FROM users WHERE id = $1", id);

    assert_eq!(name_of(1).fetch_one(pool()).unwrap(), "ada");

    let (seen, inserted) = pool()
        .transaction(|tx| {
            let seen = name_of(2).fetch_one(&mut *tx)?;
            let inserted =
                lifeguard::query!("INSERT INTO users (id, name) VALUES ($1, $2)", 300, "in-tx")
                    .execute(&mut *tx)?;
            Ok::<_, Error>((seen, inserted))
        })
        .unwrap();
    assert_eq!((seen.as_str(), inserted), ("bob", 1));
    assert_eq!(name_of(300).fetch_one(pool()).unwrap(), "in-tx");

    let mut conn = pool().acquire().unwrap();
    assert_eq!(name_of(3).fetch_one(&mut conn).unwrap(), "cy");
    let ids: Vec<i32> = lifeguard::query_scalar!("SELECT id FROM users WHERE id IN (1, 300)")
        .fetch_all(&mut conn)
        .unwrap();
    assert_eq!(ids.len(), 2);
    drop(conn);
}

/// A transaction sees its own writes; rolled back (explicitly, by an `Err` from the
/// closure, or by drop), they are gone.
#[test]
fn transactions_roll_back_checked_writes() {
    let insert = |id: i32| {
        lifeguard::query!(
            "INSERT INTO users (id, name) VALUES ($1, 'rolled back')",
            id
        )
    };
    let exists = |id: i32| lifeguard::query_scalar!("SELECT id FROM users WHERE id = $1", id);

    let mut tx = pool().begin().unwrap();
    insert(400).execute(&mut tx).unwrap();
    assert_eq!(exists(400).fetch_optional(&mut tx).unwrap(), Some(400));
    tx.rollback().unwrap();
    assert_eq!(exists(400).fetch_optional(pool()).unwrap(), None);

    let failed: Result<(), Error> = pool().transaction(|tx| {
        insert(401).execute(&mut *tx)?;
        // The second insert of the same id fails: everything rolls back.
        insert(401).execute(&mut *tx)?;
        Ok(())
    });
    assert!(matches!(failed, Err(Error::Db(_))), "{failed:?}");
    assert_eq!(exists(401).fetch_optional(pool()).unwrap(), None);

    {
        let mut tx = pool().begin().unwrap();
        insert(402).execute(&mut tx).unwrap();
    }
    assert_eq!(exists(402).fetch_optional(pool()).unwrap(), None);
}
