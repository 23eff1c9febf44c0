//! The state one pipelined connection shares between its callers and its reader.
//!
//! Writing is flat-combined: a caller appends its request to the pending buffer and
//! queues its answer slot in the same critical section, so bytes and slots stay in the
//! same order. If no caller is writing, it becomes the writer and sends everything
//! pending, again and again, until the buffer is empty; callers arriving meanwhile only
//! append. Requests that pile up during one write leave in the next, as one syscall.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::BytesMut;
use may::sync::Mutex;
use postgres_protocol::message::backend::Message;

use crate::codec::parse_message;
use crate::error::{DbError, Error};
use crate::notify::Notification;
use crate::socket::Socket;

use super::slot::Slot;
use super::statements::Entry;

/// At most this many notices are kept until taken; older ones are dropped and counted.
const MAX_NOTICES: usize = 10_000;

pub(crate) struct Shared {
    state: Mutex<State>,
    writer: Mutex<Socket>,
    /// Another handle on the socket, to shut it down while a writer holds `writer`.
    control: Socket,
    closed: AtomicBool,
    notifications: may::sync::mpsc::Sender<Notification>,
    notices: Mutex<VecDeque<DbError>>,
    pub(crate) notices_dropped: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
}

pub(crate) struct State {
    /// Requests not yet written.
    pub(crate) pending: BytesMut,
    /// The buffer being written by the current writer, swapped with `pending`.
    spare: BytesMut,
    /// One slot per request written or pending, oldest first.
    waiters: VecDeque<Arc<Slot>>,
    /// A caller is writing.
    writing: bool,
    closed: Option<String>,
    /// Statements parsed on this connection (or whose Parse is pending), by cache key.
    pub(crate) statements: HashMap<u64, Arc<Entry>>,
}

impl Shared {
    pub(crate) fn new(
        writer: Socket,
        control: Socket,
        notifications: may::sync::mpsc::Sender<Notification>,
    ) -> Shared {
        Shared {
            control,
            state: Mutex::new(State {
                pending: BytesMut::with_capacity(16 * 1024),
                spare: BytesMut::with_capacity(16 * 1024),
                waiters: VecDeque::new(),
                writing: false,
                closed: None,
                statements: HashMap::new(),
            }),
            writer: Mutex::new(writer),
            closed: AtomicBool::new(false),
            notifications,
            notices: Mutex::new(VecDeque::new()),
            notices_dropped: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        }
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
        slot: Arc<Slot>,
        encode: impl FnOnce(&mut State) -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(Error::closed(reason.clone()));
        }
        let mark = state.pending.len();
        match encode(&mut state) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                state.pending.truncate(mark);
                return Err(e);
            }
        }
        state.waiters.push_back(slot);
        if state.writing {
            return Ok(true);
        }
        state.writing = true;
        // Take what is pending now, in this same critical section: one lock fewer.
        let mut batch = std::mem::take(&mut state.spare);
        std::mem::swap(&mut state.pending, &mut batch);
        drop(state);
        self.write_batches(batch);
        Ok(true)
    }

    /// Writes `batch`, then whatever became pending meanwhile, until nothing is.
    /// Only the caller that set `writing` runs this.
    fn write_batches(&self, mut batch: BytesMut) {
        loop {
            let written = {
                let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                writer.write_all(&batch).and_then(|()| writer.flush())
            };
            batch.clear();
            if let Err(e) = written {
                self.fail(&format!("I/O error: {e}"));
            }
            let mut state = self.lock();
            if state.pending.is_empty() || state.closed.is_some() {
                state.writing = false;
                state.spare = batch;
                return;
            }
            // `batch` is empty: it becomes the new pending buffer, keeping its capacity.
            std::mem::swap(&mut state.pending, &mut batch);
        }
    }

    /// Answers with a timeout every waiter whose deadline has passed. Their slots stay
    /// queued: the answers still come, in order, and are dropped.
    pub(crate) fn expire_waiters(&self, now: Instant) {
        let state = self.lock();
        for slot in &state.waiters {
            slot.expire(now);
        }
    }

    /// Hands complete responses, oldest first, to the oldest waiters: one lock for all.
    pub(crate) fn deliver(&self, responses: &mut Vec<BytesMut>) -> Result<(), Error> {
        let slots: Vec<Arc<Slot>> = {
            let mut state = self.lock();
            if state.waiters.len() < responses.len() {
                return Err(Error::protocol(
                    "the server answered a request that was never sent",
                ));
            }
            state.waiters.drain(..responses.len()).collect()
        };
        for (slot, response) in slots.into_iter().zip(responses.drain(..)) {
            slot.fill(Ok(response));
        }
        Ok(())
    }

    /// Takes care of a notice, notification or parameter status.
    pub(crate) fn asynchronous(&self, frame: &mut BytesMut) -> Result<(), Error> {
        match parse_message(frame)? {
            Some(Message::NotificationResponse(body)) => {
                // A closed receiver means nobody listens any more; nothing to keep.
                let _ = self.notifications.send(Notification::from_body(&body)?);
            }
            Some(Message::NoticeResponse(body)) => {
                let notice = DbError::parse(&mut body.fields())?;
                let mut notices = self.notices.lock().unwrap_or_else(|p| p.into_inner());
                if notices.len() == MAX_NOTICES {
                    notices.pop_front();
                    self.notices_dropped.fetch_add(1, Ordering::Relaxed);
                }
                notices.push_back(notice);
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn take_notices(&self) -> Vec<DbError> {
        let mut notices = self.notices.lock().unwrap_or_else(|p| p.into_inner());
        notices.drain(..).collect()
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
    pub(crate) fn shutdown(&self, goodbye: &[u8]) {
        if let Ok(mut writer) = self.writer.try_lock() {
            let _ = writer.write_all(goodbye);
        }
        self.fail("the client was closed");
    }
}
