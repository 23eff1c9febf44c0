//! Addresses with no PostgreSQL behind them, for testing what clients do when a server
//! cannot be reached: [`SilentListener`] accepts connections and never answers,
//! [`RefusingPort`] refuses them.
//!
//! The silent listener's accept loop runs on a thread of its own and ends when the
//! listener is dropped: the drop sets a flag, then connects once to wake the blocking
//! `accept`, which sees the flag and returns. The connections it accepted live in that
//! thread and close when it ends.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{HarnessError, Result};

/// How long dropping a [`SilentListener`] waits to connect to itself.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte:
/// what a client sees of a server whose host is up but whose PostgreSQL hangs, or of a
/// proxy with nothing behind it. The connections stay open (what clients send is
/// never read) until the listener is dropped, which closes them.
///
/// ```no_run
/// use std::io::Read;
/// use std::net::TcpStream;
/// use std::time::Duration;
/// use lifeguard_harness::SilentListener;
///
/// let silent = SilentListener::start()?;
/// assert!(silent.url().starts_with("postgres://postgres@127.0.0.1:"));
/// let mut socket = TcpStream::connect(("127.0.0.1", silent.port())).unwrap();
/// socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
/// assert!(socket.read(&mut [0; 1]).is_err()); // connected, but no answer
/// drop(silent);
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
pub struct SilentListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl SilentListener {
    /// Listens on a free port of 127.0.0.1 (never 5432) and starts accepting.
    pub fn start() -> Result<SilentListener> {
        let listener = loop {
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .map_err(|e| HarnessError::io("could not bind a silent listener", e))?;
            if local_port(&listener)? != 5432 {
                break listener;
            }
        };
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io("could not read the silent listener's address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            std::thread::Builder::new()
                .name(format!("silent listener {}", addr.port()))
                .spawn(move || accept_silently(listener, &stop, &accepted))
                .map_err(|e| HarnessError::io("could not start the silent listener", e))?
        };
        Ok(SilentListener {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        loopback_url(self.port())
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn accept_silently(listener: TcpListener, stop: &AtomicBool, accepted: &AtomicUsize) {
    let mut open = Vec::new();
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Ok(stream) = stream {
            accepted.fetch_add(1, Ordering::SeqCst);
            open.push(stream);
        }
    }
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop; if even that connect fails, the thread is left blocked
        // in accept (it holds nothing but the port and the silent connections).
        if TcpStream::connect_timeout(&self.addr, WAKE_TIMEOUT).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for SilentListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SilentListener")
            .field("addr", &self.addr)
            .field("accepted", &self.accepted())
            .finish()
    }
}

/// A port on 127.0.0.1 where nothing listens, so every connect is refused at once
/// (the kernel answers the SYN with a reset): what a client sees of a host that is up
/// while its server is down.
///
/// The port stays reserved for as long as the value lives: it holds a socket bound to
/// the port that never listens, so no other program can take the port meanwhile (the
/// refusal is reliable, unlike with a port that was merely free a moment ago).
///
/// ```no_run
/// use std::net::TcpStream;
/// use lifeguard_harness::RefusingPort;
///
/// let refusing = RefusingPort::new()?;
/// let err = TcpStream::connect(("127.0.0.1", refusing.port())).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
/// println!("nobody at {}", refusing.url());
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
#[derive(Debug)]
pub struct RefusingPort {
    port: u16,
    _bound: OwnedFd,
}

impl RefusingPort {
    /// Reserves a free port of 127.0.0.1 (never 5432).
    pub fn new() -> Result<RefusingPort> {
        loop {
            let (bound, port) = bind_without_listening()
                .map_err(|e| HarnessError::io("could not reserve a refusing port", e))?;
            if port != 5432 {
                return Ok(RefusingPort {
                    port,
                    _bound: bound,
                });
            }
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        loopback_url(self.port)
    }
}

/// A TCP socket bound to a free port of 127.0.0.1, never listening, and its port.
fn bind_without_listening() -> std::io::Result<(OwnedFd, u16)> {
    // SAFETY: socket takes plain integers; a non-negative result is a new descriptor
    // that nothing else owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `len` bytes for the duration of the call.
    let bound = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            len,
        )
    };
    if bound != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: sockaddr_in is plain old data; an all-zero value is valid.
    let mut local: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut local_len = len;
    // SAFETY: `local` has room for `local_len` bytes, which getsockname updates.
    let named = unsafe {
        libc::getsockname(
            socket.as_raw_fd(),
            (&mut local as *mut libc::sockaddr_in).cast(),
            &mut local_len,
        )
    };
    if named != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((socket, u16::from_be(local.sin_port)))
}

fn local_port(listener: &TcpListener) -> Result<u16> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| HarnessError::io("could not read a listener's address", e))
}

fn loopback_url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}
