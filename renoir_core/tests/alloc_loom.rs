//! Loom models of the lock-free pool (heap backend).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p renoir_core --release --test alloc_loom`
//! Each model is small (2 threads, 1-2 blocks) so the search stays bounded.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use renoir_core::alloc::{BufferPool, BufferPoolConfig, Pool, SizeClass, Wait};

/// Holder flags per block: set on alloc, cleared before free. A block
/// handed out twice at once trips the assertion.
fn hold(flags: &[AtomicU32], i: u32) {
    assert_eq!(
        flags[i as usize].swap(1, Ordering::AcqRel),
        0,
        "block {i} lent twice"
    );
}
fn release(flags: &[AtomicU32], i: u32) {
    flags[i as usize].store(0, Ordering::Release);
}

#[test]
fn concurrent_alloc_free_never_lends_a_block_twice() {
    loom::model(|| {
        let p = Arc::new(Pool::new(64, 2, 2).unwrap());
        let flags = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
        let (p2, f2) = (p.clone(), flags.clone());
        let t = thread::spawn(move || {
            for _ in 0..2 {
                if let Some(i) = p2.alloc_tagged(1) {
                    hold(&f2[..], i);
                    release(&f2[..], i);
                    p2.free_owned(i, 1).unwrap();
                }
            }
        });
        if let Some(i) = p.alloc_tagged(2) {
            hold(&flags[..], i);
            release(&flags[..], i);
            p.free_owned(i, 2).unwrap();
        }
        t.join().unwrap();
        let a = p.audit();
        assert_eq!(
            (a.free_listed, a.used, a.leaked, a.corrupt),
            (2, 0, 0, false)
        );
        assert_eq!(p.stats().in_use, 0);
    });
}

#[test]
fn aba_pop_push_pop_keeps_list_consistent() {
    // Thread A pops while B pops both blocks and pushes them back in another
    // order: the tag must make A's stale CAS fail.
    loom::model(|| {
        let p = Arc::new(Pool::new(64, 2, 2).unwrap());
        let p2 = p.clone();
        let t = thread::spawn(move || {
            let x = p2.alloc().unwrap();
            let y = p2.alloc();
            p2.free(x).unwrap();
            if let Some(y) = y {
                p2.free(y).unwrap();
            }
        });
        let got = p.alloc();
        t.join().unwrap();
        if let Some(i) = got {
            p.free(i).unwrap();
        }
        let a = p.audit();
        assert_eq!(
            (a.free_listed, a.used, a.leaked, a.corrupt),
            (2, 0, 0, false)
        );
    });
}

#[test]
fn racing_double_free_succeeds_once() {
    loom::model(|| {
        let p = Arc::new(Pool::new(64, 1, 1).unwrap());
        let i = p.alloc().unwrap();
        let p2 = p.clone();
        let t = thread::spawn(move || p2.free(i).is_ok());
        let mine = p.free(i).is_ok();
        let theirs = t.join().unwrap();
        assert!(mine ^ theirs, "exactly one free must succeed");
        let a = p.audit();
        assert_eq!((a.free_listed, a.used, a.leaked), (1, 0, 0));
    });
}

#[test]
fn growth_is_bounded_under_contention() {
    loom::model(|| {
        let p = Arc::new(Pool::new(64, 1, 0).unwrap());
        let p2 = p.clone();
        let t = thread::spawn(move || p2.alloc());
        let a = p.alloc();
        let b = t.join().unwrap();
        assert!(a.is_some() ^ b.is_some(), "one block, one winner");
        assert_eq!(p.stats().carved, 1);
    });
}

#[test]
fn buffer_pool_handoff_between_threads() {
    loom::model(|| {
        let cfg = BufferPoolConfig::new(vec![SizeClass {
            size: 64,
            capacity: 1,
            prealloc: 1,
        }]);
        let bp = Arc::new(BufferPool::new(&cfg).unwrap());
        let buf = bp.alloc(10, Wait::No).unwrap();
        let (off, _) = buf.into_raw(); // handed over by offset
        let bp2 = bp.clone();
        let t = thread::spawn(move || {
            let b = bp2.receive(off, 10).unwrap();
            bp2.free(b).unwrap();
        });
        // Racing with the receiver's free: either still lent, or back.
        let r = bp.alloc(10, Wait::No);
        t.join().unwrap();
        if let Ok(b) = r {
            assert_eq!(b.offset(), off);
            bp.free(b).unwrap();
        }
        assert_eq!(bp.stats().in_use_bytes, 0);
    });
}
