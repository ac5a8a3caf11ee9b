//! [`MpmcRing`]: bounded multi-producer multi-consumer FIFO.
//!
//! Dmitry Vyukov's bounded MPMC queue: producers and consumers race on two
//! counters (`tail`, `head`) with CAS; each slot carries a stamp that says
//! whose turn it is, so a producer never overwrites an item a consumer has
//! not finished reading and a consumer never reads a half-written item.
//!
//! Vyukov initialises slot `i`'s sequence to `i`; that is not all-zero, and
//! we want zeroed shared memory to be a valid empty ring. So the stamp is a
//! *turn* counter instead: for position `pos`, lap `L = pos / cap`:
//!
//! | stamp    | meaning                                         |
//! |----------|-------------------------------------------------|
//! | `2L`     | free for the producer of lap `L`                |
//! | `2L + 1` | holds the item of lap `L`, ready for a consumer |
//!
//! All-zero = every slot free for lap 0 = empty ring.
//!
//! Producer at `pos`: stamp == 2L (Acquire) → CAS `tail` pos→pos+1 → write
//! data → stamp := 2L+1 (Release). Consumer at `pos`: stamp == 2L+1
//! (Acquire) → CAS `head` pos→pos+1 → read data → stamp := 2L+2 (Release),
//! which is "free for lap L+1". The counters themselves carry no data
//! dependencies (Relaxed): all publication goes through the slot stamps.

use super::view::{CapacityHeader, RingView};
use super::{
    load_words, store_words, AttachError, CachePadded, HeapMem, PopError, PushError, RingMem,
    ShmMem, StampedSlot,
};
use crate::sync::atomic::{AtomicU64, Ordering};

/// Shared header of an MPMC ring (192 bytes, see docs/lockfree.md).
#[repr(C)]
#[derive(Debug, Default)]
pub struct MpmcHeader {
    capacity: CachePadded<AtomicU64>,
    /// Next position to consume; CAS by consumers.
    head: CachePadded<AtomicU64>,
    /// Next position to produce; CAS by producers.
    tail: CachePadded<AtomicU64>,
}

#[cfg(not(loom))]
// SAFETY: repr(C) of ShmSafe fields; all-zero = uninitialised header;
// every value is validated on use.
unsafe impl crate::ShmSafe for MpmcHeader {}

impl MpmcHeader {
    /// An all-zero (uninitialised) header.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CapacityHeader for MpmcHeader {
    fn capacity_word(&self) -> &AtomicU64 {
        &self.capacity.0
    }
}

/// Multi-producer multi-consumer bounded ring of `[u64; W]` records.
pub struct MpmcRing<M, const W: usize> {
    view: RingView<M, MpmcHeader, StampedSlot<W>>,
}

/// Heap-backed MPMC ring.
pub type HeapMpmc<const W: usize> = MpmcRing<HeapMem<MpmcHeader, StampedSlot<W>>, W>;

/// Positions beyond this are garbage (a real ring never gets there).
const MAX_POS: u64 = 1 << 62;
/// Retries after which a call gives up on a ring whose counters and stamps
/// contradict each other (a hostile peer), instead of spinning forever.
const MAX_RETRIES: u32 = 1 << 16;

impl<const W: usize> MpmcRing<HeapMem<MpmcHeader, StampedSlot<W>>, W> {
    /// A heap ring with `capacity` slots (power of two).
    pub fn new(capacity: usize) -> Result<Self, AttachError> {
        RingView::heap(capacity).map(|view| MpmcRing { view })
    }
}

impl<'a, const W: usize> MpmcRing<ShmMem<'a, MpmcHeader, StampedSlot<W>>, W> {
    /// Convenience: attach to a header and slots taken from a region.
    pub fn from_shm(
        header: &'a MpmcHeader,
        slots: &'a [StampedSlot<W>],
    ) -> Result<Self, AttachError> {
        MpmcRing::attach(ShmMem::new(header, slots))
    }
}

impl<M: RingMem<MpmcHeader, StampedSlot<W>>, const W: usize> MpmcRing<M, W> {
    /// Creator: initialise zeroed memory as an empty ring.
    pub fn init(mem: M) -> Result<Self, AttachError> {
        RingView::init(mem).map(|view| MpmcRing { view })
    }

    /// Build a view over an initialised ring, validating the header.
    pub fn attach(mem: M) -> Result<Self, AttachError> {
        RingView::attach(mem).map(|view| MpmcRing { view })
    }

    pub fn capacity(&self) -> usize {
        self.view.cap() as usize
    }

    /// Any producer: append one record; `Err(Full)` if the ring is full.
    pub fn push(&self, item: [u64; W]) -> Result<(), PushError> {
        let h = self.view.header();
        // SYNC POINT: Relaxed: `tail` only arbitrates between producers; the
        // slot stamp (below) carries the synchronisation.
        let mut pos = h.tail.0.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            if pos >= MAX_POS {
                return Err(PushError::Corrupt("mpmc: tail out of range"));
            }
            let slot = self.view.slot(pos);
            let turn = 2 * self.view.lap(pos);
            // SYNC POINT: Acquire pairs with the consumer's Release store of
            // `2L` in `pop` (the previous lap's item has been read out), so
            // our data stores cannot overwrite what it is still reading.
            let st = slot.stamp.load(Ordering::Acquire);
            if st == turn {
                // SYNC POINT: Relaxed CAS: claims position `pos` among
                // producers; ordering of the data comes from the stamps.
                match h.tail.0.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        store_words(&slot.data, &item);
                        // SYNC POINT: Release pairs with the consumer's
                        // Acquire stamp load in `pop`: publishes the data.
                        slot.stamp.store(turn + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => pos = now,
                }
            } else if st < turn {
                // turn-1: the previous lap's item is still unread;
                // turn-2: the previous lap's producer is still writing.
                // Either way the slot is occupied: full.
                if st + 2 >= turn {
                    return Err(PushError::Full);
                }
                return Err(PushError::Corrupt("mpmc: slot stamp behind tail"));
            } else {
                // Another producer took `pos`; reload and retry.
                crate::sync::hint::spin_loop();
                // SYNC POINT: Relaxed, as above.
                pos = h.tail.0.load(Ordering::Relaxed);
            }
        }
        Err(PushError::Corrupt(
            "mpmc: no progress (stamps contradict tail)",
        ))
    }

    /// Any consumer: take the oldest record, `Ok(None)` if empty.
    pub fn pop(&self) -> Result<Option<[u64; W]>, PopError> {
        let h = self.view.header();
        // SYNC POINT: Relaxed: `head` only arbitrates between consumers.
        let mut pos = h.head.0.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            if pos >= MAX_POS {
                return Err(PopError::Corrupt("mpmc: head out of range"));
            }
            let slot = self.view.slot(pos);
            let full = 2 * self.view.lap(pos) + 1;
            // SYNC POINT: Acquire pairs with the producer's Release store of
            // `2L+1` in `push`: the record is complete.
            let st = slot.stamp.load(Ordering::Acquire);
            if st == full {
                // SYNC POINT: Relaxed CAS: claims `pos` among consumers.
                match h.head.0.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let v = load_words(&slot.data);
                        // SYNC POINT: Release pairs with the next lap's
                        // producer's Acquire stamp load: our read is done.
                        slot.stamp.store(full + 1, Ordering::Release);
                        return Ok(Some(v));
                    }
                    Err(now) => pos = now,
                }
            } else if st < full {
                // full-1: free/claimed for this lap, not yet published;
                // full-2: the previous lap's consumer is still reading.
                if st + 2 >= full {
                    return Ok(None);
                }
                return Err(PopError::Corrupt("mpmc: slot stamp behind head"));
            } else {
                crate::sync::hint::spin_loop();
                // SYNC POINT: Relaxed, as above.
                pos = h.head.0.load(Ordering::Relaxed);
            }
        }
        Err(PopError::Corrupt(
            "mpmc: no progress (stamps contradict head)",
        ))
    }

    /// Push records one by one until the ring is full; returns how many.
    /// (Each record is claimed separately: with several producers a batch
    /// cannot be made contiguous without a second protocol.)
    pub fn push_batch(&self, items: &[[u64; W]]) -> Result<usize, PushError> {
        for (i, it) in items.iter().enumerate() {
            match self.push(*it) {
                Ok(()) => {}
                Err(PushError::Full) => return Ok(i),
                Err(e) => return Err(e),
            }
        }
        Ok(items.len())
    }

    /// Pop up to `out.len()` records; returns how many.
    pub fn pop_batch(&self, out: &mut [[u64; W]]) -> Result<usize, PopError> {
        for (i, o) in out.iter_mut().enumerate() {
            match self.pop()? {
                Some(v) => *o = v,
                None => return Ok(i),
            }
        }
        Ok(out.len())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_empty_wrap() {
        let r = HeapMpmc::<1>::new(4).unwrap();
        assert_eq!(r.pop().unwrap(), None);
        for lap in 0..5u64 {
            for i in 0..4 {
                r.push([lap * 10 + i]).unwrap();
            }
            assert_eq!(r.push([0]), Err(PushError::Full));
            for i in 0..4 {
                assert_eq!(r.pop().unwrap(), Some([lap * 10 + i]));
            }
            assert_eq!(r.pop().unwrap(), None);
        }
    }

    #[test]
    fn threads_deliver_each_item_once() {
        use std::sync::Arc;
        let r = Arc::new(HeapMpmc::<1>::new(16).unwrap());
        let n = 20_000u64;
        let mut hs = vec![];
        for p in 0..2u64 {
            let r = r.clone();
            hs.push(std::thread::spawn(move || {
                for i in 0..n {
                    let v = p << 32 | i;
                    while r.push([v]) == Err(PushError::Full) {
                        std::thread::yield_now();
                    }
                }
                Vec::new()
            }));
        }
        for _ in 0..2 {
            let r = r.clone();
            hs.push(std::thread::spawn(move || {
                let mut got = vec![];
                while got.len() < n as usize {
                    match r.pop().unwrap() {
                        Some([v]) => got.push(v),
                        None => std::thread::yield_now(),
                    }
                }
                got
            }));
        }
        let mut all: Vec<u64> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        let mut want: Vec<u64> = (0..2u64)
            .flat_map(|p| (0..n).map(move |i| p << 32 | i))
            .collect();
        want.sort_unstable();
        assert_eq!(all, want);
    }

    #[test]
    fn corrupt_stamps_are_errors() {
        let r = HeapMpmc::<1>::new(4).unwrap();
        r.view.header().tail.0.store(40, Ordering::Relaxed); // lap 10
        assert!(matches!(r.push([1]), Err(PushError::Corrupt(_))));
        r.view.header().head.0.store(40, Ordering::Relaxed);
        assert!(matches!(r.pop(), Err(PopError::Corrupt(_))));
        // A stamp far ahead with a tail that never moves: bounded, error.
        r.view.header().tail.0.store(0, Ordering::Relaxed);
        r.view.slot(0).stamp.store(1000, Ordering::Relaxed);
        assert!(matches!(r.push([1]), Err(PushError::Corrupt(_))));
    }
}
