//! [`SpscRing`]: one producer, one consumer, bounded, lossless.
//!
//! Lamport's ring (1983) with free-running 64-bit indices: `tail` counts
//! items ever pushed (written only by the producer), `head` items ever
//! popped (written only by the consumer). `tail - head` is the fill level;
//! item `i` lives in slot `i & mask`. 64-bit counters never wrap in
//! practice (584 years at 1 GHz), so full and empty are told apart without
//! a spare slot.
//!
//! Ordering: the producer writes the slot, then stores `tail` with Release;
//! the consumer loads `tail` with Acquire before reading the slot (it sees
//! the data). Symmetrically the consumer stores `head` with Release after
//! reading the slot, and the producer loads `head` with Acquire before
//! overwriting it (the consumer's read of the old value is finished).
//!
//! Each side re-reads its own index from shared memory on every call, so a
//! handle holds no state and a restarted process picks up where the ring
//! is. A peer that scribbles on the indices is detected by the invariant
//! `0 <= tail - head <= capacity` and reported as `Corrupt`. Index
//! arithmetic wraps (a garbage index near 2^64 must not panic on overflow;
//! the invariant is computed modulo 2^64 too).

use super::view::{CapacityHeader, RingView};
use super::{
    load_words, store_words, AttachError, CachePadded, Cell, HeapMem, PopError, PushError, RingMem,
    ShmMem,
};
use crate::sync::atomic::{AtomicU64, Ordering};

/// Shared header of an SPSC ring (192 bytes, see docs/lockfree.md).
#[repr(C)]
#[derive(Debug, Default)]
pub struct SpscHeader {
    capacity: CachePadded<AtomicU64>,
    /// Items ever popped; written by the consumer only.
    head: CachePadded<AtomicU64>,
    /// Items ever pushed; written by the producer only.
    tail: CachePadded<AtomicU64>,
}

#[cfg(not(loom))]
// SAFETY: repr(C) of ShmSafe fields; every bit pattern is validated on use;
// all-zero = uninitialised header accepted by `init`.
unsafe impl crate::ShmSafe for SpscHeader {}

impl SpscHeader {
    /// An all-zero (uninitialised) header.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CapacityHeader for SpscHeader {
    fn capacity_word(&self) -> &AtomicU64 {
        &self.capacity.0
    }
}

/// Single-producer single-consumer ring of `[u64; W]` records.
pub struct SpscRing<M, const W: usize> {
    view: RingView<M, SpscHeader, Cell<W>>,
}

/// Heap-backed SPSC ring.
pub type HeapSpsc<const W: usize> = SpscRing<HeapMem<SpscHeader, Cell<W>>, W>;

impl<const W: usize> SpscRing<HeapMem<SpscHeader, Cell<W>>, W> {
    /// A heap ring with `capacity` slots (power of two).
    pub fn new(capacity: usize) -> Result<Self, AttachError> {
        RingView::heap(capacity).map(|view| SpscRing { view })
    }
}

impl<'a, const W: usize> SpscRing<ShmMem<'a, SpscHeader, Cell<W>>, W> {
    /// Convenience: attach to a header and slots taken from a region.
    pub fn from_shm(header: &'a SpscHeader, slots: &'a [Cell<W>]) -> Result<Self, AttachError> {
        SpscRing::attach(ShmMem::new(header, slots))
    }
}

impl<M: RingMem<SpscHeader, Cell<W>>, const W: usize> SpscRing<M, W> {
    /// Creator: initialise zeroed memory as an empty ring.
    pub fn init(mem: M) -> Result<Self, AttachError> {
        RingView::init(mem).map(|view| SpscRing { view })
    }

    /// Build a view over an initialised ring, validating the header.
    pub fn attach(mem: M) -> Result<Self, AttachError> {
        RingView::attach(mem).map(|view| SpscRing { view })
    }

    pub fn capacity(&self) -> usize {
        self.view.cap() as usize
    }

    /// Free slots as the producer sees them: (tail, free).
    #[inline]
    fn producer_view(&self) -> Result<(u64, u64), PushError> {
        let h = self.view.header();
        // SYNC POINT: Relaxed: the producer is the only writer of `tail`.
        let t = h.tail.0.load(Ordering::Relaxed);
        // SYNC POINT: Acquire pairs with the consumer's Release store of
        // `head` in `pop`: slots below `head` are no longer being read.
        let hd = h.head.0.load(Ordering::Acquire);
        let used = t.wrapping_sub(hd);
        if used > self.view.cap() {
            return Err(PushError::Corrupt("spsc: tail - head > capacity"));
        }
        Ok((t, self.view.cap() - used))
    }

    /// Items ready as the consumer sees them: (head, count).
    #[inline]
    fn consumer_view(&self) -> Result<(u64, u64), PopError> {
        let h = self.view.header();
        // SYNC POINT: Relaxed: the consumer is the only writer of `head`.
        let hd = h.head.0.load(Ordering::Relaxed);
        // SYNC POINT: Acquire pairs with the producer's Release store of
        // `tail` in `push`: the slots below `tail` hold complete items.
        let t = h.tail.0.load(Ordering::Acquire);
        let used = t.wrapping_sub(hd);
        if used > self.view.cap() {
            return Err(PopError::Corrupt("spsc: tail - head > capacity"));
        }
        Ok((hd, used))
    }

    /// Producer: append one record; `Err(Full)` if no slot is free.
    pub fn push(&self, item: [u64; W]) -> Result<(), PushError> {
        let (t, free) = self.producer_view()?;
        if free == 0 {
            return Err(PushError::Full);
        }
        store_words(&self.view.slot(t).data, &item);
        // SYNC POINT: Release pairs with the consumer's Acquire load of
        // `tail` in `consumer_view`: publishes the record written above.
        self.view
            .header()
            .tail
            .0
            .store(t.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Producer: append as many of `items` as fit, with one `tail` store.
    /// Returns how many were pushed (0 when full).
    pub fn push_batch(&self, items: &[[u64; W]]) -> Result<usize, PushError> {
        let (t, free) = self.producer_view()?;
        let n = (free as usize).min(items.len());
        for (i, it) in items[..n].iter().enumerate() {
            store_words(&self.view.slot(t.wrapping_add(i as u64)).data, it);
        }
        if n > 0 {
            // SYNC POINT: Release, as in `push` (publishes all n records).
            self.view
                .header()
                .tail
                .0
                .store(t.wrapping_add(n as u64), Ordering::Release);
        }
        Ok(n)
    }

    /// Consumer: take the oldest record, `Ok(None)` if empty.
    pub fn pop(&self) -> Result<Option<[u64; W]>, PopError> {
        let (hd, used) = self.consumer_view()?;
        if used == 0 {
            return Ok(None);
        }
        let v = load_words(&self.view.slot(hd).data);
        // SYNC POINT: Release pairs with the producer's Acquire load of
        // `head` in `producer_view`: our read of the slot is done before the
        // producer may overwrite it.
        self.view
            .header()
            .head
            .0
            .store(hd.wrapping_add(1), Ordering::Release);
        Ok(Some(v))
    }

    /// Consumer: take up to `out.len()` records with one `head` store.
    pub fn pop_batch(&self, out: &mut [[u64; W]]) -> Result<usize, PopError> {
        let (hd, used) = self.consumer_view()?;
        let n = (used as usize).min(out.len());
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = load_words(&self.view.slot(hd.wrapping_add(i as u64)).data);
        }
        if n > 0 {
            // SYNC POINT: Release, as in `pop` (frees all n slots).
            self.view
                .header()
                .head
                .0
                .store(hd.wrapping_add(n as u64), Ordering::Release);
        }
        Ok(n)
    }

    /// Items currently in the ring (a snapshot; either side may call it).
    pub fn len(&self) -> Result<usize, PopError> {
        self.consumer_view().map(|(_, n)| n as usize)
    }

    pub fn is_empty(&self) -> bool {
        matches!(self.len(), Ok(0))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_empty() {
        let r = HeapSpsc::<1>::new(4).unwrap();
        assert_eq!(r.pop().unwrap(), None);
        for i in 0..4 {
            r.push([i]).unwrap();
        }
        assert_eq!(r.push([9]), Err(PushError::Full));
        assert_eq!(r.len().unwrap(), 4);
        for i in 0..4 {
            assert_eq!(r.pop().unwrap(), Some([i]));
        }
        assert!(r.is_empty());
    }

    #[test]
    fn batches_wrap_around() {
        let r = HeapSpsc::<2>::new(8).unwrap();
        let mut next = 0u64;
        let mut expect = 0u64;
        for _ in 0..20 {
            let items: Vec<[u64; 2]> = (0..5).map(|k| [next + k, k]).collect();
            let n = r.push_batch(&items).unwrap();
            next += n as u64;
            let mut out = [[0u64; 2]; 3];
            let m = r.pop_batch(&mut out).unwrap();
            for o in &out[..m] {
                assert_eq!(o[0], expect);
                expect += 1;
            }
        }
        assert!(expect > 0);
    }

    #[test]
    fn corrupt_indices_are_errors() {
        let r = HeapSpsc::<1>::new(4).unwrap();
        r.view.header().tail.0.store(100, Ordering::Relaxed);
        assert!(matches!(r.pop(), Err(PopError::Corrupt(_))));
        assert!(matches!(r.push([1]), Err(PushError::Corrupt(_))));
        // head beyond tail (negative fill) is caught too.
        r.view.header().tail.0.store(0, Ordering::Relaxed);
        r.view.header().head.0.store(3, Ordering::Relaxed);
        assert!(matches!(r.pop(), Err(PopError::Corrupt(_))));
    }
}
