//! The keys, and the syntax of their values, shared by the TOML file and the
//! environment.

use std::time::Duration;

use super::{PoolConfig, SessionReset};

/// One setting that a TOML file or the environment can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    Url,
    Connections,
    MaxExclusive,
    MaxInFlight,
    MaxResponseBytes,
    StatementCacheCapacity,
    ShareSync,
    SessionReset,
    AcquireTimeout,
    ConnectTimeout,
    StatementTimeout,
    RequestTimeout,
    MaxLifetime,
    LifetimeJitter,
    LivenessInterval,
    BackoffMin,
    BackoffMax,
    Replicas,
    ReadPreference,
    ReplicaPollInterval,
    ReplicaMaxLag,
    ReplicaMaxLagBytes,
}

impl Key {
    /// Every key, `url` first so that the settings after it apply to its server.
    pub(super) const ALL: [Key; 22] = [
        Key::Url,
        Key::Connections,
        Key::MaxExclusive,
        Key::MaxInFlight,
        Key::MaxResponseBytes,
        Key::StatementCacheCapacity,
        Key::ShareSync,
        Key::SessionReset,
        Key::AcquireTimeout,
        Key::ConnectTimeout,
        Key::StatementTimeout,
        Key::RequestTimeout,
        Key::MaxLifetime,
        Key::LifetimeJitter,
        Key::LivenessInterval,
        Key::BackoffMin,
        Key::BackoffMax,
        Key::Replicas,
        Key::ReadPreference,
        Key::ReplicaPollInterval,
        Key::ReplicaMaxLag,
        Key::ReplicaMaxLagBytes,
    ];

    /// The key's name in the `[database]` table.
    pub(super) fn name(self) -> &'static str {
        match self {
            Key::Url => "url",
            Key::Connections => "connections",
            Key::MaxExclusive => "max_exclusive",
            Key::MaxInFlight => "max_in_flight",
            Key::MaxResponseBytes => "max_response_bytes",
            Key::StatementCacheCapacity => "statement_cache_capacity",
            Key::ShareSync => "share_sync",
            Key::SessionReset => "session_reset",
            Key::AcquireTimeout => "acquire_timeout",
            Key::ConnectTimeout => "connect_timeout",
            Key::StatementTimeout => "statement_timeout",
            Key::RequestTimeout => "request_timeout",
            Key::MaxLifetime => "max_lifetime",
            Key::LifetimeJitter => "lifetime_jitter",
            Key::LivenessInterval => "liveness_interval",
            Key::BackoffMin => "backoff_min",
            Key::BackoffMax => "backoff_max",
            Key::Replicas => "replicas",
            Key::ReadPreference => "read_preference",
            Key::ReplicaPollInterval => "replica_poll_interval",
            Key::ReplicaMaxLag => "replica_max_lag",
            Key::ReplicaMaxLagBytes => "replica_max_lag_bytes",
        }
    }

    /// The environment variable that gives the key.
    pub(super) fn env(self) -> &'static str {
        match self {
            Key::Url => "DATABASE_URL",
            Key::Connections => "LIFEGUARD_CONNECTIONS",
            Key::MaxExclusive => "LIFEGUARD_MAX_EXCLUSIVE",
            Key::MaxInFlight => "LIFEGUARD_MAX_IN_FLIGHT",
            Key::MaxResponseBytes => "LIFEGUARD_MAX_RESPONSE_BYTES",
            Key::StatementCacheCapacity => "LIFEGUARD_STATEMENT_CACHE_CAPACITY",
            Key::ShareSync => "LIFEGUARD_SHARE_SYNC",
            Key::SessionReset => "LIFEGUARD_SESSION_RESET",
            Key::AcquireTimeout => "LIFEGUARD_ACQUIRE_TIMEOUT",
            Key::ConnectTimeout => "LIFEGUARD_CONNECT_TIMEOUT",
            Key::StatementTimeout => "LIFEGUARD_STATEMENT_TIMEOUT",
            Key::RequestTimeout => "LIFEGUARD_REQUEST_TIMEOUT",
            Key::MaxLifetime => "LIFEGUARD_MAX_LIFETIME",
            Key::LifetimeJitter => "LIFEGUARD_LIFETIME_JITTER",
            Key::LivenessInterval => "LIFEGUARD_LIVENESS_INTERVAL",
            Key::BackoffMin => "LIFEGUARD_BACKOFF_MIN",
            Key::BackoffMax => "LIFEGUARD_BACKOFF_MAX",
            Key::Replicas => "LIFEGUARD_REPLICAS",
            Key::ReadPreference => "LIFEGUARD_READ_PREFERENCE",
            Key::ReplicaPollInterval => "LIFEGUARD_REPLICA_POLL_INTERVAL",
            Key::ReplicaMaxLag => "LIFEGUARD_REPLICA_MAX_LAG",
            Key::ReplicaMaxLagBytes => "LIFEGUARD_REPLICA_MAX_LAG_BYTES",
        }
    }

    /// The key named `name` in the `[database]` table.
    pub(super) fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }
}

/// A value as a source gave it, before it is read for its key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Raw<'a> {
    /// A TOML string or an environment variable.
    Str(&'a str),
    /// A TOML integer.
    Int(i64),
    /// A TOML boolean.
    Bool(bool),
    /// A TOML array of strings (`replicas`).
    List(&'a [toml::Value]),
    /// Any other TOML value.
    Other,
}

/// Why a value was refused.
#[derive(Debug)]
pub(super) enum Problem {
    /// The value is wrong for its key; the message may show the value.
    Value(String),
    /// The URL is wrong; the message is the URL parser's, which hides the password,
    /// and the value itself must not be shown.
    Url(String),
}

/// What a bare number in place of a duration gets.
const NEEDS_UNIT: &str = "a duration needs a unit (ms, s, m, h)";

/// What anything else that is not a duration gets.
const NOT_A_DURATION: &str =
    "expected a duration: a whole number and a unit (ms, s, m, h), e.g. \"250ms\" or \"5s\"";

/// Reads a duration: a whole number and a unit, `ms`, `s`, `m` or `h`, as in
/// `"250ms"`, `"5s"`, `"2m"`, `"1h"`. Surrounding spaces are ignored. The error says
/// what is wrong without repeating the value.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(NOT_A_DURATION.to_owned());
    }
    let millis_per_unit: u64 = match unit {
        "" => return Err(NEEDS_UNIT.to_owned()),
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ if unit.starts_with(['.', ',']) => {
            return Err(
                "expected a whole number; use a smaller unit, e.g. \"1500ms\" for 1.5s".to_owned(),
            );
        }
        _ => return Err(format!("unknown unit \"{unit}\"; use ms, s, m or h")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .map(Duration::from_millis)
        .ok_or_else(|| "the duration is too long".to_owned())
}

impl<'a> Raw<'a> {
    /// `"reset"`, `"close"` or `"none"`.
    fn session_reset(self) -> Result<SessionReset, Problem> {
        let expected = || Problem::Value("expected \"reset\", \"close\" or \"none\"".to_owned());
        match self {
            Raw::Str(text) => match text.trim() {
                "reset" => Ok(SessionReset::Reset),
                "close" => Ok(SessionReset::Close),
                "none" => Ok(SessionReset::None),
                _ => Err(expected()),
            },
            _ => Err(expected()),
        }
    }

    /// `"primary"`, `"prefer_replica"` or `"replica_only"`.
    fn read_preference(self) -> Result<super::ReadPreference, Problem> {
        let expected = || {
            Problem::Value(
                "expected \"primary\", \"prefer_replica\" or \"replica_only\"".to_owned(),
            )
        };
        match self {
            Raw::Str(text) => super::ReadPreference::parse(text).ok_or_else(expected),
            _ => Err(expected()),
        }
    }

    /// Connection strings: a TOML array of strings, or URLs separated by spaces in one
    /// string (the environment).
    fn urls(self) -> Result<Vec<&'a str>, Problem> {
        let expected = || Problem::Value("expected an array of URL strings".to_owned());
        match self {
            Raw::Str(text) => Ok(text.split_whitespace().collect()),
            Raw::List(values) => values
                .iter()
                .map(|v| v.as_str().ok_or_else(expected))
                .collect(),
            _ => Err(expected()),
        }
    }

    /// A TOML boolean, or `true`/`false` in a string (as the environment has nothing
    /// else).
    fn boolean(self) -> Result<bool, Problem> {
        match self {
            Raw::Bool(b) => Ok(b),
            Raw::Str(text) if text.trim() == "true" => Ok(true),
            Raw::Str(text) if text.trim() == "false" => Ok(false),
            _ => Err(Problem::Value("expected true or false".to_owned())),
        }
    }

    /// A duration of any length, zero included.
    fn duration(self) -> Result<Duration, Problem> {
        match self {
            Raw::Str(text) => parse_duration(text).map_err(Problem::Value),
            Raw::Int(_) => Err(Problem::Value(NEEDS_UNIT.to_owned())),
            Raw::Bool(_) | Raw::List(_) | Raw::Other => {
                Err(Problem::Value(NOT_A_DURATION.to_owned()))
            }
        }
    }

    /// A duration greater than zero.
    fn positive_duration(self) -> Result<Duration, Problem> {
        let duration = self.duration()?;
        if duration.is_zero() {
            return Err(Problem::Value(
                "expected a duration greater than zero".to_owned(),
            ));
        }
        Ok(duration)
    }

    /// A duration greater than zero, or `"off"` for none.
    fn optional_duration(self) -> Result<Option<Duration>, Problem> {
        if matches!(self, Raw::Str(text) if text.trim() == "off") {
            return Ok(None);
        }
        match self.duration() {
            Ok(duration) if !duration.is_zero() => Ok(Some(duration)),
            Ok(_) => Err(Problem::Value(
                "expected a duration greater than zero, or \"off\"".to_owned(),
            )),
            Err(Problem::Value(why)) if why == NOT_A_DURATION => {
                Err(Problem::Value(format!("{NOT_A_DURATION}, or \"off\"")))
            }
            Err(problem) => Err(problem),
        }
    }

    /// A count of at least `min` (0 or 1): a TOML integer, or digits in a string (as
    /// the environment has nothing else).
    fn count(self, min: usize) -> Result<usize, Problem> {
        let n = match self {
            Raw::Int(n) => usize::try_from(n).ok(),
            Raw::Str(text) => text.trim().parse::<usize>().ok(),
            Raw::Bool(_) | Raw::List(_) | Raw::Other => None,
        };
        n.filter(|&n| n >= min).ok_or_else(|| {
            Problem::Value(
                if min == 0 {
                    "expected a non-negative integer"
                } else {
                    "expected a positive integer"
                }
                .to_owned(),
            )
        })
    }
}

impl PoolConfig {
    /// Sets `key` from `raw`, checking the value on its own.
    pub(super) fn set_key(self, key: Key, raw: Raw<'_>) -> Result<PoolConfig, Problem> {
        Ok(match key {
            Key::Url => {
                let Raw::Str(text) = raw else {
                    return Err(Problem::Url("expected a string".to_owned()));
                };
                self.with_url(text).map_err(Problem::Url)?
            }
            Key::Replicas => {
                let mut config = self;
                for text in raw.urls()? {
                    let servers = super::parse_servers(text).map_err(Problem::Url)?;
                    config.replicas.extend(servers.each);
                }
                config
            }
            Key::ReadPreference => self.read_preference(raw.read_preference()?),
            Key::ReplicaPollInterval => self.replica_poll_interval(raw.positive_duration()?),
            Key::ReplicaMaxLag => self.replica_max_lag(raw.positive_duration()?),
            Key::ReplicaMaxLagBytes => self.replica_max_lag_bytes(raw.count(0)? as u64),
            Key::Connections => self.connections(raw.count(1)?),
            Key::MaxExclusive => self.max_exclusive(raw.count(0)?),
            Key::MaxInFlight => self.max_in_flight(raw.count(1)?),
            Key::MaxResponseBytes => self.max_response_bytes(raw.count(1)?),
            Key::StatementCacheCapacity => self.statement_cache_capacity(raw.count(0)?),
            Key::ShareSync => self.share_sync(raw.boolean()?),
            Key::SessionReset => self.session_reset(raw.session_reset()?),
            Key::AcquireTimeout => self.acquire_timeout(raw.positive_duration()?),
            Key::ConnectTimeout => self.connect_timeout(raw.positive_duration()?),
            Key::StatementTimeout => self.statement_timeout(raw.optional_duration()?),
            Key::RequestTimeout => self.request_timeout(raw.optional_duration()?),
            Key::MaxLifetime => self.max_lifetime(raw.optional_duration()?),
            Key::LifetimeJitter => self.lifetime_jitter(raw.duration()?),
            Key::LivenessInterval => self.liveness_interval(raw.positive_duration()?),
            Key::BackoffMin => {
                let max = self.backoff_max;
                self.backoff(raw.positive_duration()?, max)
            }
            Key::BackoffMax => {
                let min = self.backoff_min;
                self.backoff(min, raw.positive_duration()?)
            }
        })
    }
}
