//! Loom models of the notify protocols: no lost wakeup.
//!
//! The loom futex model (platform::futex under cfg(loom)) blocks untimed
//! waits on a Condvar, so a wakeup that the protocol loses makes loom report
//! a deadlock. Run with the same command as `loom_rings`
//! (`--test loom_notify`).
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use renoir_core::notify::{Doorbell, Event};

#[test]
fn event_wait_until_never_misses_notify() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let flag = Arc::new(AtomicU32::new(0));
        let (e2, f2) = (ev.clone(), flag.clone());
        let h = thread::spawn(move || {
            f2.store(1, Ordering::Release);
            e2.notify();
        });
        // Untimed: if the notifier skipped the wake while we slept, loom
        // reports a deadlock.
        assert!(ev.wait_until(|| flag.load(Ordering::Acquire) == 1, None));
        h.join().unwrap();
    });
}

#[test]
fn event_two_waiters_one_notify() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let flag = Arc::new(AtomicU32::new(0));
        let mut hs = vec![];
        for _ in 0..2 {
            let (e, f) = (ev.clone(), flag.clone());
            hs.push(thread::spawn(move || {
                assert!(e.wait_until(|| f.load(Ordering::Acquire) == 1, None));
            }));
        }
        flag.store(1, Ordering::Release);
        ev.notify();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn doorbell_owner_sees_every_source() {
    loom::model(|| {
        let bell = Arc::new(Doorbell::new());
        let a = Arc::new(AtomicU32::new(0));
        let b = Arc::new(AtomicU32::new(0));
        let mut hs = vec![];
        for src in [a.clone(), b.clone()] {
            let bell = bell.clone();
            hs.push(thread::spawn(move || {
                src.store(1, Ordering::Release);
                bell.ring();
            }));
        }
        // Owner: read seq, check sources, sleep on the seq it read.
        let mut seen = bell.seq();
        loop {
            if a.load(Ordering::Acquire) == 1 && b.load(Ordering::Acquire) == 1 {
                break;
            }
            seen = bell.wait(seen, None);
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}
