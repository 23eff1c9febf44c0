//! `lifeguard::queries!`: a `.sql` file of named statements as a module of typed
//! functions, checked at compile time like `query!` (online, or offline from the
//! committed `.lifeguard/` entries), run here on a real database.
//!
//! The row types are asserted by the annotated `let`s: a wrong inference or override
//! fails to compile.

use lifeguard::Error;
use lifeguard_suite::Mood;

lifeguard::queries!("queries/users.sql");
lifeguard::queries!(pub(crate) mod forms = "queries/overrides.sql");

/// Reads and writes, on the pool and in a transaction.
#[test]
fn a_module_with_reads_and_writes() {
    let pool = lifeguard_suite::schema_pool("queries", "");
    let ada: i32 = users::add_user(&pool, "ada", Some("ada@example.com"))
        .unwrap()
        .id;
    let grace = users::add_user(&pool, "grace", None::<&str>).unwrap().id;

    let found: Option<users::UserByEmail> = users::user_by_email(&pool, "ada@example.com").unwrap();
    let found = found.expect("ada");
    let (id, name, email): (i32, String, Option<String>) = (found.id, found.name, found.email);
    assert_eq!(
        (id, name.as_str(), email.as_deref()),
        (ada, "ada", Some("ada@example.com"))
    );
    assert!(
        users::user_by_email(&pool, "nobody@example.com")
            .unwrap()
            .is_none()
    );

    let renamed: u64 = users::rename_user(&pool, grace, "Grace").unwrap();
    assert_eq!(renamed, 1);
    let all: Vec<users::UsersNamedLike> = users::users_named_like(&pool, "%a%").unwrap();
    let names: Vec<(&str, Option<&str>)> = all
        .iter()
        .map(|u| (u.name.as_str(), u.email.as_deref()))
        .collect();
    assert_eq!(names, [("ada", Some("ada@example.com")), ("Grace", None)]);
    let n: i64 = users::count_users(&pool).unwrap().remove(0).n;
    assert_eq!(n, 2);

    let mut tx = pool.begin().unwrap();
    assert_eq!(users::rename_user(&mut tx, ada, "changed").unwrap(), 1);
    let inside = users::users_named_like(&mut tx, "changed").unwrap();
    assert_eq!(inside.len(), 1);
    tx.rollback().unwrap();
    assert!(
        users::users_named_like(&pool, "changed")
            .unwrap()
            .is_empty()
    );
    assert_eq!(users::rename_user(&pool, -1, "nobody").unwrap(), 0);
}

/// Every override form: column aliases `"c!"`, `"c?"`, `"c: Type"`, `"c!: Type"`,
/// `"c?: Type"`, and a parameter with a Rust type.
#[test]
fn every_override_form() {
    let pool = lifeguard_suite::schema_pool("queries_overrides", "");
    assert_eq!(
        forms::add_sample(&pool, 1, Some("calm"), Mood::Happy).unwrap(),
        1
    );
    let row: forms::Sample = forms::sample(&pool, 1).unwrap();
    let id: Option<i32> = row.id;
    let t: String = row.t;
    let mood: Option<Mood> = row.mood;
    let sure: Mood = row.sure;
    let maybe: Option<Mood> = row.maybe;
    let shout: String = row.shout;
    assert_eq!(
        (id, t.as_str(), mood, sure, maybe, shout.as_str()),
        (
            Some(1),
            "calm",
            Some(Mood::Happy),
            Mood::Happy,
            Some(Mood::Happy),
            "CALM"
        )
    );

    // `"t!"` vouches for a column that can be NULL: a NULL there is an error naming it.
    forms::add_sample(&pool, 2, None::<&str>, Mood::Sad).unwrap();
    match forms::sample(&pool, 2) {
        Err(Error::UnexpectedNull { column }) => assert_eq!(column, "t"),
        other => panic!("expected UnexpectedNull, got {other:?}"),
    }
    // `:one` on no row is an error, not a panic.
    assert!(matches!(
        forms::sample(&pool, 3),
        Err(Error::RowCount { found: 0, .. })
    ));
}
