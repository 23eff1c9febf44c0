//! Locks that are only ever held for a few instructions, taken without a convoy.
//!
//! may's `Mutex::lock` hands the lock to its longest waiter, and a crowd of OS threads
//! turns that into a convoy: each hand-off waits for the OS to run that one thread
//! (seconds for 2,000 threads on 2 cores, measured by the fault suite, where callers
//! whose deadlines pass together reach the same lock at once). Spinning with
//! `yield` instead starves the holder among thousands of runnable threads.
//!
//! So a lock whose critical sections never park, never do I/O and run no user code is
//! a `std::sync::Mutex` (the holder is about to let go, and a thread that finds it
//! free takes it at once), taken two ways: a plain thread blocks on it, as threads
//! do; a coroutine never blocks its worker on it, but tries, and yields to the other
//! coroutines until it is free.

use std::sync::{Mutex, MutexGuard, TryLockError};
#[cfg(any(feature = "metrics", feature = "tracing"))]
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, held briefly by everyone (see the module docs). A poisoned lock still
/// holds consistent data, since nothing under it can panic halfway, and is taken as
/// it is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    if !may::coroutine::is_coroutine() {
        return mutex.lock().unwrap_or_else(|p| p.into_inner());
    }
    loop {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => may::coroutine::yield_now(),
        }
    }
}

/// Reads under `lock`, taken as [`lock`] takes a mutex: for tables read on every call
/// and written rarely (each write a few instructions), whose readers never wait for
/// each other.
#[cfg(any(feature = "metrics", feature = "tracing"))]
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    if !may::coroutine::is_coroutine() {
        return lock.read().unwrap_or_else(|p| p.into_inner());
    }
    loop {
        match lock.try_read() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => may::coroutine::yield_now(),
        }
    }
}

/// Writes under `lock` (see [`read`]).
#[cfg(any(feature = "metrics", feature = "tracing"))]
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    if !may::coroutine::is_coroutine() {
        return lock.write().unwrap_or_else(|p| p.into_inner());
    }
    loop {
        match lock.try_write() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => may::coroutine::yield_now(),
        }
    }
}

/// Locks `mutex` only if that takes no wait: for code running during a panic, which
/// must neither park nor block.
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
