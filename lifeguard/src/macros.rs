//! The `query!` family: SQL checked at compile time against a live database (when
//! `DATABASE_URL` is set and `LIFEGUARD_OFFLINE` is not true) or against the committed
//! `.lifeguard/` metadata. Each expands to a [`CheckedQuery`](crate::CheckedQuery) that
//! runs on any [`Executor`](crate::Executor); [`queries!`] turns a `.sql` file of named
//! statements into a module of functions.
//!
//! The examples use a table `users (id int4 PRIMARY KEY, name text NOT NULL, email text)`.

/// A statement checked at compile time whose rows decode into a generated struct with
/// one field per column: `Option<T>` exactly where the column can be NULL.
///
/// Arguments bind to `$1`, `$2`, ... and are checked against the parameter types:
/// `T`, `&T`, `Option<T>` and `Option<&T>` of a Rust type that fits, `&str`/`String`
/// for text, `&[u8]`/`Vec<u8>` for bytea, slices and `Vec`s for arrays. `expr as Type`
/// is a Rust cast that skips the check: `v.len() as i64`, or a user type that implements
/// `ToSql` (`status as Mood`; cast a reference, `&status as &Mood`, to keep a value that
/// is not `Copy`).
///
/// Column aliases override what the check found: `"col!"` (never NULL), `"col?"` (may
/// be NULL), `"col: Type"`, `"col!: Type"`, `"col?: Type"`. A NULL that reaches a
/// non-`Option` field at run time is [`Error::UnexpectedNull`](crate::Error::UnexpectedNull).
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// let user = lifeguard::query!("SELECT id, name, email FROM users WHERE id = $1", 1)
///     .fetch_one(pool)?;
/// let email: Option<String> = user.email;
/// println!("{} {} {email:?}", user.id, user.name);
///
/// let inserted = lifeguard::query!(
///     "INSERT INTO users (id, name) VALUES ($1, $2)",
///     2,
///     "grace"
/// )
/// .execute(pool)?;
/// assert_eq!(inserted, 1);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! query {
    ($($args:tt)*) => { $crate::__private::macros::query!($($args)*) };
}

/// Like [`query!`], with rows decoded into a struct you name: each column sets the field
/// of the same name, whose type must fit the column's type and nullability.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// struct User {
///     id: i32,
///     name: String,
///     email: Option<String>,
/// }
///
/// let users: Vec<User> = lifeguard::query_as!(User, "SELECT id, name, email FROM users")
///     .fetch_all(pool)?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! query_as {
    ($($args:tt)*) => { $crate::__private::macros::query_as!($($args)*) };
}

/// Like [`query!`], for a statement with exactly one column: rows decode into its value.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// let count: i64 = lifeguard::query_scalar!("SELECT count(*) FROM users").fetch_one(pool)?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! query_scalar {
    ($($args:tt)*) => { $crate::__private::macros::query_scalar!($($args)*) };
}

/// [`query!`] with the SQL in a file, its path relative to the crate root. Editing the
/// file rebuilds the caller.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// // This crate's root is `lifeguard/`; the repository keeps its SQL in `queries/`.
/// for post in lifeguard::query_file!("../queries/top_posts.sql", 3i64).fetch_all(pool)? {
///     println!("{} by {} ({} likes)", post.title, post.author, post.likes);
/// }
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! query_file {
    ($($args:tt)*) => { $crate::__private::macros::query_file!($($args)*) };
}

/// [`query_as!`] with the SQL in a file: `query_file_as!(User, "queries/x.sql", args..)`.
#[macro_export]
macro_rules! query_file_as {
    ($($args:tt)*) => { $crate::__private::macros::query_file_as!($($args)*) };
}

/// [`query_scalar!`] with the SQL in a file.
#[macro_export]
macro_rules! query_file_scalar {
    ($($args:tt)*) => { $crate::__private::macros::query_file_scalar!($($args)*) };
}

/// A `.sql` file of named statements as a module of typed functions, each checked at
/// compile time like a [`query!`] (the same nullability, overrides, offline entries and
/// `cargo lifeguard prepare`). The path is relative to the crate root; editing the file
/// rebuilds the caller.
///
/// ```sql
/// -- name: user_by_email(email) :optional
/// SELECT id, name, email FROM users WHERE email = $1;
///
/// -- name: rename_user(id, name) :execute
/// UPDATE users SET name = $2 WHERE id = $1;
/// ```
///
/// - `-- name: f(a, b)` starts statement `f` (its SQL runs to the next `-- name:` line;
///   one final `;` is dropped); `a` binds `$1`, `b` binds `$2`. Without a list the
///   parameters are `p1`, `p2`, ... A parameter written `m: Type` takes that Rust type
///   and skips the check (`expr as Type` in [`query!`]).
/// - `:one`, `:optional`, `:many`, `:execute` after it: the function returns the row,
///   `Option` of it, `Vec` of rows, or the rows affected. Default: `:many` for a statement
///   with columns, else `:execute`.
/// - Each function is `f(executor, a, b)`, the executor being anything a query runs on
///   (`&pool`, `&mut tx`, ...); each argument takes any Rust type that fits its
///   parameter. A statement with columns gets a row struct named in CamelCase
///   (`UserByEmail`), `Option<T>` exactly where a column can be NULL.
/// - The module is named after the file (`users` for `users.sql`), or as given, with a
///   visibility: `queries!(pub mod accounts = "queries/users.sql")`.
/// - Errors name the statement and its line in the file; a SQL error shows that line with
///   a caret under the position.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// // This crate's root is `lifeguard/`; the repository keeps its SQL in `queries/`.
/// lifeguard::queries!(mod users = "../queries/users.sql");
///
/// if let Some(ada) = users::user_by_email(pool, "ada@example.com")? {
///     let email: Option<String> = ada.email;
///     users::rename_user(pool, ada.id, "Ada")?;
/// }
/// let id: i32 = users::add_user(pool, "grace", None::<&str>)?.id;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! queries {
    ($($args:tt)*) => { $crate::__private::macros::queries!($($args)*); };
}

/// The unchecked form of [`query!`] for SQL only known at run time: a
/// [`Query`](crate::Query) with the arguments bound, rows as [`Row`](crate::Row)s.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool, table: &str) -> Result<(), lifeguard::Error> {
/// let sql = format!("SELECT count(*) FROM {table} WHERE id > $1");
/// let row = lifeguard::query_unchecked!(&sql, &10).fetch_one(pool)?;
/// let n: i64 = row.get(0)?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! query_unchecked {
    ($sql:expr $(, $arg:expr)* $(,)?) => { $crate::query($sql)$(.bind($arg))* };
}

/// The unchecked form of [`query_as!`]: rows decode through [`FromRow`](crate::FromRow).
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// #[derive(lifeguard::FromRow)]
/// struct User {
///     id: i32,
///     name: String,
/// }
/// let sql = String::from("SELECT id, name FROM users WHERE id = $1");
/// let user = lifeguard::query_as_unchecked!(User, &sql, &1).fetch_one(pool)?;
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! query_as_unchecked {
    ($ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => { $crate::query_as::<$ty>($sql)$(.bind($arg))* };
}
