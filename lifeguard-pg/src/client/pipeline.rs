//! The state one pipelined connection shares between its callers and its reader.
//!
//! Writing is flat-combined: a caller appends its request to the pending buffer and
//! queues its answer slot in the same critical section, so bytes and slots stay in the
//! same order. If no caller is writing, it becomes the writer and sends everything
//! pending, again and again, until the buffer is empty; callers arriving meanwhile only
//! append. Requests that pile up during one write leave in the next, as one syscall.
//!
//! Nothing here waits without a bound, and nothing half-done is left on the shared
//! socket:
//! - A write is bounded by the connection's stall timeout, and by the writing caller's
//!   own deadline when that is shorter; a write that runs out closes the connection
//!   (part of a request may be on the wire, so nothing after it could be trusted).
//! - A writer that unwinds mid-write (its coroutine cancelled at the socket) closes
//!   the connection the same way, without taking a lock it might have to wait for.
//! - An encoder that panics leaves the pending buffer as it found it.
//! - The deadline keeper (`deadlines.rs`) closes a connection whose oldest request has
//!   seen no byte from the server for the stall timeout: a frozen server, a
//!   black-holed network.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use may::sync::Mutex;
use postgres_protocol::message::backend::Message;

use crate::backlog::{Backlog, MAX_NOTICES};
use crate::codec::parse_message;
use crate::error::{DbError, Error};
use crate::notify::Notification;
use crate::socket::{Socket, Stream};

use super::notifications;
use super::response_slot::{Answer, ResponseSlot};
use super::statements::Cache;

pub(crate) struct Pipeline {
    state: Mutex<State>,
    writer: Mutex<Writer>,
    /// Another handle on the socket, to shut it down while a writer holds `writer`.
    control: Socket,
    closed: AtomicBool,
    notifications: notifications::Sender,
    notices: Mutex<Backlog<DbError>>,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    /// Session-changing statements are refused (see `refuse.rs`).
    pub(crate) refuse_session_changes: AtomicBool,
    /// The largest response buffered for a caller (see `reader.rs`).
    max_response_bytes: AtomicUsize,
    /// The stall timeout in milliseconds; zero: none.
    stall_ms: AtomicU64,
    /// When the reader last got bytes, in nanoseconds since `epoch`.
    last_read_ns: AtomicU64,
    epoch: Instant,
}

/// The socket writers use, and the write timeout set on it now.
struct Writer {
    socket: Socket,
    timeout: Option<Duration>,
}

/// Write timeouts are kept in steps of this much, so that callers whose deadlines
/// differ by less share one setting and the socket option is rarely set again.
const WRITE_TIMEOUT_STEP: Duration = Duration::from_millis(100);

pub(crate) struct State {
    /// Requests not yet written.
    pub(crate) pending: BytesMut,
    /// The buffer being written by the current writer, swapped with `pending`.
    spare: BytesMut,
    /// One slot per request written or pending, oldest first.
    waiters: VecDeque<Arc<ResponseSlot>>,
    /// A caller is writing.
    writing: bool,
    closed: Option<String>,
    /// Statements parsed on this connection (or whose Parse is pending), by cache key.
    pub(crate) statements: Cache,
}

impl Pipeline {
    pub(crate) fn new(
        writer: Socket,
        control: Socket,
        notifications: notifications::Sender,
    ) -> Pipeline {
        Pipeline {
            control,
            state: Mutex::new(State {
                pending: BytesMut::with_capacity(16 * 1024),
                spare: BytesMut::with_capacity(16 * 1024),
                waiters: VecDeque::new(),
                writing: false,
                closed: None,
                statements: Cache::new(crate::DEFAULT_STATEMENT_CACHE_CAPACITY),
            }),
            writer: Mutex::new(Writer {
                socket: writer,
                timeout: None,
            }),
            closed: AtomicBool::new(false),
            notifications,
            notices: Mutex::new(Backlog::new(MAX_NOTICES)),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            refuse_session_changes: AtomicBool::new(false),
            max_response_bytes: AtomicUsize::new(super::DEFAULT_MAX_RESPONSE_BYTES),
            stall_ms: AtomicU64::new(0),
            last_read_ns: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Sets the stall timeout (see the module docs); `None` turns it off.
    pub(crate) fn set_stall_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |t| crate::may_timeout(t).as_millis());
        self.stall_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn stall_timeout(&self) -> Option<Duration> {
        match self.stall_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_max_response_bytes(&self, limit: usize) {
        self.max_response_bytes.store(limit, Ordering::Relaxed);
    }

    pub(crate) fn max_response_bytes(&self) -> usize {
        self.max_response_bytes.load(Ordering::Relaxed)
    }

    /// The reader got bytes from the server.
    pub(crate) fn note_read(&self) {
        let ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_read_ns.store(ns, Ordering::Relaxed);
    }

    fn last_read(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last_read_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Number of requests written or pending that have no answer yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().waiters.len()
    }

    fn lock(&self) -> may::sync::MutexGuard<'_, State> {
        // The lock is never held across I/O or a call that can panic on user data, so
        // a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state under the lock.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock())
    }

    /// Appends one request with `encode` (which may fail, leaving nothing behind) and
    /// queues `slot` for its answer; writes if no other caller is writing. When
    /// `encode` returns `false` it queued nothing, and neither is the slot; `submit`
    /// then returns `false` too.
    pub(crate) fn submit(
        &self,
        slot: Arc<ResponseSlot>,
        encode: impl FnOnce(&mut State) -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(Error::closed(reason.clone()));
        }
        let mark = state.pending.len();
        // A panicking encoder (a `ToSql` impl) must not leave half a request behind.
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encode(&mut state)));
        match encoded {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Ok(false),
            Ok(Err(e)) => {
                state.pending.truncate(mark);
                return Err(e);
            }
            Err(panic) => {
                state.pending.truncate(mark);
                drop(state);
                std::panic::resume_unwind(panic);
            }
        }
        let deadline = slot.deadline();
        state.waiters.push_back(slot);
        if state.writing {
            return Ok(true);
        }
        state.writing = true;
        // Take what is pending now, in this same critical section: one lock fewer.
        let mut batch = std::mem::take(&mut state.spare);
        std::mem::swap(&mut state.pending, &mut batch);
        drop(state);
        self.write_batches(batch, deadline);
        Ok(true)
    }

    /// Writes `batch`, then whatever became pending meanwhile, until nothing is.
    /// Only the caller that set `writing` runs this; `deadline` is its own.
    fn write_batches(&self, mut batch: BytesMut, deadline: Option<Instant>) {
        let mut unwinding = CloseOnUnwind {
            shared: self,
            armed: true,
        };
        loop {
            let written = self.write_bounded(&batch, deadline);
            batch.clear();
            if let Err(e) = written {
                self.fail(&e);
            }
            let mut state = self.lock();
            if state.pending.is_empty() || state.closed.is_some() {
                state.writing = false;
                state.spare = batch;
                unwinding.armed = false;
                return;
            }
            // `batch` is empty: it becomes the new pending buffer, keeping its capacity.
            std::mem::swap(&mut state.pending, &mut batch);
        }
    }

    /// Writes `bytes` within the stall timeout and before `deadline`; the error is the
    /// reason the connection must close.
    fn write_bounded(&self, bytes: &[u8], deadline: Option<Instant>) -> Result<(), String> {
        let stall = self.stall_timeout();
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let bound = match (stall, left) {
            (Some(s), Some(l)) => Some(s.min(l)),
            (s, l) => s.or(l),
        }
        .map(|b| {
            let steps = b.as_nanos().div_ceil(WRITE_TIMEOUT_STEP.as_nanos()).max(1);
            WRITE_TIMEOUT_STEP * u32::try_from(steps).unwrap_or(u32::MAX)
        });
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.timeout != bound {
            writer
                .socket
                .set_write_timeout(bound)
                .map_err(|e| format!("I/O error: {e}"))?;
            writer.timeout = bound;
        }
        let Writer { socket, .. } = &mut *writer;
        socket
            .write_all(bytes)
            .and_then(|()| socket.flush())
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => format!(
                    "the server stopped reading: a request could not be written within {:?}",
                    bound.unwrap_or_default()
                ),
                _ => format!("I/O error: {e}"),
            })
    }

    /// Answers with a timeout every waiter whose deadline has passed (their slots stay
    /// queued: the answers still come, in order, and are dropped), and closes the
    /// connection when its oldest request has heard nothing for the stall timeout.
    pub(crate) fn check_deadlines(&self, now: Instant) {
        let stalled = {
            let state = self.lock();
            for slot in &state.waiters {
                slot.expire(now);
            }
            match (state.waiters.front(), self.stall_timeout()) {
                (Some(oldest), Some(stall)) => {
                    let heard = oldest.queued_at().max(self.last_read());
                    (now.saturating_duration_since(heard) >= stall)
                        .then(|| (stall, state.waiters.len()))
                }
                _ => None,
            }
        };
        if let Some((stall, in_flight)) = stalled {
            self.fail(&format!(
                "no byte from the server for {stall:?} with {in_flight} request(s) in flight \
                 (stall timeout): the server or the network is not responding"
            ));
        }
    }

    /// Hands complete responses, oldest first, to the oldest waiters: one lock for all.
    pub(crate) fn deliver(&self, responses: &mut Vec<Answer>) -> Result<(), Error> {
        let slots: Vec<Arc<ResponseSlot>> = {
            let mut state = self.lock();
            if state.waiters.len() < responses.len() {
                return Err(Error::protocol(
                    "the server answered a request that was never sent",
                ));
            }
            state.waiters.drain(..responses.len()).collect()
        };
        for (slot, response) in slots.into_iter().zip(responses.drain(..)) {
            slot.fill(response);
        }
        Ok(())
    }

    /// Takes care of a notice, notification or parameter status.
    pub(crate) fn asynchronous(&self, frame: &mut BytesMut) -> Result<(), Error> {
        match parse_message(frame)? {
            Some(Message::NotificationResponse(body)) => {
                self.notifications.send(Notification::from_body(&body)?);
            }
            Some(Message::NoticeResponse(body)) => {
                let notice = DbError::parse(&mut body.fields())?;
                self.lock_notices().push(notice);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn take_notices(&self) -> Vec<DbError> {
        self.lock_notices().take()
    }

    /// Notices dropped so far because the newest [`MAX_NOTICES`] were kept.
    pub(crate) fn notices_dropped(&self) -> u64 {
        self.lock_notices().dropped()
    }

    fn lock_notices(&self) -> may::sync::MutexGuard<'_, Backlog<DbError>> {
        // Pushes and takes only: a poisoned backlog is still a backlog.
        self.notices.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the connection for good: every waiter, queued or in flight, gets an error
    /// now, and later calls fail fast.
    pub(crate) fn fail(&self, reason: &str) {
        let (waiters, reason) = {
            let mut state = self.lock();
            let reason = state
                .closed
                .get_or_insert_with(|| reason.to_owned())
                .clone();
            state.pending.clear();
            (std::mem::take(&mut state.waiters), reason)
        };
        self.closed.store(true, Ordering::Release);
        for slot in waiters {
            slot.fill(Err(Error::closed(reason.clone())));
        }
        // Wake the reader (blocked in read) and any writer; an error means it is down.
        let _ = self.control.shutdown();
    }

    /// Shuts the socket down so the reader ends; used when the last handle is dropped.
    /// The goodbye is sent only if no writer holds the socket, and never waits long.
    pub(crate) fn shutdown(&self, goodbye: &[u8]) {
        if let Ok(mut writer) = self.writer.try_lock() {
            let _ = writer.socket.set_write_timeout(Some(GOODBYE_TIMEOUT));
            writer.timeout = Some(GOODBYE_TIMEOUT);
            let _ = writer.socket.write_all(goodbye);
        }
        self.fail("the client was closed");
    }
}

/// How long a closing client waits to say goodbye to a server that stopped reading.
const GOODBYE_TIMEOUT: Duration = Duration::from_millis(100);

/// Closes the connection if the writer unwinds mid-write (its coroutine was cancelled
/// at the socket): part of a request may be on the wire. During a panic nothing may
/// park, so it takes no lock it would wait for: it marks the connection closed, records
/// why if the state lock is free, and shuts the socket down; the reader then fails
/// every waiter.
struct CloseOnUnwind<'a> {
    shared: &'a Pipeline,
    armed: bool,
}

impl Drop for CloseOnUnwind<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let shared = self.shared;
        if let Ok(mut state) = shared.state.try_lock() {
            state
                .closed
                .get_or_insert_with(|| "a request was interrupted while being written".into());
        }
        shared.closed.store(true, Ordering::Release);
        let _ = shared.control.shutdown();
    }
}
