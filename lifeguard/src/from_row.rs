//! Rows decoded into types at run time: [`FromRow`] (derivable with
//! `#[derive(FromRow)]`) and [`query_as`] for SQL that is only known at run time.

use std::marker::PhantomData;

use lifeguard_pg::types::{FromSqlOwned, ToSql};
use lifeguard_pg::{Error, Row};

use crate::query::{Executor, Query, query, run_methods};

/// A type built from a row. `#[derive(FromRow)]` reads each field from the column of
/// the same name (`#[lifeguard(rename = "col")]` names another), and a name that two
/// columns of the row share (`SELECT a.id, b.id`) is [`Error::AmbiguousColumn`] rather
/// than the first of them; tuples of up to 16 elements read by position.
///
/// ```no_run
/// # fn demo(pool: &lifeguard::Pool) -> Result<(), lifeguard::Error> {
/// #[derive(lifeguard::FromRow)]
/// struct User {
///     id: i32,
///     #[lifeguard(rename = "email")]
///     address: Option<String>,
/// }
///
/// let users: Vec<User> = lifeguard::query_as("SELECT id, email FROM users").fetch_all(pool)?;
/// let pairs: Vec<(i32, String)> = lifeguard::query_as("SELECT id, name FROM users")
///     .fetch_all(pool)?;
/// # Ok(()) }
/// ```
pub trait FromRow: Sized {
    /// Decodes one row; errors name the column.
    fn from_row(row: &Row) -> Result<Self, Error>;
}

/// Reads column `index`; a NULL into a non-`Option` is [`Error::UnexpectedNull`]. Errors
/// name the column as the code does, without the overrides of its alias (`email`, not
/// `email!`).
pub fn get<T: FromSqlOwned>(row: &Row, index: usize) -> Result<T, Error> {
    use lifeguard_offline::description::Alias;
    row.get(index).map_err(|e| match e {
        Error::UnexpectedNull { column } => Error::UnexpectedNull {
            column: Alias::parse(&column).name.to_string(),
        },
        Error::Decode { column, source } => Error::Decode {
            column: Alias::parse(&column).name.to_string(),
            source,
        },
        other => other,
    })
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromSqlOwned),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self, Error> {
                Ok(($(get::<$t>(row, $i)?,)+))
            }
        }
    };
}

tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);

/// A run-time query whose rows decode into `T`; see [`query_as`].
#[must_use = "a query does nothing until it is run with fetch_*, execute or for_each"]
pub struct QueryAs<'a, T> {
    query: Query<'a>,
    row: PhantomData<fn() -> T>,
}

/// A query checked only at run time, its rows decoded with [`FromRow`]: the escape hatch
/// for SQL built at run time. Prefer `query_as!`, which the compiler checks.
pub fn query_as<T: FromRow>(sql: &str) -> QueryAs<'_, T> {
    QueryAs {
        query: query(sql),
        row: PhantomData,
    }
}

impl<'a, T: FromRow> QueryAs<'a, T> {
    /// Binds the next parameter (`$1`, then `$2`, ...).
    pub fn bind(self, value: &'a (dyn ToSql + Sync)) -> Self {
        QueryAs {
            query: self.query.bind(value),
            row: PhantomData,
        }
    }

    run_methods!(T);

    fn route_mut(&mut self) -> &mut crate::route::Route {
        self.query.route_mut()
    }

    fn run_raw(
        &self,
        executor: impl Executor,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        self.query.run_raw(executor, on_row)
    }

    fn decode(&self, row: Row) -> Result<T, Error> {
        T::from_row(&row)
    }
}
