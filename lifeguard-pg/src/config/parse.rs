//! Reading libpq `key=value` strings, and the parameters both string forms share.
//!
//! Both forms (and the environment) end in [`Params::set`], which knows the
//! parameters; `url.rs` reads URLs. Every error says which part of the input is wrong
//! and shows the input with the password replaced by `***`.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use super::{Config, Host, SslMode, url};
use crate::error::Error;

impl Config {
    /// Parses a connection string: a URL or a libpq `key=value` string.
    ///
    /// **URLs** look like `postgres://user:password@host:port/dbname?param=value&...`
    /// (`postgresql://` works too); every part is optional and percent-decoded. A host
    /// in brackets is an IPv6 address (`[::1]:5433`); a percent-encoded path as the
    /// host is a Unix socket directory (`postgres://%2Fvar%2Frun%2Fpostgresql/db`). The
    /// query takes the same parameters as the `key=value` form and overrides the parts
    /// before it (`?host=/tmp`); as in libpq, `ssl=true` there means `sslmode=require`.
    ///
    /// **`key=value` strings** are whitespace-separated pairs, with optional spaces
    /// around `=`. A value in single quotes may hold spaces; `\'` and `\\` escape a
    /// quote and a backslash. The empty string is a valid configuration (all
    /// defaults).
    ///
    /// The parameters are `host`, `hostaddr` (a numeric IP address that wins over
    /// `host`), `port`, `user`, `password`, `dbname`, `application_name`,
    /// `connect_timeout` (whole seconds; zero or less is no timeout, and 1 is read as 2,
    /// as libpq does), `keepalives` (`0` or `1`), `keepalives_idle` and
    /// `keepalives_interval` (whole seconds), `keepalives_count`, `tcp_user_timeout`
    /// (milliseconds; 0 keeps the OS default), `options` and `sslmode` (see
    /// [`Config`] for the keepalive defaults). An empty value is the same as leaving
    /// the parameter out; a repeated parameter keeps its last value. Unknown
    /// parameters are an error, and so are several comma-separated hosts or ports.
    ///
    /// This reads no environment variables: see [`Config::apply_env`]. An error is an
    /// [`Error::Config`] that says what is wrong and where, never showing the password.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard_pg::Config;
    ///
    /// let config = Config::parse("postgres://app:s3cret@db.example:5433/orders?sslmode=disable")?;
    /// assert_eq!(config.get_host().map(|h| h.to_string()).as_deref(), Some("db.example"));
    /// assert_eq!(config.get_port(), 5433);
    /// assert_eq!(config.get_user(), Some("app"));
    /// assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
    /// assert_eq!(config.get_dbname(), Some("orders"));
    /// assert_eq!(config.get_ssl_mode().to_string(), "disable");
    ///
    /// let config: Config = "host=/var/run/postgresql dbname='my db' connect_timeout=10".parse()?;
    /// assert_eq!(config.get_dbname(), Some("my db"));
    /// assert_eq!(config.get_connect_timeout(), Some(Duration::from_secs(10)));
    ///
    /// let err = Config::parse("host=db port=abc password=s3cret").unwrap_err();
    /// assert!(err.to_string().contains("invalid port \"abc\""));
    /// assert!(!err.to_string().contains("s3cret"));
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Config, Error> {
        let mut config = Config::new();
        let trimmed = s.trim();
        match url::url_scheme(trimmed) {
            Some(scheme) => url::parse_url(&mut config, trimmed, scheme)?,
            None => parse_key_value(&mut config, s)?,
        }
        Ok(config)
    }
}

/// Parameters libpq knows and this client does not support.
const LIBPQ_ONLY: &[&str] = &[
    "authtype",
    "channel_binding",
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
    "sslcert",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslkey",
    "sslnegotiation",
    "sslpassword",
    "sslrootcert",
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
fn unknown_key(key: &str) -> String {
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

fn parse_ssl_mode(value: &str) -> Result<Option<SslMode>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    SslMode::from_name(value).map(Some)
}

// ---------------------------------------------------------------------------------
// key=value strings

/// libpq's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).copied().is_some_and(is_space) {
        pos += 1;
    }
    pos
}

/// How much of the input an error shows before the bad part.
const CONTEXT: usize = 60;

/// `input[..upto]` with the `secrets` replaced by `***`, shortened to its end, with
/// `...` where something is cut off.
fn context(input: &str, upto: usize, secrets: &[Range<usize>]) -> String {
    let mut shown = String::new();
    let mut at = 0;
    for secret in secrets.iter().filter(|r| r.start < upto) {
        shown.push_str(&input[at..secret.start]);
        shown.push_str("***");
        at = secret.end.min(upto);
    }
    shown.push_str(&input[at..upto]);
    if shown.len() > CONTEXT {
        let mut cut = shown.len() - CONTEXT;
        while !shown.is_char_boundary(cut) {
            cut += 1;
        }
        shown.replace_range(..cut, "...");
    }
    if !input[upto..].trim().is_empty() {
        shown.push_str("...");
    }
    shown
}

fn parse_key_value(config: &mut Config, input: &str) -> Result<(), Error> {
    let bytes = input.as_bytes();
    let mut params = Params::new(config);
    // Where password values are, so that no error shows them.
    let mut secrets: Vec<Range<usize>> = Vec::new();
    // The end of an unquoted password value just before this pair: a word here that
    // is not a parameter is most likely the rest of a password with a space in it.
    let mut after_password: Option<usize> = None;
    let fail = |msg: String, upto: usize, secrets: &[Range<usize>]| {
        Error::config(format!("{msg} (in \"{}\")", context(input, upto, secrets)))
    };
    let mut pos = skip_spaces(bytes, 0);
    while pos < bytes.len() {
        let key_start = pos;
        while pos < bytes.len() && bytes[pos] != b'=' && !is_space(bytes[pos]) {
            pos += 1;
        }
        let key = &input[key_start..pos];
        let key_end = pos;
        pos = skip_spaces(bytes, pos);
        let has_equals = bytes.get(pos) == Some(&b'=');
        if let Some(end) = after_password
            && (!has_equals || !SUPPORTED.contains(&key))
        {
            let msg = format!(
                "unexpected text after the password value at byte {key_start}; \
                     quote a value that contains spaces: password='...'"
            );
            return Err(fail(msg, end, &secrets));
        }
        if !has_equals {
            let msg = format!("missing \"=\" after \"{key}\" at byte {pos}");
            return Err(fail(msg, key_end, &secrets));
        }
        if key.is_empty() {
            let msg = format!("missing parameter name before \"=\" at byte {pos}");
            return Err(fail(msg, pos + 1, &secrets));
        }
        if !SUPPORTED.contains(&key) {
            // Not showing the value: it may be a password under a misspelt name.
            return Err(fail(unknown_key(key), pos + 1, &secrets));
        }
        pos = skip_spaces(bytes, pos + 1);
        let value_start = pos;
        let quoted = bytes.get(pos) == Some(&b'\'');
        let mut value = Vec::new();
        if quoted {
            pos += 1;
            loop {
                match bytes.get(pos) {
                    None => {
                        if key == "password" {
                            secrets.push(value_start..bytes.len());
                        }
                        let msg = format!("unterminated quoted value for \"{key}\"");
                        return Err(fail(msg, bytes.len(), &secrets));
                    }
                    Some(b'\'') => {
                        pos += 1;
                        break;
                    }
                    Some(b'\\') if pos + 1 < bytes.len() => {
                        value.push(bytes[pos + 1]);
                        pos += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        pos += 1;
                    }
                }
            }
        } else {
            while let Some(&b) = bytes.get(pos) {
                if is_space(b) {
                    break;
                }
                if b == b'\\' {
                    pos += 1;
                    if let Some(&escaped) = bytes.get(pos) {
                        value.push(escaped);
                        pos += 1;
                    }
                } else {
                    value.push(b);
                    pos += 1;
                }
            }
        }
        if key == "password" {
            secrets.push(value_start..pos);
        }
        params
            .set(key, &value)
            .map_err(|msg| fail(msg, pos, &secrets))?;
        after_password = (key == "password" && !quoted).then_some(pos);
        pos = skip_spaces(bytes, pos);
    }
    params.finish();
    Ok(())
}
