//! The `interval` type, which `postgres-types` does not map.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};

/// A PostgreSQL `interval`: months, days and microseconds, kept apart as the server
/// keeps them (a month is not a fixed number of days).
///
/// ```no_run
/// # fn demo(conn: &mut lifeguard_pg::Connection) -> Result<(), lifeguard_pg::Error> {
/// use lifeguard_pg::Interval;
///
/// let row = conn.query_one("SELECT interval '1 month 2 days 3 seconds'", &[])?;
/// let i: Interval = row.get(0)?;
/// assert_eq!(i, Interval { months: 1, days: 2, microseconds: 3_000_000 });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Whole months.
    pub months: i32,
    /// Whole days.
    pub days: i32,
    /// The rest, in microseconds.
    pub microseconds: i64,
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Interval, Box<dyn StdError + Sync + Send>> {
        let raw: [u8; 16] = raw
            .try_into()
            .map_err(|_| format!("an interval is 16 bytes, got {}", raw.len()))?;
        let [
            m0,
            m1,
            m2,
            m3,
            m4,
            m5,
            m6,
            m7,
            d0,
            d1,
            d2,
            d3,
            n0,
            n1,
            n2,
            n3,
        ] = raw;
        Ok(Interval {
            microseconds: i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
            days: i32::from_be_bytes([d0, d1, d2, d3]),
            months: i32::from_be_bytes([n0, n1, n2, n3]),
        })
    }

    accepts!(INTERVAL);
}

impl ToSql for Interval {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.microseconds);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    accepts!(INTERVAL);
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_length() {
        let i = Interval {
            months: -3,
            days: 40,
            microseconds: -1,
        };
        let mut buf = BytesMut::new();
        i.to_sql(&Type::INTERVAL, &mut buf).unwrap();
        assert_eq!(Interval::from_sql(&Type::INTERVAL, &buf).unwrap(), i);
        assert!(Interval::from_sql(&Type::INTERVAL, &buf[..15]).is_err());
    }
}
