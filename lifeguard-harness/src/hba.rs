//! Client authentication: [`AuthMethod`] and the `pg_hba.conf` the harness manages.
//!
//! The file has a section of per-user entries, written by
//! [`Cluster::set_auth`](crate::Cluster::set_auth), *above* the catch-all `trust` entries;
//! PostgreSQL uses the first entry that matches, so a user given a method gets exactly that
//! method and everyone else (notably the `postgres` superuser the harness administers the
//! cluster with) keeps `trust`.

use std::fmt;

use crate::error::{HarnessError, Result};

const USER_SECTION: &str = "# lifeguard-harness: per-user entries (set_auth) go below";
const CATCH_ALL_SECTION: &str = "# lifeguard-harness: catch-all entries";

/// The `pg_hba.conf` every cluster starts with: no per-user entries, `trust` for every
/// user and for replication, over the Unix socket and the loopback addresses.
pub(crate) const INITIAL: &str = "\
# pg_hba.conf written by lifeguard-harness. The first matching entry wins.
# lifeguard-harness: per-user entries (set_auth) go below
# lifeguard-harness: catch-all entries
local   all          all                   trust
host    all          all    127.0.0.1/32   trust
host    all          all    ::1/128        trust
local   replication  all                   trust
host    replication  all    127.0.0.1/32   trust
host    replication  all    ::1/128        trust
";

/// An authentication method for [`Cluster::set_auth`](crate::Cluster::set_auth) and
/// [`Cluster::create_role_with`](crate::Cluster::create_role_with).
///
/// ```
/// use lifeguard_harness::AuthMethod;
/// assert_eq!(AuthMethod::ScramSha256.hba_name(), "scram-sha-256");
/// assert_eq!(AuthMethod::Md5.to_string(), "md5");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// No password asked.
    Trust,
    /// Cleartext password (`password`); works whatever format the password is stored in.
    Password,
    /// MD5 challenge (`md5`). The role's password must be stored as MD5 for the MD5
    /// exchange to happen; PostgreSQL switches to SCRAM for a SCRAM-stored password.
    Md5,
    /// SCRAM-SHA-256 (`scram-sha-256`); needs a SCRAM-stored password.
    ScramSha256,
}

impl AuthMethod {
    /// The method's name in `pg_hba.conf`.
    pub fn hba_name(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }

    /// The `password_encryption` to store a password with so that this method works as
    /// its name says: `md5` for [`Md5`](Self::Md5), `scram-sha-256` otherwise.
    pub fn password_encryption(self) -> &'static str {
        match self {
            AuthMethod::Md5 => "md5",
            _ => "scram-sha-256",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hba_name())
    }
}

/// `user` as a `pg_hba.conf` token: always double-quoted, so that it is never read as a
/// keyword (`all`, `+group`, `@file`).
fn hba_user(user: &str) -> Result<String> {
    if user.is_empty() || user.contains(['"', '\n', '\r']) {
        return Err(HarnessError::new(format!(
            "user name {user:?} cannot be written to pg_hba.conf"
        )));
    }
    Ok(format!("\"{user}\""))
}

/// `hba` with the entries for `user` replaced by entries for `method`, placed in the
/// per-user section above the catch-all entries.
pub(crate) fn with_user_method(hba: &str, user: &str, method: AuthMethod) -> Result<String> {
    let token = hba_user(user)?;
    let (Some(start), Some(end)) = (hba.find(USER_SECTION), hba.find(CATCH_ALL_SECTION)) else {
        return Err(HarnessError::new(
            "pg_hba.conf was not written by lifeguard-harness (section markers missing)",
        ));
    };
    let section_start = start + hba[start..].find('\n').map_or(hba.len() - start, |n| n + 1);
    let mut out = String::with_capacity(hba.len() + 200);
    out.push_str(&hba[..section_start]);
    let m = method.hba_name();
    out.push_str(&format!(
        "local   all          {token}                   {m}\n"
    ));
    out.push_str(&format!(
        "host    all          {token}    127.0.0.1/32   {m}\n"
    ));
    out.push_str(&format!(
        "host    all          {token}    ::1/128        {m}\n"
    ));
    for line in hba[section_start..end].lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(2) != Some(&token.as_str()) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&hba[end..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_entries_precede_catch_all_and_replace_older_ones() {
        let once = with_user_method(INITIAL, "alice", AuthMethod::Md5).unwrap();
        let twice = with_user_method(&once, "alice", AuthMethod::ScramSha256).unwrap();
        let both = with_user_method(&twice, "bob", AuthMethod::Password).unwrap();
        let alice = both.find("\"alice\"").unwrap();
        let bob = both.find("\"bob\"").unwrap();
        let catch_all = both.find("all          all").unwrap();
        assert!(alice < catch_all && bob < catch_all);
        assert_eq!(both.matches("\"alice\"").count(), 3);
        assert!(!both.contains("md5"));
        assert_eq!(both.matches("scram-sha-256").count(), 3);
        assert!(both.ends_with(&INITIAL[INITIAL.find(CATCH_ALL_SECTION).unwrap()..]));
    }

    #[test]
    fn rejects_names_that_cannot_be_quoted() {
        assert!(with_user_method(INITIAL, "a\"b", AuthMethod::Trust).is_err());
    }
}
