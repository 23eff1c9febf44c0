//! Connection configuration: URLs, libpq `key=value` strings and `PG*` variables.
//!
//! A [`Config`] says where the server is and how to log in. Build one with the
//! setters, parse one from a `postgres://` URL or a libpq `key=value` string with
//! [`Config::parse`] (or `str::parse`), and fill what is still unset from the `PG*`
//! environment variables with [`Config::apply_env`]. Parsing never reads the
//! environment, so a parsed string means the same thing on every machine.
//!
//! An empty value is the same as leaving the parameter out: `host=` or
//! `postgres://@/db` set no host and no user.
//!
//! The password never appears in the `Debug` or `Display` output of a [`Config`], nor
//! in any error message.
//!
//! The `key=value` parsing lives in `config/parse.rs`, the URL parsing in
//! `config/url.rs`, the environment and the defaults in `config/env.rs`.

mod env;
mod params;
mod parse;
#[cfg(test)]
mod tests;
mod url;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// The port PostgreSQL listens on unless told otherwise.
const DEFAULT_PORT: u16 = 5432;

/// The idle time before the first TCP keepalive probe (libpq keeps the OS default:
/// two hours on Linux).
pub(crate) const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(30);

/// The time between unanswered keepalive probes (libpq: the OS default, 75 s on Linux).
pub(crate) const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);

/// Unanswered keepalive probes before the connection is dead (libpq: the OS default, 9
/// on Linux).
pub(crate) const DEFAULT_KEEPALIVES_COUNT: u32 = 3;

/// How long sent bytes may stay unacknowledged before the kernel gives the connection
/// up, `TCP_USER_TIMEOUT` (libpq: 0, the OS default, which retransmits for about 15
/// minutes on Linux).
pub(crate) const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name or an IP address, reached over TCP.
    Tcp(String),
    /// A directory holding the server's Unix-domain socket, `.s.PGSQL.<port>`.
    Unix(PathBuf),
}

impl Host {
    /// A host as libpq reads one: a name starting with `/` is a socket directory.
    fn from_name(name: &str) -> Host {
        if name.starts_with('/') {
            Host::Unix(PathBuf::from(name))
        } else {
            Host::Tcp(name.to_owned())
        }
    }
}

/// Shows the host name, or the socket directory's path.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp(name) => f.write_str(name),
            Host::Unix(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// Whether and how to use TLS, with libpq's names (`sslmode=...`); TLS is used over
/// TCP only, never over a Unix-domain socket.
///
/// ```
/// use lifeguard_pg::{Config, SslMode};
///
/// let config = Config::parse("host=db.example sslmode=verify-full sslrootcert=/etc/ca.pem")?;
/// assert_eq!(config.get_ssl_mode(), SslMode::VerifyFull);
/// // The platform's roots vouch for host names, so they ask for verify-full.
/// assert_eq!(Config::parse("sslrootcert=system")?.get_ssl_mode(), SslMode::VerifyFull);
/// # Ok::<(), lifeguard_pg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// `disable`: never use TLS.
    Disable,
    /// `allow`: use TLS only if the server insists.
    Allow,
    /// `prefer` (the default): use TLS when the server offers it.
    #[default]
    Prefer,
    /// `require`: always use TLS, without checking the server's certificate, unless a
    /// root certificate is given (`sslrootcert`, or `~/.postgresql/root.crt`): then as
    /// `verify-ca`, as libpq does.
    Require,
    /// `verify-ca`: always use TLS and check that a trusted CA signed the certificate.
    VerifyCa,
    /// `verify-full`: as `verify-ca`, and check that the certificate names the host.
    VerifyFull,
}

impl SslMode {
    /// The libpq name of the mode, e.g. `"verify-full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Reads a libpq name; the error message lists the valid names.
    fn from_name(name: &str) -> Result<SslMode, String> {
        Ok(match name {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(format!(
                    "invalid sslmode \"{name}\"; expected disable, allow, prefer, require, \
                     verify-ca or verify-full"
                ));
            }
        })
    }
}

/// Shows the libpq name, e.g. `verify-full`.
impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a libpq name: `disable`, `allow`, `prefer`, `require`, `verify-ca` or
/// `verify-full`.
impl FromStr for SslMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<SslMode, Error> {
        SslMode::from_name(s).map_err(Error::config)
    }
}

/// Whether SCRAM binds the login to the TLS session (`channel_binding=...`), which
/// proves the server holding the password is the one at the end of the TLS session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelBinding {
    /// `disable`: never bind.
    Disable,
    /// `prefer` (the default): bind (SCRAM-SHA-256-PLUS) when TLS is on and the server
    /// offers it.
    #[default]
    Prefer,
    /// `require`: refuse to log in without it: a server that asks for a password in
    /// clear, MD5, no authentication at all, or SCRAM without PLUS is refused (the
    /// downgrade an attacker in the middle would try).
    Require,
}

impl ChannelBinding {
    /// The libpq name: `disable`, `prefer` or `require`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBinding::Disable => "disable",
            ChannelBinding::Prefer => "prefer",
            ChannelBinding::Require => "require",
        }
    }

    fn from_name(name: &str) -> Result<ChannelBinding, String> {
        Ok(match name {
            "disable" => ChannelBinding::Disable,
            "prefer" => ChannelBinding::Prefer,
            "require" => ChannelBinding::Require,
            _ => {
                return Err(format!(
                    "invalid channel_binding \"{name}\"; expected disable, prefer or require"
                ));
            }
        })
    }
}

/// How to reach and log in to a PostgreSQL server.
///
/// Every field starts unset; the getters give the default of an unset field. Setters
/// take `&mut self` and return it, so they chain:
///
/// ```
/// use std::time::Duration;
/// use lifeguard_pg::Config;
///
/// let mut config = Config::new();
/// config
///     .host("db.example")
///     .port(5433)
///     .user("app")
///     .password("s3cret")
///     .dbname("orders")
///     .connect_timeout(Duration::from_secs(5));
/// assert_eq!(config.to_string(), "postgres://app@db.example:5433/orders?connect_timeout=5");
/// ```
///
/// # TCP keepalive and `TCP_USER_TIMEOUT`
///
/// Every TCP socket is opened with keepalive and `TCP_USER_TIMEOUT` on, so a server
/// that vanished (a crashed host, a dropped network path) is found in about a minute
/// whether the connection idles or waits for an acknowledgement:
///
/// | parameter | setter | default here | libpq's default |
/// |---|---|---|---|
/// | `keepalives` | [`keepalives`](Config::keepalives) | on (1) | on (1) |
/// | `keepalives_idle` (s) | [`keepalives_idle`](Config::keepalives_idle) | 30 s | the OS's (2 h on Linux) |
/// | `keepalives_interval` (s) | [`keepalives_interval`](Config::keepalives_interval) | 10 s | the OS's (75 s on Linux) |
/// | `keepalives_count` | [`keepalives_count`](Config::keepalives_count) | 3 | the OS's (9 on Linux) |
/// | `tcp_user_timeout` (ms) | [`tcp_user_timeout`](Config::tcp_user_timeout) | 30 s | 0: the OS's (about 15 min on Linux) |
///
/// A dead idle peer is found after 30 s + 3 × 10 s = 60 s. `tcp_user_timeout=0` keeps
/// the OS default, as in libpq; a zero for the keepalive parameters means the default
/// above (libpq: the OS default). `TCP_USER_TIMEOUT` exists on Linux only.
///
/// Two configurations are equal when the same fields are set to the same values: an
/// unset port is not equal to `port(5432)`, because [`Config::apply_env`] would fill
/// the one and not the other.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Config {
    host: Option<Host>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Vec<u8>>,
    dbname: Option<String>,
    application_name: Option<String>,
    /// `Some(ZERO)` is an explicit "no timeout", which the environment cannot override.
    connect_timeout: Option<Duration>,
    keepalives: Option<bool>,
    keepalives_idle: Option<Duration>,
    keepalives_interval: Option<Duration>,
    keepalives_count: Option<u32>,
    /// `Some(ZERO)` is an explicit "the OS default".
    tcp_user_timeout: Option<Duration>,
    options: Option<String>,
    ssl_mode: Option<SslMode>,
    ssl_root_cert: Option<String>,
    ssl_cert: Option<String>,
    ssl_key: Option<String>,
    channel_binding: Option<ChannelBinding>,
}

/// `Some(s)` unless `s` is empty.
fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl Config {
    /// A configuration with every field unset: the getters return the defaults.
    ///
    /// ```
    /// use lifeguard_pg::Config;
    ///
    /// let config = Config::new();
    /// assert_eq!(config.get_host(), None);
    /// assert_eq!(config.get_port(), 5432);
    /// assert_eq!(config.get_user(), None);
    /// ```
    pub fn new() -> Config {
        Config::default()
    }

    /// Sets the host: a name or IP address for TCP, or, when it starts with `/`, the
    /// directory of the server's Unix-domain socket. An empty string unsets it.
    pub fn host(&mut self, host: &str) -> &mut Config {
        self.host = (!host.is_empty()).then(|| Host::from_name(host));
        self
    }

    /// Sets the port (for TCP, and in the Unix socket's name).
    pub fn port(&mut self, port: u16) -> &mut Config {
        self.port = Some(port);
        self
    }

    /// Sets the user name to log in as. An empty string unsets it.
    pub fn user(&mut self, user: &str) -> &mut Config {
        self.user = non_empty(user);
        self
    }

    /// Sets the password. Empty bytes unset it.
    pub fn password(&mut self, password: impl AsRef<[u8]>) -> &mut Config {
        let password = password.as_ref();
        self.password = (!password.is_empty()).then(|| password.to_vec());
        self
    }

    /// Sets the database name. An empty string unsets it.
    pub fn dbname(&mut self, dbname: &str) -> &mut Config {
        self.dbname = non_empty(dbname);
        self
    }

    /// Sets the `application_name` the server shows in `pg_stat_activity`. An empty
    /// string unsets it.
    pub fn application_name(&mut self, name: &str) -> &mut Config {
        self.application_name = non_empty(name);
        self
    }

    /// Sets the bound on opening the socket and logging in, the whole handshake
    /// (authentication included) and not each read. [`Duration::ZERO`] means no
    /// bound, as `connect_timeout=0` does, and `PGCONNECT_TIMEOUT` does not override
    /// it. The duration is taken as given (the string forms follow libpq, which reads
    /// `connect_timeout=1` as two seconds).
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets whether TCP keepalives are on (the default is on).
    pub fn keepalives(&mut self, on: bool) -> &mut Config {
        self.keepalives = Some(on);
        self
    }

    /// Sets the idle time before the first TCP keepalive probe (whole seconds on the
    /// socket). [`Duration::ZERO`] means the default (30 s).
    pub fn keepalives_idle(&mut self, idle: Duration) -> &mut Config {
        self.keepalives_idle = (!idle.is_zero()).then_some(idle);
        self
    }

    /// Sets the time between unanswered TCP keepalive probes (whole seconds on the
    /// socket). [`Duration::ZERO`] means the default (10 s).
    pub fn keepalives_interval(&mut self, interval: Duration) -> &mut Config {
        self.keepalives_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// Sets how many unanswered TCP keepalive probes mean the server is gone. Zero
    /// means the default (3).
    pub fn keepalives_count(&mut self, count: u32) -> &mut Config {
        self.keepalives_count = (count != 0).then_some(count);
        self
    }

    /// Sets `TCP_USER_TIMEOUT`: how long sent bytes may stay unacknowledged before the
    /// kernel closes the connection (milliseconds on the socket; Linux only).
    /// [`Duration::ZERO`] keeps the operating system's default, as
    /// `tcp_user_timeout=0` does in libpq.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard_pg::Config;
    ///
    /// let mut config = Config::new();
    /// assert_eq!(config.get_tcp_user_timeout(), Some(Duration::from_secs(30)));
    /// config.tcp_user_timeout(Duration::ZERO);
    /// assert_eq!(config.get_tcp_user_timeout(), None);
    /// ```
    pub fn tcp_user_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.tcp_user_timeout = Some(timeout);
        self
    }

    /// Sets the command-line options sent to the server at startup, e.g.
    /// `-c search_path=app`. An empty string unsets them.
    pub fn options(&mut self, options: &str) -> &mut Config {
        self.options = non_empty(options);
        self
    }

    /// Sets the TLS mode ([`SslMode`]).
    pub fn ssl_mode(&mut self, mode: SslMode) -> &mut Config {
        self.ssl_mode = Some(mode);
        self
    }

    /// Sets the root certificates that may sign the server's (`sslrootcert`): a PEM
    /// file, or `system` for the platform's trusted roots. An empty string unsets it.
    pub fn ssl_root_cert(&mut self, path: &str) -> &mut Config {
        self.ssl_root_cert = non_empty(path);
        self
    }

    /// Sets the client certificate (`sslcert`, a PEM file, its chain after it); it
    /// goes with [`ssl_key`](Self::ssl_key). An empty string unsets it.
    pub fn ssl_cert(&mut self, path: &str) -> &mut Config {
        self.ssl_cert = non_empty(path);
        self
    }

    /// Sets the client certificate's private key (`sslkey`, an unencrypted PEM file).
    /// An empty string unsets it.
    pub fn ssl_key(&mut self, path: &str) -> &mut Config {
        self.ssl_key = non_empty(path);
        self
    }

    /// Sets whether SCRAM binds the login to the TLS session ([`ChannelBinding`]).
    pub fn channel_binding(&mut self, binding: ChannelBinding) -> &mut Config {
        self.channel_binding = Some(binding);
        self
    }

    /// The host, if set. [`Config::host_or_default`] says where an unset host leads.
    pub fn get_host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    /// The port: 5432 unless set.
    pub fn get_port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// The user name, if set. [`Config::user_or_default`] gives the one used to log in.
    pub fn get_user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if set.
    pub fn get_password(&self) -> Option<&[u8]> {
        self.password.as_deref()
    }

    /// The database name, if set. [`Config::dbname_or_default`] gives the one used.
    pub fn get_dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The `application_name`, if set.
    pub fn get_application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// The connect timeout: `None` when unset or set to zero (no bound).
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout.filter(|timeout| !timeout.is_zero())
    }

    /// Whether TCP keepalives are on: true unless turned off.
    pub fn get_keepalives(&self) -> bool {
        self.keepalives.unwrap_or(true)
    }

    /// The idle time before the first TCP keepalive probe: 30 s unless set.
    pub fn get_keepalives_idle(&self) -> Duration {
        self.keepalives_idle.unwrap_or(DEFAULT_KEEPALIVES_IDLE)
    }

    /// The time between unanswered TCP keepalive probes: 10 s unless set.
    pub fn get_keepalives_interval(&self) -> Duration {
        self.keepalives_interval
            .unwrap_or(DEFAULT_KEEPALIVES_INTERVAL)
    }

    /// How many unanswered TCP keepalive probes mean the server is gone: 3 unless set.
    pub fn get_keepalives_count(&self) -> u32 {
        self.keepalives_count.unwrap_or(DEFAULT_KEEPALIVES_COUNT)
    }

    /// `TCP_USER_TIMEOUT`: 30 s unless set; `None` when set to zero (the operating
    /// system's default).
    pub fn get_tcp_user_timeout(&self) -> Option<Duration> {
        match self.tcp_user_timeout {
            None => Some(DEFAULT_TCP_USER_TIMEOUT),
            Some(timeout) => (!timeout.is_zero()).then_some(timeout),
        }
    }

    /// The startup command-line options, if set.
    pub fn get_options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// The TLS mode: [`SslMode::Prefer`] unless set, or [`SslMode::VerifyFull`] when
    /// unset with `sslrootcert=system` (as libpq).
    pub fn get_ssl_mode(&self) -> SslMode {
        match (self.ssl_mode, self.ssl_root_cert.as_deref()) {
            (Some(mode), _) => mode,
            (None, Some("system")) => SslMode::VerifyFull,
            (None, _) => SslMode::default(),
        }
    }

    /// The root certificates given (`sslrootcert`), if any; unset, TLS looks for
    /// `~/.postgresql/root.crt`.
    pub fn get_ssl_root_cert(&self) -> Option<&str> {
        self.ssl_root_cert.as_deref()
    }

    /// The client certificate file (`sslcert`), if set; unset, TLS looks for
    /// `~/.postgresql/postgresql.crt`.
    pub fn get_ssl_cert(&self) -> Option<&str> {
        self.ssl_cert.as_deref()
    }

    /// The client key file (`sslkey`), if set; unset, TLS looks for
    /// `~/.postgresql/postgresql.key`.
    pub fn get_ssl_key(&self) -> Option<&str> {
        self.ssl_key.as_deref()
    }

    /// Whether SCRAM binds the login to the TLS session: [`ChannelBinding::Prefer`]
    /// unless set.
    pub fn get_channel_binding(&self) -> ChannelBinding {
        self.channel_binding.unwrap_or_default()
    }
}

/// Parses a URL or a `key=value` string, as [`Config::parse`] does.
impl FromStr for Config {
    type Err = Error;

    fn from_str(s: &str) -> Result<Config, Error> {
        Config::parse(s)
    }
}

/// Stands in for the password in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Shows every field as set; the password only as `Some(<redacted>)` or `None`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalives", &self.keepalives)
            .field("keepalives_idle", &self.keepalives_idle)
            .field("keepalives_interval", &self.keepalives_interval)
            .field("keepalives_count", &self.keepalives_count)
            .field("tcp_user_timeout", &self.tcp_user_timeout)
            .field("options", &self.options)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("ssl_cert", &self.ssl_cert)
            .field("ssl_key", &self.ssl_key)
            .field("channel_binding", &self.channel_binding)
            .finish()
    }
}

/// What a URL component may hold unencoded: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What may stay unencoded between the brackets of an IPv6 host.
const IPV6: &AsciiSet = &COMPONENT.remove(b':');

/// Whole seconds, rounded up so that a short timeout does not print as `0` (none).
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Shows the set fields as a `postgres://` URL that [`Config::parse`] reads back, but
/// without the password, which never shows.
///
/// ```
/// use lifeguard_pg::Config;
///
/// let config = Config::parse("host=/tmp user=app password=s3cret dbname='my db'")?;
/// assert_eq!(config.to_string(), "postgres://app@%2Ftmp/my%20db");
/// # Ok::<(), lifeguard_pg::Error>(())
/// ```
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres://")?;
        if let Some(user) = &self.user {
            write!(f, "{}@", utf8_percent_encode(user, COMPONENT))?;
        }
        match &self.host {
            Some(Host::Tcp(name)) if name.contains(':') => {
                write!(f, "[{}]", utf8_percent_encode(name, IPV6))?;
            }
            Some(Host::Tcp(name)) => write!(f, "{}", utf8_percent_encode(name, COMPONENT))?,
            Some(Host::Unix(dir)) => {
                write!(
                    f,
                    "{}",
                    utf8_percent_encode(&dir.to_string_lossy(), COMPONENT)
                )?;
            }
            None => {}
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(dbname) = &self.dbname {
            write!(f, "/{}", utf8_percent_encode(dbname, COMPONENT))?;
        }
        let mut separator = '?';
        let mut param = |f: &mut fmt::Formatter<'_>, key: &str, value: &str| {
            let result = write!(
                f,
                "{separator}{key}={}",
                utf8_percent_encode(value, COMPONENT)
            );
            separator = '&';
            result
        };
        if let Some(name) = &self.application_name {
            param(f, "application_name", name)?;
        }
        if let Some(timeout) = self.connect_timeout {
            param(f, "connect_timeout", &seconds(timeout).to_string())?;
        }
        if let Some(on) = self.keepalives {
            param(f, "keepalives", if on { "1" } else { "0" })?;
        }
        if let Some(idle) = self.keepalives_idle {
            param(f, "keepalives_idle", &seconds(idle).to_string())?;
        }
        if let Some(interval) = self.keepalives_interval {
            param(f, "keepalives_interval", &seconds(interval).to_string())?;
        }
        if let Some(count) = self.keepalives_count {
            param(f, "keepalives_count", &count.to_string())?;
        }
        if let Some(timeout) = self.tcp_user_timeout {
            let millis = timeout.as_nanos().div_ceil(1_000_000);
            param(f, "tcp_user_timeout", &millis.to_string())?;
        }
        if let Some(options) = &self.options {
            param(f, "options", options)?;
        }
        if let Some(mode) = self.ssl_mode {
            param(f, "sslmode", mode.as_str())?;
        }
        for (key, value) in [
            ("sslrootcert", &self.ssl_root_cert),
            ("sslcert", &self.ssl_cert),
            ("sslkey", &self.ssl_key),
        ] {
            if let Some(value) = value {
                param(f, key, value)?;
            }
        }
        if let Some(binding) = self.channel_binding {
            param(f, "channel_binding", binding.as_str())?;
        }
        Ok(())
    }
}
