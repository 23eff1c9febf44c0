//! The pipelined client: one connection shared by many coroutines.
//!
//! Each request is Parse (first use only) + Bind + Describe (until the columns are
//! known) + Execute + its own Sync, so a failing statement never disturbs its
//! neighbours; reads the caller vouches for share a Sync (see `pipeline.rs`). Callers only queue requests; the connection's I/O coroutine writes them
//! and answers callers in order. When the socket fails, every caller waiting on it
//! gets `Error::Closed` at once and later calls fail fast.

mod deadlines;
mod io_loop;
mod lexer;
mod notifications;
mod pipeline;
mod refuse;
mod response_slot;
mod statements;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use postgres_types::Type;

use crate::cancel::CancelToken;
use crate::codec::parse_message;
use crate::config::Config;
use crate::connection::Connection;
use crate::encode::{self, Param};
use crate::error::{DbError, Error};
use crate::response::{self, Messages, Outcome};
use crate::row::{Row, SimpleQueryMessage, at_most_one, collect, exactly_one};
use crate::socket::Runtime;
use crate::statement::{Statement, StatementRef, ToStatement};

pub use notifications::Notifications;

use pipeline::{Pipeline, State};
use response_slot::ResponseSlot;
use statements::{CachedStatement, Prepared};

/// The largest response a pipelined connection buffers for one caller unless told
/// otherwise ([`Client::set_max_response_bytes`]): 256 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Stack of the I/O coroutine, in words (may's unit): 16 KiB words = 128 KiB.
const IO_STACK_WORDS: usize = 16 * 1024;

/// A pipelined connection, shared by cloning. Every clone sends over the same socket.
///
/// ```no_run
/// use lifeguard_pg::{Client, Config};
///
/// let config: Config = "postgres://postgres@127.0.0.1/postgres".parse()?;
/// let client = Client::connect(&config)?;
/// let handles: Vec<_> = (0..100i32)
///     .map(|i| {
///         let client = client.clone();
///         may::go!(move || client.query_one("SELECT $1::int4 * 2", &[&i]).map(|r| r.get::<i32>(0)))
///     })
///     .collect();
/// for (i, h) in handles.into_iter().enumerate() {
///     assert_eq!(h.join().unwrap()??, i as i32 * 2);
/// }
/// # Ok::<(), lifeguard_pg::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
    deadline: Option<Duration>,
}

/// Closes the connection when the last clone is dropped.
struct Handle {
    shared: Arc<Pipeline>,
    process_id: i32,
    cancel: Option<CancelToken>,
    notifications: may::sync::Mutex<Option<Notifications>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let shared = self.shared.clone();
        let close = move || {
            let mut goodbye = BytesMut::new();
            frontend::terminate(&mut goodbye);
            shared.shutdown(goodbye);
        };
        if std::thread::panicking() {
            // Closing may park (the state lock), and a coroutine parked halfway
            // through unwinding can resume on another thread: close from a fresh one.
            may::go!(close);
        } else {
            close();
        }
    }
}

/// Counters of one pipelined connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Requests written or queued that have no answer yet.
    pub in_flight: usize,
    /// Statement executions that found the statement parsed already.
    pub cache_hits: u64,
    /// Statement executions that had to parse it first.
    pub cache_misses: u64,
    /// Notices dropped because nobody took them (the newest 10,000 are kept).
    pub notices_dropped: u64,
    /// Statements prepared on the server now, at most the cache capacity.
    pub statements_cached: usize,
    /// Times the deadline keeper's tick found bytes on the socket after a whole tick
    /// (5 ms) with none read and no socket event to announce them: each such answer
    /// came up to one tick late. Non-zero means the runtime missed events (see the
    /// client's `io_loop.rs`).
    pub missed_events: u64,
    /// Syncs saved: reads ([`Client::for_each_read`]) sent without a Sync of their own,
    /// sharing the one that ends their group.
    pub syncs_saved: u64,
    /// Reads sent again on their own because a read before them in their group failed
    /// (the server skipped them; they had not run).
    pub reads_resent: u64,
}

impl Client {
    /// Connects on a may socket (from a coroutine or a plain thread) and starts the
    /// connection's I/O coroutine.
    pub fn connect(config: &Config) -> Result<Client, Error> {
        let conn = Connection::connect_with(config, Runtime::May)?;
        let (socket, leftover, process_id, cancel) = conn.into_parts();
        let socket = socket.into_driven()?;
        let (tx, rx) = notifications::channel();
        let shared = Arc::new(Pipeline::new(socket.waker(), tx));
        shared.set_stall_timeout(Some(crate::DEFAULT_REQUEST_TIMEOUT));
        let for_io = shared.clone();
        let builder = may::coroutine::Builder::new()
            .name("lifeguard-pg I/O".to_owned())
            .stack_size(IO_STACK_WORDS);
        // SAFETY: the I/O coroutine holds no thread-locals across yields and makes no
        // thread-blocking calls: it drives a may socket and fills answer slots.
        unsafe { builder.spawn(move || io_loop::run(for_io, socket, leftover)) }?;
        let for_keeper = Arc::downgrade(&shared);
        let builder = may::coroutine::Builder::new().name("lifeguard-pg deadlines".to_owned());
        // SAFETY: the keeper only sleeps (a may sleep) and fills answer slots.
        unsafe { builder.spawn(move || deadlines::run(for_keeper)) }?;
        Ok(Client {
            handle: Arc::new(Handle {
                shared,
                process_id,
                cancel,
                notifications: may::sync::Mutex::new(Some(rx)),
            }),
            deadline: None,
        })
    }

    /// A handle on the same connection whose requests fail with
    /// `Error::Timeout(Timeout::Request)` when unanswered after `deadline` (checked
    /// every 5 ms, so at most that much later). Callers never write to the socket
    /// themselves, so nothing else of theirs can wait longer; a server that stops
    /// reading is found by the stall timeout. The statement is not cancelled (another
    /// caller's may be running); its answer is discarded when it comes.
    pub fn with_deadline(&self, deadline: Duration) -> Client {
        Client {
            handle: self.handle.clone(),
            deadline: Some(deadline),
        }
    }

    /// Closes the connection when its oldest request has had no byte from the server
    /// for `timeout` (a frozen server, a dead network): every caller on it then gets
    /// `Error::Closed` saying so, and the same bound holds for writing a request to a
    /// server that stopped reading. It applies to every clone; `None` turns it off.
    /// The default is [`DEFAULT_REQUEST_TIMEOUT`](crate::DEFAULT_REQUEST_TIMEOUT), so no
    /// call waits longer than that for an answer with no configuration at all. Set it
    /// above the longest statement you run.
    ///
    /// ```no_run
    /// # fn demo(client: &lifeguard_pg::Client) {
    /// use std::time::Duration;
    ///
    /// client.set_stall_timeout(Some(Duration::from_secs(120)));
    /// assert_eq!(client.stall_timeout(), Some(Duration::from_secs(120)));
    /// # }
    /// ```
    pub fn set_stall_timeout(&self, timeout: Option<Duration>) {
        self.handle.shared.set_stall_timeout(timeout);
    }

    /// Refuses, from now on, statements that would change the session every caller of
    /// this connection shares (`LISTEN`, `SET`, `BEGIN`, temporary tables, session
    /// advisory locks, ...; see `refuse.rs` for the list): each fails with
    /// `Error::Unsupported` before anything is sent. A pool turns this on for its
    /// shared connections, whose callers do not know each other.
    ///
    /// ```no_run
    /// # fn demo(client: &lifeguard_pg::Client) {
    /// client.refuse_session_changes(true);
    /// assert!(client.batch_execute("LISTEN jobs").is_err());
    /// # }
    /// ```
    pub fn refuse_session_changes(&self, refuse: bool) {
        self.handle
            .shared
            .refuse_session_changes
            .store(refuse, Ordering::Relaxed);
    }

    /// Bounds the memory one response may take: a response is buffered whole before
    /// its caller reads it, and one larger than `limit` bytes is dropped as it
    /// arrives; its caller gets `Error::Unsupported` saying so, and the connection
    /// goes on serving everyone else. It applies to every clone; the default is
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]. Stream larger results with
    /// [`Connection::for_each`](crate::Connection::for_each).
    ///
    /// ```no_run
    /// # fn demo(client: &lifeguard_pg::Client) {
    /// client.set_max_response_bytes(64 << 20);
    /// assert_eq!(client.max_response_bytes(), 64 << 20);
    /// # }
    /// ```
    pub fn set_max_response_bytes(&self, limit: usize) {
        self.handle.shared.set_max_response_bytes(limit);
    }

    /// The response limit now (see [`set_max_response_bytes`](Self::set_max_response_bytes)).
    pub fn max_response_bytes(&self) -> usize {
        self.handle.shared.max_response_bytes()
    }

    /// Bounds the statements kept prepared on the server for this connection (every
    /// clone): past `capacity`, the least recently used one is closed on the server
    /// to make room. `0` prepares nothing for good (each statement is parsed every
    /// time, unnamed). The default is [`DEFAULT_STATEMENT_CACHE_CAPACITY`](crate::DEFAULT_STATEMENT_CACHE_CAPACITY).
    ///
    /// ```no_run
    /// # fn demo(client: &lifeguard_pg::Client) {
    /// client.set_statement_cache_capacity(64);
    /// assert_eq!(client.statement_cache_capacity(), 64);
    /// # }
    /// ```
    pub fn set_statement_cache_capacity(&self, capacity: usize) {
        self.handle.shared.with_state(|state| {
            // Queued behind every request sent so far, which may still use them;
            // answered with the next request's response.
            for evicted in state.statements.set_capacity(capacity) {
                encode::close_statement(&evicted.name, &mut state.pending)
                    .expect("statement names are ours and hold no NUL");
            }
        });
    }

    /// The statement cache's capacity now.
    pub fn statement_cache_capacity(&self) -> usize {
        self.handle
            .shared
            .with_state(|state| state.statements.capacity())
    }

    /// The stall timeout now (see [`set_stall_timeout`](Self::set_stall_timeout)).
    pub fn stall_timeout(&self) -> Option<Duration> {
        self.handle.shared.stall_timeout()
    }

    /// Prepares a statement (or returns the one this connection has), so its parameter
    /// and column types are known.
    pub fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        let (entry, _) = self.described(sql)?;
        entry
            .statement()
            .ok_or_else(|| Error::protocol("statement described without columns"))
    }

    /// Runs a statement and returns all its rows. SQL text is described on first use
    /// (one extra round trip, then cached); use [`query_typed`](Self::query_typed) when
    /// the parameter types are known to skip it.
    pub fn query<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Error> {
        collect(|push| Ok(self.run(statement, params, push)?.rows_affected))
    }

    /// Runs SQL whose parameter types are given: the first use sends Parse, Bind,
    /// Describe, Execute and Sync in one write, without a prepare round trip.
    pub fn query_typed(
        &self,
        sql: &str,
        types: &[Type],
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Error> {
        let mut rows = Vec::new();
        self.execute_with(sql, types, params, false, &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs SQL with the parameter types given (as [`query_typed`](Self::query_typed))
    /// and hands each row to `f`; returns the rows affected.
    pub fn for_each_typed(
        &self,
        sql: &str,
        types: &[Type],
        params: &[Param<'_>],
        mut f: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        Ok(self
            .execute_with(sql, types, params, false, &mut f)?
            .rows_affected)
    }

    /// Runs SQL the caller knows only reads, as [`for_each_typed`](Self::for_each_typed)
    /// does, but once its statement is parsed and described on this connection it may
    /// share one Sync with the reads queued right before and after it: the server then
    /// ends one implicit transaction for the group instead of one per read, most of its
    /// cost per request. If a read before it in its group fails, the server skips it;
    /// it is then sent again on its own (it had not run), within the same deadline.
    ///
    /// "Only reads" means no data change, no row lock (`FOR UPDATE`) and no volatile
    /// function: a read that shares a Sync runs in one implicit transaction with its
    /// group, so a failure later in the group would undo a write. The `query!` family
    /// passes here exactly the statements whose plan shows that.
    ///
    /// ```no_run
    /// # fn demo(client: &lifeguard_pg::Client) -> Result<(), lifeguard_pg::Error> {
    /// use lifeguard_pg::types::Type;
    /// let mut names = Vec::new();
    /// client.for_each_read("SELECT name FROM users WHERE id = $1", &[Type::INT4], &[&7i32], |row| {
    ///     names.push(row.get::<String>(0)?);
    ///     Ok(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn for_each_read(
        &self,
        sql: &str,
        types: &[Type],
        params: &[Param<'_>],
        mut f: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        Ok(self
            .execute_with(sql, types, params, true, &mut f)?
            .rows_affected)
    }

    /// Runs a statement that must return exactly one row.
    pub fn query_one<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Row, Error> {
        exactly_one(self.query(statement, params)?)
    }

    /// Runs a statement that returns at most one row.
    pub fn query_opt<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, Error> {
        at_most_one(self.query(statement, params)?)
    }

    /// Runs a statement and returns the number of rows it affected.
    pub fn execute<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[Param<'_>],
    ) -> Result<u64, Error> {
        Ok(self.run(statement, params, &mut |_| Ok(()))?.rows_affected)
    }

    /// Runs a statement and hands each row to `f`.
    pub fn for_each<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[Param<'_>],
        mut f: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        Ok(self.run(statement, params, &mut f)?.rows_affected)
    }

    /// Runs statements separated by `;` with the simple protocol (no parameters).
    pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        refuse::check(&self.handle.shared, sql)?;
        let answer = self.request(self.deadline(), false, |state| {
            encode::query(sql, &mut state.pending).map(|()| true)
        })?;
        let answer = answer.ok_or_else(|| Error::protocol("request not queued"))?;
        response::read_simple(&mut Buffered(answer))
    }

    /// Runs statements separated by `;`, discarding their rows.
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.simple_query(sql).map(drop)
    }

    /// The notifications of the channels this connection `LISTEN`s to, in order (at
    /// most 100,000 waiting to be read; see [`Notifications`]). The first call takes
    /// the receiver; later calls return `None`.
    pub fn notifications(&self) -> Option<Notifications> {
        self.handle
            .notifications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Notices the server sent (`RAISE NOTICE`, ...), removed from the connection.
    pub fn take_notices(&self) -> Vec<DbError> {
        self.handle.shared.take_notices()
    }

    /// True once the connection has failed or been closed; every call then fails fast.
    pub fn is_closed(&self) -> bool {
        self.handle.shared.is_closed()
    }

    /// Closes the connection now: waiting callers get `Error::Closed`.
    pub fn close(&self) {
        self.handle.shared.fail("the client was closed");
    }

    /// The backend's process ID.
    pub fn process_id(&self) -> i32 {
        self.handle.process_id
    }

    /// A token that cancels whatever statement the backend runs at that moment.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        self.handle.cancel.clone()
    }

    /// The connection's counters.
    pub fn stats(&self) -> ClientStats {
        let shared = &self.handle.shared;
        ClientStats {
            in_flight: shared.in_flight(),
            cache_hits: shared.cache_hits.load(Ordering::Relaxed),
            cache_misses: shared.cache_misses.load(Ordering::Relaxed),
            notices_dropped: shared.notices_dropped(),
            statements_cached: shared.with_state(|state| state.statements.len()),
            missed_events: shared.missed_events.load(Ordering::Relaxed),
            syncs_saved: shared.syncs_saved.load(Ordering::Relaxed),
            reads_resent: shared.resent.load(Ordering::Relaxed),
        }
    }

    fn run<T: ToStatement + ?Sized>(
        &self,
        statement: &T,
        params: &[Param<'_>],
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        match statement.to_statement_ref() {
            StatementRef::Sql(sql) => {
                // Described once, then run as the same server statement: parsed with
                // no types, bound with the ones the server inferred. An execution whose
                // describe parsed the statement counts as a cache miss.
                let (entry, parsed) = self.described(sql)?;
                let types = entry.params.get().cloned().unwrap_or_default();
                let run = Execution {
                    parsed,
                    ..Execution::new(sql, &[], &types, params)
                };
                self.execute_sql(run, on_row)
            }
            // By its SQL: the same server statement while the cache holds it, parsed
            // again once the cache has closed it.
            StatementRef::Statement(s) => {
                let run = Execution::new(s.sql(), s.parsed_with(), s.params(), params);
                self.execute_sql(run, on_row)
            }
        }
    }

    /// The cache entry for untyped SQL, described by the server if it is not yet, and
    /// whether this call parsed it.
    fn described(&self, sql: &str) -> Result<(Arc<CachedStatement>, bool), Error> {
        let key = statements::key(sql, &[]);
        let mut entry = None;
        let shared = &*self.handle.shared;
        let answer = self.request(self.deadline(), false, |state| {
            let prepared = prepare(shared, state, key, sql, &[])?;
            let e = prepared.entry.clone();
            let known = e.params.get().is_some() && e.columns.get().is_some();
            if !known {
                let described = encode::describe(b'S', &e.name, &mut state.pending);
                if let Err(err) = described {
                    prepared.undo(&mut state.statements, key);
                    return Err(err);
                }
                frontend::sync(&mut state.pending);
            }
            entry = Some((e, prepared.fresh));
            Ok(!known)
        })?;
        let (entry, fresh) = entry.ok_or_else(|| Error::protocol("statement lookup failed"))?;
        let Some(answer) = answer else {
            return Ok((entry, fresh));
        };
        let outcome = response::read_extended(&mut Buffered(answer), None, &mut |_| Ok(()))
            .inspect_err(|_| {
                if fresh {
                    self.forget_entry(key, &entry);
                }
            })?;
        if let Some(params) = outcome.params {
            let _ = entry.params.set(params);
        }
        if let Some(columns) = outcome.columns {
            let _ = entry.columns.set(columns);
        }
        Ok((entry, fresh))
    }

    /// Runs `sql` parsed and bound with `types`; `read`: the caller vouches that it only
    /// reads.
    fn execute_with(
        &self,
        sql: &str,
        types: &[Type],
        params: &[Param<'_>],
        read: bool,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        let run = Execution {
            read,
            ..Execution::new(sql, types, types, params)
        };
        self.execute_sql(run, on_row)
    }

    /// Runs `run` (see [`Execution`]); a read the server skipped in its group is sent
    /// again, on its own.
    fn execute_sql(
        &self,
        mut run: Execution<'_>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
        let deadline = self.deadline();
        loop {
            match self.execute_once(&run, deadline, on_row)? {
                Some(outcome) => return Ok(outcome),
                None => {
                    self.handle.shared.resent.fetch_add(1, Ordering::Relaxed);
                    run.read = false;
                }
            }
        }
    }

    /// One request of [`execute_sql`](Self::execute_sql); `None`: the server skipped
    /// it (a read before it in its group failed), so it did not run.
    fn execute_once(
        &self,
        run: &Execution<'_>,
        deadline: Option<Instant>,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Option<Outcome>, Error> {
        let queued = self.queue_execution(run, deadline)?;
        self.finish_execution(queued, run.parsed, on_row)
    }

    /// Queues `run`'s request without waiting for its answer (see
    /// [`finish_execution`](Self::finish_execution)).
    fn queue_execution(
        &self,
        run: &Execution<'_>,
        deadline: Option<Instant>,
    ) -> Result<Queued, Error> {
        let Execution {
            sql,
            parse_types,
            bind_types,
            params,
            read,
            ..
        } = *run;
        let key = statements::key(sql, parse_types);
        let mut chosen = None;
        let shared = &*self.handle.shared;
        let slot = Arc::new(ResponseSlot::new(Instant::now(), deadline));
        let queued = shared.submit(slot.clone(), read, |state| {
            // Only a read whose statement is parsed and described joins a group.
            let shares = read && state.statements.is_ready(key, sql, parse_types);
            if !shares {
                state.end_group();
            }
            let prepared = prepare(shared, state, key, sql, parse_types)?;
            let entry = prepared.entry.clone();
            if prepared.fresh {
                let _ = entry.params.set(bind_types.to_vec());
            }
            let columns = entry.columns.get().cloned();
            let encoded = encode::bind(&entry.name, bind_types, params, &mut state.pending)
                .and_then(|()| match columns {
                    Some(_) => Ok(()),
                    None => encode::describe(b'P', "", &mut state.pending),
                })
                .and_then(|()| {
                    if shares {
                        state.execute_in_group()
                    } else {
                        encode::execute_sync(&mut state.pending)
                    }
                });
            if let Err(e) = encoded {
                prepared.undo(&mut state.statements, key);
                return Err(e);
            }
            chosen = Some((entry, columns, prepared.fresh));
            Ok(true)
        })?;
        let (entry, columns, fresh) =
            chosen.ok_or_else(|| Error::protocol("statement lookup failed"))?;
        if !queued {
            return Err(Error::protocol("request not queued"));
        }
        Ok(Queued {
            slot,
            key,
            entry,
            columns,
            fresh,
        })
    }

    /// Waits for the answer to a request [`queue_execution`](Self::queue_execution)
    /// queued and reads it; `None`: the server skipped it.
    fn finish_execution(
        &self,
        queued: Queued,
        parsed: bool,
        on_row: &mut dyn FnMut(Row) -> Result<(), Error>,
    ) -> Result<Option<Outcome>, Error> {
        let Queued {
            slot,
            key,
            entry,
            columns,
            fresh,
        } = queued;
        let answer = slot.wait()?;
        if answer.is_empty() {
            return Ok(None);
        }
        let counter = if fresh || parsed {
            &self.handle.shared.cache_misses
        } else {
            &self.handle.shared.cache_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let result = response::read_extended(&mut Buffered(answer), columns, on_row);
        if let Err(Error::Db(db)) = &result
            && (fresh || crate::statement::must_prepare_again(db))
        {
            // The Parse may have failed, the server lost the statement (DISCARD ALL),
            // or its result columns changed: parse it again next time.
            self.forget_entry(key, &entry);
        }
        if let (Ok(outcome), None) = (&result, entry.columns.get())
            && let Some(columns) = &outcome.columns
        {
            let _ = entry.columns.set(columns.clone());
        }
        result.map(Some)
    }

    /// Runs a statement as [`for_each_typed`](Self::for_each_typed) does and, queued
    /// right behind it in the same pipeline (no extra round trip), reads the server's
    /// WAL insert position (`pg_current_wal_insert_lsn()`) once it has finished: a
    /// position at or past the end of what the statement wrote and committed, which a
    /// standby that has replayed it shows all of. Returns the rows affected and the
    /// position as a number (a `pg_lsn`'s 64 bits).
    ///
    /// ```no_run
    /// # fn demo(client: &lifeguard_pg::Client) -> Result<(), lifeguard_pg::Error> {
    /// use lifeguard_pg::types::Type;
    /// let (inserted, lsn) = client.for_each_typed_then_wal_position(
    ///     "INSERT INTO posts (title) VALUES ($1)", &[Type::TEXT], &[&"hello"], |_| Ok(()))?;
    /// assert_eq!(inserted, 1);
    /// assert!(lsn > 0);
    /// # Ok(()) }
    /// ```
    pub fn for_each_typed_then_wal_position(
        &self,
        sql: &str,
        types: &[Type],
        params: &[Param<'_>],
        mut f: impl FnMut(Row) -> Result<(), Error>,
    ) -> Result<(u64, u64), Error> {
        let deadline = self.deadline();
        let statement = Execution::new(sql, types, types, params);
        let position = Execution::new(WAL_POSITION_SQL, &[], &[], &[]);
        let first = self.queue_execution(&statement, deadline)?;
        let second = self.queue_execution(&position, deadline);
        let outcome = self.finish_execution(first, false, &mut f)?;
        let mut lsn = None;
        let read = self.finish_execution(second?, false, &mut |row| {
            lsn = row.get::<Option<postgres_types::PgLsn>>(0)?;
            Ok(())
        });
        let outcome = outcome.ok_or_else(|| Error::protocol("a write was skipped"))?;
        read?;
        let lsn = lsn.ok_or_else(|| Error::protocol("no WAL position in the answer"))?;
        Ok((outcome.rows_affected, u64::from(lsn)))
    }

    fn forget_entry(&self, key: u64, entry: &Arc<CachedStatement>) {
        let shared = &self.handle.shared;
        shared.with_state(|state| state.statements.forget(key, entry));
    }

    /// Queues one request built by `encode` and waits for its answer until `deadline`.
    /// `encode` returns `false` when it found nothing to send; then there is no answer
    /// either. With `may_share`, `encode` may join the open group of reads (see
    /// [`Pipeline::submit`]).
    fn request(
        &self,
        deadline: Option<Instant>,
        may_share: bool,
        encode: impl FnOnce(&mut State) -> Result<bool, Error>,
    ) -> Result<Option<BytesMut>, Error> {
        let slot = Arc::new(ResponseSlot::new(Instant::now(), deadline));
        if !self.handle.shared.submit(slot.clone(), may_share, encode)? {
            return Ok(None);
        }
        slot.wait().map(Some)
    }

    /// The deadline of a request queued now.
    fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|d| Instant::now() + d)
    }
}

/// What reads the WAL insert position, queued behind a write.
const WAL_POSITION_SQL: &str = "SELECT pg_current_wal_insert_lsn()";

/// A request queued by [`Client::queue_execution`], waiting for its answer.
struct Queued {
    slot: Arc<ResponseSlot>,
    key: u64,
    entry: Arc<CachedStatement>,
    columns: Option<Arc<[crate::statement::Column]>>,
    fresh: bool,
}

/// One execution of a statement on the pipelined connection: `sql` parsed with
/// `parse_types`, `params` bound as `bind_types` (the same, or what the server inferred
/// when it parsed untyped SQL).
#[derive(Clone, Copy)]
struct Execution<'a> {
    sql: &'a str,
    parse_types: &'a [Type],
    bind_types: &'a [Type],
    params: &'a [Param<'a>],
    /// The describe just before parsed it: a cache miss, not a hit.
    parsed: bool,
    /// The caller knows it only reads: it may share a Sync.
    read: bool,
}

impl<'a> Execution<'a> {
    fn new(
        sql: &'a str,
        parse_types: &'a [Type],
        bind_types: &'a [Type],
        params: &'a [Param<'a>],
    ) -> Execution<'a> {
        Execution {
            sql,
            parse_types,
            bind_types,
            params,
            parsed: false,
            read: false,
        }
    }
}

/// [`Prepared::new`] on this connection's cache, a statement new to it first passing
/// the shared connection's refusals (`refuse.rs`).
fn prepare(
    shared: &Pipeline,
    state: &mut State,
    key: u64,
    sql: &str,
    types: &[Type],
) -> Result<Prepared, Error> {
    Prepared::new(
        &mut state.statements,
        &mut state.pending,
        key,
        sql,
        types,
        |sql| refuse::check(shared, sql),
    )
}

impl Connection {
    /// Takes the connection apart for the pipelined client.
    pub(crate) fn into_parts(self) -> (crate::socket::Socket, BytesMut, i32, Option<CancelToken>) {
        let process_id = self.process_id();
        let cancel = self.cancel_token();
        let wire = self.into_wire();
        (wire.stream, wire.rbuf, process_id, cancel)
    }
}

/// The messages of one response, as the I/O coroutine delivered them.
struct Buffered(BytesMut);

impl Messages for Buffered {
    fn next_message(&mut self) -> Result<Message, Error> {
        parse_message(&mut self.0)?
            .ok_or_else(|| Error::protocol("response ended before ReadyForQuery"))
    }
}
