//! The series read at scrape time from the counters and gauges the pool keeps anyway
//! ([`Pool::stats`] and [`Pool::server_stats`]): nothing on the query path writes
//! them. The collector holds the pool weakly: a dropped pool stops being reported.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::pool::{Inner, Pool};
use crate::stats::{PoolStats, Role, ServerStats};

/// One scrape-time family: name, help, type and label names.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const QUEUE_DEPTH: Family = Family {
    name: "lifeguard_pool_queue_depth",
    help: "Callers waiting for room on a shared connection or for an exclusive connection.",
    kind: MetricType::GAUGE,
    labels: &[],
};
const CONNECTIONS: Family = Family {
    name: "lifeguard_pool_connections",
    help: "Open connections by server and state: shared (healthy pipelined), exclusive_idle, exclusive_in_use (counting one being opened).",
    kind: MetricType::GAUGE,
    labels: &["server", "state"],
};
const IN_FLIGHT: Family = Family {
    name: "lifeguard_in_flight",
    help: "Statements in flight on a server's shared connections.",
    kind: MetricType::GAUGE,
    labels: &["server"],
};
const LAG_BYTES: Family = Family {
    name: "lifeguard_replica_lag_bytes",
    help: "Bytes of WAL a replica is behind the primary, at its last poll.",
    kind: MetricType::GAUGE,
    labels: &["replica"],
};
const LAG_SECONDS: Family = Family {
    name: "lifeguard_replica_lag_seconds",
    help: "Seconds a replica is behind the primary, at its last poll.",
    kind: MetricType::GAUGE,
    labels: &["replica"],
};
const ELIGIBLE: Family = Family {
    name: "lifeguard_replica_eligible",
    help: "1 while a replica may take reads, 0 while it may not.",
    kind: MetricType::GAUGE,
    labels: &["replica"],
};
const CONNECTION_ERRORS: Family = Family {
    name: "lifeguard_connection_errors_total",
    help: "Failed connection attempts, by server (kind=connect).",
    kind: MetricType::COUNTER,
    labels: &["server", "kind"],
};
const RECONNECTS: Family = Family {
    name: "lifeguard_reconnects_total",
    help: "Shared connections replaced after dying or aging, by server.",
    kind: MetricType::COUNTER,
    labels: &["server"],
};
const ACQUIRE_TIMEOUTS: Family = Family {
    name: "lifeguard_acquire_timeouts_total",
    help: "Callers that gave up waiting for a connection after the acquire timeout.",
    kind: MetricType::COUNTER,
    labels: &[],
};
const STATEMENT_CACHE: Family = Family {
    name: "lifeguard_statement_cache_total",
    help: "Statement executions on shared connections that found their statement prepared (result=hit) or prepared it (result=miss).",
    kind: MetricType::COUNTER,
    labels: &["result"],
};
const READ_RETRIES: Family = Family {
    name: "lifeguard_read_retries_total",
    help: "Reads that failed on a replica and were retried on the primary.",
    kind: MetricType::COUNTER,
    labels: &[],
};

const FAMILIES: [&Family; 11] = [
    &QUEUE_DEPTH,
    &CONNECTIONS,
    &IN_FLIGHT,
    &LAG_BYTES,
    &LAG_SECONDS,
    &ELIGIBLE,
    &CONNECTION_ERRORS,
    &RECONNECTS,
    &ACQUIRE_TIMEOUTS,
    &STATEMENT_CACHE,
    &READ_RETRIES,
];

/// Reads a pool's counters at each scrape.
pub(crate) struct PoolCollector {
    pool: Weak<Inner>,
    descs: Vec<Desc>,
    const_labels: Vec<LabelPair>,
}

impl PoolCollector {
    pub(crate) fn new(
        pool: &Arc<Inner>,
        const_labels: &HashMap<String, String>,
    ) -> Result<PoolCollector, prometheus::Error> {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                Desc::new(
                    f.name.to_owned(),
                    f.help.to_owned(),
                    f.labels.iter().map(|l| (*l).to_owned()).collect(),
                    const_labels.clone(),
                )
            })
            .collect::<Result<_, _>>()?;
        let mut const_labels: Vec<LabelPair> = const_labels
            .iter()
            .map(|(name, value)| label(name, value))
            .collect();
        const_labels.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(PoolCollector {
            pool: Arc::downgrade(pool),
            descs,
            const_labels,
        })
    }

    /// A sample labelled with the const labels and `labels` (in `family.labels` order).
    fn sample(&self, family: &Family, labels: &[&str], value: f64) -> Metric {
        let mut pairs = self.const_labels.clone();
        pairs.extend(
            family
                .labels
                .iter()
                .zip(labels)
                .map(|(name, value)| label(name, value)),
        );
        pairs.sort_by(|a, b| a.name().cmp(b.name()));
        let mut metric = Metric::from_label(pairs);
        if family.kind == MetricType::COUNTER {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        metric
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(inner) = self.pool.upgrade() else {
            return Vec::new();
        };
        let pool = Pool { inner };
        let servers = pool.server_stats();
        let samples = samples(&pool.stats(), &servers);
        FAMILIES
            .iter()
            .filter_map(|family| {
                let metrics: Vec<Metric> = samples
                    .iter()
                    .filter(|s| s.family == family.name)
                    .map(|s| self.sample(family, &s.labels, s.value))
                    .collect();
                if metrics.is_empty() {
                    return None;
                }
                let mut out = MetricFamily::default();
                out.set_name(family.name.to_owned());
                out.set_help(family.help.to_owned());
                out.set_field_type(family.kind);
                out.set_metric(metrics);
                Some(out)
            })
            .collect()
    }
}

/// One value of a family, with its label values.
struct Sample<'a> {
    family: &'static str,
    labels: Vec<&'a str>,
    value: f64,
}

/// Every scrape-time value of a pool whose counters are `stats` and `servers`.
fn samples<'a>(stats: &PoolStats, servers: &'a [ServerStats]) -> Vec<Sample<'a>> {
    let sample = |family: &Family, labels: Vec<&'a str>, value: f64| Sample {
        family: family.name,
        labels,
        value,
    };
    let mut out = vec![
        sample(&QUEUE_DEPTH, vec![], stats.waiting as f64),
        sample(&ACQUIRE_TIMEOUTS, vec![], stats.acquire_timeouts as f64),
        sample(&STATEMENT_CACHE, vec!["hit"], stats.cache_hits as f64),
        sample(&STATEMENT_CACHE, vec!["miss"], stats.cache_misses as f64),
        sample(
            &READ_RETRIES,
            vec![],
            servers.iter().map(|s| s.read_retries).sum::<u64>() as f64,
        ),
    ];
    for server in servers {
        let name = server.name.as_str();
        out.push(sample(
            &CONNECTIONS,
            vec![name, "shared"],
            server.open as f64,
        ));
        let idle = server
            .exclusive_open
            .saturating_sub(server.exclusive_in_use);
        out.push(sample(
            &CONNECTIONS,
            vec![name, "exclusive_idle"],
            idle as f64,
        ));
        out.push(sample(
            &CONNECTIONS,
            vec![name, "exclusive_in_use"],
            server.exclusive_in_use as f64,
        ));
        out.push(sample(&IN_FLIGHT, vec![name], server.in_flight as f64));
        out.push(sample(
            &CONNECTION_ERRORS,
            vec![name, "connect"],
            server.connect_errors as f64,
        ));
        out.push(sample(&RECONNECTS, vec![name], server.reconnects as f64));
        if server.role == Role::Replica {
            if let Some(bytes) = server.lag_bytes {
                out.push(sample(&LAG_BYTES, vec![name], bytes as f64));
            }
            if let Some(seconds) = server.lag_seconds {
                out.push(sample(&LAG_SECONDS, vec![name], seconds));
            }
            let eligible = if server.eligible { 1.0 } else { 0.0 };
            out.push(sample(&ELIGIBLE, vec![name], eligible));
        }
    }
    out
}
