//! Prometheus metrics (feature `metrics`): register a pool's series on a registry with
//! [`Pool::register_metrics`], and expose them with [`serve`] (an HTTP endpoint of its
//! own, on may_minihttp) or [`encode`] (for a service that has an HTTP server).
//!
//! | series | type | labels | from |
//! |---|---|---|---|
//! | `lifeguard_queries_total` | counter | `server`, `route`, `outcome` | each query (an atomic add) |
//! | `lifeguard_query_duration_seconds` | histogram, 100 µs to 10 s | `server`, `route` | each query (one observation) |
//! | `lifeguard_coroutine_wait_seconds` | histogram | `kind` (`pipelining`, `exclusive`) | each wait for room or for an exclusive connection |
//! | `lifeguard_pool_queue_depth` | gauge | | scrape ([`PoolStats::waiting`](crate::PoolStats::waiting)) |
//! | `lifeguard_pool_connections` | gauge | `server`, `state` (`shared`, `exclusive_idle`, `exclusive_in_use`) | scrape |
//! | `lifeguard_in_flight` | gauge | `server` | scrape |
//! | `lifeguard_replica_lag_bytes`, `lifeguard_replica_lag_seconds` | gauge | `replica` | scrape (replicas whose lag is known) |
//! | `lifeguard_replica_eligible` | gauge (1 or 0) | `replica` | scrape |
//! | `lifeguard_connection_errors_total` | counter | `server`, `kind` (`connect`) | scrape |
//! | `lifeguard_reconnects_total` | counter | `server` | scrape |
//! | `lifeguard_acquire_timeouts_total` | counter | | scrape |
//! | `lifeguard_statement_cache_total` | counter | `result` (`hit`, `miss`) | scrape |
//! | `lifeguard_read_retries_total` | counter | | scrape |
//!
//! `outcome` is `ok`, `db_error` (the server refused it), `timeout` (a bound ran out,
//! or no connection could be opened), `connection` (the connection failed, or the pool
//! is closed) or `client` (encoding, decoding, a NULL the type cannot hold). `route` is
//! `primary` or `replica`. A query's duration runs from its call to its end, waiting
//! for room included. Labels are bounded: a server's name is its `host:port` as
//! configured, and no label ever holds SQL text, a value or user input. With
//! [`Options::statement_label`], the query series also carry `statement`: the first 12
//! hex digits of the SHA-256 of a checked statement's SQL (its `.lifeguard/` file's
//! name), `unchecked` for SQL built at run time.
//!
//! ```no_run
//! use lifeguard::{Pool, PoolConfig};
//!
//! let pool = Pool::new(PoolConfig::new("postgres://postgres@127.0.0.1/postgres")?)?;
//! pool.register_metrics(lifeguard::metrics::prometheus::default_registry())?;
//! let _server = lifeguard::metrics::serve("127.0.0.1:9187")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod collector;
mod http;
pub(crate) mod series;

use std::collections::HashMap;

use prometheus::Registry;
use prometheus::core::Collector;

pub use http::{MetricsServer, serve, serve_registry};
/// The `prometheus` crate these series are made with (its `Registry` is the one to
/// pass).
pub use prometheus;

use crate::pool::Pool;
use collector::PoolCollector;
use series::Series;

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How a pool's series are registered.
#[derive(Debug, Clone, Default)]
pub struct Options {
    const_labels: HashMap<String, String>,
    statement_label: bool,
}

impl Options {
    /// The defaults: no constant label, no `statement` label.
    pub fn new() -> Options {
        Options::default()
    }

    /// Adds the label `pool="name"` to every series: needed to register two pools on
    /// one registry (their series are otherwise the same).
    pub fn pool_label(mut self, name: &str) -> Options {
        self.const_labels.insert("pool".into(), name.into());
        self
    }

    /// Adds a `statement` label to `lifeguard_queries_total` and
    /// `lifeguard_query_duration_seconds` (off by default): a series per statement the
    /// program holds, and a hash-map lookup per query.
    pub fn statement_label(mut self, on: bool) -> Options {
        self.statement_label = on;
        self
    }
}

impl Pool {
    /// Registers the pool's series on `registry` (`prometheus::default_registry()` for
    /// the default one) with the default [`Options`]. Queries count from then on. A
    /// pool registers once.
    pub fn register_metrics(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        self.register_metrics_with(registry, Options::default())
    }

    /// Registers the pool's series on `registry` with `options`.
    pub fn register_metrics_with(
        &self,
        registry: &Registry,
        options: Options,
    ) -> Result<(), prometheus::Error> {
        let names: Vec<String> = self.server_stats().into_iter().map(|s| s.name).collect();
        let series = Series::new(&names, &options.const_labels, options.statement_label)?;
        // The registry tells collectors apart by their descriptions: the same list,
        // made again, unregisters what was registered.
        let vecs = (
            series.queries.clone(),
            series.durations.clone(),
            series.waits.clone(),
        );
        let collectors = || -> Result<Vec<Box<dyn Collector>>, prometheus::Error> {
            Ok(vec![
                Box::new(vecs.0.clone()),
                Box::new(vecs.1.clone()),
                Box::new(vecs.2.clone()),
                Box::new(PoolCollector::new(&self.inner, &options.const_labels)?),
            ])
        };
        let undo = |count: usize| -> Result<(), prometheus::Error> {
            for collector in collectors()?.into_iter().take(count) {
                let _ = registry.unregister(collector);
            }
            Ok(())
        };
        if self.inner.observe.has_metrics() {
            return Err(already_registered());
        }
        for (i, collector) in collectors()?.into_iter().enumerate() {
            if let Err(e) = registry.register(collector) {
                undo(i)?;
                return Err(e);
            }
        }
        let count = collectors()?.len();
        if !self.inner.observe.set_metrics(series) {
            undo(count)?;
            return Err(already_registered());
        }
        Ok(())
    }
}

fn already_registered() -> prometheus::Error {
    prometheus::Error::Msg("this pool's metrics are registered already".into())
}

/// Text exposition of everything `registry` holds, for a service that serves
/// `GET /metrics` itself (with [`CONTENT_TYPE`]).
///
/// ```
/// use lifeguard::metrics::prometheus::{Error, Registry};
///
/// let registry = Registry::new();
/// let text = lifeguard::metrics::encode(&registry)?;
/// assert!(text.is_empty());
/// # Ok::<(), Error>(())
/// ```
pub fn encode(registry: &Registry) -> Result<String, prometheus::Error> {
    prometheus::TextEncoder::new().encode_to_string(&registry.gather())
}
