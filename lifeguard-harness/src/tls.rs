//! TLS for a [`Cluster`](crate::Cluster): the [`Certificates`] a cluster made with
//! [`ClusterBuilder::tls`](crate::ClusterBuilder::tls) serves and trusts, generated in
//! this process with `rcgen`.
//!
//! The files are PEM and live in the `tls/` directory of the cluster's temporary
//! directory, so they go away with it. PostgreSQL refuses a private key that others can
//! read: the server's key belongs to the OS user the server runs as and has mode 0600,
//! and so has the client's key, which belongs to this process's user (libpq's rule).

use std::fs::{OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::{HarnessError, Result};
use crate::process;

const CA_CERT: &str = "ca.crt";
const OTHER_CA_CERT: &str = "other-ca.crt";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const CLIENT_CERT: &str = "client.crt";
const CLIENT_KEY: &str = "client.key";

/// What the certificates are made for; kept by [`ClusterBuilder`](crate::ClusterBuilder).
#[derive(Debug, Clone)]
pub(crate) struct CertificateNames {
    /// The server certificate's subject alternative names.
    pub(crate) server_names: Vec<String>,
    /// The client certificate's common name.
    pub(crate) client_user: String,
    /// The server certificate expired long ago (valid in 2000 only).
    pub(crate) server_expired: bool,
}

impl Default for CertificateNames {
    fn default() -> Self {
        CertificateNames {
            server_names: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            client_user: "postgres".to_owned(),
            server_expired: false,
        }
    }
}

/// The certificate files of a cluster that speaks TLS ([`Cluster::tls`](crate::Cluster::tls)):
/// a test CA, a server certificate it signed (the server's `ssl_cert_file`), a client
/// certificate it signed for `cert` authentication, and a second CA that signed nothing
/// the server uses, for "untrusted CA" tests. All are PEM files; the keys are unencrypted
/// PKCS#8 (`BEGIN PRIVATE KEY`), ECDSA P-256.
///
/// The server trusts client certificates signed by [`ca_cert`](Self::ca_cert) (it is its
/// `ssl_ca_file`). The files are deleted with the cluster.
///
/// ```no_run
/// use lifeguard_harness::{psql, Cluster};
///
/// let cluster = Cluster::builder().tls().start()?;
/// let certs = cluster.tls().expect("started with tls()");
/// let conninfo = format!(
///     "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
///     cluster.port(),
///     certs.ca_cert().display(),
/// );
/// let ssl = psql(&conninfo, "select ssl from pg_stat_ssl where pid = pg_backend_pid()")?;
/// assert_eq!(ssl, "t");
/// # Ok::<(), lifeguard_harness::HarnessError>(())
/// ```
#[derive(Debug)]
pub struct Certificates {
    dir: PathBuf,
    ca_cert: PathBuf,
    other_ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    server_names: Vec<String>,
    client_user: String,
}

impl Certificates {
    /// Generates every certificate and key into a new directory `tls` of `parent` (the
    /// cluster's temporary directory, which the server user owns).
    pub(crate) fn generate(parent: &Path, names: &CertificateNames) -> Result<Certificates> {
        let certs = Certificates::at(parent, names.clone())?;
        let (ca_pem, ca) = new_ca("lifeguard-harness test CA")?;
        let (other_ca_pem, _) = new_ca("lifeguard-harness other CA")?;
        let server_cn = names
            .server_names
            .first()
            .map_or("lifeguard-harness server", String::as_str);
        let (server_pem, server_key) = new_leaf(
            &ca,
            server_cn,
            &names.server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            names.server_expired,
        )?;
        let (client_pem, client_key) = new_leaf(
            &ca,
            &names.client_user,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        )?;
        write_file(&certs.ca_cert, &ca_pem, 0o644)?;
        write_file(&certs.other_ca_cert, &other_ca_pem, 0o644)?;
        write_file(&certs.server_cert, &server_pem, 0o644)?;
        write_file(&certs.server_key, &server_key, 0o600)?;
        write_file(&certs.client_cert, &client_pem, 0o644)?;
        write_file(&certs.client_key, &client_key, 0o600)?;
        process::chown_to_server_user(&certs.server_key)?;
        Ok(certs)
    }

    /// Copies these files into a new directory `tls` of `parent`, with the same modes and
    /// owners (a standby serves a copy of its primary's certificates).
    pub(crate) fn copy_into(&self, parent: &Path) -> Result<Certificates> {
        let names = CertificateNames {
            server_names: self.server_names.clone(),
            client_user: self.client_user.clone(),
            server_expired: false,
        };
        let copy = Certificates::at(parent, names)?;
        for (from, to) in self.files().into_iter().zip(copy.files()) {
            std::fs::copy(from, to).map_err(|e| {
                HarnessError::io(
                    format!("could not copy {} to {}", from.display(), to.display()),
                    e,
                )
            })?;
        }
        process::chown_to_server_user(&copy.server_key)?;
        Ok(copy)
    }

    /// The server parameters that make it serve these files: `ssl`, `ssl_cert_file`,
    /// `ssl_key_file` and `ssl_ca_file` (so that it can verify client certificates).
    pub(crate) fn settings(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("ssl".to_owned(), "on".to_owned()),
            ("ssl_cert_file".to_owned(), path(&self.server_cert)),
            ("ssl_key_file".to_owned(), path(&self.server_key)),
            ("ssl_ca_file".to_owned(), path(&self.ca_cert)),
        ]
    }

    /// Creates `parent/tls`, owned by the server user (whose cleanup guard deletes it),
    /// and names the files in it.
    fn at(parent: &Path, names: CertificateNames) -> Result<Certificates> {
        let dir = parent.join("tls");
        std::fs::create_dir(&dir)
            .and_then(|()| std::fs::set_permissions(&dir, Permissions::from_mode(0o755)))
            .map_err(|e| HarnessError::io(format!("could not create {}", dir.display()), e))?;
        process::chown_to_server_user(&dir)?;
        Ok(Certificates {
            ca_cert: dir.join(CA_CERT),
            other_ca_cert: dir.join(OTHER_CA_CERT),
            server_cert: dir.join(SERVER_CERT),
            server_key: dir.join(SERVER_KEY),
            client_cert: dir.join(CLIENT_CERT),
            client_key: dir.join(CLIENT_KEY),
            dir,
            server_names: names.server_names,
            client_user: names.client_user,
        })
    }

    fn files(&self) -> [&Path; 6] {
        [
            &self.ca_cert,
            &self.other_ca_cert,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
    }

    /// The directory that holds all the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The test CA's certificate: the root a client trusts (`sslrootcert`) to verify the
    /// server, and the CA the server verifies client certificates against.
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// The URL parameters that connect with the chain and the host name checked
    /// against [`ca_cert`](Self::ca_cert): `sslmode=verify-full&sslrootcert=<file>`.
    ///
    /// ```no_run
    /// let cluster = lifeguard_harness::Cluster::builder().tls().start()?;
    /// let certs = cluster.tls().unwrap();
    /// let url = format!("{}?{}", cluster.url(), certs.verify_full_params());
    /// assert_eq!(lifeguard_harness::psql(&url, "show ssl")?, "on");
    /// # Ok::<(), lifeguard_harness::HarnessError>(())
    /// ```
    pub fn verify_full_params(&self) -> String {
        format!("sslmode=verify-full&sslrootcert={}", self.ca_cert.display())
    }

    /// The certificate of a second CA, unrelated to the server: verifying the server
    /// against it fails (`verify-ca` and `verify-full` refuse the connection).
    pub fn other_ca_cert(&self) -> &Path {
        &self.other_ca_cert
    }

    /// The server's certificate, signed by [`ca_cert`](Self::ca_cert), for
    /// [`server_names`](Self::server_names).
    pub fn server_cert(&self) -> &Path {
        &self.server_cert
    }

    /// The server's private key (owned by the server's OS user, mode 0600).
    pub fn server_key(&self) -> &Path {
        &self.server_key
    }

    /// The client certificate (`sslcert`), signed by [`ca_cert`](Self::ca_cert), whose
    /// common name is [`client_user`](Self::client_user).
    pub fn client_cert(&self) -> &Path {
        &self.client_cert
    }

    /// The client certificate's private key (`sslkey`; owned by this process's user,
    /// mode 0600, as libpq requires).
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// The names in the server certificate's subject alternative names (DNS names, and
    /// IP addresses for those that parse as one); its common name is the first of them.
    /// `localhost` and `127.0.0.1` unless
    /// [`ClusterBuilder::tls_server_names`](crate::ClusterBuilder::tls_server_names)
    /// said otherwise.
    pub fn server_names(&self) -> &[String] {
        &self.server_names
    }

    /// The common name of the client certificate: the user that `cert` authentication
    /// logs in. `postgres` unless
    /// [`ClusterBuilder::tls_client_user`](crate::ClusterBuilder::tls_client_user) said
    /// otherwise.
    pub fn client_user(&self) -> &str {
        &self.client_user
    }
}

fn rcgen_error(e: rcgen::Error) -> HarnessError {
    HarnessError::new(format!("could not generate a TLS certificate: {e}"))
}

/// Parameters with `names` as subject alternative names and `common_name` as the whole
/// subject.
fn params(common_name: &str, names: &[String]) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(names.to_vec()).map_err(rcgen_error)?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    Ok(params)
}

/// A new self-signed CA: its certificate (PEM) and what signs with its key.
fn new_ca(common_name: &str) -> Result<(String, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate().map_err(rcgen_error)?;
    let mut params = params(common_name, &[])?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).map_err(rcgen_error)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// A new certificate signed by `ca` for `purpose` (valid in 2000 only when `expired`):
/// the certificate and its key (PEM).
fn new_leaf(
    ca: &Issuer<'_, KeyPair>,
    common_name: &str,
    names: &[String],
    purpose: ExtendedKeyUsagePurpose,
    expired: bool,
) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(rcgen_error)?;
    let mut params = params(common_name, names)?;
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, ca).map_err(rcgen_error)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a new file with exactly `mode` (whatever the umask), never readable by others
/// in between.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o600)
        .open(path)
        .and_then(|mut f| {
            f.set_permissions(Permissions::from_mode(mode))?;
            f.write_all(text.as_bytes())
        })
        .map_err(|e| HarnessError::io(format!("could not write {}", path.display()), e))
}
