//! Routing words every layer shares: where a statement may run ([`Route`], set by
//! `.on_primary()`/`.on_replica()`) and what a read must have seen ([`WalPosition`]).
//! Below the query values, the pool and transactions, which all use them.

use std::fmt;
use std::str::FromStr;

use lifeguard_pg::Error;

/// Where a statement may run: what `.on_primary()` and `.on_replica()` ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Route {
    /// As its class says: a compile-time read may go to a replica.
    #[default]
    Auto,
    /// On the primary.
    Primary,
    /// Like a read: on an eligible replica (else as the read preference says).
    Replica,
}

/// A position in the primary's write-ahead log: what a replica must have replayed to
/// show a write. Its text form is PostgreSQL's `pg_lsn` (`16/B374D848`), so it can be
/// serialised as a string (a header, a job payload) and read back with
/// [`str::parse`].
///
/// ```
/// use lifeguard::WalPosition;
///
/// let position: WalPosition = "16/B374D848".parse()?;
/// assert_eq!(position.to_string(), "16/B374D848");
/// assert_eq!(position.as_u64(), 0x16_B374_D848);
/// assert!("16-B374".parse::<WalPosition>().is_err());
/// # Ok::<(), lifeguard::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition(u64);

impl WalPosition {
    /// The position as `pg_lsn`'s 64 bits.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for WalPosition {
    fn from(lsn: u64) -> WalPosition {
        WalPosition(lsn)
    }
}

impl fmt::Display for WalPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for WalPosition {
    type Err = Error;

    fn from_str(text: &str) -> Result<WalPosition, Error> {
        let bad = || {
            Error::Config(format!(
                "invalid WAL position {text:?}: expected X/Y in hex"
            ))
        };
        let (hi, lo) = text.trim().split_once('/').ok_or_else(bad)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(WalPosition((u64::from(hi) << 32) | u64::from(lo)))
    }
}
