//! libpq's multi-host form, read for the pool: `postgres://a:5432,b:5433/db` or
//! `host=a,b port=5432,5433 dbname=db`, with `target_session_attrs`.
//!
//! A single connection (libpq, `lifeguard_pg`) tries the hosts in turn until one
//! matches `target_session_attrs`. A pool keeps all of them: each host becomes a server
//! of its own, the one that reports it is not in recovery is the primary and the
//! others are replicas (the pool's monitors find out which, and follow a promotion).
//! So the list is split here into one single-host connection string per host, which
//! `lifeguard_pg::Config` reads as usual, and `target_session_attrs` becomes the pool's
//! read preference:
//!
//! | `target_session_attrs` | the pool |
//! |---|---|
//! | `any`, `read-write`, `primary` (or none) | writes to the primary, reads as `read_preference` says |
//! | `prefer-standby` | reads prefer a replica ([`ReadPreference::PreferReplica`]) |
//! | `standby`, `read-only` | reads only on replicas ([`ReadPreference::ReplicaOnly`]) |

use super::ReadPreference;

/// A connection string taken apart: one string per host, and the read preference its
/// `target_session_attrs` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Hosts {
    /// One connection string per host, in the order given.
    pub(super) each: Vec<String>,
    /// What `target_session_attrs` asked for, when it was given.
    pub(super) preference: Option<ReadPreference>,
}

/// Splits `text` (a URL or a `key=value` string) into one connection string per host.
/// The error says what is wrong without repeating the text (it may hold a password).
/// A text with one host and no `target_session_attrs` (or one this reader cannot take
/// apart) comes back as it is, for `lifeguard_pg`'s parser to read or refuse.
pub(super) fn split(text: &str) -> Result<Hosts, String> {
    let as_is = || Hosts {
        each: vec![text.to_owned()],
        preference: None,
    };
    let trimmed = text.trim();
    if !trimmed.contains(',') && !trimmed.contains("target_session_attrs") {
        return Ok(as_is());
    }
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        split_url(trimmed)
    } else if pairs(trimmed).is_ok() {
        split_key_values(trimmed)
    } else {
        Ok(as_is())
    }
}

fn preference(value: &str) -> Result<Option<ReadPreference>, String> {
    match value {
        "any" | "read-write" | "primary" => Ok(None),
        "prefer-standby" => Ok(Some(ReadPreference::PreferReplica)),
        "standby" | "read-only" => Ok(Some(ReadPreference::ReplicaOnly)),
        other => Err(format!(
            "target_session_attrs \"{other}\" is not one of any, read-write, primary, \
             prefer-standby, standby, read-only"
        )),
    }
}

fn split_url(url: &str) -> Result<Hosts, String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostlist) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut preference_asked = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", value)) => preference_asked = Some(preference(value)?),
            _ => kept.push(pair),
        }
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let each = hostlist
        .split(',')
        .map(|host| {
            if host.is_empty() && hostlist.contains(',') {
                return Err("an empty host in the URL's host list".to_owned());
            }
            Ok(format!("{scheme}://{userinfo}{host}{path}{query}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Hosts {
        each,
        preference: preference_asked.flatten(),
    })
}

/// One `key=value` pair, its value unquoted.
type Pair = (String, String);

/// Reads libpq's `key=value` syntax: values bare or in single quotes, `\` escaping
/// the next character.
fn pairs(text: &str) -> Result<Vec<Pair>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("missing \"=\" after \"{key}\""));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value for \"{key}\"")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn split_key_values(text: &str) -> Result<Hosts, String> {
    let mut pairs = pairs(text)?;
    let mut preference_asked = None;
    if let Some(i) = pairs.iter().position(|(k, _)| k == "target_session_attrs") {
        preference_asked = preference(&pairs.remove(i).1)?;
    }
    let list = |key: &str| -> Vec<String> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (hosts, addrs, ports) = (list("host"), list("hostaddr"), list("port"));
    let count = hosts.len().max(addrs.len()).max(1);
    for (key, values) in [("hostaddr", &addrs), ("port", &ports)] {
        if values.len() > 1 && values.len() != count {
            return Err(format!(
                "{} {key} values for {count} hosts: give one, or one per host",
                values.len()
            ));
        }
    }
    if !addrs.is_empty() && !hosts.is_empty() && addrs.len() != hosts.len() {
        return Err("host and hostaddr list different numbers of hosts".to_owned());
    }
    let nth = |values: &[String], i: usize| values.get(i).or(values.first()).cloned();
    let each = (0..count)
        .map(|i| {
            let mut parts = Vec::new();
            for (key, value) in &pairs {
                let value = match key.as_str() {
                    "host" => nth(&hosts, i),
                    "hostaddr" => nth(&addrs, i),
                    "port" => nth(&ports, i),
                    _ => Some(value.clone()),
                };
                if let Some(value) = value {
                    parts.push(format!("{key}={}", quote(&value)));
                }
            }
            parts.join(" ")
        })
        .collect();
    Ok(Hosts {
        each,
        preference: preference_asked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_per_host_with_the_rest_kept() {
        let hosts =
            split("postgres://app:pw@a:5432,b:5433/db?sslmode=disable&target_session_attrs=any")
                .unwrap();
        assert_eq!(
            hosts.each,
            [
                "postgres://app:pw@a:5432/db?sslmode=disable",
                "postgres://app:pw@b:5433/db?sslmode=disable"
            ]
        );
        assert_eq!(hosts.preference, None);
        let one = split("postgresql://a/db").unwrap();
        assert_eq!(one.each, ["postgresql://a/db"]);
        let standby = split("postgres://a,b?target_session_attrs=standby").unwrap();
        assert_eq!(standby.each, ["postgres://a", "postgres://b"]);
        assert_eq!(standby.preference, Some(ReadPreference::ReplicaOnly));
        assert!(split("postgres://a,,b/db").is_err());
        let err = split("postgres://a/db?target_session_attrs=bogus").unwrap_err();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn key_values_per_host_ports_spread_or_shared() {
        let hosts = split("host=a,b port=5432,5433 dbname=db password='p w\\'x'").unwrap();
        assert_eq!(
            hosts.each,
            [
                "host='a' port='5432' dbname='db' password='p w\\'x'",
                "host='b' port='5433' dbname='db' password='p w\\'x'"
            ]
        );
        let shared_port = split("host=a,b port=6000 target_session_attrs=prefer-standby").unwrap();
        assert_eq!(
            shared_port.each,
            ["host='a' port='6000'", "host='b' port='6000'"]
        );
        assert_eq!(shared_port.preference, Some(ReadPreference::PreferReplica));
        assert!(split("host=a,b,c port=1,2").is_err());
        assert_eq!(
            split("host='a,b").unwrap().each,
            ["host='a,b"],
            "left to the parser"
        );
        assert_eq!(split("dbname=x").unwrap().each, ["dbname=x"]);
    }
}
