//! The byte streams a connection runs over, and how they are opened.
//!
//! A [`Connection`](crate::Connection) is generic over any [`Stream`]: std sockets serve
//! plain threads (the compile-time describe path), `may` sockets serve coroutines, and a
//! test can wrap either to watch the bytes. [`Socket`] is the stream a connection opens:
//! TCP or Unix, std or may.
//!
//! A TCP socket may carry TLS ([`Socket::Tls`], negotiated in `tls.rs`).
//!
//! Every TCP socket opened here gets `TCP_NODELAY`, TCP keepalive and
//! `TCP_USER_TIMEOUT` as the [`Config`] says (`TcpOptions`): a peer that vanished
//! without a word is found while the connection idles (keepalive) and while bytes wait
//! unacknowledged (user timeout), instead of never.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::{Config, Host};
use crate::deadline::may_timeout;
use crate::error::{Error, Timeout};
use crate::tls::TlsStream;

/// A byte stream a connection can run over.
///
/// The timeout methods let the connection bound its waits (connect, request and
/// statement timeouts): before every read and write it sets what is left of its
/// deadline. A stream that cannot time out keeps the default no-op implementations;
/// its deadlines are then checked only before each read and write, so one read that
/// never returns is bounded only by the server.
pub trait Stream: Read + Write + Send {
    /// Bounds every later read; `None` waits forever.
    fn set_read_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Bounds every later write; `None` waits forever.
    fn set_write_timeout(&self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Whether bytes (or the end of the stream) are waiting to be read, found without
    /// waiting. A stream that cannot tell says `false`.
    fn has_pending_input(&self) -> io::Result<bool> {
        Ok(false)
    }

    /// For a TLS stream, the `tls-server-end-point` data SCRAM-SHA-256-PLUS binds the
    /// login to (RFC 5929: the hash of the server's certificate); `None` otherwise.
    fn tls_server_end_point(&self) -> Option<Vec<u8>> {
        None
    }
}

/// Which flavour of socket to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// std sockets: blocking OS calls, for plain threads.
    Std,
    /// may sockets: park the coroutine, never the worker thread.
    May,
}

impl Runtime {
    /// `May` inside a coroutine, `Std` on a plain thread.
    pub fn current() -> Runtime {
        if may::coroutine::is_coroutine() {
            Runtime::May
        } else {
            Runtime::Std
        }
    }
}

/// A socket opened by [`Connection::connect`](crate::Connection::connect).
///
/// The may sockets are boxed so that their address never changes when the
/// connection that holds them moves: may 0.3.51 (`SocketRead::subscribe`,
/// `src/io/sys/unix/net/socket_read.rs`) still reads the socket's registration after
/// it has handed the waiting coroutine to the event loop, and a coroutine resumed on
/// another thread that moves its connection meanwhile (returning it, putting it in a
/// pool) left it reading the old place: a segfault under load.
#[derive(Debug)]
pub enum Socket {
    /// std TCP.
    StdTcp(std::net::TcpStream),
    /// std Unix domain socket.
    StdUnix(std::os::unix::net::UnixStream),
    /// may TCP.
    MayTcp(Box<may::net::TcpStream>),
    /// may Unix domain socket.
    MayUnix(Box<may::os::unix::net::UnixStream>),
    /// TLS over a TCP socket.
    Tls(Box<TlsStream<Socket>>),
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::StdTcp(s) => s.read(buf),
            Socket::StdUnix(s) => s.read(buf),
            Socket::MayTcp(s) => in_coroutine(|| s.read(buf)),
            Socket::MayUnix(s) => in_coroutine(|| s.read(buf)),
            Socket::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::StdTcp(s) => s.write(buf),
            Socket::StdUnix(s) => s.write(buf),
            Socket::MayTcp(s) => in_coroutine(|| s.write(buf)),
            Socket::MayUnix(s) => in_coroutine(|| s.write(buf)),
            Socket::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::StdTcp(s) => s.flush(),
            Socket::StdUnix(s) => s.flush(),
            Socket::MayTcp(s) => s.flush(),
            Socket::MayUnix(s) => s.flush(),
            Socket::Tls(s) => s.flush(),
        }
    }
}

/// Runs a may socket operation inside a coroutine.
///
/// may lets a plain thread wait on a may socket, but that path races with its event
/// loop: the wait's bookkeeping lives on the thread's stack, and the event loop can
/// touch it after the thread has moved on (seen as corrupted reads and panics in
/// may's worker threads). From a plain thread the operation therefore runs in a scoped
/// coroutine while the thread waits for it to finish; inside a coroutine it runs
/// directly.
fn in_coroutine<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    if may::coroutine::is_coroutine() {
        return op();
    }
    may::coroutine::scope(|scope| {
        // SAFETY: the coroutine only runs `op`, a socket call that parks on may's
        // event loop; it borrows nothing that outlives the scope, which joins it.
        let handle = unsafe { scope.spawn(op) };
        handle.join()
    })
}

/// may sockets keep timeouts in whole milliseconds and read a zero as "none": every
/// timeout given to one is rounded up first (see `deadline.rs`).
impl Stream for Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::StdTcp(s) => s.set_read_timeout(timeout),
            Socket::StdUnix(s) => s.set_read_timeout(timeout),
            Socket::MayTcp(s) => s.set_read_timeout(timeout.map(may_timeout)),
            Socket::MayUnix(s) => s.set_read_timeout(timeout.map(may_timeout)),
            Socket::Tls(s) => s.socket().set_read_timeout(timeout),
        }
    }

    fn has_pending_input(&self) -> io::Result<bool> {
        match self {
            Socket::StdTcp(s) => peek_now(socket2::SockRef::from(s)),
            Socket::StdUnix(s) => peek_now(socket2::SockRef::from(s)),
            Socket::MayTcp(s) => peek_now(socket2::SockRef::from(s.inner())),
            Socket::MayUnix(s) => peek_now(socket2::SockRef::from(s.inner())),
            // A record waiting (data, an alert, close_notify) is something to read.
            Socket::Tls(s) => s.socket().has_pending_input(),
        }
    }

    fn tls_server_end_point(&self) -> Option<Vec<u8>> {
        match self {
            Socket::Tls(s) => s.server_end_point(),
            _ => None,
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::StdTcp(s) => s.set_write_timeout(timeout),
            Socket::StdUnix(s) => s.set_write_timeout(timeout),
            Socket::MayTcp(s) => s.set_write_timeout(timeout.map(may_timeout)),
            Socket::MayUnix(s) => s.set_write_timeout(timeout.map(may_timeout)),
            Socket::Tls(s) => s.socket().set_write_timeout(timeout),
        }
    }
}

/// Peeks at one byte without waiting: true for data or the end of the stream.
fn peek_now(socket: socket2::SockRef<'_>) -> io::Result<bool> {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    match socket.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        // A reset or another failure: reading would find it too.
        Err(_) => Ok(true),
    }
}

impl Socket {
    /// A second handle on the same socket, so one coroutine can read while another
    /// writes. A TLS socket cannot have one: its session is one state machine.
    pub fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::StdTcp(s) => Socket::StdTcp(s.try_clone()?),
            Socket::StdUnix(s) => Socket::StdUnix(s.try_clone()?),
            Socket::MayTcp(s) => Socket::MayTcp(Box::new(s.try_clone()?)),
            Socket::MayUnix(s) => Socket::MayUnix(Box::new(s.try_clone()?)),
            Socket::Tls(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a TLS socket cannot be cloned: its session is one state machine",
                ));
            }
        })
    }

    /// The may socket, to be driven by hand; a std socket is refused.
    pub(crate) fn into_driven(self) -> Result<Driven, Error> {
        match self {
            Socket::MayTcp(s) => Ok(Driven::Tcp(s)),
            Socket::MayUnix(s) => Ok(Driven::Unix(s)),
            Socket::Tls(s) => Ok(Driven::Tls(Box::new(
                s.try_map_socket(Socket::into_driven)?,
            ))),
            Socket::StdTcp(_) | Socket::StdUnix(_) => Err(Error::Unsupported(
                "a pipelined client runs on a may socket, not a std one".into(),
            )),
        }
    }

    /// Shuts both directions down; a reader blocked on another handle wakes with EOF.
    pub fn shutdown(&self) -> io::Result<()> {
        let how = std::net::Shutdown::Both;
        match self {
            Socket::StdTcp(s) => s.shutdown(how),
            Socket::StdUnix(s) => s.shutdown(how),
            Socket::MayTcp(s) => s.shutdown(how),
            Socket::MayUnix(s) => s.shutdown(how),
            Socket::Tls(s) => s.socket().shutdown(),
        }
    }
}

/// A may socket driven by hand by one coroutine (the pipelined client's I/O loop):
/// reads and writes return `WouldBlock` instead of parking, and [`wait`](Self::wait)
/// parks until the socket has an event or a [`DrivenWaker`] is woken. Boxed for the
/// reason [`Socket`] boxes its may sockets.
pub(crate) enum Driven {
    Tcp(Box<may::net::TcpStream>),
    Unix(Box<may::os::unix::net::UnixStream>),
    /// TLS over a driven TCP socket: records are decrypted and encrypted here, in the
    /// one coroutine that drives the socket, so no lock guards the session.
    Tls(Box<TlsStream<Driven>>),
}

/// Wakes the coroutine parked in [`Driven::wait`], from any coroutine or thread.
pub(crate) struct DrivenWaker(may::io::WaitIoWaker);

impl DrivenWaker {
    pub(crate) fn wake(&self) {
        self.0.wakeup();
    }
}

/// The epoll events after which a read may find something: data, the end, an error.
const READ_EVENTS: usize =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;
/// The epoll events after which a write may go on.
const WRITE_EVENTS: usize = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as usize;

/// The directions a [`Driven::wait`] woke for; a [`DrivenWaker`] sets neither.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl Driven {
    /// Reads what is there now, without parking. Over TLS it decrypts all it can.
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Driven::Tcp(s) => s.inner_mut().read(buf),
            Driven::Unix(s) => s.inner_mut().read(buf),
            Driven::Tls(s) => s.try_read(buf),
        }
    }

    /// Writes what fits now, without parking. Over TLS the bytes taken may wait
    /// encrypted for the socket: see [`wants_write`](Self::wants_write).
    pub(crate) fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Driven::Tcp(s) => s.inner_mut().write(buf),
            Driven::Unix(s) => s.inner_mut().write(buf),
            Driven::Tls(s) => s.try_write(buf),
        }
    }

    /// Bytes taken by [`try_write`](Self::try_write) still wait for the socket (TLS
    /// records).
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Driven::Tls(s) => s.wants_write(),
            Driven::Tcp(_) | Driven::Unix(_) => false,
        }
    }

    /// Writes what [`wants_write`](Self::wants_write), until the socket is full
    /// (`WouldBlock`).
    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Driven::Tls(s) => s.flush_tls(),
            Driven::Tcp(_) | Driven::Unix(_) => Ok(()),
        }
    }

    /// Parks the calling coroutine until the socket has an event or the waker is
    /// woken (at once if either happened since the last wait), and says which
    /// directions the events were for. Coroutines only.
    pub(crate) fn wait(&self) -> Readiness {
        use may::io::WaitIo;
        let events = match self {
            Driven::Tcp(s) => s.wait_io(),
            Driven::Unix(s) => s.wait_io(),
            Driven::Tls(s) => return s.socket().wait(),
        };
        Readiness {
            read: events & READ_EVENTS != 0,
            write: events & WRITE_EVENTS != 0,
        }
    }

    pub(crate) fn waker(&self) -> DrivenWaker {
        use may::io::WaitIo;
        DrivenWaker(match self {
            Driven::Tcp(s) => s.waker(),
            Driven::Unix(s) => s.waker(),
            Driven::Tls(s) => return s.socket().waker(),
        })
    }

    pub(crate) fn shutdown(&self) -> io::Result<()> {
        let how = std::net::Shutdown::Both;
        match self {
            Driven::Tcp(s) => s.shutdown(how),
            Driven::Unix(s) => s.shutdown(how),
            Driven::Tls(s) => s.socket().shutdown(),
        }
    }
}

/// The plain driven socket as a nonblocking stream, for the TLS session on top.
impl Read for Driven {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }
}

impl Write for Driven {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a server listens, resolved from a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Tcp { host: String, port: u16 },
    Unix { path: std::path::PathBuf },
}

impl Address {
    pub(crate) fn from_config(config: &Config) -> Address {
        let port = config.get_port();
        match config.host_or_default() {
            Host::Tcp(host) => Address::Tcp { host, port },
            Host::Unix(dir) => Address::Unix {
                path: dir.join(format!(".s.PGSQL.{port}")),
            },
        }
    }
}

/// The TCP options of every socket opened for one [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpOptions {
    /// Keepalive probing, when on.
    keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT`: how long sent bytes may stay unacknowledged before the
    /// kernel gives the connection up; `None` keeps the OS default.
    user_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keepalive {
    idle: Duration,
    interval: Duration,
    count: u32,
}

impl TcpOptions {
    pub(crate) fn from_config(config: &Config) -> TcpOptions {
        TcpOptions {
            keepalive: config.get_keepalives().then(|| Keepalive {
                idle: config.get_keepalives_idle(),
                interval: config.get_keepalives_interval(),
                count: config.get_keepalives_count(),
            }),
            user_timeout: config.get_tcp_user_timeout(),
        }
    }

    /// Sets the options on a connected TCP socket.
    fn apply(&self, socket: &std::net::TcpStream) -> io::Result<()> {
        let socket = socket2::SockRef::from(socket);
        socket.set_tcp_nodelay(true)?;
        if let Some(k) = self.keepalive {
            let probes = socket2::TcpKeepalive::new().with_time(k.idle);
            #[cfg(any(
                target_os = "linux",
                target_os = "android",
                target_os = "macos",
                target_os = "freebsd"
            ))]
            let probes = probes.with_interval(k.interval).with_retries(k.count);
            socket.set_tcp_keepalive(&probes)?;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(timeout) = self.user_timeout {
            socket.set_tcp_user_timeout(Some(timeout))?;
        }
        Ok(())
    }
}

/// Opens a socket to `address` within `timeout` (none: wait as long as the OS does).
///
/// Name resolution runs on a short-lived helper thread when `runtime` is `May`, so a
/// slow DNS server never blocks a worker thread; an address literal or `localhost` needs
/// no lookup at all.
pub(crate) fn open(
    address: &Address,
    runtime: Runtime,
    timeout: Option<Duration>,
    tcp: &TcpOptions,
) -> Result<Socket, Error> {
    let deadline = timeout.map(|t| Instant::now() + t);
    match address {
        Address::Unix { path } => open_unix(path, runtime),
        Address::Tcp { host, port } => {
            let addrs = resolve(host, *port, runtime, deadline)?;
            let mut last = None;
            for addr in addrs {
                match open_tcp(&addr, runtime, remaining(deadline)?, tcp) {
                    Ok(socket) => return Ok(socket),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                Error::config(format!("host \"{host}\" resolved to no address"))
            }))
        }
    }
}

/// What is left of a deadline; an elapsed deadline is a connect timeout.
pub(crate) fn remaining(deadline: Option<Instant>) -> Result<Option<Duration>, Error> {
    match deadline {
        None => Ok(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(Error::Timeout(Timeout::Connect)),
        },
    }
}

fn open_unix(path: &Path, runtime: Runtime) -> Result<Socket, Error> {
    let socket = match runtime {
        Runtime::Std => std::os::unix::net::UnixStream::connect(path).map(Socket::StdUnix),
        Runtime::May => {
            may::os::unix::net::UnixStream::connect(path).map(|s| Socket::MayUnix(Box::new(s)))
        }
    };
    socket.map_err(|e| {
        Error::Io(io::Error::new(
            e.kind(),
            format!("cannot connect to {}: {e}", path.display()),
        ))
    })
}

fn open_tcp(
    addr: &SocketAddr,
    runtime: Runtime,
    timeout: Option<Duration>,
    tcp: &TcpOptions,
) -> Result<Socket, Error> {
    let socket = match (runtime, timeout) {
        (Runtime::Std, Some(t)) => {
            std::net::TcpStream::connect_timeout(addr, t).map(Socket::StdTcp)
        }
        (Runtime::Std, None) => std::net::TcpStream::connect(addr).map(Socket::StdTcp),
        (Runtime::May, Some(t)) => may::net::TcpStream::connect_timeout(addr, may_timeout(t))
            .map(|s| Socket::MayTcp(Box::new(s))),
        (Runtime::May, None) => {
            may::net::TcpStream::connect(addr).map(|s| Socket::MayTcp(Box::new(s)))
        }
    };
    let socket = socket.map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout(Timeout::Connect),
        _ => Error::Io(io::Error::new(
            e.kind(),
            format!("cannot connect to {addr}: {e}"),
        )),
    })?;
    let applied = match &socket {
        Socket::StdTcp(s) => tcp.apply(s),
        Socket::MayTcp(s) => tcp.apply(s.inner()),
        Socket::StdUnix(_) | Socket::MayUnix(_) | Socket::Tls(_) => Ok(()),
    };
    applied.map_err(|e| {
        Error::Io(io::Error::new(
            e.kind(),
            format!("cannot set the TCP options of the socket to {addr}: {e}"),
        ))
    })?;
    Ok(socket)
}

fn resolve(
    host: &str,
    port: u16,
    runtime: Runtime,
    deadline: Option<Instant>,
) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ]);
    }
    let lookup = {
        let host = host.to_owned();
        move || -> io::Result<Vec<SocketAddr>> {
            Ok((host.as_str(), port).to_socket_addrs()?.collect())
        }
    };
    let found = match runtime {
        Runtime::Std => lookup(),
        Runtime::May => {
            let (tx, rx) = may::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("lifeguard-dns".into())
                .spawn(move || {
                    let _ = tx.send(lookup());
                })?;
            let waited = match remaining(deadline)? {
                Some(left) => rx
                    .recv_timeout(may_timeout(left))
                    .map_err(|_| Error::Timeout(Timeout::Connect)),
                None => rx
                    .recv()
                    .map_err(|_| Error::closed("DNS lookup thread ended")),
            };
            waited?
        }
    };
    found.map_err(|e| {
        Error::Io(io::Error::new(
            e.kind(),
            format!("cannot resolve host \"{host}\": {e}"),
        ))
    })
}
