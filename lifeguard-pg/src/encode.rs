//! Writing frontend messages for one request: Parse, Bind, Describe, Execute, Sync.
//!
//! What cannot be sent at all (a NUL byte in the SQL, SQL or a name too long for one
//! message, more parameters than the protocol counts) is an [`Error::Statement`] saying
//! so; a parameter value that cannot be encoded is an [`Error::Encode`] naming its `$n`.

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use postgres_types::{Format, ToSql, Type};

use crate::error::Error;

/// A parameter value as the query methods take it.
pub type Param<'a> = &'a (dyn ToSql + Sync);

/// The most parameters one statement can have: the protocol counts them in 16 bits.
pub(crate) const MAX_PARAMS: usize = u16::MAX as usize;

/// Appends Parse for a named statement.
pub(crate) fn parse(
    name: &str,
    sql: &str,
    types: &[Type],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    check_text("SQL text", sql)?;
    check_count(types.len(), "parameter types")?;
    frontend::parse(name, sql, types.iter().map(Type::oid), buf)
        .map_err(|e| unsendable("the SQL text", e))
}

/// Appends Describe of a statement (`b'S'`) or portal (`b'P'`).
pub(crate) fn describe(kind: u8, name: &str, buf: &mut BytesMut) -> Result<(), Error> {
    frontend::describe(kind, name, buf).map_err(|e| unsendable("the statement name", e))
}

/// Appends Bind of the unnamed portal with every parameter in its preferred format and
/// every result column in binary.
pub(crate) fn bind(
    statement: &str,
    types: &[Type],
    params: &[Param<'_>],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    check_count(params.len(), "parameters")?;
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
    // The parameter being encoded: the one a failure belongs to.
    let mut current = None;
    let values = params.iter().zip(types).enumerate();
    let result = frontend::bind(
        "",
        statement,
        formats,
        values,
        |(i, (param, ty)), out| {
            current = Some(i);
            match param.to_sql_checked(ty, out) {
                Ok(postgres_types::IsNull::No) => Ok(postgres_protocol::IsNull::No),
                Ok(postgres_types::IsNull::Yes) => Ok(postgres_protocol::IsNull::Yes),
                Err(e) => Err(e),
            }
        },
        Some(1),
        buf,
    );
    match (result, current) {
        (Ok(()), _) => Ok(()),
        (Err(frontend::BindError::Conversion(source)), Some(i)) => Err(Error::Encode {
            index: i + 1,
            source,
        }),
        // Only a value longer than the protocol's 2 GiB fails to serialize once the
        // counts are checked.
        (Err(frontend::BindError::Serialization(e)), Some(i)) => Err(Error::Encode {
            index: i + 1,
            source: format!("the value is too large to send: {e}").into(),
        }),
        (Err(frontend::BindError::Conversion(e)), None) => {
            Err(Error::statement(format!("Bind could not be written: {e}")))
        }
        (Err(frontend::BindError::Serialization(e)), None) => {
            Err(unsendable("the statement name", e))
        }
    }
}

/// Appends Execute of the unnamed portal (all rows) and Sync.
pub(crate) fn execute_sync(buf: &mut BytesMut) -> Result<(), Error> {
    execute(buf)?;
    frontend::sync(buf);
    Ok(())
}

/// Appends an Execute of the unnamed portal, all rows.
pub(crate) fn execute(buf: &mut BytesMut) -> Result<(), Error> {
    frontend::execute("", 0, buf).map_err(|e| unsendable("Execute", e))
}

/// Appends a Close of the prepared statement `name` (closing one the server does not
/// have is no error).
pub(crate) fn close_statement(name: &str, buf: &mut BytesMut) -> Result<(), Error> {
    frontend::close(b'S', name, buf).map_err(|e| unsendable("Close", e))
}

/// Appends a simple Query.
pub(crate) fn query(sql: &str, buf: &mut BytesMut) -> Result<(), Error> {
    check_text("SQL text", sql)?;
    frontend::query(sql, buf).map_err(|e| unsendable("the SQL text", e))
}

/// Text the protocol carries NUL-terminated cannot hold a NUL.
fn check_text(what: &str, text: &str) -> Result<(), Error> {
    match text.bytes().position(|b| b == 0) {
        Some(at) => Err(Error::statement(format!(
            "the {what} contains a NUL byte (at byte {at}), which PostgreSQL cannot receive"
        ))),
        None => Ok(()),
    }
}

fn check_count(count: usize, what: &str) -> Result<(), Error> {
    if count > MAX_PARAMS {
        return Err(Error::statement(format!(
            "{count} {what} given; a statement takes at most {MAX_PARAMS}"
        )));
    }
    Ok(())
}

/// The error for a message postgres-protocol refused to write: `what` is too long for
/// one message (or holds a NUL, for a name).
fn unsendable(what: &str, e: std::io::Error) -> Error {
    Error::statement(format!("{what} cannot be sent: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_with_a_nul_byte_says_so() {
        let mut buf = BytesMut::new();
        for err in [
            query("SELECT 1\0", &mut buf).unwrap_err(),
            parse("s", "SELECT\0 1", &[], &mut buf).unwrap_err(),
        ] {
            assert!(matches!(err, Error::Statement(_)), "{err:?}");
            assert!(err.to_string().contains("contains a NUL byte"), "{err}");
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn too_many_parameters_say_so() {
        let mut buf = BytesMut::new();
        let types = vec![Type::INT4; MAX_PARAMS + 1];
        let err = parse("s", "SELECT 1", &types, &mut buf).unwrap_err();
        assert!(
            err.to_string()
                .contains("65536 parameter types given; a statement takes at most 65535"),
            "{err}"
        );
        let value = 1i32;
        let params: Vec<Param<'_>> = vec![&value; MAX_PARAMS + 1];
        let err = bind("s", &types, &params, &mut buf).unwrap_err();
        assert!(
            err.to_string()
                .contains("65536 parameters given; a statement takes at most 65535"),
            "{err}"
        );
        assert!(!err.to_string().contains("$0"), "{err}");
    }

    #[test]
    fn a_bad_value_names_its_parameter() {
        let mut buf = BytesMut::new();
        let err = bind("s", &[Type::INT4, Type::INT4], &[&1i32, &"x"], &mut buf).unwrap_err();
        assert!(matches!(err, Error::Encode { index: 2, .. }), "{err:?}");
    }
}
