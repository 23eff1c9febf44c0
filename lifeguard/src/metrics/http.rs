//! `GET /metrics` on an HTTP endpoint of its own, served by may_minihttp on coroutines.

use std::io;
use std::net::ToSocketAddrs;

use may::coroutine::JoinHandle;
use may_minihttp::{HttpServer, HttpService, Request, Response};
use prometheus::Registry;

/// Answers `GET /metrics` with the text exposition of its registry, and anything else
/// with 404.
#[derive(Clone)]
struct Endpoint {
    registry: Registry,
}

impl HttpService for Endpoint {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        if req.method() != "GET" || req.path() != "/metrics" {
            rsp.status_code(404, "Not Found");
            rsp.body("GET /metrics\n");
            return Ok(());
        }
        match super::encode(&self.registry) {
            Ok(text) => {
                rsp.header("Content-Type: text/plain; version=0.0.4; charset=utf-8");
                rsp.body_vec(text.into_bytes());
            }
            Err(e) => {
                rsp.status_code(500, "Internal Server Error");
                rsp.body_vec(format!("{e}\n").into_bytes());
            }
        }
        Ok(())
    }
}

/// The endpoint [`serve`] started; it serves until [`stop`](MetricsServer::stop)ped or
/// the process ends (dropping it does not stop it).
#[derive(Debug)]
pub struct MetricsServer {
    listener: JoinHandle<()>,
}

impl MetricsServer {
    /// Stops accepting connections (connections already open are served until their
    /// clients close them).
    pub fn stop(self) {
        // SAFETY: the accept loop holds only its listener, which unwinding closes.
        unsafe { self.listener.coroutine().cancel() };
    }
}

/// Serves the default registry's series (`prometheus::default_registry()`) at
/// `GET /metrics` on `addr`, on coroutines of the may runtime. Give an IP address
/// (`"0.0.0.0:9187"`): a host name is resolved by the OS, blocking the thread.
///
/// ```no_run
/// let server = lifeguard::metrics::serve("127.0.0.1:9187")?;
/// # server.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve(addr: impl ToSocketAddrs) -> io::Result<MetricsServer> {
    serve_registry(addr, prometheus::default_registry().clone())
}

/// Serves `registry`'s series at `GET /metrics` on `addr` (see [`serve`]).
pub fn serve_registry(addr: impl ToSocketAddrs, registry: Registry) -> io::Result<MetricsServer> {
    let listener = HttpServer(Endpoint { registry }).start(addr)?;
    Ok(MetricsServer { listener })
}
