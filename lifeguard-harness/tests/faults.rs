//! Faults that leave the server unreachable without closing anything: a frozen cluster,
//! a listener that never answers, a port that refuses.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use lifeguard_harness::{Cluster, RefusingPort, SilentListener, StopMode};

/// How long a silent peer is given to answer before the test calls it silent.
const NO_ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// PostgreSQL's SSLRequest: a live server answers it with one byte, `S` or `N`.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn connect(port: u16) -> TcpStream {
    let addr = (std::net::Ipv4Addr::LOCALHOST, port).into();
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("the TCP connect completes")
}

/// Sends an SSLRequest and reads the answer byte within `within`.
fn ask(socket: &mut TcpStream, within: Duration) -> std::io::Result<u8> {
    socket.write_all(&SSL_REQUEST)?;
    read_byte(socket, within)
}

/// A StartupMessage (protocol 3.0) for user `postgres`: a live server trusting
/// everyone answers with AuthenticationOk (`R`).
fn startup_message() -> Vec<u8> {
    let body = b"user\0postgres\0\0";
    let len = (8 + body.len()) as u32;
    let mut message = len.to_be_bytes().to_vec();
    message.extend_from_slice(&196_608u32.to_be_bytes());
    message.extend_from_slice(body);
    message
}

fn read_byte(socket: &mut TcpStream, within: Duration) -> std::io::Result<u8> {
    socket.set_read_timeout(Some(within))?;
    let mut byte = [0u8; 1];
    match socket.read(&mut byte)? {
        0 => Err(ErrorKind::UnexpectedEof.into()),
        _ => Ok(byte[0]),
    }
}

fn is_no_answer(result: &std::io::Result<u8>) -> bool {
    matches!(result, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

/// The state letter of each process whose parent is `pid`.
fn children_states(pid: u32) -> Vec<char> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let mut rest = stat[stat.rfind(')')? + 2..].split(' ');
            let state = rest.next()?.chars().next()?;
            (rest.next()? == pid.to_string()).then_some(state)
        })
        .collect()
}

fn state_of(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

#[test]
fn a_frozen_cluster_accepts_connects_but_answers_nothing_until_thawed() {
    let cluster = Cluster::start().unwrap();
    let mut before = connect(cluster.port());
    assert_eq!(ask(&mut before, Duration::from_secs(5)).unwrap(), b'N');
    let pid = cluster.pid().unwrap();

    cluster.freeze().unwrap();
    assert!(cluster.is_frozen());
    assert!(cluster.is_running(), "a frozen server still runs");
    assert_eq!(state_of(pid), 'T');
    let children = children_states(pid);
    assert!(!children.is_empty());
    assert!(children.iter().all(|&s| s == 'T'), "{children:?}");

    // A new connect completes in the kernel's backlog; nobody answers it.
    let started = Instant::now();
    let mut during = connect(cluster.port());
    let answer = ask(&mut during, NO_ANSWER_WITHIN);
    assert!(is_no_answer(&answer), "{answer:?}");
    assert!(started.elapsed() < NO_ANSWER_WITHIN + Duration::from_secs(2));
    // Nor does the backend of a session opened before the freeze.
    before.write_all(&startup_message()).unwrap();
    let answer = read_byte(&mut before, NO_ANSWER_WITHIN);
    assert!(is_no_answer(&answer), "{answer:?}");

    cluster.thaw().unwrap();
    assert!(!cluster.is_frozen());
    assert_ne!(state_of(pid), 'T');
    // What waited is answered now.
    assert_eq!(
        read_byte(&mut during, Duration::from_secs(5)).unwrap(),
        b'N'
    );
    assert_eq!(
        read_byte(&mut before, Duration::from_secs(5)).unwrap(),
        b'R'
    );
    assert_eq!(cluster.psql("postgres", "select 1").unwrap(), "1");
    cluster.thaw().unwrap(); // thawing a running server is a no-op
}

#[test]
fn a_frozen_cluster_stops_and_drops_promptly() {
    let cluster = Cluster::start().unwrap();
    cluster.freeze().unwrap();
    let started = Instant::now();
    cluster.stop(StopMode::Fast).unwrap();
    assert!(!cluster.is_running() && !cluster.is_frozen());
    assert!(started.elapsed() < Duration::from_secs(10));
    cluster.start_again().unwrap();

    cluster.freeze().unwrap();
    cluster.kill().unwrap();
    assert!(!cluster.is_running());
    cluster.start_again().unwrap();

    cluster.freeze().unwrap();
    let pid = cluster.pid().unwrap();
    let dir = cluster.socket_dir().to_path_buf();
    let started = Instant::now();
    drop(cluster);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "dropping a frozen cluster took {:?}",
        started.elapsed()
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert!(!dir.exists());
}

#[test]
fn a_silent_listener_accepts_and_never_answers() {
    let silent = SilentListener::start().unwrap();
    assert_ne!(silent.port(), 5432);
    assert_eq!(
        silent.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", silent.port())
    );
    let mut sockets: Vec<TcpStream> = (0..3).map(|_| connect(silent.port())).collect();
    for socket in &mut sockets {
        let answer = ask(socket, NO_ANSWER_WITHIN);
        assert!(is_no_answer(&answer), "{answer:?}");
    }
    assert_eq!(silent.accepted(), 3);
    drop(silent);
    // Dropping it closes what it accepted.
    for socket in &mut sockets {
        let end = read_byte(socket, Duration::from_secs(5));
        assert!(
            matches!(&end, Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset)),
            "{end:?}"
        );
    }
}

#[test]
fn a_refusing_port_refuses_every_connect() {
    let refusing = RefusingPort::new().unwrap();
    assert_ne!(refusing.port(), 5432);
    assert_eq!(
        refusing.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", refusing.port())
    );
    for _ in 0..3 {
        let started = Instant::now();
        let addr = (std::net::Ipv4Addr::LOCALHOST, refusing.port()).into();
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // Nobody else can listen there while it is reserved.
    assert!(std::net::TcpListener::bind(("127.0.0.1", refusing.port())).is_err());
}
