//! Reading the `[database]` table of a TOML file.

use std::path::Path;

use lifeguard_pg::Error;

use super::PoolConfig;
use super::value::{Key, Problem, Raw};

impl PoolConfig {
    /// A configuration from the `[database]` table of a TOML document, with the
    /// defaults for the keys it leaves out. The module documentation lists the keys.
    ///
    /// The table may leave `url` out when the environment gives it later
    /// ([`PoolConfig::apply_env`]); [`PoolConfig::validate`] refuses a configuration
    /// that still has none. Other tables in the document are ignored.
    ///
    /// A document that is not TOML, a missing `[database]` table, a key the table
    /// should not have and an invalid value are each a
    /// [`lifeguard_pg::Error::Config`] naming what is wrong.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lifeguard::PoolConfig;
    ///
    /// let config = PoolConfig::from_toml_str(
    ///     r#"
    ///     [database]
    ///     url = "postgres://app@db.example/orders"
    ///     connections = 4
    ///     acquire_timeout = "250ms"
    ///     statement_timeout = "30s"
    ///     max_lifetime = "off"
    ///     "#,
    /// )?;
    /// config.validate()?;
    /// assert_eq!(config.get_connections(), 4);
    /// assert_eq!(config.get_acquire_timeout(), Duration::from_millis(250));
    /// assert_eq!(config.get_statement_timeout(), Some(Duration::from_secs(30)));
    /// assert_eq!(config.get_max_lifetime(), None);
    /// assert_eq!(config.get_max_exclusive(), 16); // the default
    ///
    /// let err = PoolConfig::from_toml_str("[database]\nmax_in_flight = \"abc\"").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid configuration: invalid value \"abc\" for database.max_in_flight \
    ///      in the TOML text: expected a positive integer",
    /// );
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<PoolConfig, Error> {
        PoolConfig::from_toml(text, "the TOML text")
    }

    /// [`PoolConfig::from_toml_str`] on the file at `path`, whose name the errors
    /// show. It reads the file with `std::fs`, blocking the thread: call it at
    /// startup, not from a coroutine serving requests.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<PoolConfig, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|err| Error::Config(format!("cannot read {}: {err}", path.display())))?;
        PoolConfig::from_toml(&text, &path.display().to_string())
    }

    /// Reads `text`; `origin` names it in errors.
    pub(super) fn from_toml(text: &str, origin: &str) -> Result<PoolConfig, Error> {
        let document: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            // The error's own Display quotes the offending line, which may hold the
            // URL's password: show only where it is.
            let at = err.span().map_or_else(String::new, |span| {
                let (line, column) = line_column(text, span.start);
                format!(" at line {line}, column {column}")
            });
            Error::Config(format!(
                "{origin} is not valid TOML{at}: {}",
                err.message().trim_end()
            ))
        })?;
        let table = match document.get("database") {
            Some(toml::Value::Table(table)) => table,
            Some(_) => {
                return Err(Error::Config(format!(
                    "database in {origin} must be a table: [database]"
                )));
            }
            None => {
                return Err(Error::Config(format!("{origin} has no [database] table")));
            }
        };
        for name in table.keys() {
            if Key::from_name(name).is_none() {
                let known: Vec<&str> = Key::ALL.iter().map(|key| key.name()).collect();
                return Err(Error::Config(format!(
                    "unknown key database.{name} in {origin}; the keys are {}",
                    known.join(", ")
                )));
            }
        }
        let mut config = PoolConfig::without_url();
        for key in Key::ALL {
            let Some(value) = table.get(key.name()) else {
                continue;
            };
            let raw = match value {
                toml::Value::String(text) => Raw::Str(text),
                toml::Value::Integer(n) => Raw::Int(*n),
                toml::Value::Boolean(b) => Raw::Bool(*b),
                toml::Value::Array(values) => Raw::List(values),
                _ => Raw::Other,
            };
            config = config.set_key(key, raw).map_err(|problem| {
                Error::Config(match problem {
                    Problem::Url(why) => format!("database.url in {origin}: {why}"),
                    Problem::Value(why) => format!(
                        "invalid value {} for database.{} in {origin}: {why}",
                        show(value),
                        key.name()
                    ),
                })
            })?;
        }
        Ok(config)
    }
}

/// A TOML value as an error shows it: a scalar as written, an array or a table by
/// its kind.
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("{text:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(datetime) => datetime.to_string(),
        toml::Value::Array(_) => "(an array)".to_owned(),
        toml::Value::Table(_) => "(a table)".to_owned(),
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
