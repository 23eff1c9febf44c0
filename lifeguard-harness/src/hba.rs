//! Client authentication: [`AuthMethod`], [`Transport`] and the `pg_hba.conf` the harness
//! manages.
//!
//! The file has a section of per-user entries, written by
//! [`Cluster::set_auth`](crate::Cluster::set_auth) and
//! [`Cluster::set_auth_over`](crate::Cluster::set_auth_over), *above* the catch-all
//! `trust` entries; PostgreSQL uses the first entry that matches, so a user given a method
//! gets exactly that method and everyone else (notably the `postgres` superuser the harness
//! administers the cluster with) keeps `trust`. A user limited to one [`Transport`] gets
//! `reject` entries for the others, so that the catch-all entries never let it in.

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
/// assert_eq!(AuthMethod::Cert.hba_name(), "cert");
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
    /// A client certificate signed by the server's CA whose common name is the user name
    /// (`cert`), no password. PostgreSQL allows it on TLS connections only (`hostssl`), so
    /// the user's other connections are refused whatever the [`Transport`]; see
    /// [`ClusterBuilder::tls_client_user`](crate::ClusterBuilder::tls_client_user).
    Cert,
}

impl AuthMethod {
    /// The method's name in `pg_hba.conf`.
    pub fn hba_name(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::Cert => "cert",
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

/// Which connections of a user [`Cluster::set_auth_over`](crate::Cluster::set_auth_over)
/// lets in with the user's method; the user's other connections are refused (`reject`).
///
/// ```
/// use lifeguard_harness::Transport;
/// assert_eq!(Transport::Tls.hba_types(), ["hostssl"]);
/// assert_eq!(Transport::Plain.hba_types(), ["local", "hostnossl"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Every connection: the Unix socket and TCP, with or without TLS (`local`, `host`).
    /// What [`Cluster::set_auth`](crate::Cluster::set_auth) writes.
    Any,
    /// TCP connections that use TLS only (`hostssl`): the user must use TLS.
    Tls,
    /// Connections without TLS only: the Unix socket and plain TCP (`local`,
    /// `hostnossl`). A libpq client with `sslmode=prefer` then falls back to plain TCP.
    Plain,
}

impl Transport {
    /// The `pg_hba.conf` connection types that let the user in.
    pub fn hba_types(self) -> &'static [&'static str] {
        match self {
            Transport::Any => &["local", "host"],
            Transport::Tls => &["hostssl"],
            Transport::Plain => &["local", "hostnossl"],
        }
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

/// The entries that let `token` in with `method` over `transport` and refuse its other
/// connections, in order.
fn user_entries(token: &str, method: AuthMethod, transport: Transport) -> Result<Vec<String>> {
    let transport = match (method, transport) {
        (AuthMethod::Cert, Transport::Plain) => {
            return Err(HarnessError::new(format!(
                "user {token}: `cert` authentication needs TLS connections, not Transport::Plain"
            )));
        }
        (AuthMethod::Cert, _) => Transport::Tls,
        (_, transport) => transport,
    };
    let allowed = transport.hba_types();
    let local = if allowed.contains(&"local") {
        method.hba_name()
    } else {
        "reject"
    };
    let mut entries = vec![format!("local      all  {token}                 {local}")];
    for address in ["127.0.0.1/32", "::1/128"] {
        for kind in allowed.iter().filter(|&&kind| kind != "local") {
            let m = method.hba_name();
            entries.push(format!("{kind:<10} all  {token}  {address:<14} {m}"));
        }
        if transport != Transport::Any {
            entries.push(format!("host       all  {token}  {address:<14} reject"));
        }
    }
    Ok(entries)
}

/// `hba` with the entries for `user` replaced by entries for `method` over `transport`,
/// placed in the per-user section above the catch-all entries.
pub(crate) fn with_user_method(
    hba: &str,
    user: &str,
    method: AuthMethod,
    transport: Transport,
) -> Result<String> {
    let token = hba_user(user)?;
    let entries = user_entries(&token, method, transport)?;
    let (Some(start), Some(end)) = (hba.find(USER_SECTION), hba.find(CATCH_ALL_SECTION)) else {
        return Err(HarnessError::new(
            "pg_hba.conf was not written by lifeguard-harness (section markers missing)",
        ));
    };
    let section_start = start + hba[start..].find('\n').map_or(hba.len() - start, |n| n + 1);
    let mut out = String::with_capacity(hba.len() + 500);
    out.push_str(&hba[..section_start]);
    for entry in entries {
        out.push_str(&entry);
        out.push('\n');
    }
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

    fn for_alice(method: AuthMethod, transport: Transport) -> String {
        with_user_method(INITIAL, "alice", method, transport).unwrap()
    }

    /// The per-user entries of `hba`, each as its whitespace-separated fields.
    fn entries(hba: &str) -> Vec<Vec<String>> {
        let start = hba.find(USER_SECTION).unwrap() + USER_SECTION.len();
        hba[start..hba.find(CATCH_ALL_SECTION).unwrap()]
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|fields| !fields.is_empty())
            .collect()
    }

    #[test]
    fn user_entries_precede_catch_all_and_replace_older_ones() {
        let once = for_alice(AuthMethod::Md5, Transport::Any);
        let twice = with_user_method(&once, "alice", AuthMethod::ScramSha256, Transport::Any);
        let both =
            with_user_method(&twice.unwrap(), "bob", AuthMethod::Password, Transport::Any).unwrap();
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
        assert!(with_user_method(INITIAL, "a\"b", AuthMethod::Trust, Transport::Any).is_err());
    }

    /// Each per-user entry of `hba` as `TYPE METHOD`.
    fn types_and_methods(hba: &str) -> Vec<String> {
        entries(hba)
            .iter()
            .map(|f| format!("{} {}", f[0], f[f.len() - 1]))
            .collect()
    }

    #[test]
    fn a_limited_transport_refuses_the_other_connections() {
        use AuthMethod::{Cert, ScramSha256, Trust};
        for (method, transport, per_address) in [
            (ScramSha256, Transport::Tls, "hostssl scram-sha-256"),
            (Trust, Transport::Plain, "hostnossl trust"),
            // `cert` works over TLS only, whatever the transport asked for.
            (Cert, Transport::Any, "hostssl cert"),
            (Cert, Transport::Tls, "hostssl cert"),
        ] {
            let hba = for_alice(method, transport);
            let local = match transport {
                Transport::Plain => "local trust",
                _ => "local reject",
            };
            let expected = [
                local,
                per_address,
                "host reject",
                per_address,
                "host reject",
            ];
            assert_eq!(types_and_methods(&hba), expected, "{hba}");
            let addresses: Vec<String> = entries(&hba)[1..].iter().map(|f| f[3].clone()).collect();
            assert_eq!(
                addresses,
                ["127.0.0.1/32", "127.0.0.1/32", "::1/128", "::1/128"]
            );
        }
        assert!(with_user_method(INITIAL, "a", Cert, Transport::Plain).is_err());
    }
}
