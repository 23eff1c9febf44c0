//! The series the hot path writes: a counter and a histogram per query, a histogram per
//! wait. Every child is resolved when the pool's metrics are registered, so a query
//! pays an atomic add and one histogram observation, and no label lookup; only the
//! opt-in `statement` label resolves its child per query (a hash-map lookup).

use std::collections::HashMap;
use std::sync::RwLock;

use lifeguard_offline::description::Description;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::labels::{Outcome, Route, WaitKind};

/// Bucket bounds of the duration and wait histograms, in seconds: 100 µs to 10 s.
pub(crate) const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The label value of a query whose SQL was built at run time, under the `statement`
/// label.
const UNCHECKED: &str = "unchecked";

/// The hot-path series of one pool.
pub(crate) struct Series {
    pub(crate) queries: IntCounterVec,
    pub(crate) durations: HistogramVec,
    pub(crate) waits: HistogramVec,
    /// Server names, index as in `Pool::server_stats`.
    server_names: Vec<String>,
    /// Children per server, when there is no statement label.
    servers: Vec<ServerSeries>,
    wait_children: [Histogram; 2],
    /// The `statement` label's value per described statement, when the label is on.
    statement_label: Option<RwLock<HashMap<usize, &'static str>>>,
}

// A panic while a series is written can leave a histogram's count a step ahead of its
// buckets until the next observation: a reading off by one, never a broken pool. So
// the pool stays unwind-safe with series in it (the prometheus crate's locks are not
// marked so).
impl std::panic::UnwindSafe for Series {}
impl std::panic::RefUnwindSafe for Series {}

struct ServerSeries {
    /// `[route][outcome]`.
    queries: Vec<Vec<IntCounter>>,
    /// `[route]`.
    durations: Vec<Histogram>,
}

impl Series {
    /// The series of a pool whose servers are `servers`, with `const_labels` on every
    /// series and, when `statement_label`, a `statement` label on the query series.
    pub(crate) fn new(
        servers: &[String],
        const_labels: &HashMap<String, String>,
        statement_label: bool,
    ) -> Result<Series, prometheus::Error> {
        let mut query_labels = vec!["server", "route", "outcome"];
        let mut duration_labels = vec!["server", "route"];
        if statement_label {
            query_labels.push("statement");
            duration_labels.push("statement");
        }
        let queries = IntCounterVec::new(
            Opts::new(
                "lifeguard_queries_total",
                "Queries run on the pool, by server, route and outcome.",
            )
            .const_labels(const_labels.clone()),
            &query_labels,
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "lifeguard_query_duration_seconds",
                "Time from a query's call to its end (waiting for room included), by server and route.",
            )
            .const_labels(const_labels.clone())
            .buckets(BUCKETS.to_vec()),
            &duration_labels,
        )?;
        let waits = HistogramVec::new(
            HistogramOpts::new(
                "lifeguard_coroutine_wait_seconds",
                "Time a caller waited for room on a shared connection (kind=pipelining) or for an exclusive connection (kind=exclusive).",
            )
            .const_labels(const_labels.clone())
            .buckets(BUCKETS.to_vec()),
            &["kind"],
        )?;
        let wait_children = [
            waits.with_label_values(&[WaitKind::Pipelining.as_str()]),
            waits.with_label_values(&[WaitKind::Exclusive.as_str()]),
        ];
        let resolved = if statement_label {
            Vec::new()
        } else {
            servers
                .iter()
                .map(|name| ServerSeries::resolve(name, &queries, &durations))
                .collect()
        };
        Ok(Series {
            queries,
            durations,
            waits,
            server_names: servers.to_vec(),
            servers: resolved,
            wait_children,
            statement_label: statement_label.then(|| RwLock::new(HashMap::new())),
        })
    }

    /// Counts a query on server `server` by `route` that ended as `outcome` after
    /// `seconds`.
    pub(crate) fn query(
        &self,
        server: usize,
        route: Route,
        outcome: Outcome,
        statement: Option<(&str, &'static Description)>,
        seconds: f64,
    ) {
        if let Some(resolved) = self.servers.get(server) {
            resolved.queries[route.index()][outcome.index()].inc();
            resolved.durations[route.index()].observe(seconds);
            return;
        }
        let Some(labels) = &self.statement_label else {
            return;
        };
        let statement = statement.map_or(UNCHECKED, |(sql, description)| {
            let key = std::ptr::from_ref(description) as usize;
            if let Some(known) = crate::brief::read(labels).get(&key) {
                return known;
            }
            let made: &'static str = Box::leak(short_hash(sql).into_boxed_str());
            let mut labels = crate::brief::write(labels);
            labels.entry(key).or_insert(made);
            labels[&key]
        });
        let name = self.server_name(server);
        self.queries
            .with_label_values(&[name, route.as_str(), outcome.as_str(), statement])
            .inc();
        self.durations
            .with_label_values(&[name, route.as_str(), statement])
            .observe(seconds);
    }

    /// Times a wait for `kind` of room.
    pub(crate) fn wait(&self, kind: WaitKind, seconds: f64) {
        let index = match kind {
            WaitKind::Pipelining => 0,
            WaitKind::Exclusive => 1,
        };
        self.wait_children[index].observe(seconds);
    }

    /// The name of server `index` under the statement label (no children resolved).
    fn server_name(&self, index: usize) -> &str {
        self.server_names
            .get(index)
            .map_or("unknown", String::as_str)
    }
}

impl ServerSeries {
    fn resolve(name: &str, queries: &IntCounterVec, durations: &HistogramVec) -> ServerSeries {
        ServerSeries {
            queries: Route::ALL
                .iter()
                .map(|route| {
                    Outcome::ALL
                        .iter()
                        .map(|outcome| {
                            queries.with_label_values(&[name, route.as_str(), outcome.as_str()])
                        })
                        .collect()
                })
                .collect(),
            durations: Route::ALL
                .iter()
                .map(|route| durations.with_label_values(&[name, route.as_str()]))
                .collect(),
        }
    }
}

/// The first 12 hex digits of the SHA-256 of `sql`: the start of the name of the
/// statement's `.lifeguard/query-<hash>.json` file.
fn short_hash(sql: &str) -> String {
    let mut hash = lifeguard_offline::store::hash(sql);
    hash.truncate(12);
    hash
}
