//! Result rows: typed access by index or by name.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::FromSql;

use crate::error::Error;
use crate::statement::Column;

/// Something that picks a column: its index (`usize`) or its name (`&str`).
pub trait RowIndex: fmt::Display {
    /// The position of the column this picks: [`Error::ColumnNotFound`] when the row
    /// has none, [`Error::AmbiguousColumn`] when a name fits more than one column.
    fn index_in(&self, columns: &[Column]) -> Result<usize, Error>;
}

impl RowIndex for usize {
    fn index_in(&self, columns: &[Column]) -> Result<usize, Error> {
        by_position(*self, columns.len())
    }
}

impl RowIndex for str {
    fn index_in(&self, columns: &[Column]) -> Result<usize, Error> {
        by_name(self, columns.iter().map(Column::name))
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index_in(&self, columns: &[Column]) -> Result<usize, Error> {
        (**self).index_in(columns)
    }
}

fn by_position(index: usize, width: usize) -> Result<usize, Error> {
    if index < width {
        Ok(index)
    } else {
        Err(Error::ColumnNotFound(index.to_string()))
    }
}

/// The one column called `name`. Two columns of one name (`SELECT a.id, b.id`) make
/// the name ambiguous rather than the first of them silently right.
fn by_name<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Result<usize, Error> {
    let positions: Vec<usize> = names
        .enumerate()
        .filter(|(_, n)| *n == name)
        .map(|(i, _)| i)
        .collect();
    match positions[..] {
        [] => Err(Error::ColumnNotFound(name.to_owned())),
        [one] => Ok(one),
        _ => Err(Error::AmbiguousColumn {
            name: name.to_owned(),
            positions,
        }),
    }
}

/// One row of a result, decoded lazily column by column.
pub struct Row {
    columns: Arc<[Column]>,
    body: DataRowBody,
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[Column]>, body: DataRowBody) -> Result<Row, Error> {
        let ranges = value_ranges(&body)?;
        if ranges.len() != columns.len() {
            return Err(Error::protocol(format!(
                "DataRow has {} values for {} columns",
                ranges.len(),
                columns.len()
            )));
        }
        Ok(Row {
            columns,
            body,
            ranges,
        })
    }

    /// The row's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True for a row without columns (`SELECT FROM t`).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Decodes one column.
    ///
    /// A NULL where `T` cannot hold one is [`Error::UnexpectedNull`]; a type that does
    /// not fit is [`Error::Decode`]; an unknown column is [`Error::ColumnNotFound`]; a
    /// name that two columns share is [`Error::AmbiguousColumn`] (pick by index, or give
    /// the columns distinct aliases).
    /// A column of a type the client does not know by OID (an extension type such as
    /// `citext`, a user enum) is handed to `T`'s decoder without the type check.
    ///
    /// ```no_run
    /// # fn demo(conn: &mut lifeguard_pg::Connection) -> Result<(), lifeguard_pg::Error> {
    /// let row = conn.query_one("SELECT 1::int4 AS one, NULL::text AS nothing", &[])?;
    /// let one: i32 = row.get(0)?;
    /// let nothing: Option<String> = row.get("nothing")?;
    /// assert_eq!((one, nothing), (1, None));
    /// # Ok(()) }
    /// ```
    pub fn get<'a, T: FromSql<'a>>(&'a self, index: impl RowIndex) -> Result<T, Error> {
        let i = self.position(&index)?;
        let column = &self.columns[i];
        let ty = column.type_();
        // Types the client does not know (extensions, enums) carry a placeholder no
        // decoder accepts by name: the decoder itself decides (citext into String, a
        // derived enum into its Rust enum).
        if !T::accepts(ty) && crate::statement::is_known(ty) {
            return Err(Error::Decode {
                column: column.name().to_owned(),
                source: format!(
                    "PostgreSQL type {} does not convert to Rust type {}",
                    ty.name(),
                    std::any::type_name::<T>()
                )
                .into(),
            });
        }
        let raw = self.raw_at(i);
        T::from_sql_nullable(ty, raw).map_err(|source| match raw {
            None => Error::UnexpectedNull {
                column: column.name().to_owned(),
            },
            Some(_) => Error::Decode {
                column: column.name().to_owned(),
                source,
            },
        })
    }

    /// The column's raw bytes in binary format; `None` for NULL.
    pub fn raw(&self, index: impl RowIndex) -> Result<Option<&[u8]>, Error> {
        let i = self.position(&index)?;
        Ok(self.raw_at(i))
    }

    fn position(&self, index: &impl RowIndex) -> Result<usize, Error> {
        index.index_in(&self.columns)
    }

    fn raw_at(&self, i: usize) -> Option<&[u8]> {
        self.ranges[i].clone().map(|r| &self.body.buffer()[r])
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field(
                "columns",
                &self.columns.iter().map(Column::name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Where each value of a DataRow lies in its buffer (`None` for NULL).
///
/// postgres-protocol reads every negative length as NULL; the protocol has only -1 for
/// that, so any other negative length is a protocol error here, as is a value running
/// past the end of the message.
pub(crate) fn value_ranges(body: &DataRowBody) -> Result<Vec<Option<Range<usize>>>, Error> {
    let buffer = body.buffer();
    let mut ranges = Vec::new();
    // Where the length field of the next value starts.
    let mut at = 0;
    let mut values = body.ranges();
    while let Some(range) = values
        .next()
        .map_err(|e| Error::protocol(format!("malformed DataRow: {e}")))?
    {
        match &range {
            Some(r) => at = r.end,
            None => {
                let len = buffer
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_be_bytes);
                if len != Some(-1) {
                    return Err(Error::protocol(format!(
                        "malformed DataRow: value {} has length {}; the only negative length is -1 (NULL)",
                        ranges.len() + 1,
                        len.map_or_else(|| "?".to_owned(), |l| l.to_string()),
                    )));
                }
                at += 4;
            }
        }
        ranges.push(range);
    }
    Ok(ranges)
}

/// Every row `run` hands to the callback it is given, in order: the `query` and
/// `fetch_all` of every query method that streams its rows to a callback.
///
/// ```
/// use lifeguard_pg::collect;
///
/// let rows = collect(|push| {
///     (1..=3).try_for_each(&mut *push)?;
///     Ok(3)
/// })?;
/// assert_eq!(rows, [1, 2, 3]);
/// # Ok::<(), lifeguard_pg::Error>(())
/// ```
pub fn collect<T>(
    run: impl FnOnce(&mut dyn FnMut(T) -> Result<(), Error>) -> Result<u64, Error>,
) -> Result<Vec<T>, Error> {
    let mut rows = Vec::new();
    run(&mut |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(rows)
}

/// The one row of a result that must have exactly one (every `query_one` and
/// `fetch_one`): [`Error::RowCount`] for none or more.
///
/// ```
/// use lifeguard_pg::{Error, exactly_one};
///
/// assert_eq!(exactly_one(vec![7])?, 7);
/// assert!(matches!(exactly_one(Vec::<i32>::new()), Err(Error::RowCount { found: 0, .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn exactly_one<T>(mut rows: Vec<T>) -> Result<T, Error> {
    match rows.len() {
        1 => Ok(rows.remove(0)),
        found => Err(Error::RowCount {
            expected: "exactly one",
            found,
        }),
    }
}

/// The row of a result that may have one (every `query_opt` and `fetch_optional`):
/// [`Error::RowCount`] for more.
///
/// ```
/// use lifeguard_pg::{Error, at_most_one};
///
/// assert_eq!(at_most_one(Vec::<i32>::new())?, None);
/// assert!(matches!(at_most_one(vec![1, 2]), Err(Error::RowCount { found: 2, .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn at_most_one<T>(mut rows: Vec<T>) -> Result<Option<T>, Error> {
    match rows.len() {
        0 => Ok(None),
        1 => Ok(Some(rows.remove(0))),
        found => Err(Error::RowCount {
            expected: "at most one",
            found,
        }),
    }
}

/// A row of a simple (text protocol) query: every value is text.
#[derive(Debug, Clone)]
pub struct SimpleRow {
    columns: Arc<[String]>,
    values: Vec<Option<String>>,
}

impl SimpleRow {
    pub(crate) fn new(columns: Arc<[String]>, body: &DataRowBody) -> Result<SimpleRow, Error> {
        let values: Vec<Option<String>> = value_ranges(body)?
            .into_iter()
            .map(|r| r.map(|r| String::from_utf8_lossy(&body.buffer()[r]).into_owned()))
            .collect();
        if values.len() != columns.len() {
            return Err(Error::protocol("DataRow width differs from RowDescription"));
        }
        Ok(SimpleRow { columns, values })
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The text of a column: `None` for NULL, and for a column the row does not have
    /// or a name two columns share ([`try_get`](Self::try_get) tells these apart).
    pub fn get(&self, index: impl SimpleIndex) -> Option<&str> {
        self.try_get(index).ok().flatten()
    }

    /// The text of a column (`None` for NULL); [`Error::ColumnNotFound`] or
    /// [`Error::AmbiguousColumn`] when `index` picks no single column.
    pub fn try_get(&self, index: impl SimpleIndex) -> Result<Option<&str>, Error> {
        let i = index.simple_index(&self.columns)?;
        Ok(self.values[i].as_deref())
    }
}

/// Picks a column of a [`SimpleRow`].
pub trait SimpleIndex {
    /// The position of the column this picks, as [`RowIndex::index_in`] does.
    fn simple_index(&self, columns: &[String]) -> Result<usize, Error>;
}

impl SimpleIndex for usize {
    fn simple_index(&self, columns: &[String]) -> Result<usize, Error> {
        by_position(*self, columns.len())
    }
}

impl SimpleIndex for &str {
    fn simple_index(&self, columns: &[String]) -> Result<usize, Error> {
        by_name(self, columns.iter().map(String::as_str))
    }
}

/// What a simple query returns, statement by statement.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SimpleQueryMessage {
    /// A row.
    Row(SimpleRow),
    /// A statement finished, having affected or returned this many rows.
    CommandComplete(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use postgres_protocol::message::backend::Message;

    fn data_row(values: &[i32]) -> DataRowBody {
        let mut body = (values.len() as u16).to_be_bytes().to_vec();
        for len in values {
            body.extend(len.to_be_bytes());
            body.extend(std::iter::repeat_n(b'x', (*len).max(0) as usize));
        }
        let mut bytes = vec![b'D'];
        bytes.extend(((body.len() + 4) as u32).to_be_bytes());
        bytes.extend(body);
        match Message::parse(&mut BytesMut::from(&bytes[..])) {
            Ok(Some(Message::DataRow(body))) => body,
            _ => unreachable!("a well-framed DataRow"),
        }
    }

    #[test]
    fn minus_one_is_null_and_other_negative_lengths_are_errors() {
        assert_eq!(
            value_ranges(&data_row(&[2, -1, 0])).unwrap(),
            vec![Some(4..6), None, Some(14..14)]
        );
        let err = value_ranges(&data_row(&[2, -2])).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err:?}");
        assert!(err.to_string().contains("value 2 has length -2"), "{err}");
        assert!(value_ranges(&data_row(&[i32::MIN])).is_err());
    }

    #[test]
    fn a_name_picks_its_one_column_or_says_why_not() {
        let names = ["id", "name", "id"];
        assert_eq!(by_name("name", names.into_iter()).unwrap(), 1);
        let err = by_name("id", names.into_iter()).unwrap_err();
        assert!(
            matches!(&err, Error::AmbiguousColumn { name, positions } if name == "id" && positions == &[0, 2]),
            "{err:?}"
        );
        assert!(err.to_string().contains("columns 0 and 2"), "{err}");
        assert!(matches!(
            by_name("nope", names.into_iter()),
            Err(Error::ColumnNotFound(_))
        ));
        assert!(matches!(by_position(3, 3), Err(Error::ColumnNotFound(_))));
    }

    #[test]
    fn a_simple_row_tells_null_from_ambiguous() {
        let row = SimpleRow {
            columns: vec!["id".to_owned(), "id".to_owned(), "v".to_owned()].into(),
            values: vec![Some("1".to_owned()), Some("2".to_owned()), None],
        };
        assert_eq!(row.get(1), Some("2"));
        assert_eq!(row.get("id"), None);
        assert!(matches!(
            row.try_get("id"),
            Err(Error::AmbiguousColumn { .. })
        ));
        assert_eq!(row.try_get("v").unwrap(), None);
    }
}
