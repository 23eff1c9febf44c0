//! TLS the libpq way, on rustls 0.23 with its ring provider.
//!
//! [`negotiate`] runs right after the TCP connect, before the startup message: it sends
//! an SSLRequest, reads the server's one-byte answer and, on `S`, runs the TLS
//! handshake. What is verified follows `sslmode` ([`SslMode`]):
//!
//! | sslmode | TLS | the certificate chain | the host name |
//! |---|---|---|---|
//! | `disable` | never | – | – |
//! | `allow` | only when the server refuses plain text | no | no |
//! | `prefer` (default) | when the server offers it | no | no |
//! | `require` | always | only when a root certificate is given (as libpq) | no |
//! | `verify-ca` | always | yes | no |
//! | `verify-full` | always | yes | yes |
//!
//! The root certificates come from `sslrootcert`: a PEM file, `system` for the
//! platform's roots (which asks for `verify-full`), or else `~/.postgresql/root.crt`
//! when it exists. A client certificate comes from `sslcert`/`sslkey`, or else
//! `~/.postgresql/postgresql.crt` and `.key` when both exist. Unix-domain sockets never
//! use TLS, as with libpq.
//!
//! The server's answer to the SSLRequest is read one byte at a time, so nothing the
//! server sends before the handshake can be taken for encrypted data (CVE-2021-23222).
//! Errors say what to do and never hold key material.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::config::{Config, SslMode};
use crate::error::{Error, Timeout};

/// Where the root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// None given, and no `~/.postgresql/root.crt`.
    None,
    /// A PEM file of one or more certificates.
    File(PathBuf),
    /// The platform's trusted roots (`sslrootcert=system`).
    System,
}

/// What a TLS connection to one server checks and presents, worked out from a
/// [`Config`] before any byte is sent.
pub(crate) struct Plan {
    mode: SslMode,
    roots: Roots,
    /// The client certificate chain and key files.
    identity: Option<(PathBuf, PathBuf)>,
}

impl Plan {
    /// The plan for `config`; a configuration libpq would refuse is an error here too.
    pub(crate) fn from_config(config: &Config) -> Result<Plan, Error> {
        let home = home_dir();
        let roots = match config.get_ssl_root_cert() {
            Some("system") => Roots::System,
            Some(path) => Roots::File(PathBuf::from(path)),
            None => match home.as_ref().map(|h| h.join(".postgresql/root.crt")) {
                Some(path) if path.exists() => Roots::File(path),
                _ => Roots::None,
            },
        };
        let mode = config.get_ssl_mode();
        if roots == Roots::System && mode != SslMode::VerifyFull {
            return Err(Error::config(format!(
                "sslrootcert=system needs sslmode=verify-full, not sslmode={mode}: the \
                 platform's roots vouch for host names, so only a check of the host name \
                 makes them mean something"
            )));
        }
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && roots == Roots::None {
            return Err(Error::config(format!(
                "sslmode={mode} needs the root certificate that signed the server's: give \
                 sslrootcert=<file>, put it in ~/.postgresql/root.crt, or use \
                 sslrootcert=system for the platform's roots"
            )));
        }
        let identity = match (config.get_ssl_cert(), config.get_ssl_key()) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::config(
                    "sslcert and sslkey go together: give both, or neither",
                ));
            }
            (None, None) => home.and_then(|h| {
                let cert = h.join(".postgresql/postgresql.crt");
                let key = h.join(".postgresql/postgresql.key");
                (cert.exists() && key.exists()).then_some((cert, key))
            }),
        };
        Ok(Plan {
            mode,
            roots,
            identity,
        })
    }

    /// Whether the first attempt asks for TLS.
    pub(crate) fn tries_tls_first(&self) -> bool {
        !matches!(self.mode, SslMode::Disable | SslMode::Allow)
    }

    /// Whether a server that answers `N` to the SSLRequest is refused.
    fn needs_tls(&self) -> bool {
        matches!(
            self.mode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }

    /// The rustls configuration for this plan.
    fn client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("cannot set up TLS", &e))?;
        let chain = match (&self.mode, &self.roots) {
            // Encryption only, as libpq's prefer and allow, and require without roots
            // (`from_config` refused verify-ca and verify-full without them).
            (SslMode::Allow | SslMode::Prefer, _) | (_, Roots::None) => None,
            (_, roots) => Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(root_store(roots)?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| Error::config(format!("cannot use the root certificates: {e}")))?,
            ),
        };
        let verifier = Arc::new(Verifier {
            chain,
            host_name: self.mode == SslMode::VerifyFull,
            provider,
        });
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let (chain, key) = identity(cert, key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_error("cannot use the client certificate", &e))?
            }
        };
        Ok(Arc::new(config))
    }
}

/// Asks the server on `stream` for TLS and runs the handshake when it agrees. `Ok(None)`:
/// the server answered `N` and the plan allows plain text. The stream's timeouts bound
/// every read and write.
pub(crate) fn negotiate<S: Read + Write>(
    mut stream: S,
    plan: &Plan,
    host: &str,
) -> Result<Result<TlsStream<S>, S>, Error> {
    // SSLRequest: length 8, code 1234.5679.
    stream
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .and_then(|()| stream.flush())
        .map_err(|e| io_error("cannot ask the server for TLS", e))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .map_err(|e| io_error("the server did not answer the TLS request", e))?;
    match answer[0] {
        b'S' => {}
        b'N' if plan.needs_tls() => {
            return Err(Error::config(format!(
                "sslmode={} and the server does not offer TLS (its ssl setting is off): \
                 turn ssl on in postgresql.conf, or use sslmode=prefer",
                plan.mode
            )));
        }
        b'N' => return Ok(Err(stream)),
        b'E' => {
            return Err(Error::protocol(
                "the server answered the TLS request with an error: it is older than \
                 PostgreSQL 7.4 or not PostgreSQL",
            ));
        }
        other => {
            return Err(Error::protocol(format!(
                "the server answered the TLS request with byte {other:#04x}, not S or N"
            )));
        }
    }
    let name = server_name(host)?;
    let mut conn = ClientConnection::new(plan.client_config()?, name)
        .map_err(|e| tls_error("cannot start TLS", &e))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut stream) {
            return Err(handshake_error(e, plan, host));
        }
    }
    Ok(Ok(TlsStream { conn, sock: stream }))
}

/// An encrypted stream over `S`: one rustls state machine and the socket under it.
pub struct TlsStream<S> {
    conn: ClientConnection,
    sock: S,
}

impl<S> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("protocol", &self.conn.protocol_version())
            .finish_non_exhaustive()
    }
}

impl<S> TlsStream<S> {
    /// The socket under the encryption.
    pub fn socket(&self) -> &S {
        &self.sock
    }

    /// The data SCRAM-SHA-256-PLUS binds to: `tls-server-end-point` (RFC 5929), the
    /// hash of the server's certificate.
    pub(crate) fn server_end_point(&self) -> Option<Vec<u8>> {
        let cert = self.conn.peer_certificates()?.first()?;
        Some(server_end_point(cert))
    }

    /// The same TLS session over another handle on the socket (the pipelined client's
    /// driven one).
    pub(crate) fn try_map_socket<T, E>(
        self,
        f: impl FnOnce(S) -> Result<T, E>,
    ) -> Result<TlsStream<T>, E> {
        Ok(TlsStream {
            conn: self.conn,
            sock: f(self.sock)?,
        })
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        rustls::Stream::new(&mut self.conn, &mut self.sock).read(buf)
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        rustls::Stream::new(&mut self.conn, &mut self.sock).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        rustls::Stream::new(&mut self.conn, &mut self.sock).flush()
    }
}

/// Nonblocking use, for the pipelined client's I/O coroutine: `S` reads and writes
/// without waiting (`WouldBlock` when it cannot go on).
impl<S: Read + Write> TlsStream<S> {
    /// Fills `buf` with what can be decrypted now; `WouldBlock` when nothing can.
    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            match self.conn.reader().read(&mut buf[filled..]) {
                // close_notify: the end, after what was decrypted before it.
                Ok(0) => return Ok(filled),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        return Ok(filled);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The server closed without close_notify: the end, as for a plain socket.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(filled),
                Err(e) => return Err(e),
            }
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => return Ok(filled),
                Ok(_) => {
                    self.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    // An alert or a key update may want an answer.
                    if self.conn.wants_write() {
                        let _ = self.flush_tls();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && filled > 0 => {
                    return Ok(filled);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypts what fits of `buf` and writes what the socket takes; the plaintext
    /// bytes taken. Records not yet written stay queued ([`wants_write`](Self::wants_write)).
    pub(crate) fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_tls()?;
        let n = self.conn.writer().write(buf)?;
        match self.flush_tls() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    /// Encrypted records are queued, waiting for the socket.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes queued records until none is left or the socket is full (`WouldBlock`).
    pub(crate) fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the socket accepts no more bytes",
                ));
            }
        }
        Ok(())
    }
}

/// `host` as the name the certificate must carry: a DNS name or an IP address.
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.trim_matches(|c| c == '[' || c == ']').to_owned()).map_err(|_| {
        Error::config(format!(
            "host \"{host}\" is neither a DNS name nor an IP address, so TLS cannot check it"
        ))
    })
}

fn root_store(roots: &Roots) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::None => {}
        Roots::File(path) => {
            let text = read_file("root certificate", path, "sslrootcert")?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&text)
                .collect::<Result<_, _>>()
                .map_err(|e| bad_pem("root certificate", path, &e))?;
            if certs.is_empty() {
                return Err(Error::config(format!(
                    "the root certificate file {} holds no PEM certificate",
                    path.display()
                )));
            }
            for cert in certs {
                store.add(cert).map_err(|e| {
                    Error::config(format!(
                        "the root certificate file {} holds a certificate rustls cannot use: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::config(
                    "sslrootcert=system found no trusted root certificate on this system \
                     (on Debian: apt install ca-certificates)",
                ));
            }
        }
    }
    Ok(store)
}

/// The client certificate chain and key, read from their PEM files.
fn identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let text = read_file("client certificate", cert, "sslcert")?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| bad_pem("client certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(Error::config(format!(
            "the client certificate file {} holds no PEM certificate",
            cert.display()
        )));
    }
    let text = read_file("client key", key, "sslkey")?;
    if text.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(Error::config(format!(
            "the client key {} is encrypted, and sslpassword is not supported: decrypt it \
             (openssl pkey -in <key> -out <new key>) and keep it readable by you alone",
            key.display()
        )));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&text).map_err(|_| {
        Error::config(format!(
            "the client key {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            key.display()
        ))
    })?;
    Ok((chain, key_der))
}

fn read_file(what: &str, path: &Path, param: &str) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| {
        Error::config(format!(
            "cannot read the {what} file {} ({param}): {e}",
            path.display()
        ))
    })
}

fn bad_pem(what: &str, path: &Path, e: &rustls::pki_types::pem::Error) -> Error {
    Error::config(format!(
        "the {what} file {} is not valid PEM: {e}",
        path.display()
    ))
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// A socket error during the negotiation; a timeout is the connect timeout running out.
fn io_error(what: &str, e: io::Error) -> Error {
    if crate::wire::is_timeout(&e) {
        return Error::Timeout(Timeout::Connect);
    }
    Error::Io(io::Error::new(e.kind(), format!("{what}: {e}")))
}

fn tls_error(what: &str, e: &rustls::Error) -> Error {
    Error::config(format!("{what}: {e}"))
}

/// The handshake failed: say why in terms of what to change.
fn handshake_error(e: io::Error, plan: &Plan, host: &str) -> Error {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return io_error("the TLS handshake failed", e);
    };
    let advice = match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate is not signed by a trusted root (sslrootcert{}): give \
             the root certificate that signed it",
            match &plan.roots {
                Roots::File(path) => format!(" = {}", path.display()),
                Roots::System => "=system".to_owned(),
                Roots::None => String::new(),
            }
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate is not valid for host \"{host}\" (sslmode=verify-full \
             checks the name): connect by a name the certificate carries, or use \
             sslmode=verify-ca"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired: renew it on the server".to_owned(),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the server's certificate is not valid yet: check the clocks".to_owned(),
        rustls::Error::AlertReceived(alert) => format!(
            "the server refused the TLS session ({alert:?}); if it asks for a client \
             certificate, give sslcert and sslkey"
        ),
        other => format!("{other}"),
    };
    Error::Tls(format!("TLS handshake with {host} failed: {advice}"))
}

/// What a connection checks of the server's certificate; the handshake's signatures
/// are always checked.
#[derive(Debug)]
struct Verifier {
    /// The chain must lead to these roots; `None`: any certificate is taken
    /// (encryption without authentication: libpq's `prefer`, `allow`, and `require`
    /// without roots).
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// The certificate must name the host too (`verify-full`).
    host_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.host_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `tls-server-end-point` (RFC 5929 §4.1): the certificate hashed with the hash of its
/// own signature algorithm, MD5 and SHA-1 raised to SHA-256. A certificate whose
/// algorithm cannot be read is hashed with SHA-256 too.
pub(crate) fn server_end_point(cert: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match signature_hash(cert) {
        Some(Hash::Sha384) => sha2::Sha384::digest(cert).to_vec(),
        Some(Hash::Sha512) => sha2::Sha512::digest(cert).to_vec(),
        _ => sha2::Sha256::digest(cert).to_vec(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// The hash of a DER certificate's `signatureAlgorithm`: `Certificate ::= SEQUENCE {
/// tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, ... }, signature }`.
fn signature_hash(cert: &[u8]) -> Option<Hash> {
    let (outer, _) = der(cert, 0x30)?;
    let (_, rest) = der(outer, 0x30)?;
    let (algorithm, _) = der(rest, 0x30)?;
    let (oid, _) = der(algorithm, 0x06)?;
    // sha{256,384,512}WithRSAEncryption: 1.2.840.113549.1.1.{11,12,13};
    // ecdsa-with-SHA{256,384,512}: 1.2.840.10045.4.3.{2,3,4}.
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    match oid {
        [head @ .., last] if head == RSA => match last {
            12 => Some(Hash::Sha384),
            13 => Some(Hash::Sha512),
            _ => Some(Hash::Sha256),
        },
        [head @ .., last] if head == ECDSA => match last {
            3 => Some(Hash::Sha384),
            4 => Some(Hash::Sha512),
            _ => Some(Hash::Sha256),
        },
        _ => None,
    }
}

/// One DER element of type `tag` at the start of `input`: its contents and what follows.
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = if len < 0x80 {
        (usize::from(len), rest)
    } else {
        let bytes = usize::from(len & 0x7f);
        if bytes == 0 || bytes > 4 || rest.len() < bytes {
            return None;
        }
        let n = rest[..bytes]
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (n, &rest[bytes..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reads_short_and_long_lengths_and_refuses_truncation() {
        assert_eq!(
            der(&[0x30, 2, 1, 2, 9], 0x30),
            Some((&[1u8, 2][..], &[9u8][..]))
        );
        let long: Vec<u8> = [0x30, 0x81, 0x80].into_iter().chain([7; 128]).collect();
        assert_eq!(
            der(&long, 0x30).map(|(c, r)| (c.len(), r.len())),
            Some((128, 0))
        );
        assert_eq!(der(&[0x30, 5, 1], 0x30), None);
        assert_eq!(der(&[0x31, 0], 0x30), None);
    }

    /// A minimal certificate shape whose signature algorithm is `oid`.
    fn cert_with(oid: &[u8]) -> Vec<u8> {
        let mut algorithm = vec![0x06, oid.len() as u8];
        algorithm.extend_from_slice(oid);
        let mut inner = vec![0x30, 0];
        inner.extend([0x30, algorithm.len() as u8]);
        inner.extend(algorithm);
        inner.extend([0x03, 1, 0]);
        let mut cert = vec![0x30, inner.len() as u8];
        cert.extend(inner);
        cert
    }

    #[test]
    fn the_end_point_hash_follows_the_signature_algorithm() {
        let rsa = |n: u8| cert_with(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, n]);
        let ecdsa = |n: u8| cert_with(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, n]);
        assert_eq!(signature_hash(&rsa(11)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&rsa(12)), Some(Hash::Sha384));
        assert_eq!(signature_hash(&rsa(13)), Some(Hash::Sha512));
        // sha1WithRSAEncryption and md5WithRSAEncryption are raised to SHA-256.
        assert_eq!(signature_hash(&rsa(5)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&rsa(4)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&ecdsa(2)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&ecdsa(3)), Some(Hash::Sha384));
        assert_eq!(server_end_point(&ecdsa(3)).len(), 48);
        assert_eq!(server_end_point(&rsa(13)).len(), 64);
        assert_eq!(server_end_point(b"not a certificate").len(), 32);
    }
}
