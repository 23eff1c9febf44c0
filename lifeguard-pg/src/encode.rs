//! Writing frontend messages for one request: Parse, Bind, Describe, Execute, Sync.

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use postgres_types::{Format, ToSql, Type};

use crate::error::Error;

/// A parameter value as the query methods take it.
pub type Param<'a> = &'a (dyn ToSql + Sync);

/// Appends Parse for a named statement.
pub(crate) fn parse(
    name: &str,
    sql: &str,
    types: &[Type],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    frontend::parse(name, sql, types.iter().map(Type::oid), buf).map_err(too_large)
}

/// Appends Describe of a statement (`b'S'`) or portal (`b'P'`).
pub(crate) fn describe(kind: u8, name: &str, buf: &mut BytesMut) -> Result<(), Error> {
    frontend::describe(kind, name, buf).map_err(too_large)
}

/// Appends Bind of the unnamed portal with every parameter in its preferred format and
/// every result column in binary.
pub(crate) fn bind(
    statement: &str,
    types: &[Type],
    params: &[Param<'_>],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    if types.len() != params.len() {
        return Err(Error::ParameterCount {
            expected: types.len(),
            given: params.len(),
        });
    }
    let formats = params
        .iter()
        .zip(types)
        .map(|(p, t)| match p.encode_format(t) {
            Format::Text => 0,
            Format::Binary => 1,
        });
    let mut failed = None;
    let values = params.iter().zip(types).enumerate();
    let result = frontend::bind(
        "",
        statement,
        formats,
        values,
        |(i, (param, ty)), out| match param.to_sql_checked(ty, out) {
            Ok(postgres_types::IsNull::No) => Ok(postgres_protocol::IsNull::No),
            Ok(postgres_types::IsNull::Yes) => Ok(postgres_protocol::IsNull::Yes),
            Err(e) => {
                failed = Some(i);
                Err(e)
            }
        },
        Some(1),
        buf,
    );
    match result {
        Ok(()) => Ok(()),
        Err(frontend::BindError::Conversion(source)) => Err(Error::Encode {
            index: failed.map_or(0, |i| i + 1),
            source,
        }),
        Err(frontend::BindError::Serialization(e)) => Err(too_large(e)),
    }
}

/// Appends Execute of the unnamed portal (all rows) and Sync.
pub(crate) fn execute_sync(buf: &mut BytesMut) -> Result<(), Error> {
    frontend::execute("", 0, buf).map_err(too_large)?;
    frontend::sync(buf);
    Ok(())
}

/// Appends a simple Query.
pub(crate) fn query(sql: &str, buf: &mut BytesMut) -> Result<(), Error> {
    frontend::query(sql, buf).map_err(too_large)
}

fn too_large(e: std::io::Error) -> Error {
    Error::Encode {
        index: 0,
        source: Box::new(e),
    }
}
