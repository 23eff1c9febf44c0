//! The connection parameters this client knows, and how each value is read: the one
//! table the `key=value` form (`parse.rs`), URLs (`url.rs`) and the environment
//! (`env.rs`) all go through.

use std::net::IpAddr;
use std::time::Duration;

use super::{ChannelBinding, Config, Host, SslMode};

/// Parameters libpq knows and this client does not support.
const LIBPQ_ONLY: &[&str] = &[
    "authtype",
    "client_encoding",
    "fallback_application_name",
    "gssdelegation",
    "gssencmode",
    "gsslib",
    "krbsrvname",
    "load_balance_hosts",
    "max_protocol_version",
    "min_protocol_version",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_issuer",
    "oauth_scope",
    "passfile",
    "replication",
    "require_auth",
    "requirepeer",
    "requiressl",
    "scram_client_key",
    "scram_server_key",
    "service",
    "ssl_max_protocol_version",
    "ssl_min_protocol_version",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "sslsni",
    "target_session_attrs",
    "tty",
];

/// Parameters this client reads.
pub(super) const SUPPORTED: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "application_name",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "options",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslnegotiation",
    "channel_binding",
];

/// Sets parameters on a [`Config`] by name, from any of the sources.
pub(super) struct Params<'a> {
    config: &'a mut Config,
    /// `hostaddr` wins over `host` whatever their order, so it waits for the end.
    hostaddr: Option<String>,
}

impl<'a> Params<'a> {
    pub(super) fn new(config: &'a mut Config) -> Params<'a> {
        Params {
            config,
            hostaddr: None,
        }
    }

    /// Sets `key` to `value`; the error message names what is wrong, never the
    /// password.
    pub(super) fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        if key == "password" {
            self.config.password(value);
            return Ok(());
        }
        let value = std::str::from_utf8(value)
            .map_err(|_| format!("the value of \"{key}\" is not valid UTF-8"))?;
        let config = &mut *self.config;
        match key {
            "host" => config.host = parse_host(value)?,
            "hostaddr" => self.hostaddr = parse_hostaddr(value)?,
            "port" => config.port = parse_port(value)?,
            "user" => config.user = super::non_empty(value),
            "dbname" => config.dbname = super::non_empty(value),
            "application_name" => config.application_name = super::non_empty(value),
            "connect_timeout" => config.connect_timeout = parse_connect_timeout(value)?,
            "keepalives" => config.keepalives = parse_keepalives(value)?,
            "keepalives_idle" => {
                config.keepalives_idle = parse_positive_seconds("keepalives_idle", value)?
            }
            "keepalives_interval" => {
                config.keepalives_interval = parse_positive_seconds("keepalives_interval", value)?
            }
            "keepalives_count" => config.keepalives_count = parse_keepalives_count(value)?,
            "tcp_user_timeout" => config.tcp_user_timeout = parse_tcp_user_timeout(value)?,
            "options" => config.options = super::non_empty(value),
            "sslmode" => config.ssl_mode = parse_ssl_mode(value)?,
            "sslrootcert" => config.ssl_root_cert = super::non_empty(value),
            "sslcert" => config.ssl_cert = super::non_empty(value),
            "sslkey" => config.ssl_key = super::non_empty(value),
            "sslnegotiation" => parse_ssl_negotiation(value)?,
            "channel_binding" => config.channel_binding = parse_channel_binding(value)?,
            _ => return Err(unknown_key(key)),
        }
        Ok(())
    }

    /// Applies what waited for the end (`hostaddr`).
    pub(super) fn finish(self) {
        if let Some(addr) = self.hostaddr {
            self.config.host = Some(Host::Tcp(addr));
        }
    }
}

/// Why `key` is refused.
pub(super) fn unknown_key(key: &str) -> String {
    if LIBPQ_ONLY.contains(&key) {
        format!("connection parameter \"{key}\" is not supported by this client")
    } else {
        format!("unknown connection parameter \"{key}\"")
    }
}

fn parse_host(value: &str) -> Result<Option<Host>, String> {
    if value.contains(',') {
        return Err(format!(
            "multiple hosts are not supported: \"{value}\"; give one host"
        ));
    }
    Ok((!value.is_empty()).then(|| Host::from_name(value)))
}

fn parse_hostaddr(value: &str) -> Result<Option<String>, String> {
    if value.contains(',') {
        return Err(format!(
            "multiple hosts are not supported: hostaddr \"{value}\"; give one address"
        ));
    }
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<IpAddr>() {
        Ok(_) => Ok(Some(value.to_owned())),
        Err(_) => Err(format!(
            "invalid hostaddr \"{value}\"; expected a numeric IP address (use host for a name)"
        )),
    }
}

fn parse_port(value: &str) -> Result<Option<u16>, String> {
    if value.contains(',') {
        return Err(format!(
            "multiple ports are not supported: \"{value}\"; give one port"
        ));
    }
    if value.is_empty() {
        return Ok(None);
    }
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(Some(port)),
        _ => Err(format!(
            "invalid port \"{value}\"; expected a number from 1 to 65535"
        )),
    }
}

/// Whole seconds, as libpq reads them (surrounding spaces allowed).
fn parse_seconds(key: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("invalid {key} \"{value}\"; expected a whole number of seconds"))
}

/// libpq's reading: zero or negative is no timeout (an explicit `Some(ZERO)`, which
/// the environment cannot override), and 1 is two seconds ("to prevent possibly
/// waiting hardly-at-all", fe-connect.c).
fn parse_connect_timeout(value: &str) -> Result<Option<Duration>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let seconds = match parse_seconds("connect_timeout", value)? {
        ..=0 => 0,
        1 => 2,
        n => n.unsigned_abs(),
    };
    Ok(Some(Duration::from_secs(seconds)))
}

fn parse_keepalives(value: &str) -> Result<Option<bool>, String> {
    match value.trim() {
        "" => Ok(None),
        "0" => Ok(Some(false)),
        "1" => Ok(Some(true)),
        _ => Err(format!("invalid keepalives \"{value}\"; expected 0 or 1")),
    }
}

/// Whole seconds; zero or less is the default (unset).
fn parse_positive_seconds(key: &str, value: &str) -> Result<Option<Duration>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let seconds = parse_seconds(key, value)?;
    Ok((seconds > 0).then(|| Duration::from_secs(seconds.unsigned_abs())))
}

/// A probe count; zero or less is the default (unset).
fn parse_keepalives_count(value: &str) -> Result<Option<u32>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let count = value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("invalid keepalives_count \"{value}\"; expected a whole number"))?;
    Ok((count > 0).then(|| u32::try_from(count).unwrap_or(u32::MAX)))
}

/// Milliseconds, as in libpq; zero or less keeps the OS default (`Some(ZERO)`).
fn parse_tcp_user_timeout(value: &str) -> Result<Option<Duration>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let millis = value.trim().parse::<i64>().map_err(|_| {
        format!("invalid tcp_user_timeout \"{value}\"; expected a whole number of milliseconds")
    })?;
    Ok(Some(Duration::from_millis(millis.max(0).unsigned_abs())))
}

/// `postgres` (the SSLRequest, the only way before PostgreSQL 17) is what this client
/// does; `direct` (TLS at once, PostgreSQL 17) is refused rather than ignored.
fn parse_ssl_negotiation(value: &str) -> Result<(), String> {
    match value {
        "" | "postgres" => Ok(()),
        "direct" => Err(
            "sslnegotiation=direct (PostgreSQL 17) is not supported by this client; use \
             sslnegotiation=postgres, which every server version understands"
                .to_owned(),
        ),
        _ => Err(format!(
            "invalid sslnegotiation \"{value}\"; expected postgres or direct"
        )),
    }
}

fn parse_channel_binding(value: &str) -> Result<Option<ChannelBinding>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    ChannelBinding::from_name(value).map(Some)
}

fn parse_ssl_mode(value: &str) -> Result<Option<SslMode>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    SslMode::from_name(value).map(Some)
}
