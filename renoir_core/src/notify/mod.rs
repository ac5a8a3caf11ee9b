//! Cross-process wakeups: futex events and the per-process doorbell.
//!
//! Both types are `#[repr(C)]` pairs of 32-bit words that are valid when
//! all-zero, so they can be placed straight into a shared segment (get a
//! `&Event` from a region) or built on the heap with `new()` (tests, loom).
//! The same code serves both: there is no separate "view" type, a `&Event`
//! *is* the view.
//!
//! Byte layout (both types, 8 bytes, align 4):
//!
//! | offset | size | field     | written by              | read by               |
//! |--------|------|-----------|-------------------------|-----------------------|
//! | 0      | 4    | `seq`     | notifiers (+1 each)     | waiters, kernel futex |
//! | 4      | 4    | `waiters` | waiters (+1 / -1)       | notifiers             |
//!
//! # Why `notify` needs no syscall when nobody waits (lost-wakeup argument)
//!
//! Notifier: `N1: seq.fetch_add(1)`, `fence(SeqCst)`, `N2: waiters.load()`,
//! and `FUTEX_WAKE` only if N2 saw a waiter.
//! Waiter: `W1: s = seq.load()`, check its condition, then
//! `W2: waiters.fetch_add(1)`, `fence(SeqCst)`, `W3: FUTEX_WAIT(seq, s)`, whose
//! value check the kernel performs after a full barrier and atomically with
//! respect to `FUTEX_WAKE` on the same word (both hold the hash-bucket lock).
//!
//! N1/N2 and W2/W3 form Dekker's pattern: each side stores, then runs a
//! SeqCst fence, then loads the other side's variable. The two fences are
//! totally ordered, so either
//! - the waiter's fence comes first: then W2 is visible to N2, the notifier
//!   sees `waiters > 0` and calls `FUTEX_WAKE`. If the waiter is already
//!   queued it is woken; if not yet, the wake took the bucket lock before
//!   the waiter's check, N1 happened before that wake, so the check W3 reads
//!   the bumped `seq` and returns `EAGAIN`.
//! - the notifier's fence comes first: then N1 is visible to W3, which reads
//!   the bumped `seq` (different from `s`: `s` was read at W1 before the
//!   bump, or else the condition check after W1 would already have seen the
//!   notifier's data, since N1 is a Release and W1 an Acquire) and the
//!   waiter does not sleep.
//!
//! Either way the waiter cannot sleep through a notification. The loom model
//! in `tests/loom_notify.rs` checks exactly this (a lost wakeup is a loom
//! deadlock because the modelled futex waits without timeout).
//!
//! `seq` wraps at 2^32: a waiter would only miss a change if exactly 2^32
//! notifications happened between its read and its sleep, which the futex
//! check would then not notice; the waiter would sleep until the next one or
//! its timeout. Harmless in practice and bounded by the timeout.
//!
//! # Crashes and corruption
//! A waiter killed while sleeping leaves `waiters` incremented forever: every
//! later `notify` then pays one `FUTEX_WAKE` syscall (slower, still correct).
//! A garbage `waiters` value has the same effect. A garbage `seq` is at worst
//! one spurious wakeup. Nothing here can panic on shared data.

// Atomics here come only from `crate::sync` (the loom-swappable facade).
// clippy's `disallowed-types` resolves that re-export to its std definition
// and would flag every use; `ring::tests::no_direct_std_atomics` enforces
// the rule for these files instead.
#![allow(clippy::disallowed_types)]

use crate::platform::futex;
use crate::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Deadline helper: `None` = wait forever. Saturates absurd timeouts.
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Time left until `deadline` (`Some(ZERO)` once it passed); `None` means
/// no limit, including a finite timeout too large to represent.
fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The futex word plus waiter count shared by [`Event`] and [`Doorbell`].
#[repr(C)]
#[derive(Debug)]
struct Word {
    seq: AtomicU32,
    waiters: AtomicU32,
}

impl Word {
    fn new() -> Self {
        Word {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    fn seq(&self) -> u32 {
        // SYNC POINT: Acquire pairs with `bump`'s Release RMW, so
        // whatever a notifier wrote before notifying is visible once we see
        // its sequence number.
        self.seq.load(Ordering::Acquire)
    }

    fn bump(&self) {
        // SYNC POINT (N1): Release RMW; a waiter that reads the new value
        // (Acquire in `seq()`) sees what the notifier wrote before notifying.
        self.seq.fetch_add(1, Ordering::Release);
        // FENCE: SeqCst fence between N1 and N2, paired with the waiter's
        // SeqCst fence between W2 and W3: Dekker's pattern (module docs).
        // Explicit fences rather than SeqCst accesses because the C++/Rust
        // model only makes store->load ordering across two variables
        // reliable through SC fences (and loom checks exactly that).
        fence(Ordering::SeqCst);
        // SYNC POINT (N2): ordered after N1 by the fence above.
        if self.waiters.load(Ordering::Relaxed) != 0 {
            futex::wake(&self.seq, i32::MAX);
        }
    }

    /// Sleep while `seq == seen`, at most `timeout`. Returns the sequence
    /// number read afterwards.
    fn sleep(&self, seen: u32, timeout: Option<Duration>) -> u32 {
        // SYNC POINT (W2): register as a waiter; ordered before W3 by the
        // fence below (the notifier's N2 reads it).
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // FENCE: SeqCst, pairs with the notifier's fence between N1 and N2
        // (Dekker). The kernel also issues a full barrier before its check;
        // we do not rely on it.
        fence(Ordering::SeqCst);
        // W3: the kernel re-checks `seq == seen` atomically w.r.t. FUTEX_WAKE.
        futex::wait(&self.seq, seen, timeout);
        // SYNC POINT: no ordering needed beyond the RMW itself; a stale count
        // only costs a notifier one unneeded syscall. SeqCst for uniformity.
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        self.seq()
    }

    /// Sleep until `seq != seen` or the timeout passes, absorbing spurious
    /// wakeups. Returns the sequence number now (== `seen` on timeout).
    fn wait_change(&self, seen: u32, timeout: Option<Duration>) -> u32 {
        let now = self.seq();
        if now != seen {
            return now;
        }
        let dl = deadline(timeout);
        loop {
            let left = remaining(dl);
            if left == Some(Duration::ZERO) {
                return self.seq();
            }
            let now = self.sleep(seen, left);
            if now != seen {
                return now;
            }
            // The loom futex model lets a timed wait give up at once and loom
            // has no clock: treat that as the timeout instead of spinning.
            if cfg!(loom) && timeout.is_some() {
                return now;
            }
        }
    }
}

/// A wakeup event that may live in shared memory: any process calls
/// [`notify`](Event::notify), waiters in any process sleep in
/// [`wait`](Event::wait) or [`wait_until`](Event::wait_until).
///
/// Valid when all-zero; 8 bytes, `#[repr(C)]` (see module docs for layout).
#[repr(C)]
#[derive(Debug)]
pub struct Event {
    w: Word,
}

#[cfg(not(loom))]
// SAFETY: repr(C) of two AtomicU32 (themselves ShmSafe): no pointers, no
// padding, every bit pattern (including all-zero) is a valid value.
unsafe impl crate::ShmSafe for Event {}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// A fresh event (heap/stack backend; in shared memory, zeroed bytes are
    /// already a fresh event).
    pub fn new() -> Self {
        Event { w: Word::new() }
    }

    /// Current sequence number; pass it to [`wait_seen`](Event::wait_seen)
    /// to sleep until the next notification after this read.
    pub fn seq(&self) -> u32 {
        self.w.seq()
    }

    /// Wake every waiter. Costs one atomic RMW and one load (no syscall) when
    /// nobody waits. Call it *after* publishing the data waiters look for.
    pub fn notify(&self) {
        self.w.bump();
    }

    /// Sleep until a notification happens after `seen` was read (returns at
    /// once if one already did), or the timeout passes. Returns the current
    /// sequence number. May return early (spurious wakeup): re-check.
    pub fn wait_seen(&self, seen: u32, timeout: Option<Duration>) -> u32 {
        self.w.wait_change(seen, timeout)
    }

    /// Sleep until the next notification or the timeout. Returns true if a
    /// notification was observed. Only useful when the caller has no
    /// condition to check; otherwise use [`wait_until`](Event::wait_until).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let seen = self.w.seq();
        self.w.wait_change(seen, timeout) != seen
    }

    /// Wait until `ready()` returns true or the timeout passes. Returns the
    /// last value of `ready()`. The sequence number is read *before* each
    /// check, so a notification between the check and the sleep makes the
    /// sleep return at once (no lost wakeup).
    pub fn wait_until(&self, mut ready: impl FnMut() -> bool, timeout: Option<Duration>) -> bool {
        let dl = deadline(timeout);
        loop {
            let seen = self.w.seq();
            if ready() {
                return true;
            }
            let left = remaining(dl);
            if left == Some(Duration::ZERO) || (cfg!(loom) && timeout.is_some()) {
                return ready();
            }
            self.w.sleep(seen, left);
        }
    }

    /// Wait while `cond()` is true (the contract's spelling); returns true if
    /// `cond()` became false before the timeout.
    pub fn wait_while(&self, mut cond: impl FnMut() -> bool, timeout: Option<Duration>) -> bool {
        self.wait_until(|| !cond(), timeout)
    }
}

/// One per process (per domain): many sources (rings, graph changes,
/// guard conditions in any process) ring it; its owner waits on it for
/// "something for me changed", then checks all its sources.
///
/// Protocol for the owner (never loses a ring between check and sleep):
/// ```text
/// let mut seen = bell.seq();
/// loop {
///     if any_source_ready() { break }
///     seen = bell.wait(seen, timeout);   // returns at once if rung since `seen`
/// }
/// ```
/// Ringers publish their data first, then call [`ring`](Doorbell::ring).
/// Same layout and lost-wakeup argument as [`Event`].
#[repr(C)]
#[derive(Debug)]
pub struct Doorbell {
    w: Word,
}

#[cfg(not(loom))]
// SAFETY: repr(C) of two AtomicU32: no pointers, no padding, every bit
// pattern (including all-zero) is valid.
unsafe impl crate::ShmSafe for Doorbell {}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

impl Doorbell {
    /// A fresh doorbell (heap backend; zeroed shared memory is one too).
    pub fn new() -> Self {
        Doorbell { w: Word::new() }
    }

    /// The current ring count; read it *before* checking the sources.
    pub fn seq(&self) -> u32 {
        self.w.seq()
    }

    /// Ring: callable from any process; no syscall unless the owner sleeps.
    pub fn ring(&self) {
        self.w.bump();
    }

    /// Sleep until the ring count differs from `seen` or the timeout passes;
    /// returns the ring count now (equal to `seen` on timeout or spurious
    /// wakeup).
    pub fn wait(&self, seen: u32, timeout: Option<Duration>) -> u32 {
        self.w.wait_change(seen, timeout)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn layout_is_two_words() {
        assert_eq!(std::mem::size_of::<Event>(), 8);
        assert_eq!(std::mem::align_of::<Event>(), 4);
        assert_eq!(std::mem::size_of::<Doorbell>(), 8);
    }

    #[test]
    fn notify_without_waiters_bumps_seq() {
        let e = Event::new();
        assert_eq!(e.seq(), 0);
        e.notify();
        e.notify();
        assert_eq!(e.seq(), 2);
        assert_eq!(e.w.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn wait_times_out() {
        let e = Event::new();
        let t = Instant::now();
        assert!(!e.wait(Some(Duration::from_millis(20))));
        assert!(t.elapsed() >= Duration::from_millis(19));
        assert!(!e.wait_until(|| false, Some(Duration::from_millis(20))));
        assert_eq!(e.w.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn wait_seen_returns_at_once_if_notified_since() {
        let e = Event::new();
        let s = e.seq();
        e.notify();
        let t = Instant::now();
        assert_eq!(e.wait_seen(s, Some(Duration::from_secs(5))), s + 1);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn wait_until_sees_flag_set_by_other_thread() {
        let e = Arc::new(Event::new());
        let flag = Arc::new(AtomicU32::new(0));
        let (e2, f2) = (e.clone(), flag.clone());
        let h = thread::spawn(move || {
            e2.wait_until(
                || f2.load(Ordering::Acquire) == 1,
                Some(Duration::from_secs(10)),
            )
        });
        thread::sleep(Duration::from_millis(20));
        flag.store(1, Ordering::Release);
        e.notify();
        assert!(h.join().unwrap());
        assert!(e.wait_while(|| false, Some(Duration::ZERO)));
    }

    #[test]
    fn doorbell_many_ringers_one_owner() {
        let bell = Arc::new(Doorbell::new());
        let count = Arc::new(AtomicU32::new(0));
        let mut hs = vec![];
        for _ in 0..4 {
            let (b, c) = (bell.clone(), count.clone());
            hs.push(thread::spawn(move || {
                for _ in 0..100 {
                    c.fetch_add(1, Ordering::Release);
                    b.ring();
                }
            }));
        }
        let mut seen = bell.seq();
        while count.load(Ordering::Acquire) < 400 {
            seen = bell.wait(seen, Some(Duration::from_secs(10)));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(bell.seq(), 400);
    }

    #[test]
    fn doorbell_wait_honours_timeout() {
        let bell = Doorbell::new();
        let t = Instant::now();
        assert_eq!(bell.wait(0, Some(Duration::from_millis(20))), 0);
        assert!(t.elapsed() >= Duration::from_millis(19));
        bell.ring();
        assert_eq!(bell.wait(0, None), 1);
    }
}
