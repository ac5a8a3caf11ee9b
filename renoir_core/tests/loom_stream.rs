//! Loom model of the streamed-publish ordering (`SlotCtl::written`, see
//! `topic::publisher::Progress` and `Subscriber::take_streaming`).
//!
//! The slot held a complete earlier sample (`written` = its length). The
//! publisher reuses it: `written := 0` (Relaxed), stamps the ring entry
//! (Release), then writes piece by piece, raising `written` with Release
//! after each piece. A reader that Acquire-loads the new stamp must never
//! see the old, larger `written` (it would read cells still being
//! written: loom's UnsafeCell tracking reports that as a data race), and
//! every cell below the mark it loads must hold the new value.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

const N: usize = 2;

struct Slot {
    stamp: AtomicU64,
    written: AtomicU64,
    cells: [UnsafeCell<u8>; N],
}

// SAFETY (test model): every cell access is checked by loom.
unsafe impl Sync for Slot {}

#[test]
fn reader_never_reads_past_the_new_mark() {
    loom::model(|| {
        let s = Arc::new(Slot {
            stamp: AtomicU64::new(1), // sample 0 complete in this slot
            written: AtomicU64::new(N as u64),
            cells: [UnsafeCell::new(0), UnsafeCell::new(0)],
        });
        let w = s.clone();
        let writer = thread::spawn(move || {
            // Reuse (no reader holds the slot: the Dekker part is modelled
            // in loom_registry / the holder protocol, not here).
            w.written.store(0, Ordering::Relaxed);
            w.stamp.store(2, Ordering::Release); // sample 1 published
            for i in 0..N {
                // SAFETY: the publisher is the only writer of the cells.
                w.cells[i].with_mut(|p| unsafe { *p = 7 });
                w.written.store(i as u64 + 1, Ordering::Release);
            }
        });
        if s.stamp.load(Ordering::Acquire) == 2 {
            let mark = s.written.load(Ordering::Acquire) as usize;
            assert!(mark <= N);
            for i in 0..mark {
                // SAFETY: below the mark the writer is done with the cell.
                let v = s.cells[i].with(|p| unsafe { *p });
                assert_eq!(v, 7, "cell {i} below mark {mark} not written");
            }
        }
        writer.join().unwrap();
    });
}
