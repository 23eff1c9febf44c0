//! Reading the response to one request, up to its ReadyForQuery.
//!
//! The exclusive [`Connection`](crate::Connection) reads messages from its socket; the
//! pipelined [`Client`](crate::Client) hands each caller the bytes of its own response.
//! Both feed the same loop here through [`Messages`], so the two cannot disagree on
//! what a response means.
//!
//! Every request this crate sends makes the server answer with at least one message
//! before its ReadyForQuery (ParseComplete, BindComplete, RowDescription,
//! CommandComplete, EmptyQueryResponse, ErrorResponse, ...). A ReadyForQuery that comes
//! first answers nothing this client asked: taking it as the answer would leave every
//! later response one behind, so it is a protocol error (and the caller gives the
//! connection up).

use std::sync::Arc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{
    CommandCompleteBody, ErrorResponseBody, Message, RowDescriptionBody,
};
use postgres_types::{Oid, Type};

use crate::error::{DbError, Error};
use crate::row::{Row, SimpleQueryMessage, SimpleRow};
use crate::statement::{Column, type_for_oid};

/// A source of the backend messages of one response. Asynchronous messages (notices,
/// notifications, parameter status) are taken care of by the source and never
/// returned.
pub(crate) trait Messages {
    /// The next message of the response.
    fn next_message(&mut self) -> Result<Message, Error>;
}

/// What a response said besides its rows.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Rows affected (or returned), from CommandComplete.
    pub rows_affected: u64,
    /// The parameter types, when the request had Describe(statement).
    pub params: Option<Vec<Type>>,
    /// The result columns, when the request had a Describe: `Some(empty)` for NoData.
    pub columns: Option<Arc<[Column]>>,
}

/// One response being read to its ReadyForQuery, and the first error it carried: what
/// every reader below shares.
struct Reading<'a, M> {
    src: &'a mut M,
    started: bool,
    failure: Option<Error>,
}

impl<'a, M: Messages> Reading<'a, M> {
    fn new(src: &'a mut M) -> Reading<'a, M> {
        Reading {
            src,
            started: false,
            failure: None,
        }
    }

    /// The next message of the response; `None` at its ReadyForQuery. A ReadyForQuery
    /// before anything else was not asked for; a read failure after an ErrorResponse
    /// reports that error (a FATAL one is followed by the server closing).
    fn next(&mut self) -> Result<Option<Message>, Error> {
        let message = match self.src.next_message() {
            Ok(message) => message,
            Err(e) => return Err(self.failure.take().unwrap_or(e)),
        };
        let first = !std::mem::replace(&mut self.started, true);
        match message {
            Message::ReadyForQuery(_) if first => Err(unsolicited_ready()),
            Message::ReadyForQuery(_) => Ok(None),
            other => Ok(Some(other)),
        }
    }

    /// Keeps the response's first error, to return once it is read to its end.
    fn failed(&mut self, error: Error) {
        self.failure.get_or_insert(error);
    }

    /// An ErrorResponse: kept as the response's error, unless an earlier one is.
    fn error_response(&mut self, body: ErrorResponseBody) -> Result<(), Error> {
        let db = DbError::parse(&mut body.fields())?;
        self.failed(Error::Db(Box::new(db)));
        Ok(())
    }

    fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// The response's outcome: its first error, or `value`.
    fn finish<T>(self, value: T) -> Result<T, Error> {
        match self.failure {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// The rows a CommandComplete reports.
fn rows_completed(body: &CommandCompleteBody) -> Result<u64, Error> {
    let tag = body
        .tag()
        .map_err(|e| Error::protocol(format!("malformed CommandComplete: {e}")))?;
    Ok(rows_from_tag(tag))
}

/// Reads one extended-protocol response: every row goes to `on_row`, which may fail
/// (a decode error); the first error is returned after the response is consumed to its
/// ReadyForQuery, so the connection stays in step.
pub(crate) fn read_extended(
    src: &mut impl Messages,
    mut columns: Option<Arc<[Column]>>,
    on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
) -> Result<Outcome, Error> {
    let mut outcome = Outcome::default();
    let mut response = Reading::new(src);
    while let Some(message) = response.next()? {
        match message {
            Message::ParseComplete
            | Message::BindComplete
            | Message::CloseComplete
            | Message::PortalSuspended
            | Message::CopyData(_)
            | Message::CopyDone
            | Message::CopyOutResponse(_) => {}
            Message::ParameterDescription(body) => {
                let oids: Vec<Oid> = body
                    .parameters()
                    .collect()
                    .map_err(|e| Error::protocol(format!("malformed ParameterDescription: {e}")))?;
                outcome.params = Some(oids.into_iter().map(type_for_oid).collect());
            }
            Message::RowDescription(body) => {
                let described: Arc<[Column]> = parse_columns(&body)?.into();
                columns = Some(described.clone());
                outcome.columns = Some(described);
            }
            Message::NoData => outcome.columns = Some(Arc::from(Vec::new())),
            Message::DataRow(body) => {
                if response.has_failed() {
                    continue;
                }
                let Some(cols) = &columns else {
                    return Err(Error::protocol("DataRow before any RowDescription"));
                };
                if let Err(e) = Row::new(cols.clone(), body).and_then(&mut *on_row) {
                    response.failed(e);
                }
            }
            Message::CommandComplete(body) => outcome.rows_affected = rows_completed(&body)?,
            Message::EmptyQueryResponse => {}
            Message::ErrorResponse(body) => response.error_response(body)?,
            other => return Err(unexpected(&other)),
        }
    }
    response.finish(outcome)
}

/// Reads the response to a simple Query: text rows and one CommandComplete per
/// statement.
pub(crate) fn read_simple(src: &mut impl Messages) -> Result<Vec<SimpleQueryMessage>, Error> {
    let mut out = Vec::new();
    let mut names: Option<Arc<[String]>> = None;
    let mut response = Reading::new(src);
    while let Some(message) = response.next()? {
        match message {
            Message::RowDescription(body) => {
                let cols = parse_columns(&body)?;
                names = Some(cols.iter().map(|c| c.name().to_owned()).collect());
            }
            Message::DataRow(body) => {
                let Some(names) = &names else {
                    return Err(Error::protocol("DataRow before any RowDescription"));
                };
                out.push(SimpleQueryMessage::Row(SimpleRow::new(
                    names.clone(),
                    &body,
                )?));
            }
            Message::CommandComplete(body) => {
                out.push(SimpleQueryMessage::CommandComplete(rows_completed(&body)?));
                names = None;
            }
            Message::EmptyQueryResponse | Message::CopyData(_) | Message::CopyDone => {}
            Message::CopyOutResponse(_) => {}
            Message::ErrorResponse(body) => response.error_response(body)?,
            other => return Err(unexpected(&other)),
        }
    }
    response.finish(out)
}

/// The columns of a RowDescription.
pub(crate) fn parse_columns(body: &RowDescriptionBody) -> Result<Vec<Column>, Error> {
    body.fields()
        .map(|f| {
            Ok(Column::new(
                f.name().to_owned(),
                type_for_oid(f.type_oid()),
                f.table_oid(),
                f.column_id(),
            ))
        })
        .collect()
        .map_err(|e| Error::protocol(format!("malformed RowDescription: {e}")))
}

/// The row count at the end of a command tag (`INSERT 0 5`, `UPDATE 3`, `SELECT 7`);
/// 0 for tags without one (`CREATE TABLE`).
pub(crate) fn rows_from_tag(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The error for a ReadyForQuery before any message of the response.
fn unsolicited_ready() -> Error {
    Error::protocol(
        "ReadyForQuery before any message of the response: the server answered a request \
         this client did not send",
    )
}

/// The error for a message that has no place where it arrived.
pub(crate) fn unexpected(message: &Message) -> Error {
    let name = match message {
        Message::CopyInResponse(_) => {
            "CopyInResponse (COPY FROM STDIN needs copy_in, not a query method)"
        }
        Message::AuthenticationOk | Message::BackendKeyData(_) => "a startup message",
        _ => "a message",
    };
    Error::protocol(format!("unexpected {name} in a response"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    use crate::codec::parse_message;

    struct Bytes(BytesMut);

    impl Messages for Bytes {
        fn next_message(&mut self) -> Result<Message, Error> {
            parse_message(&mut self.0)?.ok_or_else(|| Error::protocol("end of input"))
        }
    }

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Reads `bytes` as a response, decoding every column of every row as an int4,
    /// text and bytes: whatever the bytes, the result is a value, never a panic.
    fn read_all(bytes: &[u8]) {
        let mut src = Bytes(BytesMut::from(bytes));
        let _ = read_extended(&mut src, None, &mut |row| {
            for i in 0..row.len() {
                let _ = row.get::<Option<i32>>(i);
                let _ = row.get::<Option<String>>(i);
                let _ = row.raw(i);
            }
            Ok(())
        });
        let mut src = Bytes(BytesMut::from(bytes));
        let _ = read_simple(&mut src);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_responses_are_errors_or_values(
            parts in proptest::collection::vec(
                (prop::sample::select(b"123ntTDCEINZsc".to_vec()),
                 proptest::collection::vec(any::<u8>(), 0..48)),
                0..8,
            )
        ) {
            let mut bytes = Vec::new();
            // A valid RowDescription (one int4 column) first, so DataRows get decoded.
            bytes.extend(message(b'T', b"\0\x01id\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\x01"));
            for (tag, body) in parts {
                bytes.extend(message(tag, &body));
            }
            bytes.extend(message(b'Z', b"I"));
            read_all(&bytes);
        }
    }

    #[test]
    fn a_ready_for_query_first_is_a_protocol_error() {
        let mut bytes = message(b'Z', b"I");
        bytes.extend(message(b'1', b""));
        bytes.extend(message(b'Z', b"I"));
        let mut src = Bytes(BytesMut::from(&bytes[..]));
        let err = read_extended(&mut src, None, &mut |_| Ok(())).unwrap_err();
        assert!(
            err.to_string().contains("ReadyForQuery before any message"),
            "{err}"
        );
        let mut src = Bytes(BytesMut::from(&bytes[..]));
        let err = read_simple(&mut src).unwrap_err();
        assert!(
            err.to_string().contains("ReadyForQuery before any message"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_query_answer_is_not_unsolicited() {
        let mut bytes = message(b'I', b"");
        bytes.extend(message(b'Z', b"I"));
        let mut src = Bytes(BytesMut::from(&bytes[..]));
        assert!(read_simple(&mut src).unwrap().is_empty());
    }

    #[test]
    fn command_tags() {
        assert_eq!(rows_from_tag("INSERT 0 5"), 5);
        assert_eq!(rows_from_tag("UPDATE 3"), 3);
        assert_eq!(rows_from_tag("SELECT 7"), 7);
        assert_eq!(rows_from_tag("CREATE TABLE"), 0);
    }
}
