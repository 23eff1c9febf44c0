//! Small helpers for connection URLs: percent-encoding and swapping the database.

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` with its database replaced by `db`: the path of a `postgres://` or
/// `postgresql://` URL (query kept), or a `dbname=` appended to a `key=value` string.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let scheme_end = ["postgres://", "postgresql://"]
        .iter()
        .find(|s| url.starts_with(*s))
        .map(|s| s.len());
    let Some(scheme_end) = scheme_end else {
        return format!(
            "{url} dbname='{}'",
            db.replace('\\', "\\\\").replace('\'', "\\'")
        );
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    let query = after.find('?').map_or("", |q| &after[q..]);
    format!(
        "{}/{}{query}",
        &url[..scheme_end + authority_end],
        encode(db)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5/old?sslmode=disable", "new"),
            "postgres://u:p@h:5/new?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "n"), "postgresql://h/n");
        assert_eq!(with_database("postgres://h?x=1", "n"), "postgres://h/n?x=1");
        assert_eq!(with_database("host=h", "n"), "host=h dbname='n'");
        assert_eq!(encode("a b@c/d"), "a%20b%40c%2Fd");
    }
}
