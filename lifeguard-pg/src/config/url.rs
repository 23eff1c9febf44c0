//! Reading `postgres://` URLs.
//!
//! `postgres://user:password@host:port/dbname?param=value&...`, every part optional and
//! percent-decoded, in libpq's way (`+` stays a plus, a `password` may hold `:` and `@`).

use percent_encoding::percent_decode_str;

use super::Config;
use super::params::{Params, SUPPORTED};
use crate::error::Error;

/// The length of `scheme://` when `s` starts with a URL scheme.
pub(super) fn url_scheme(s: &str) -> Option<usize> {
    let end = s.find("://")?;
    let mut scheme = s[..end].bytes();
    let first = scheme.next()?;
    let valid = first.is_ascii_alphabetic()
        && scheme.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some(end + 3)
}

/// Percent-decodes one part of a URL; `what` names the part in an error, which never
/// shows the part itself (it may be the password).
fn decode(part: &str, what: &str) -> Result<Vec<u8>, String> {
    let bytes = part.as_bytes();
    for (i, _) in part.match_indices('%') {
        let valid = bytes.len() > i + 2
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if !valid {
            return Err(format!(
                "invalid URL: bad percent-encoding in {what} (\"%\" must be followed by two \
                 hex digits; write a literal \"%\" as %25)"
            ));
        }
        if &bytes[i + 1..i + 3] == b"00" {
            return Err(format!("invalid URL: %00 (a zero byte) in {what}"));
        }
    }
    Ok(percent_decode_str(part).collect())
}

/// Replaces with `***` the values of `password` and of every parameter this client
/// does not know (a misspelt `pasword=` still holds a password).
fn redact_query(query: &str) -> String {
    let segments: Vec<String> = query
        .split('&')
        .map(|segment| match segment.split_once('=') {
            Some((key, _)) => {
                let name = percent_decode_str(key).decode_utf8_lossy();
                if name == "password" || !SUPPORTED.contains(&&*name) {
                    format!("{key}=***")
                } else {
                    segment.to_owned()
                }
            }
            None => segment.to_owned(),
        })
        .collect();
    segments.join("&")
}

/// The URL with its password replaced by `***`. `at` is the index in the part after
/// the scheme of the `@` that ends the user info; with `hide_user` the whole user info
/// is hidden, because where the password ends is not clear.
fn redact_url(url: &str, scheme_len: usize, at: Option<usize>, hide_user: bool) -> String {
    let rest = &url[scheme_len..];
    let mut out = String::from(&url[..scheme_len]);
    if let Some(at) = at {
        let userinfo = &rest[..at];
        match userinfo.find(':') {
            _ if hide_user => out.push_str("***"),
            Some(colon) => {
                out.push_str(&userinfo[..colon]);
                out.push_str(":***");
            }
            None => out.push_str(userinfo),
        }
    }
    let from = at.unwrap_or(0);
    let query_start = rest.find('?').map_or(rest.len(), |q| q + 1);
    if from >= query_start {
        out.push_str(&redact_query(&rest[from..]));
    } else {
        out.push_str(&rest[from..query_start]);
        out.push_str(&redact_query(&rest[query_start..]));
    }
    out
}

pub(super) fn parse_url(config: &mut Config, url: &str, scheme_len: usize) -> Result<(), Error> {
    let scheme = &url[..scheme_len - 3];
    let rest = &url[scheme_len..];
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (before_query, None),
    };
    let at = authority.rfind('@');
    let fail = |msg: String| {
        let shown = redact_url(url, scheme_len, at, false);
        Error::config(format!("{msg} (in \"{shown}\")"))
    };
    if !scheme.eq_ignore_ascii_case("postgres") && !scheme.eq_ignore_ascii_case("postgresql") {
        return Err(fail(format!(
            "invalid URL: unsupported scheme \"{scheme}\"; expected postgres:// or postgresql://"
        )));
    }

    // An "@" after the host part most likely ends a user info that holds an unencoded
    // "/" or "?": then the password is cut in pieces, and no piece may be shown.
    if at.is_none() {
        let first_segment = query.map(|q| q.split('&').next().unwrap_or(""));
        let stray_at = if path.is_some_and(|p| p.contains('@')) {
            before_query.rfind('@')
        } else {
            first_segment
                .and_then(|segment| segment.find('@').filter(|&i| !segment[..i].contains('=')))
                .map(|i| before_query.len() + 1 + i)
        };
        if let Some(stray) = stray_at {
            return Err(Error::config(format!(
                "invalid URL: \"@\" after the host part; percent-encode \"/\", \"?\" and \"@\" \
                 in the user name, the password and the database name (%2F, %3F, %40) \
                 (in \"{}\")",
                redact_url(url, scheme_len, Some(stray), true)
            )));
        }
    }

    let mut params = Params::new(config);
    let hostport = match at {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            let user = decode(user, "the user name").map_err(fail)?;
            params.set("user", &user).map_err(fail)?;
            if let Some(password) = password {
                let password = decode(password, "the password").map_err(fail)?;
                params.set("password", &password).map_err(fail)?;
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    if hostport.contains(',') {
        return Err(fail(
            "multiple hosts are not supported; give one host".to_owned(),
        ));
    }
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(fail(
                "invalid URL: missing \"]\" after the IPv6 address".to_owned(),
            ));
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(fail(format!(
                        "invalid URL: unexpected \"{after}\" after the IPv6 address; \
                         expected \":port\""
                    )));
                }
            },
        };
        (host, port)
    } else {
        match hostport.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(fail(
                    "invalid URL: an IPv6 address must be in brackets, as in \
                     postgres://[::1]:5432/"
                        .to_owned(),
                ));
            }
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let host = decode(host, "the host").map_err(fail)?;
    params.set("host", &host).map_err(fail)?;
    if let Some(port) = port {
        let port = decode(port, "the port").map_err(fail)?;
        params.set("port", &port).map_err(fail)?;
    }
    if let Some(path) = path {
        let dbname = decode(path, "the database name").map_err(fail)?;
        params.set("dbname", &dbname).map_err(fail)?;
    }
    for segment in query.into_iter().flat_map(|q| q.split('&')) {
        if segment.is_empty() {
            continue;
        }
        let Some((key, value)) = segment.split_once('=') else {
            return Err(fail(format!(
                "invalid URL: query parameter \"{segment}\" has no \"=\""
            )));
        };
        let key = decode(key, "a parameter name").map_err(fail)?;
        let key = String::from_utf8(key)
            .map_err(|_| fail("invalid URL: a parameter name is not valid UTF-8".to_owned()))?;
        let value = decode(value, &format!("the value of \"{key}\"")).map_err(fail)?;
        // libpq reads the JDBC spelling `ssl=true` as `sslmode=require`.
        if key == "ssl" && value == b"true" {
            params.set("sslmode", b"require").map_err(fail)?;
        } else {
            params.set(&key, &value).map_err(fail)?;
        }
    }
    params.finish();
    Ok(())
}
