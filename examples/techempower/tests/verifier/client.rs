//! A small HTTP/1.1 client for the verifier: GET on a connection kept open, the
//! response read by its `Content-Length` (the benchmark requires the header; a
//! response without it fails the test), every read and write bounded.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The bound on connecting, and on each read and write.
const IO_BOUND: Duration = Duration::from_secs(60);

/// One response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (any case); fails the test when it is absent or given
    /// twice.
    pub fn header(&self, name: &str) -> &str {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let value = found
            .next()
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"));
        assert!(found.next().is_none(), "{name} given twice in {self:?}");
        value
    }

    /// The body as UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

/// A connection kept open across requests.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read past the last response.
    pending: Vec<u8>,
}

impl Connection {
    /// Connects to `addr` (`host:port`).
    pub fn open(addr: &str) -> io::Result<Connection> {
        let addr: SocketAddr = addr.parse().map_err(io::Error::other)?;
        let stream = TcpStream::connect_timeout(&addr, IO_BOUND)?;
        stream.set_read_timeout(Some(IO_BOUND))?;
        stream.set_write_timeout(Some(IO_BOUND))?;
        Ok(Connection {
            stream,
            pending: Vec::new(),
        })
    }

    /// Sends `GET path` and reads the response.
    pub fn get(&mut self, path: &str) -> io::Result<Reply> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
        self.stream.write_all(request.as_bytes())?;
        let head_end = loop {
            if let Some(at) = find(&self.pending, b"\r\n\r\n") {
                break at;
            }
            self.read_more()?;
        };
        let head =
            String::from_utf8(self.pending[..head_end].to_vec()).map_err(io::Error::other)?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no Content-Length in {head:?}")))?;
        let body_start = head_end + 4;
        while self.pending.len() < body_start + length {
            self.read_more()?;
        }
        let body = self.pending[body_start..body_start + length].to_vec();
        self.pending.drain(..body_start + length);
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn read_more(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = self.stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the service closed the connection",
            ));
        }
        self.pending.extend_from_slice(&buf[..n]);
        Ok(())
    }
}

/// `GET path` on a new connection; fails the test on any I/O error.
pub fn get(addr: &str, path: &str) -> Reply {
    Connection::open(addr)
        .and_then(|mut connection| connection.get(path))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
