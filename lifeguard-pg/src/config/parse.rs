//! [`Config::parse`], and reading libpq `key=value` strings.
//!
//! Both string forms (and the environment) end in `Params::set` (`params.rs`), which
//! knows the parameters; `url.rs` reads URLs. Every error says which part of the input
//! is wrong and shows the input with the password replaced by `***`.

use std::ops::Range;

use super::params::{Params, SUPPORTED, unknown_key};
use super::{Config, url};
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
