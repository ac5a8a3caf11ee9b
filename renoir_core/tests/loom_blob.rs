//! Loom model of the blob epoch protocol (heap backend): a writer replaces
//! the published blob, retires the old one and frees it once the reader
//! watermarks allow; a reader pins, loads the published blob id and reads
//! the blob. Loom's `UnsafeCell` tracking reports any read that races with
//! the free (use after free).
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p renoir_core --release --test loom_blob`
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use renoir_core::blob::epoch::{claim_slot, min_pin, pin, retire_epoch, unpin, HeapEpochs};
use renoir_core::sync::atomic::{AtomicU64, Ordering};

struct Shared {
    epochs: HeapEpochs,
    /// The descriptor a reader can find (a ring entry in the real system).
    published: AtomicU64,
    /// Blob payloads; 0 = freed (poisoned).
    blobs: [UnsafeCell<u64>; 3],
}

fn model(readers: usize) {
    model_with(readers, true)
}

/// `pin_first = false` is the broken protocol (the reader loads the
/// descriptor before announcing its pin): loom must find the use after free.
fn model_with(readers: usize, pin_first: bool) {
    loom::model(move || {
        let s = Arc::new(Shared {
            epochs: HeapEpochs::new(readers),
            published: AtomicU64::new(1),
            blobs: [UnsafeCell::new(0), UnsafeCell::new(101), UnsafeCell::new(0)],
        });
        let mut hs = Vec::new();
        for _ in 0..readers {
            let s = s.clone();
            hs.push(loom::thread::spawn(move || {
                let slot = claim_slot(&s.epochs, 7, 1).unwrap();
                let early = s.published.load(Ordering::Acquire) as usize;
                pin(&s.epochs, slot);
                let late = s.published.load(Ordering::Acquire) as usize;
                let id = if pin_first { late } else { early };
                let v = s.blobs[id].with(|p| unsafe { *p });
                assert_eq!(v, 100 + id as u64, "read a freed blob");
                unpin(&s.epochs, slot);
            }));
        }
        // Writer: write blob 2, publish it, retire blob 1, free when allowed.
        s.blobs[2].with_mut(|p| unsafe { *p = 102 });
        s.published.store(2, Ordering::Release);
        let e = retire_epoch(&s.epochs);
        let mut pinned = Vec::new();
        if e < min_pin(&s.epochs, &mut pinned) {
            s.blobs[1].with_mut(|p| unsafe { *p = 0 });
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn retire_free_vs_reader_enter_one_reader() {
    model(1);
}

#[test]
fn retire_free_vs_reader_enter_two_readers() {
    model(2);
}

#[test]
#[should_panic]
fn broken_protocol_is_caught() {
    model_with(1, false);
}
