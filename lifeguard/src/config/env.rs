//! Reading `DATABASE_URL` and the `LIFEGUARD_*` environment variables.

use lifeguard_pg::Error;

use super::PoolConfig;
use super::value::{Key, Problem, Raw};

impl PoolConfig {
    /// A configuration from the environment alone: the server from `DATABASE_URL`,
    /// which must be set, and the `LIFEGUARD_*` variables over the defaults. The
    /// module documentation lists the variables.
    ///
    /// Only these variables are read: the libpq `PG*` variables are for
    /// [`lifeguard_pg::Config::apply_env`].
    ///
    /// ```no_run
    /// let config = lifeguard::PoolConfig::from_env()?;
    /// config.validate()?;
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn from_env() -> Result<PoolConfig, Error> {
        PoolConfig::from_vars(read_var)
    }

    /// Overrides the settings that `DATABASE_URL` and the `LIFEGUARD_*` variables
    /// give, whatever the configuration came from: the environment wins over a TOML
    /// file and over the builder calls made before. An empty variable counts as
    /// unset.
    ///
    /// `DATABASE_URL` replaces the whole server configuration; the `connect_timeout`
    /// setting, if given, carries over to the new one.
    ///
    /// An invalid value is a [`lifeguard_pg::Error::Config`] that names the variable
    /// and shows the value (except `DATABASE_URL`'s, which may hold a password).
    ///
    /// ```no_run
    /// use lifeguard::PoolConfig;
    ///
    /// let config = PoolConfig::from_toml_file("lifeguard.toml")?.apply_env()?;
    /// # Ok::<(), lifeguard_pg::Error>(())
    /// ```
    pub fn apply_env(self) -> Result<PoolConfig, Error> {
        self.apply_vars(read_var)
    }

    /// [`PoolConfig::from_env`] with the variables read through `get`.
    pub(super) fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<PoolConfig, Error> {
        let config = PoolConfig::without_url().apply_vars(get)?;
        if !config.url_given {
            return Err(Error::Config(
                "DATABASE_URL is not set: it must give the server's URL".to_owned(),
            ));
        }
        Ok(config)
    }

    /// [`PoolConfig::apply_env`] with the variables read through `get`, so that tests
    /// need not touch the process-wide environment.
    pub(super) fn apply_vars(
        self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<PoolConfig, Error> {
        let mut config = self;
        for key in Key::ALL {
            let Some(value) = get(key.env()).filter(|value| !value.is_empty()) else {
                continue;
            };
            config = config.set_key(key, Raw::Str(&value)).map_err(|problem| {
                Error::Config(match problem {
                    Problem::Url(why) => format!("{}: {why}", key.env()),
                    Problem::Value(why) => format!("{}={value:?}: {why}", key.env()),
                })
            })?;
        }
        Ok(config)
    }
}

/// The variable `name`, if set; bytes that are not UTF-8 become U+FFFD, so that the
/// value fails to read instead of passing for unset.
fn read_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}
