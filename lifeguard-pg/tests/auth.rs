//! Connecting and authenticating: every method, wrong passwords, dead and silent
//! servers, all within their bounds.

use std::time::{Duration, Instant};

use lifeguard_harness::{AuthMethod, Cluster};
use lifeguard_pg::{Client, Config, Connection, Error, Timeout};

fn cluster() -> &'static Cluster {
    static CLUSTER: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start().expect("start a private cluster"))
}

fn check_method(role: &str, method: AuthMethod) {
    let cluster = cluster();
    cluster
        .create_role_with(role, Some("s3cret pw"), method)
        .unwrap();
    let good: Config = cluster
        .url_for(role, Some("s3cret pw"), "postgres")
        .parse()
        .unwrap();
    let mut conn = Connection::connect(&good).unwrap();
    let user: String = conn
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(user, role);

    // The pipelined client authenticates the same way.
    let client = Client::connect(&good).unwrap();
    assert_eq!(
        client
            .query_one("SELECT 1", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        1
    );

    let bad: Config = cluster
        .url_for(role, Some("wrong"), "postgres")
        .parse()
        .unwrap();
    let started = Instant::now();
    let err = Connection::connect(&bad).map(drop).unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{method:?}: {err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the password never shows: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an answer, not a timeout"
    );

    let missing: Config = cluster.url_for(role, None, "postgres").parse().unwrap();
    let err = Connection::connect(&missing).map(drop).unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{method:?}: {err}");
}

#[test]
fn cleartext_password() {
    check_method("auth_password", AuthMethod::Password);
}

#[test]
fn md5() {
    check_method("auth_md5", AuthMethod::Md5);
}

#[test]
fn scram_sha_256() {
    check_method("auth_scram", AuthMethod::ScramSha256);
}

#[test]
fn trust_needs_no_password() {
    let cluster = cluster();
    cluster
        .create_role_with("auth_trust", None, AuthMethod::Trust)
        .unwrap();
    let config: Config = cluster
        .url_for("auth_trust", None, "postgres")
        .parse()
        .unwrap();
    let mut conn = Connection::connect(&config).unwrap();
    assert_eq!(
        conn.query_one("SELECT 2", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        2
    );
}

#[test]
fn unix_socket_connections_work() {
    let cluster = cluster();
    let mut config = Config::new();
    config
        .host(cluster.socket_dir().to_str().unwrap())
        .port(cluster.port())
        .user("postgres")
        .dbname("postgres");
    let mut conn = Connection::connect(&config).unwrap();
    assert!(matches!(conn.stream(), lifeguard_pg::Socket::StdUnix(_)));
    assert_eq!(
        conn.query_one("SELECT 3", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        3
    );
}

/// A TCP listener on loopback whose accept queue is full: the kernel drops further
/// SYNs, so a connect there never completes, as with an unroutable address (which this
/// workplace forbids as a target).
fn silent_address() -> (
    socket2::Socket,
    Vec<std::net::TcpStream>,
    std::net::SocketAddr,
) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    // Fill the queue until a connect no longer completes.
    while fillers.len() < 64 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    (listener, fillers, addr)
}

#[test]
fn a_silent_address_gives_a_connect_timeout_within_the_bound() {
    let (_listener, _fillers, addr) = silent_address();
    let config: Config = format!(
        "host=127.0.0.1 port={} user=x connect_timeout=1",
        addr.port()
    )
    .parse()
    .unwrap();
    for attempt in [
        Box::new(|| Connection::connect(&config).map(drop)) as Box<dyn Fn() -> Result<(), Error>>,
        Box::new(|| Client::connect(&config).map(drop)),
    ] {
        let started = Instant::now();
        let err = attempt().unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, Error::Timeout(Timeout::Connect)), "{err}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
}

#[test]
fn a_server_that_accepts_but_never_answers_times_out_the_handshake() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config: Config = format!("postgres://x@127.0.0.1:{port}/db?connect_timeout=1")
        .parse()
        .unwrap();
    let started = Instant::now();
    let err = Connection::connect(&config).map(drop).unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Connect)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn nothing_listening_is_refused_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config: Config = format!("postgres://x@127.0.0.1:{port}/db").parse().unwrap();
    let started = Instant::now();
    let err = Connection::connect(&config).map(drop).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    assert!(
        err.to_string().contains(&port.to_string()),
        "names the address: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn sslmode_verify_full_without_a_root_certificate_is_refused_before_connecting() {
    let config: Config = "postgres://x@127.0.0.1:1/db?sslmode=verify-full"
        .parse()
        .unwrap();
    let err = Connection::connect(&config).map(drop).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(
        err.to_string()
            .contains("sslmode=verify-full needs the root certificate"),
        "{err}"
    );
}
