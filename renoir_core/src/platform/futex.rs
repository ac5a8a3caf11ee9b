//! Non-private futex wait/wake on words in shared memory.
//!
//! The futex word is an [`AtomicU32`] that may live in a segment mapped by
//! several processes. We use the plain `FUTEX_WAIT` / `FUTEX_WAKE` operations
//! **without** `FUTEX_PRIVATE_FLAG`: a private futex is keyed by (mm, virtual
//! address), so a waker in another process (another mm, maybe another
//! address) would never find the waiter. The shared variant keys the wait
//! queue by the underlying page (inode + offset), which is the same in every
//! process that maps the segment.
//!
//! Semantics (as the kernel gives them, see futex(2)):
//! - [`wait`] sleeps only if `*word == expected` at the moment the kernel
//!   checks it, and that check is atomic with respect to [`wake`] on the same
//!   word (the kernel takes the hash-bucket lock for both). This is what makes
//!   "check a condition, then sleep" free of lost wakeups when the waker
//!   changes the word before waking.
//! - Spurious wakeups are possible; callers always re-check their condition.
//!
//! Under `--cfg loom` the syscalls are replaced by a model built from loom's
//! `Mutex` + `Condvar` (the mutex plays the kernel's hash-bucket lock), so the
//! notify protocols above this module are model-checked unchanged: a lost
//! wakeup shows up as a loom deadlock.

// Atomics here come only from `crate::sync` (the loom-swappable facade).
// clippy's `disallowed-types` resolves that re-export to its std definition
// and would flag every use; `ring::tests::no_direct_std_atomics` enforces
// the rule for these files instead.
#![allow(clippy::disallowed_types)]

use crate::sync::atomic::AtomicU32;
use std::time::Duration;

/// Outcome of [`wait`]. Every variant means "re-check your condition".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// Woken by a [`wake`] (or spuriously; the futex API cannot tell apart).
    Woken,
    /// The word did not hold `expected` when the kernel checked (`EAGAIN`):
    /// someone changed it between the caller's read and the sleep.
    ValueChanged,
    /// The relative timeout elapsed without a wakeup.
    TimedOut,
}

#[cfg(not(loom))]
mod imp {
    use super::WaitResult;
    use crate::sync::atomic::AtomicU32;
    use std::time::{Duration, Instant};

    fn timespec(d: Duration) -> libc::timespec {
        // Clamp absurd timeouts instead of overflowing time_t (32-bit on
        // armv7): ~68 years is "forever" for us.
        let secs = d.as_secs().min(i32::MAX as u64);
        libc::timespec {
            tv_sec: secs as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        }
    }

    pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitResult {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        loop {
            let ts = match deadline {
                None => None,
                // Timeout too large to represent as an Instant: wait forever.
                Some(None) => None,
                Some(Some(d)) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return WaitResult::TimedOut;
                    }
                    Some(timespec(left))
                }
            };
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `word.as_ptr()` points to a live, 4-byte aligned u32 for
            // the whole call (we hold `&AtomicU32`); the kernel only reads it.
            // `ts_ptr` is null or points to a timespec on our stack that
            // outlives the call. FUTEX_WAIT (no PRIVATE flag) takes exactly
            // these arguments; the unused ones (uaddr2, val3) are ignored.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    word.as_ptr(),
                    libc::FUTEX_WAIT,
                    expected,
                    ts_ptr,
                    std::ptr::null::<u32>(),
                    0u32,
                )
            };
            if rc == 0 {
                return WaitResult::Woken;
            }
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => return WaitResult::ValueChanged,
                Some(libc::ETIMEDOUT) => return WaitResult::TimedOut,
                // A signal interrupted the sleep: sleep again for the time
                // left. Safe because the kernel re-checks the word on entry,
                // so a change that happened meanwhile returns EAGAIN.
                Some(libc::EINTR) => continue,
                // EFAULT/EINVAL/ENOSYS cannot happen with a valid reference;
                // report a spurious wakeup rather than panicking, callers
                // re-check their condition anyway.
                _ => return WaitResult::Woken,
            }
        }
    }

    pub fn wake(word: &AtomicU32, n: i32) -> usize {
        // SAFETY: as in `wait`: a valid, aligned u32 address for the call.
        // FUTEX_WAKE takes (uaddr, op, count); the rest is ignored.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE,
                n.max(0),
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        if rc < 0 {
            0
        } else {
            rc as usize
        }
    }
}

#[cfg(loom)]
mod imp {
    //! Loom model of the futex: one global bucket (Mutex) + Condvar.
    //! Waking every waiter regardless of address or `n` is allowed because
    //! futex callers must tolerate spurious wakeups.
    use super::WaitResult;
    use crate::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    loom::lazy_static! {
        static ref BUCKET: (loom::sync::Mutex<()>, loom::sync::Condvar) =
            (loom::sync::Mutex::new(()), loom::sync::Condvar::new());
    }

    pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitResult {
        let (lock, cv) = &*BUCKET;
        let guard = lock.lock().unwrap();
        // SYNC POINT: the kernel's value check, made under the bucket lock and
        // after a full barrier (smp_mb in futex_wait): modelled as a SeqCst
        // load under the lock that `wake` also takes.
        if word.load(Ordering::SeqCst) != expected {
            return WaitResult::ValueChanged;
        }
        if timeout.is_some() {
            // Loom has no time; a timed wait is modelled as one that may give
            // up at once. Protocols must stay correct (if slower) then.
            drop(guard);
            loom::thread::yield_now();
            return WaitResult::TimedOut;
        }
        drop(cv.wait(guard).unwrap());
        WaitResult::Woken
    }

    pub fn wake(_word: &AtomicU32, _n: i32) -> usize {
        let (lock, cv) = &*BUCKET;
        let _g = lock.lock().unwrap();
        cv.notify_all();
        1
    }
}

/// Sleep while `*word == expected`, at most `timeout` (None: no limit).
///
/// Uses non-private `FUTEX_WAIT`, so a [`wake`] from any process that maps
/// the same memory wakes it. `EINTR` is retried with the remaining time;
/// `EAGAIN` is reported as [`WaitResult::ValueChanged`].
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitResult {
    imp::wait(word, expected, timeout)
}

/// Wake up to `n` waiters sleeping on `word` (in any process). Returns how
/// many were woken (0 if the syscall failed, which cannot happen for a valid
/// address).
pub fn wake(word: &AtomicU32, n: i32) -> usize {
    imp::wake(word, n)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn mismatch_returns_at_once() {
        let w = AtomicU32::new(5);
        assert_eq!(
            wait(&w, 4, Some(Duration::from_secs(5))),
            WaitResult::ValueChanged
        );
    }

    #[test]
    fn timeout_is_honoured() {
        let w = AtomicU32::new(0);
        let t = Instant::now();
        assert_eq!(
            wait(&w, 0, Some(Duration::from_millis(30))),
            WaitResult::TimedOut
        );
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(29), "{e:?}");
        assert!(e < Duration::from_secs(2), "{e:?}");
    }

    #[test]
    fn zero_timeout_does_not_sleep() {
        let w = AtomicU32::new(0);
        assert_eq!(wait(&w, 0, Some(Duration::ZERO)), WaitResult::TimedOut);
    }

    #[test]
    fn wake_wakes_a_thread() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let h = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 0 {
                wait(&w2, 0, Some(Duration::from_secs(10)));
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        let t = Instant::now();
        w.store(1, Ordering::Release);
        wake(&w, 1);
        h.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn wake_without_waiters_returns_zero() {
        let w = AtomicU32::new(0);
        assert_eq!(wake(&w, i32::MAX), 0);
    }
}
