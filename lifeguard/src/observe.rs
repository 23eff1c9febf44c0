//! What the pool calls to be observed: one watch per query, per acquire and per
//! transaction, which feed the metrics (feature `metrics`, once a registry is given)
//! and the spans (feature `tracing`). Without either feature every type here is empty
//! and every call compiles to nothing; with them, a query whose pool has no registry
//! and no subscriber listening pays two loads.
//!
//! The pool names servers by index, as [`Pool::server_stats`](crate::Pool::server_stats)
//! lists them, and each watch is told the route it took (primary or replica).

#[cfg(any(feature = "metrics", feature = "tracing"))]
use std::sync::Arc;
#[cfg(feature = "metrics")]
use std::sync::OnceLock;
#[cfg(feature = "metrics")]
use std::time::Instant;

use lifeguard_pg::{Config, Error};

#[cfg(feature = "metrics")]
use crate::labels::Outcome;
use crate::labels::Route;
#[cfg(any(feature = "metrics", feature = "tracing"))]
use crate::labels::WaitKind;
#[cfg(feature = "metrics")]
use crate::metrics::series::Series;
use crate::query::Query;
#[cfg(feature = "tracing")]
use crate::spans;

/// A pool's observers.
pub(crate) struct Observer {
    #[cfg(feature = "metrics")]
    metrics: OnceLock<Arc<Series>>,
    #[cfg(feature = "tracing")]
    servers: Vec<Arc<spans::Server>>,
}

impl Observer {
    /// The observers of a pool whose servers are `servers`, by index.
    pub(crate) fn new(servers: &[Config]) -> Observer {
        #[cfg(not(feature = "tracing"))]
        let _ = servers;
        Observer {
            #[cfg(feature = "metrics")]
            metrics: OnceLock::new(),
            #[cfg(feature = "tracing")]
            servers: servers
                .iter()
                .map(|server| {
                    Arc::new(spans::Server {
                        address: match server.get_host() {
                            Some(host) => host.to_string(),
                            None => server.host_or_default().to_string(),
                        },
                        port: server.get_port(),
                        namespace: server.dbname_or_default(),
                    })
                })
                .collect(),
        }
    }

    /// Whether metrics are registered.
    #[cfg(feature = "metrics")]
    pub(crate) fn has_metrics(&self) -> bool {
        self.metrics.get().is_some()
    }

    /// Starts feeding `series`; false when some already are fed.
    #[cfg(feature = "metrics")]
    pub(crate) fn set_metrics(&self, series: Series) -> bool {
        self.metrics.set(Arc::new(series)).is_ok()
    }

    /// A query on the shared connections of server `server` by `route`, called at
    /// `started` (the caller reads the clock anyway, for its deadline): it waits for
    /// room first ([`QueryWatch::acquired`] ends the wait).
    #[inline]
    pub(crate) fn shared_query<'a>(
        &'a self,
        query: &'a Query<'a>,
        route: Route,
        server: usize,
        started: std::time::Instant,
    ) -> QueryWatch<'a> {
        QueryWatch::start(
            self.handles(server),
            query,
            route,
            server,
            None,
            true,
            Some(started),
        )
    }

    /// Waits for an exclusive connection to server `server` with `f`, under the
    /// transaction `parent` when there is one.
    pub(crate) fn exclusive_acquire<T>(
        &self,
        parent: Option<&TransactionWatch>,
        server: usize,
        f: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        #[cfg(not(feature = "tracing"))]
        let _ = (parent, server);
        #[cfg(feature = "metrics")]
        let started = self.metrics.get().map(|m| (m, Instant::now()));
        #[cfg(feature = "tracing")]
        let span = spans::acquire_span(
            parent.map(|p| &p.span),
            WaitKind::Exclusive,
            &self.servers[server],
        );
        let result = f();
        #[cfg(feature = "metrics")]
        if let Some((metrics, started)) = started {
            metrics.wait(WaitKind::Exclusive, started.elapsed().as_secs_f64());
        }
        #[cfg(feature = "tracing")]
        if let Err(e) = &result {
            spans::fail(&span, e);
        }
        result
    }

    /// A transaction on server `server`, reached by `route`: its queries go through
    /// [`TransactionWatch::query`].
    pub(crate) fn transaction(&self, server: usize, route: Route) -> TransactionWatch {
        let handles = self.handles(server);
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = (handles, route);
        TransactionWatch {
            #[cfg(any(feature = "metrics", feature = "tracing"))]
            index: server,
            #[cfg(any(feature = "metrics", feature = "tracing"))]
            route,
            #[cfg(feature = "metrics")]
            metrics: handles.metrics.cloned(),
            #[cfg(feature = "tracing")]
            span: spans::transaction_span(handles.server),
            #[cfg(feature = "tracing")]
            server: handles.server.clone(),
        }
    }

    /// A query on a lent connection (a session) to server `server`, reached by `route`.
    pub(crate) fn session_query<'a>(
        &'a self,
        query: &'a Query<'a>,
        server: usize,
        route: Route,
    ) -> QueryWatch<'a> {
        QueryWatch::start(
            self.handles(server),
            query,
            route,
            server,
            None,
            false,
            None,
        )
    }

    fn handles(&self, server: usize) -> Handles<'_> {
        #[cfg(not(feature = "tracing"))]
        let _ = server;
        Handles {
            #[cfg(feature = "metrics")]
            metrics: self.metrics.get(),
            #[cfg(feature = "tracing")]
            server: &self.servers[server],
            _life: std::marker::PhantomData,
        }
    }
}

/// What a watch feeds.
struct Handles<'a> {
    #[cfg(feature = "metrics")]
    metrics: Option<&'a Arc<Series>>,
    #[cfg(feature = "tracing")]
    server: &'a Arc<spans::Server>,
    _life: std::marker::PhantomData<&'a ()>,
}

/// One query, from its call to its end ([`QueryWatch::finish`]).
pub(crate) struct QueryWatch<'a> {
    #[cfg(feature = "metrics")]
    metrics: Option<(&'a Series, Instant)>,
    #[cfg(feature = "metrics")]
    route: Route,
    #[cfg(feature = "metrics")]
    server: usize,
    #[cfg(feature = "metrics")]
    query: &'a Query<'a>,
    #[cfg(feature = "tracing")]
    spans: spans::QuerySpans,
    _life: std::marker::PhantomData<&'a ()>,
}

impl<'a> QueryWatch<'a> {
    #[inline]
    fn start(
        handles: Handles<'a>,
        query: &'a Query<'a>,
        route: Route,
        server: usize,
        parent: Option<&tracing_parent::Span>,
        waits: bool,
        started: Option<std::time::Instant>,
    ) -> QueryWatch<'a> {
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = (handles, query, route);
        #[cfg(not(feature = "metrics"))]
        let _ = (server, started);
        #[cfg(not(feature = "tracing"))]
        let _ = (parent, waits);
        QueryWatch {
            #[cfg(feature = "metrics")]
            metrics: handles
                .metrics
                .map(|m| (&**m, started.unwrap_or_else(Instant::now))),
            #[cfg(feature = "metrics")]
            route,
            #[cfg(feature = "metrics")]
            server,
            #[cfg(feature = "metrics")]
            query,
            #[cfg(feature = "tracing")]
            spans: spans::QuerySpans::start(
                query.sql(),
                query.description(),
                handles.server,
                route,
                parent,
                waits,
            ),
            _life: std::marker::PhantomData,
        }
    }

    /// The wait for room on a shared connection is over.
    #[inline]
    pub(crate) fn acquired(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some((metrics, started)) = self.metrics {
            metrics.wait(WaitKind::Pipelining, started.elapsed().as_secs_f64());
        }
        #[cfg(feature = "tracing")]
        self.spans.acquired();
    }

    /// The query ended with `result`.
    #[inline]
    pub(crate) fn finish<T>(self, result: &Result<T, Error>) {
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = result;
        #[cfg(feature = "metrics")]
        if let Some((metrics, started)) = self.metrics {
            let statement = self.query.description().map(|d| (self.query.sql(), d));
            metrics.query(
                self.server,
                self.route,
                Outcome::of(result),
                statement,
                started.elapsed().as_secs_f64(),
            );
        }
        #[cfg(feature = "tracing")]
        self.spans.finish(result);
    }
}

/// One transaction, from `BEGIN` to its end ([`TransactionWatch::end`]).
pub(crate) struct TransactionWatch {
    /// The server it runs on, by index.
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    index: usize,
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    route: Route,
    #[cfg(feature = "metrics")]
    metrics: Option<Arc<Series>>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "tracing")]
    server: Arc<spans::Server>,
}

impl TransactionWatch {
    /// A query inside the transaction.
    pub(crate) fn query<'a>(&'a self, query: &'a Query<'a>) -> QueryWatch<'a> {
        let handles = Handles {
            #[cfg(feature = "metrics")]
            metrics: self.metrics.as_ref(),
            #[cfg(feature = "tracing")]
            server: &self.server,
            _life: std::marker::PhantomData,
        };
        #[cfg(feature = "tracing")]
        let parent = Some(&self.span);
        #[cfg(not(feature = "tracing"))]
        let parent = None;
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        let (index, route) = (self.index, self.route);
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let (index, route) = (0, Route::Primary);
        QueryWatch::start(handles, query, route, index, parent, false, None)
    }

    /// The transaction ended as `end` (`commit`, `rollback`, `begin` when it never
    /// started), with `result`.
    pub(crate) fn end(&self, end: &'static str, result: Result<(), &Error>) {
        #[cfg(not(feature = "tracing"))]
        let _ = (end, result);
        #[cfg(feature = "tracing")]
        spans::end_transaction(&self.span, end, result);
    }
}

/// The type of a span parent, whatever the features.
mod tracing_parent {
    #[cfg(feature = "tracing")]
    pub(crate) use tracing::Span;
    /// No spans without the `tracing` feature: a parent is never given.
    #[cfg(not(feature = "tracing"))]
    pub(crate) enum Span {}
}
