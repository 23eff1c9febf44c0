//! Spans (feature `tracing`): one per query, per acquire and per transaction, with the
//! OpenTelemetry database conventions' fields. Lifeguard installs no subscriber; with
//! none, or one that wants nothing from target `lifeguard`, a query pays a load of the
//! level filter and nothing else.
//!
//! A query span is named after the statement's [`Summary`] (`SELECT users`): a span's
//! name is part of its callsite's static metadata, so each statement checked at
//! compile time gets a callsite of its own, made (and leaked: statements are a fixed
//! set, written in the program) the first time one of its queries is traced. SQL built
//! at run time shares one callsite named `postgresql` and carries no summary.
//!
//! These spans are never entered. may moves coroutines between threads, and the
//! current span is thread-local, so an entered span held across a yield would become
//! another coroutine's parent: each span here names its parent explicitly (the query
//! span is the acquire span's parent, the transaction span its queries'), and a query
//! span outside a transaction takes the caller's current span, read once, before
//! anything yields. Fields hold the statement text, never a bound value, and
//! `error.type` is a SQLSTATE or a fixed word, never an error's message (which can
//! quote a value).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{OnceLock, RwLock};

use lifeguard_offline::description::Description;
use lifeguard_pg::Error;
use tracing::callsite::Callsite;
use tracing::field::{Field, FieldSet, Value};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};

use crate::labels::{Route, WaitKind, error_type};
use crate::summary::Summary;

/// The target of every Lifeguard span, for filters.
const TARGET: &str = "lifeguard";

/// The fields of a query span, in the order of its [`FieldSet`].
const QUERY_FIELDS: &[&str] = &[
    "db.system.name",
    "db.namespace",
    "db.operation.name",
    "db.collection.name",
    "db.query.text",
    "db.query.summary",
    "server.address",
    "server.port",
    "lifeguard.route",
    "db.response.status_code",
    "error.type",
];

/// What a span says about the server a query went to.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) address: String,
    pub(crate) port: u16,
    pub(crate) namespace: String,
}

/// The callsite of one statement's query spans, and what its summary says.
struct StatementCallsite {
    meta: OnceLock<Metadata<'static>>,
    interest: AtomicU8,
    operation: Option<&'static str>,
    collection: Option<&'static str>,
    summary: Option<&'static str>,
}

const NEVER: u8 = 0;
const SOMETIMES: u8 = 1;
const ALWAYS: u8 = 2;

impl Callsite for StatementCallsite {
    fn set_interest(&self, interest: Interest) {
        let value = if interest.is_never() {
            NEVER
        } else if interest.is_always() {
            ALWAYS
        } else {
            SOMETIMES
        };
        self.interest.store(value, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta
            .get()
            .expect("a statement callsite is registered after its metadata is set")
    }
}

impl StatementCallsite {
    /// Makes, leaks and registers the callsite of spans named `name`.
    fn leak(name: String, summary: Option<&Summary>) -> &'static StatementCallsite {
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let callsite: &'static StatementCallsite = Box::leak(Box::new(StatementCallsite {
            meta: OnceLock::new(),
            interest: AtomicU8::new(SOMETIMES),
            operation: summary.and_then(Summary::operation).map(leak),
            collection: summary.and_then(Summary::collection).map(leak),
            summary: summary.map(|_| leak(&name)),
        }));
        let name: &'static str = Box::leak(name.into_boxed_str());
        let fields = FieldSet::new(QUERY_FIELDS, tracing::callsite::Identifier(callsite));
        let meta = Metadata::new(
            name,
            TARGET,
            Level::INFO,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            fields,
            Kind::SPAN,
        );
        // Set once, here, before anyone else can see the callsite.
        let _ = callsite.meta.set(meta);
        tracing::callsite::register(callsite);
        callsite
    }

    fn meta(&'static self) -> &'static Metadata<'static> {
        self.meta
            .get()
            .expect("a statement callsite is registered after its metadata is set")
    }

    fn enabled(&'static self) -> bool {
        match self.interest.load(Ordering::Relaxed) {
            NEVER => false,
            ALWAYS => true,
            _ => tracing::dispatcher::get_default(|d| d.enabled(self.meta())),
        }
    }
}

/// The callsite for `sql` described as `description` (checked at compile time), or the
/// shared one of SQL built at run time.
fn callsite(sql: &str, description: Option<&'static Description>) -> &'static StatementCallsite {
    static RUNTIME: OnceLock<&'static StatementCallsite> = OnceLock::new();
    static CHECKED: RwLock<Option<HashMap<usize, &'static StatementCallsite>>> = RwLock::new(None);
    let Some(description) = description else {
        return RUNTIME.get_or_init(|| StatementCallsite::leak("postgresql".into(), None));
    };
    let key = std::ptr::from_ref(description) as usize;
    if let Some(known) = crate::brief::read(&CHECKED)
        .as_ref()
        .and_then(|known| known.get(&key))
    {
        return known;
    }
    // Registering calls into the subscribers: outside the lock.
    let summary = Summary::of(sql, description);
    let made = StatementCallsite::leak(summary.to_string(), Some(&summary));
    let mut checked = crate::brief::write(&CHECKED);
    let known = checked.get_or_insert_with(HashMap::new);
    // Another caller may have made one meanwhile: the first one made stays.
    known.entry(key).or_insert(made);
    known[&key]
}

/// The spans of one query: its own, and the acquire span while it waits for room;
/// nothing at all (not even spans to drop) when nobody listens.
pub(crate) struct QuerySpans {
    spans: Option<Box<(Span, Span)>>,
}

impl QuerySpans {
    /// Starts the spans of a query of `sql` (described at compile time when
    /// `description` is given) on `server` by `route`, as a child of `parent` (else of
    /// the caller's current span); with `waits`, an acquire span starts under it.
    #[inline]
    pub(crate) fn start(
        sql: &str,
        description: Option<&'static Description>,
        server: &Server,
        route: Route,
        parent: Option<&Span>,
        waits: bool,
    ) -> QuerySpans {
        // A static callsite's cached interest: one load when nobody listens to target
        // `lifeguard` at this level, before any lookup.
        if !tracing::enabled!(target: TARGET, Level::INFO) {
            return QuerySpans { spans: None };
        }
        let Some(query) = query_span(sql, description, server, route, parent) else {
            return QuerySpans { spans: None };
        };
        let acquire = if waits {
            acquire_span(Some(&query), WaitKind::Pipelining, server)
        } else {
            Span::none()
        };
        QuerySpans {
            spans: Some(Box::new((query, acquire))),
        }
    }

    /// The wait for room is over.
    #[inline]
    pub(crate) fn acquired(&mut self) {
        if let Some(spans) = &mut self.spans {
            spans.1 = Span::none();
        }
    }

    /// The query ended with `result`.
    #[inline]
    pub(crate) fn finish<T>(self, result: &Result<T, Error>) {
        if let (Some(spans), Err(e)) = (self.spans, result) {
            fail(&spans.1, e);
            fail(&spans.0, e);
        }
    }
}

fn query_span(
    sql: &str,
    description: Option<&'static Description>,
    server: &Server,
    route: Route,
    parent: Option<&Span>,
) -> Option<Span> {
    let callsite = callsite(sql, description);
    if !callsite.enabled() {
        return None;
    }
    let meta = callsite.meta();
    let fields = meta.fields();
    let mut each = fields.iter();
    let mut next = || {
        each.next()
            .expect("QUERY_FIELDS has a field for each value")
    };
    let port = u64::from(server.port);
    let values: [(Field, Option<&dyn Value>); 11] = [
        (next(), Some(&"postgresql")),
        (next(), Some(&server.namespace.as_str())),
        (next(), callsite.operation.as_ref().map(|v| v as &dyn Value)),
        (
            next(),
            callsite.collection.as_ref().map(|v| v as &dyn Value),
        ),
        (next(), Some(&sql)),
        (next(), callsite.summary.as_ref().map(|v| v as &dyn Value)),
        (next(), Some(&server.address.as_str())),
        (next(), Some(&port)),
        (next(), Some(&route.as_str())),
        (next(), None),
        (next(), None),
    ];
    let values = values.each_ref().map(|(f, v)| (f, *v));
    let values = fields.value_set(&values);
    let span = match parent {
        Some(parent) => Span::child_of(parent, meta, &values),
        None => Span::new(meta, &values),
    };
    (!span.is_none()).then_some(span)
}

/// The span of a wait for `kind` of room on `server`, under `parent` (else the
/// caller's current span).
pub(crate) fn acquire_span(parent: Option<&Span>, kind: WaitKind, server: &Server) -> Span {
    let address = server.address.as_str();
    match parent {
        Some(parent) => tracing::span!(
            target: TARGET, parent: parent, Level::DEBUG, "lifeguard.acquire",
            db.system.name = "postgresql", server.address = address, server.port = server.port,
            lifeguard.wait = kind.as_str(), error.type = tracing::field::Empty,
        ),
        None => tracing::span!(
            target: TARGET, Level::DEBUG, "lifeguard.acquire",
            db.system.name = "postgresql", server.address = address, server.port = server.port,
            lifeguard.wait = kind.as_str(), error.type = tracing::field::Empty,
        ),
    }
}

/// The span of a transaction on `server`, under the caller's current span; it ends
/// with [`end_transaction`].
pub(crate) fn transaction_span(server: &Server) -> Span {
    tracing::span!(
        target: TARGET, Level::INFO, "lifeguard.transaction",
        db.system.name = "postgresql", db.namespace = server.namespace.as_str(),
        server.address = server.address.as_str(), server.port = server.port,
        lifeguard.route = Route::Primary.as_str(), lifeguard.end = tracing::field::Empty,
        db.response.status_code = tracing::field::Empty, error.type = tracing::field::Empty,
    )
}

/// Records how a transaction ended: `commit`, `rollback`, or the error that ended it.
pub(crate) fn end_transaction(span: &Span, end: &'static str, result: Result<(), &Error>) {
    span.record("lifeguard.end", end);
    if let Err(e) = result {
        fail(span, e);
    }
}

/// Records a failure on `span`: its SQLSTATE when the server sent one, and its type.
pub(crate) fn fail(span: &Span, error: &Error) {
    if span.is_none() {
        return;
    }
    if let Some(code) = error.code() {
        span.record("db.response.status_code", code);
    }
    span.record("error.type", error_type(error));
}
