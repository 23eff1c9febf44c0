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
    /// The position of the column this picks, if the row has it.
    fn index_in(&self, columns: &[Column]) -> Option<usize>;
}

impl RowIndex for usize {
    fn index_in(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl RowIndex for str {
    fn index_in(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name() == self)
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index_in(&self, columns: &[Column]) -> Option<usize> {
        (**self).index_in(columns)
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
    /// not fit is [`Error::Decode`]; an unknown column is [`Error::ColumnNotFound`].
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
        index
            .index_in(&self.columns)
            .ok_or_else(|| Error::ColumnNotFound(index.to_string()))
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

/// The one row of a result that must have exactly one.
pub(crate) fn exactly_one(mut rows: Vec<Row>) -> Result<Row, Error> {
    match rows.len() {
        1 => Ok(rows.remove(0)),
        n => Err(Error::RowCount {
            expected: "exactly one",
            found: n,
        }),
    }
}

/// The row of a result that may have none.
pub(crate) fn at_most_one(mut rows: Vec<Row>) -> Result<Option<Row>, Error> {
    match rows.len() {
        0 => Ok(None),
        1 => Ok(Some(rows.remove(0))),
        n => Err(Error::RowCount {
            expected: "at most one",
            found: n,
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

    /// The text of a column (`None` for NULL or an unknown column).
    pub fn get(&self, index: impl SimpleIndex) -> Option<&str> {
        let i = index.simple_index(&self.columns)?;
        self.values.get(i)?.as_deref()
    }
}

/// Picks a column of a [`SimpleRow`].
pub trait SimpleIndex {
    /// The position of the column this picks, if the row has it.
    fn simple_index(&self, columns: &[String]) -> Option<usize>;
}

impl SimpleIndex for usize {
    fn simple_index(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl SimpleIndex for &str {
    fn simple_index(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
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
}
