//! Reading a `/metrics` endpoint as Prometheus does: an HTTP GET with a bound, and a
//! parser of the text exposition format (samples only; comments skipped).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// `GET path` on `addr` (HTTP/1.0: the body is never chunked), within `timeout`: the
/// status code and the body, which ends at its Content-Length or where the server
/// closes the connection.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(response) = complete(&got)? {
            return Ok(response);
        }
        if Instant::now() >= deadline {
            return Err(format!("no complete response within {timeout:?}"));
        }
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return whole(&got)?
                .ok_or_else(|| "the connection closed before the headers ended".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// The status and body of `bytes` once they hold a whole response by its
/// Content-Length (none without one: the body ends with the connection).
fn complete(bytes: &[u8]) -> Result<Option<(u16, String)>, String> {
    let Some((status, head, end)) = head(bytes)? else {
        return Ok(None);
    };
    let Some(length) = content_length(&head) else {
        return Ok(None);
    };
    let body = &bytes[end..];
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some((
        status,
        String::from_utf8_lossy(&body[..length]).to_string(),
    )))
}

/// The status and body of a response the server ended by closing the connection.
fn whole(bytes: &[u8]) -> Result<Option<(u16, String)>, String> {
    let Some((status, head, end)) = head(bytes)? else {
        return Ok(None);
    };
    if let Some(length) = content_length(&head)
        && bytes.len() - end < length
    {
        return Err(format!(
            "the body ended after {} of {length} bytes",
            bytes.len() - end
        ));
    }
    Ok(Some((
        status,
        String::from_utf8_lossy(&bytes[end..]).to_string(),
    )))
}

/// The status, the head and where the body starts, once the head is complete.
fn head(bytes: &[u8]) -> Result<Option<(u16, String, usize)>, String> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok(Some((status, head, end + 4)))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// One sample of the text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`lifeguard_queries_total`, `..._bucket`, ...).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Every sample of a text exposition; a line that does not parse is an error.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value in {line:?}"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|e| format!("bad value in {line:?}: {e}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| format!("unclosed labels in {line:?}"))?;
                (
                    name,
                    parse_labels(body).map_err(|e| format!("{e} in {line:?}"))?,
                )
            }
            None => (series, BTreeMap::new()),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(samples)
}

fn parse_labels(mut body: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (name, rest) = body.split_once("=\"").ok_or("a label without =\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("a dangling escape".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("an unclosed label value".into()),
            }
        };
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        body = rest[end + 1..].trim_start_matches(',');
    }
    Ok(labels)
}

/// The sum of the samples named `name` whose labels include `labels`.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    matching(samples, name, labels).map(|s| s.value).sum()
}

/// The samples named `name` whose labels include `labels`.
pub fn matching<'a>(
    samples: &'a [Sample],
    name: &'a str,
    labels: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = &'a Sample> + 'a {
    samples.iter().filter(move |s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}
