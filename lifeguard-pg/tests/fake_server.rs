//! The exclusive connection against a scripted server that is dead, frozen, slow or
//! malicious: every call returns within its bound, keeps its memory bounded, and
//! turns bad bytes into errors, never a hang or a panic.
//!
//! The server is a loopback `std::net::TcpListener` on a thread of its own, speaking
//! just enough of the protocol: it reads the StartupMessage, answers AuthenticationOk,
//! BackendKeyData and ReadyForQuery (unless the case scripts the handshake), then
//! plays the case's script. Every case runs from a plain thread over std sockets, from
//! a plain thread over may sockets, and from inside a may coroutine; the test waits for
//! each run with a bound, so a hang fails the test instead of stalling it.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use lifeguard_pg::{Config, Connection, Error, Runtime, Socket, Timeout};

/// How long the fake server waits for anything before it gives up on its client.
const SERVER_BOUND: Duration = Duration::from_secs(20);

/// Stack of the coroutine a case runs in, in words (may's unit): 512 KiB.
const CASE_STACK_WORDS: usize = 64 * 1024;

/// Slack on top of a call's bound: a loaded 2-core machine, a debug build.
const SLACK: Duration = Duration::from_secs(1);

// ---- the fake server

/// Starts a server that accepts one connection, reads its StartupMessage and hands the
/// socket to `script`; returns the port. Also returns the listener to the script, so a
/// case decides whether later connections (a cancel) find it listening.
fn serve(script: impl FnOnce(TcpStream, TcpListener) -> io::Result<()> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("a local address").port();
    thread::spawn(move || {
        let Some(mut stream) = accept_within(&listener, SERVER_BOUND) else {
            return;
        };
        let setup = stream
            .set_read_timeout(Some(SERVER_BOUND))
            .and_then(|()| stream.set_write_timeout(Some(SERVER_BOUND)))
            .and_then(|()| read_startup(&mut stream));
        if setup.is_ok() {
            // The client hanging up ends a script with an error: nothing to report.
            let _ = script(stream, listener);
        }
    });
    port
}

/// Serves the normal handshake, then `script`.
fn serve_after_handshake(
    script: impl FnOnce(&mut TcpStream) -> io::Result<()> + Send + 'static,
) -> u16 {
    serve(move |mut stream, _listener| {
        stream.write_all(&handshake_reply())?;
        script(&mut stream)
    })
}

fn accept_within(listener: &TcpListener, limit: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return None,
        }
    }
    None
}

/// Reads the StartupMessage; an SSLRequest before it gets `N`, as from a server
/// without TLS.
fn read_startup(stream: &mut TcpStream) -> io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        stream.read_exact(&mut body)?;
        if body != [0x04, 0xd2, 0x16, 0x2f] {
            return Ok(());
        }
        stream.write_all(b"N")?;
    }
}

/// Reads frontend messages up to and including the first with one of `tags`.
fn read_until(stream: &mut TcpStream, tags: &[u8]) -> io::Result<()> {
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        io::copy(
            &mut (&mut *stream).take(len.saturating_sub(4) as u64),
            &mut io::sink(),
        )?;
        if tags.contains(&head[0]) {
            return Ok(());
        }
    }
}

/// Reads one simple Query (or a Sync-ended extended request).
fn read_request(stream: &mut TcpStream) -> io::Result<()> {
    read_until(stream, b"QS")
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn ready() -> Vec<u8> {
    message(b'Z', b"I")
}

fn command_complete() -> Vec<u8> {
    message(b'C', b"SELECT 1\0")
}

/// AuthenticationOk, BackendKeyData, ReadyForQuery.
fn handshake_reply() -> Vec<u8> {
    let mut out = message(b'R', &0i32.to_be_bytes());
    let mut key = 4242i32.to_be_bytes().to_vec();
    key.extend_from_slice(&7i32.to_be_bytes());
    out.extend(message(b'K', &key));
    out.extend(ready());
    out
}

/// A RowDescription of one int4 column named `n`.
fn row_description() -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(b"n\0");
    body.extend_from_slice(&0u32.to_be_bytes()); // table oid
    body.extend_from_slice(&0i16.to_be_bytes()); // column id
    body.extend_from_slice(&23u32.to_be_bytes()); // int4
    body.extend_from_slice(&4i16.to_be_bytes()); // size
    body.extend_from_slice(&(-1i32).to_be_bytes()); // modifier
    body.extend_from_slice(&0i16.to_be_bytes()); // text format
    message(b'T', &body)
}

fn notice(i: usize) -> Vec<u8> {
    message(b'N', format!("SNOTICE\0C00000\0Mnotice {i}\0\0").as_bytes())
}

/// Writes `bytes` one at a time, `every` apart, until they end or the client leaves.
fn trickle(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> io::Result<()> {
    for b in bytes {
        stream.write_all(&[*b])?;
        thread::sleep(every);
    }
    Ok(())
}

/// Keeps the socket open without reading or writing until the client closes it or
/// the server's bound passes: a frozen server.
fn freeze(stream: &mut TcpStream) -> io::Result<()> {
    let deadline = Instant::now() + SERVER_BOUND;
    stream.set_nonblocking(true)?;
    let mut probe = [0u8; 1];
    while Instant::now() < deadline {
        // Peeking takes nothing off the socket: the client's bytes stay unread.
        match stream.peek(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) | Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    Ok(())
}

// ---- the client side

fn config(port: u16) -> Config {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("fake")
        .dbname("fake")
        .connect_timeout(Duration::from_secs(5));
    config
}

fn connect(port: u16, runtime: Runtime) -> Connection<Socket> {
    Connection::connect_with(&config(port), runtime).expect("the fake handshake succeeds")
}

/// Asserts that `call` returned within `bound` (plus slack) of `start`.
fn assert_within(start: Instant, bound: Duration, what: &str) {
    let took = start.elapsed();
    assert!(
        took < bound + SLACK,
        "{what}: took {took:?}, the bound is {bound:?}"
    );
}

/// Runs `case` from a plain thread over std sockets, from a plain thread over may
/// sockets and from a may coroutine, each run waited for at most `limit`.
fn everywhere(name: &str, limit: Duration, case: fn(Runtime)) {
    for caller in ["thread, std sockets", "thread, may sockets", "coroutine"] {
        let (done, finished) = mpsc::channel();
        let run = move |runtime| {
            case(runtime);
            let _ = done.send(());
        };
        match caller {
            "thread, std sockets" => drop(thread::spawn(move || run(Runtime::Std))),
            "thread, may sockets" => drop(thread::spawn(move || run(Runtime::May))),
            _ => {
                let builder = may::coroutine::Builder::new().stack_size(CASE_STACK_WORDS);
                drop(may::go!(builder, move || run(Runtime::May)).expect("spawn a coroutine"));
            }
        }
        match finished.recv_timeout(limit) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name} ({caller}): no result within {limit:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{name} ({caller}): the case failed (its panic is above)")
            }
        }
    }
}

// ---- the cases

#[test]
fn a_trickled_handshake_ends_at_the_connect_timeout() {
    everywhere("trickled handshake", Duration::from_secs(10), |runtime| {
        let port = serve(|mut stream, _listener| {
            trickle(&mut stream, &handshake_reply(), Duration::from_millis(100))?;
            freeze(&mut stream)
        });
        let mut config = config(port);
        config.connect_timeout(Duration::from_secs(1));
        let start = Instant::now();
        let result = Connection::connect_with(&config, runtime);
        assert_within(start, Duration::from_secs(1), "the trickled handshake");
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Connect))),
            "{:?}",
            result.err()
        );
    });
}

#[test]
fn a_server_that_never_answers_the_startup_ends_at_the_connect_timeout() {
    everywhere("silent server", Duration::from_secs(10), |runtime| {
        let port = serve(|mut stream, _listener| freeze(&mut stream));
        let mut config = config(port);
        config.connect_timeout(Duration::from_secs(1));
        let start = Instant::now();
        let result = Connection::connect_with(&config, runtime);
        assert_within(start, Duration::from_secs(1), "the silent handshake");
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Connect))),
            "{:?}",
            result.err()
        );
    });
}

/// An answer that never ends, one byte every 20 ms: a valid RowDescription, then a
/// DataRow whose declared length is far off.
fn endless_answer(stream: &mut TcpStream) -> io::Result<()> {
    read_request(stream)?;
    let mut bytes = row_description();
    bytes.extend(message(b'D', &[0u8; 100_000]));
    trickle(stream, &bytes, Duration::from_millis(20))
}

#[test]
fn a_trickled_answer_ends_at_the_request_timeout_and_gives_the_connection_up() {
    everywhere("trickled answer", Duration::from_secs(10), |runtime| {
        let port = serve_after_handshake(endless_answer);
        let mut conn = connect(port, runtime);
        assert_eq!(
            conn.request_timeout(),
            Some(lifeguard_pg::DEFAULT_REQUEST_TIMEOUT)
        );
        conn.set_request_timeout(Some(Duration::from_secs(1)));
        assert_eq!(conn.request_timeout(), Some(Duration::from_secs(1)));
        let start = Instant::now();
        let result = conn.simple_query("SELECT 1");
        assert_within(start, Duration::from_secs(1), "the trickled answer");
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Request))),
            "{result:?}"
        );
        assert!(conn.is_closed());
        let later = conn.simple_query("SELECT 1").unwrap_err();
        assert!(
            matches!(&later, Error::Closed { reason } if reason.contains("request deadline")),
            "{later:?}"
        );
    });
}

#[test]
fn a_trickled_answer_under_a_statement_timeout_ends_within_the_request_timeout() {
    everywhere(
        "trickled answer, statement timeout",
        Duration::from_secs(10),
        |runtime| {
            // The listener stays open and never accepts: the cancel connects, and nobody
            // reads it.
            let port = serve(|mut stream, _listener| {
                stream.write_all(&handshake_reply())?;
                endless_answer(&mut stream)
            });
            let mut conn = connect(port, runtime);
            conn.set_statement_timeout(Some(Duration::from_secs(1)));
            conn.set_request_timeout(Some(Duration::from_secs(2)));
            let start = Instant::now();
            let result = conn.simple_query("SELECT 1");
            assert_within(start, Duration::from_secs(2), "the trickled answer");
            assert!(
                matches!(result, Err(Error::Timeout(Timeout::Request))),
                "{result:?}"
            );
            assert!(conn.is_closed());
        },
    );
}

/// A server that trickles an answer until the client's cancel arrives, then checks the
/// CancelRequest, ends the answer with SQLSTATE 57014, and answers one more query.
fn cancellable(mut stream: TcpStream, listener: TcpListener) -> io::Result<()> {
    stream.write_all(&handshake_reply())?;
    read_request(&mut stream)?;
    stream.write_all(&row_description())?;
    // One int4 column whose value is long: plenty of bytes to trickle.
    let mut row = 1u16.to_be_bytes().to_vec();
    row.extend_from_slice(&99_994i32.to_be_bytes());
    row.extend(std::iter::repeat_n(b'7', 99_994));
    let row = message(b'D', &row);
    let mut sent = 0;
    let deadline = Instant::now() + SERVER_BOUND;
    listener.set_nonblocking(true)?;
    let mut cancel = loop {
        if Instant::now() > deadline {
            return Ok(());
        }
        match listener.accept() {
            Ok((cancel, _)) => break cancel,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        stream.write_all(&row[sent..sent + 1])?;
        sent += 1;
        thread::sleep(Duration::from_millis(20));
    };
    cancel.set_nonblocking(false)?;
    cancel.set_read_timeout(Some(SERVER_BOUND))?;
    let mut request = [0u8; 16];
    cancel.read_exact(&mut request)?;
    let word =
        |i: usize| i32::from_be_bytes([request[i], request[i + 1], request[i + 2], request[i + 3]]);
    assert_eq!(
        (word(0), word(4), word(8), word(12)),
        (16, 80_877_102, 4242, 7)
    );
    drop(cancel);
    let mut rest = row[sent..].to_vec();
    rest.extend(message(
        b'E',
        b"SERROR\0C57014\0Mcanceling statement due to user request\0\0",
    ));
    rest.extend(ready());
    stream.write_all(&rest)?;
    read_request(&mut stream)?;
    let mut answer = command_complete();
    answer.extend(ready());
    stream.write_all(&answer)?;
    freeze(&mut stream)
}

#[test]
fn a_trickled_answer_is_cancelled_at_the_statement_timeout_and_the_connection_kept() {
    everywhere("cancelled trickle", Duration::from_secs(10), |runtime| {
        let port = serve(cancellable);
        let mut conn = connect(port, runtime);
        conn.set_statement_timeout(Some(Duration::from_secs(1)));
        let start = Instant::now();
        let result = conn.simple_query("SELECT 1");
        assert_within(start, Duration::from_secs(1), "the cancelled answer");
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Statement))),
            "{result:?}"
        );
        assert!(!conn.is_closed());
        assert_eq!(
            conn.simple_query("SELECT 1")
                .expect("the next answer")
                .len(),
            1
        );
    });
}

#[test]
fn a_frozen_server_under_statement_and_request_timeouts_returns_in_time() {
    everywhere("frozen server", Duration::from_secs(10), |runtime| {
        let port = serve(|mut stream, _listener| {
            stream.write_all(&handshake_reply())?;
            freeze(&mut stream)
        });
        let mut conn = connect(port, runtime);
        conn.set_statement_timeout(Some(Duration::from_secs(1)));
        conn.set_request_timeout(Some(Duration::from_secs(2)));
        let start = Instant::now();
        let result = conn.query("SELECT 1", &[]);
        assert_within(start, Duration::from_secs(2), "the frozen server");
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Request))),
            "{result:?}"
        );
        assert!(conn.is_closed());
    });
}

#[test]
fn an_unsolicited_ready_for_query_is_a_protocol_error_and_breaks_the_connection() {
    everywhere(
        "unsolicited ReadyForQuery",
        Duration::from_secs(10),
        |runtime| {
            let port = serve_after_handshake(|stream| {
                stream.write_all(&ready())?;
                read_request(stream)?;
                let mut answer = command_complete();
                answer.extend(ready());
                stream.write_all(&answer)?;
                freeze(stream)
            });
            let mut conn = connect(port, runtime);
            let err = conn.simple_query("SELECT 1").unwrap_err();
            assert!(
                matches!(&err, Error::Protocol(what) if what.contains("ReadyForQuery before any message")),
                "{err:?}"
            );
            assert!(conn.is_closed());
            assert!(matches!(
                conn.simple_query("SELECT 1"),
                Err(Error::Closed { .. })
            ));
        },
    );
}

#[test]
fn a_data_row_length_of_minus_two_is_a_protocol_error() {
    everywhere("DataRow length -2", Duration::from_secs(10), |runtime| {
        let port = serve_after_handshake(|stream| {
            read_request(stream)?;
            let mut answer = row_description();
            let mut row = 1u16.to_be_bytes().to_vec();
            row.extend_from_slice(&(-2i32).to_be_bytes());
            answer.extend(message(b'D', &row));
            answer.extend(command_complete());
            answer.extend(ready());
            stream.write_all(&answer)?;
            freeze(stream)
        });
        let mut conn = connect(port, runtime);
        let err = conn.simple_query("SELECT 1").unwrap_err();
        assert!(
            matches!(&err, Error::Protocol(what) if what.contains("length -2")),
            "{err:?}"
        );
        assert!(conn.is_closed());
    });
}

#[test]
fn a_malformed_message_length_is_a_protocol_error() {
    everywhere("malformed length", Duration::from_secs(10), |runtime| {
        for len in [0xffff_fff0u32, 3, 0] {
            let port = serve_after_handshake(move |stream| {
                read_request(stream)?;
                let mut answer = vec![b'C'];
                answer.extend_from_slice(&len.to_be_bytes());
                answer.extend_from_slice(b"SELECT 1\0");
                stream.write_all(&answer)?;
                freeze(stream)
            });
            let mut conn = connect(port, runtime);
            let err = conn.simple_query("SELECT 1").unwrap_err();
            assert!(
                matches!(&err, Error::Protocol(what) if what.contains("invalid length")),
                "length {len}: {err:?}"
            );
            assert!(conn.is_closed());
        }
    });
}

#[test]
fn a_notice_flood_keeps_the_newest_ten_thousand() {
    everywhere("notice flood", Duration::from_secs(60), |runtime| {
        let port = serve_after_handshake(|stream| {
            read_request(stream)?;
            let mut answer = Vec::new();
            for i in 0..200_000 {
                answer.extend(notice(i));
            }
            answer.extend(command_complete());
            answer.extend(ready());
            stream.write_all(&answer)?;
            freeze(stream)
        });
        let mut conn = connect(port, runtime);
        let messages = conn
            .simple_query("SELECT 1")
            .expect("the answer after the flood");
        assert_eq!(messages.len(), 1);
        assert_eq!(conn.notices_dropped(), 190_000);
        let notices = conn.take_notices();
        assert_eq!(notices.len(), 10_000);
        assert_eq!(notices[0].message, "notice 190000");
        assert_eq!(notices[9_999].message, "notice 199999");
        assert!(!conn.is_closed());
    });
}

#[test]
fn a_notification_flood_keeps_the_newest_hundred_thousand_and_counts_the_rest() {
    everywhere("notification flood", Duration::from_secs(60), |runtime| {
        let port = serve_after_handshake(|stream| {
            read_request(stream)?;
            let mut answer = Vec::new();
            for i in 0..150_000 {
                let mut body = 99i32.to_be_bytes().to_vec();
                body.extend_from_slice(format!("flood\0{i}\0").as_bytes());
                answer.extend(message(b'A', &body));
            }
            answer.extend(command_complete());
            answer.extend(ready());
            stream.write_all(&answer)?;
            freeze(stream)
        });
        let mut conn = connect(port, runtime);
        conn.simple_query("SELECT 1")
            .expect("the answer after the flood");
        assert_eq!(conn.notifications_dropped(), 50_000);
        let kept = conn.take_notifications();
        assert_eq!(kept.len(), 100_000);
        assert_eq!(kept[0].payload(), "50000");
        assert_eq!(kept[99_999].payload(), "149999");
    });
}

#[test]
fn a_server_that_stops_reading_cannot_hold_a_large_write() {
    everywhere("stopped reading", Duration::from_secs(20), |runtime| {
        let port = serve_after_handshake(|stream| {
            // Answer the prepare (one bytea parameter, no columns), then read no more.
            read_request(stream)?;
            let mut answer = message(b'1', b"");
            let mut params = 1u16.to_be_bytes().to_vec();
            params.extend_from_slice(&17u32.to_be_bytes());
            answer.extend(message(b't', &params));
            answer.extend(message(b'n', b""));
            answer.extend(ready());
            stream.write_all(&answer)?;
            freeze(stream)
        });
        let mut conn = connect(port, runtime);
        conn.set_request_timeout(Some(Duration::from_secs(2)));
        let statement = conn.prepare("SELECT $1::bytea").expect("the fake prepare");
        let big = vec![7u8; 64 << 20];
        let start = Instant::now();
        let result = conn.execute(&statement, &[&big]);
        assert_within(start, Duration::from_secs(2), "the blocked write");
        assert!(
            matches!(result, Err(Error::Timeout(Timeout::Request))),
            "{result:?}"
        );
        assert!(conn.is_closed());
        assert!(matches!(conn.close(), Err(Error::Closed { .. })));
    });
}

#[test]
fn close_does_not_wait_for_a_server_that_stopped_reading() {
    everywhere("close", Duration::from_secs(10), |runtime| {
        let port = serve_after_handshake(freeze);
        let conn = connect(port, runtime);
        let start = Instant::now();
        // The goodbye fits the socket's buffer; the bound matters only when it does
        // not, and then close returns within a second.
        let _ = conn.close();
        assert_within(start, Duration::from_secs(1), "close");
    });
}

/// The keepalive and user-timeout options as the kernel reports them.
fn tcp_options(conn: &Connection<Socket>) -> (bool, Duration, Duration, u32, Option<Duration>) {
    let socket = match conn.stream() {
        Socket::StdTcp(s) => socket2::SockRef::from(s),
        Socket::MayTcp(s) => socket2::SockRef::from(s.inner()),
        other => panic!("not a TCP socket: {other:?}"),
    };
    (
        socket.keepalive().unwrap(),
        socket.tcp_keepalive_time().unwrap(),
        socket.tcp_keepalive_interval().unwrap(),
        socket.tcp_keepalive_retries().unwrap(),
        socket.tcp_user_timeout().unwrap(),
    )
}

#[test]
fn tcp_keepalive_and_user_timeout_are_on_every_socket() {
    everywhere("TCP options", Duration::from_secs(10), |runtime| {
        let port = serve_after_handshake(freeze);
        let conn = connect(port, runtime);
        assert_eq!(
            tcp_options(&conn),
            (
                true,
                Duration::from_secs(30),
                Duration::from_secs(10),
                3,
                Some(Duration::from_secs(30))
            )
        );

        let port = serve_after_handshake(freeze);
        let config = Config::parse(&format!(
            "host=127.0.0.1 port={port} user=fake keepalives_idle=7 keepalives_interval=2 \
             keepalives_count=5 tcp_user_timeout=4500"
        ))
        .unwrap();
        let conn = Connection::connect_with(&config, runtime).unwrap();
        assert_eq!(
            tcp_options(&conn),
            (
                true,
                Duration::from_secs(7),
                Duration::from_secs(2),
                5,
                Some(Duration::from_millis(4500))
            )
        );

        let port = serve_after_handshake(freeze);
        let config = Config::parse(&format!(
            "host=127.0.0.1 port={port} user=fake keepalives=0 tcp_user_timeout=0"
        ))
        .unwrap();
        let conn = Connection::connect_with(&config, runtime).unwrap();
        let (on, .., user_timeout) = tcp_options(&conn);
        assert!(!on);
        assert_eq!(user_timeout, None);
    });
}
