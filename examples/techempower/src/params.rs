//! The `queries` parameter of `/queries` and `/updates`, read the way the benchmark's
//! rules say: missing, empty, not a number or below 1 is 1; above 500 is 500.

/// The fewest rows a request asks for.
const MIN: usize = 1;
/// The most rows a request asks for.
const MAX: usize = 500;

/// How many rows the query string (what follows `?` in the path, if anything) asks for.
pub fn queries(query_string: Option<&str>) -> usize {
    let Some(value) =
        query_string.and_then(|qs| qs.split('&').find_map(|pair| pair.strip_prefix("queries=")))
    else {
        return MIN;
    };
    match value.parse::<i64>() {
        Ok(n) if n < MIN as i64 => MIN,
        Ok(n) if n > MAX as i64 => MAX,
        Ok(n) => n as usize,
        // Digits only, yet no i64: a number above any bound.
        Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => MAX,
        Err(_) => MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::queries;

    #[test]
    fn the_rules_cases() {
        for (qs, n) in [
            (None, 1),
            (Some(""), 1),
            (Some("queries="), 1),
            (Some("queries=2"), 2),
            (Some("queries=0"), 1),
            (Some("queries=-3"), 1),
            (Some("queries=foo"), 1),
            (Some("queries=2x"), 1),
            (Some("queries=500"), 500),
            (Some("queries=501"), 500),
            (Some("queries=99999999999999999999999"), 500),
            (Some("queries=-99999999999999999999999"), 1),
            (Some("other=7&queries=20"), 20),
            (Some("myqueries=20"), 1),
        ] {
            assert_eq!(queries(qs), n, "{qs:?}");
        }
    }
}
