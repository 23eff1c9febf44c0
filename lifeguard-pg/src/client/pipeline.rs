//! The state one pipelined connection shares between its callers and its I/O
//! coroutine.
//!
//! Callers never touch the socket. A caller appends its request to the pending buffer
//! and queues its answer slot in the same critical section, so bytes and slots stay in
//! the same order, then wakes the I/O coroutine (`io_loop.rs`), which writes whatever
//! is pending in one syscall and reads the answers. Requests that pile up while it
//! writes or reads leave together in its next write.
//!
//! Nothing here waits without a bound, and nothing half-done is left on the shared
//! socket:
//! - A caller only takes the state lock (never held across I/O) and waits on its slot,
//!   which the deadline keeper (`deadlines.rs`) answers with a timeout at the caller's
//!   deadline.
//! - An encoder that panics leaves the pending buffer as it found it.
//! - The keeper closes a connection whose oldest request has seen no byte from the
//!   server for the stall timeout: a frozen server, a black-holed network, a server
//!   that stopped reading.
//!
//! **Reads share a Sync.** Most of what the server does per request happens at its
//! Sync: the end of the implicit transaction, ReadyForQuery, a flush. Requests that only
//! read (the caller says so: `query!` knows it from the plan) and whose statement is
//! parsed and described already are queued without a Sync of their own while they
//! follow one another in the pending buffer; the next request that does not share, the
//! I/O coroutine taking the buffer, or [`MAX_GROUP`] members end the group with one
//! Sync. Such a response ends at its CommandComplete (`End::Complete`). If a member
//! fails, the server skips the rest of the group up to the Sync: those members are
//! answered with an empty response, which means "not run, send it again on its own"
//! (safe: the statement did not run). A write, a Parse or anything else never joins a
//! group, so one failure can never undo or skip a statement that had an effect.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use may::sync::Mutex;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::backlog::{Backlog, MAX_NOTICES};
use crate::codec::parse_message;
use crate::error::{DbError, Error};
use crate::notify::Notification;
use crate::socket::DrivenWaker;

use super::notifications;
use super::response_slot::{Answer, ResponseSlot};
use super::statements::Cache;

pub(crate) struct Pipeline {
    state: Mutex<State>,
    /// Wakes the I/O coroutine when there is something to write or it must end.
    wake_io: DrivenWaker,
    closed: AtomicBool,
    notifications: notifications::Sender,
    notices: Mutex<Backlog<DbError>>,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    /// Session-changing statements are refused (see `refuse.rs`).
    pub(crate) refuse_session_changes: AtomicBool,
    /// The largest response buffered for a caller (see `io_loop.rs`).
    max_response_bytes: AtomicUsize,
    /// The stall timeout in milliseconds; zero: none.
    stall_ms: AtomicU64,
    /// When the I/O coroutine last got bytes, in nanoseconds since `epoch`.
    last_read_ns: AtomicU64,
    epoch: Instant,
    /// The keeper woke the I/O coroutine since it last looked (see `io_loop.rs`).
    poked: AtomicBool,
    /// Keeper wake-ups that found bytes after a tick with no socket event.
    pub(crate) missed_events: AtomicU64,
    /// Syncs saved: reads sent without a Sync of their own (see the module docs).
    pub(crate) syncs_saved: AtomicU64,
    /// Reads sent again on their own after a read before them in their group failed.
    pub(crate) resent: AtomicU64,
}

impl State {
    /// Ends the open group, if any, with its Sync.
    pub(crate) fn end_group(&mut self) {
        if self.group > 0 {
            frontend::sync(&mut self.pending);
            if let Some(last) = self.ends.last_mut() {
                *last = End::Ready;
            }
            self.group = 0;
        }
    }

    /// Appends the Execute of a request that joins the open group (or starts one): no
    /// Sync of its own. Only for a read whose statement is parsed and described.
    pub(crate) fn execute_in_group(&mut self) -> Result<(), Error> {
        crate::encode::execute(&mut self.pending)?;
        self.joined = true;
        Ok(())
    }

    fn clear_pending(&mut self) {
        self.pending.clear();
        self.ends.clear();
        self.group = 0;
    }

    /// Undoes an [`end_group`](Self::end_group) whose Sync was truncated away with a
    /// request that failed to encode: `group` is what it was before.
    fn reopen_group(&mut self, group: usize) {
        if group > 0 && self.group == 0 {
            if let Some(last) = self.ends.last_mut() {
                *last = End::Complete;
            }
            self.group = group;
        }
    }
}

/// The most reads one Sync ends.
pub(crate) const MAX_GROUP: usize = 64;

/// Where the response to a request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// At its ReadyForQuery: the request had a Sync of its own, or ended a group.
    Ready,
    /// At its CommandComplete (or ErrorResponse): a member of a group other than the
    /// last.
    Complete,
}

pub(crate) struct State {
    /// Requests not yet handed to the I/O coroutine.
    pub(crate) pending: BytesMut,
    /// Where the response of each pending request ends, oldest first.
    ends: Vec<End>,
    /// Members of the group at the end of `pending` (see the module docs), not yet
    /// ended by a Sync.
    group: usize,
    /// The request being encoded joined the group.
    joined: bool,
    /// One slot per request written or pending, oldest first.
    waiters: VecDeque<Arc<ResponseSlot>>,
    closed: Option<String>,
    /// Bytes to send after the connection closed: the goodbye of a dropped client.
    goodbye: Option<BytesMut>,
    /// Statements parsed on this connection (or whose Parse is pending), by cache key.
    pub(crate) statements: Cache,
}

impl Pipeline {
    pub(crate) fn new(wake_io: DrivenWaker, notifications: notifications::Sender) -> Pipeline {
        Pipeline {
            wake_io,
            state: Mutex::new(State {
                pending: BytesMut::with_capacity(16 * 1024),
                ends: Vec::new(),
                group: 0,
                joined: false,
                waiters: VecDeque::new(),
                closed: None,
                goodbye: None,
                statements: Cache::new(crate::DEFAULT_STATEMENT_CACHE_CAPACITY),
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
            poked: AtomicBool::new(false),
            missed_events: AtomicU64::new(0),
            syncs_saved: AtomicU64::new(0),
            resent: AtomicU64::new(0),
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

    /// The I/O coroutine got bytes from the server.
    pub(crate) fn note_read(&self) {
        let ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_read_ns.store(ns, Ordering::Relaxed);
    }

    /// How long since the I/O coroutine last got bytes.
    pub(crate) fn silent_for(&self) -> Duration {
        self.last_read().elapsed()
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
    /// queues `slot` for its answer, and wakes the I/O coroutine to send it. When
    /// `encode` returns `false` it queued nothing, and neither is the slot; `submit`
    /// then returns `false` too.
    ///
    /// With `may_share` the encoder may join the open group of reads
    /// ([`State::execute_in_group`]); if it does not, it must call
    /// [`State::end_group`] before it appends anything. Without, the group is ended
    /// here first.
    pub(crate) fn submit(
        &self,
        slot: Arc<ResponseSlot>,
        may_share: bool,
        encode: impl FnOnce(&mut State) -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(Error::closed(reason.clone()));
        }
        if !may_share {
            state.end_group();
        }
        let mark = state.pending.len();
        let group = state.group;
        state.joined = false;
        // A panicking encoder (a `ToSql` impl) must not leave half a request behind.
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encode(&mut state)));
        match encoded {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Ok(false),
            Ok(Err(e)) => {
                state.pending.truncate(mark);
                state.reopen_group(group);
                return Err(e);
            }
            Err(panic) => {
                state.pending.truncate(mark);
                state.reopen_group(group);
                drop(state);
                std::panic::resume_unwind(panic);
            }
        }
        state.waiters.push_back(slot);
        if state.joined {
            state.ends.push(End::Complete);
            state.group += 1;
            if state.group >= MAX_GROUP {
                state.end_group();
            }
        } else {
            state.ends.push(End::Ready);
        }
        drop(state);
        self.wake_io.wake();
        Ok(true)
    }

    /// Wakes the I/O coroutine to look at the socket, event or not (see `io_loop.rs`).
    pub(crate) fn poke(&self) {
        self.poked.store(true, Ordering::Relaxed);
        self.wake_io.wake();
    }

    /// Whether the keeper poked since the last call.
    pub(crate) fn take_poke(&self) -> bool {
        self.poked.swap(false, Ordering::Relaxed)
    }

    /// Moves what callers queued to the end of `out`, for the I/O coroutine to write,
    /// ending the open group first, and where each of their responses ends to the end
    /// of `ends`. Once the connection is closed it moves the goodbye instead, if any,
    /// and returns `false`: the I/O coroutine then ends.
    pub(crate) fn take_pending(&self, out: &mut BytesMut, ends: &mut VecDeque<End>) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            if let Some(goodbye) = state.goodbye.take() {
                out.extend_from_slice(&goodbye);
            }
            return false;
        }
        state.end_group();
        let grouped = state.ends.iter().filter(|e| **e == End::Complete).count();
        if grouped > 0 {
            self.syncs_saved
                .fetch_add(grouped as u64, Ordering::Relaxed);
        }
        ends.extend(state.ends.drain(..));
        if out.is_empty() {
            // Swap rather than copy: the emptied buffer keeps its capacity.
            std::mem::swap(&mut state.pending, out);
        } else {
            out.extend_from_slice(&state.pending);
            state.pending.clear();
        }
        true
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
    /// `slots` is scratch space, empty before and after.
    pub(crate) fn deliver(
        &self,
        responses: &mut Vec<Answer>,
        slots: &mut Vec<Arc<ResponseSlot>>,
    ) -> Result<(), Error> {
        if responses.is_empty() {
            return Ok(());
        }
        {
            let mut state = self.lock();
            if state.waiters.len() < responses.len() {
                return Err(Error::protocol(
                    "the server answered a request that was never sent",
                ));
            }
            slots.extend(state.waiters.drain(..responses.len()));
        }
        for (slot, response) in slots.drain(..).zip(responses.drain(..)) {
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
            state.clear_pending();
            (std::mem::take(&mut state.waiters), reason)
        };
        self.closed.store(true, Ordering::Release);
        for slot in waiters {
            slot.fill(Err(Error::closed(reason.clone())));
        }
        // The I/O coroutine shuts the socket down when it sees the connection closed.
        self.wake_io.wake();
    }

    /// Closes the connection when the last handle is dropped: every waiter gets an
    /// error now, and the I/O coroutine sends `goodbye` if the socket takes it at once,
    /// then shuts the socket down and ends.
    pub(crate) fn shutdown(&self, goodbye: BytesMut) {
        let waiters = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some("the client was closed".to_owned());
            state.clear_pending();
            state.goodbye = Some(goodbye);
            std::mem::take(&mut state.waiters)
        };
        self.closed.store(true, Ordering::Release);
        for slot in waiters {
            slot.fill(Err(Error::closed("the client was closed")));
        }
        self.wake_io.wake();
    }
}
