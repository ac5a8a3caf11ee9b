//! [`SpmcBroadcast`]: one writer, any number of readers, each with its own
//! cursor; the writer never waits for readers.
//!
//! Algorithm: a ring of sequence-stamped slots, as in the LMAX Disruptor's
//! ring buffer, where each slot is a small seqlock (H.-J. Boehm, "Can
//! seqlocks get along with programming language memory models?", 2012).
//! Item number `s` (0, 1, 2, ...) goes to slot `s & mask`; the slot's stamp
//! says which item the slot holds and whether it is complete:
//!
//! | stamp      | meaning                             |
//! |------------|-------------------------------------|
//! | 0          | never written                       |
//! | `2s + 1`   | the writer is writing item `s`      |
//! | `2s + 2`   | item `s` is complete                |
//!
//! Writer, item `s`: stamp := 2s+1 (Relaxed); Release fence; data words
//! (Relaxed); stamp := 2s+2 (Release); `write_seq` := s+1 (Release).
//!
//! Reader, expecting item `s`: st1 := stamp (Acquire); if st1 == 2s+2 read
//! the data words (Relaxed), Acquire fence, st2 := stamp (Relaxed); the read
//! is good iff st2 == st1. Why: if any data word we read came from a later
//! write (of item `s + k*cap`), that write followed the writer's Release
//! fence, which followed its store of stamp 2(s+k*cap)+1; our Acquire fence
//! after reading that word then makes that stamp store happen-before st2,
//! so st2 >= 2(s+k*cap)+1 != st1 and the torn read is detected. If every
//! data word came from item `s`'s write, they are exactly item `s`, because
//! st1 synchronised with the Release store of 2s+2 that followed them.
//!
//! A reader that falls behind finds a stamp for a later item `q` (with
//! `q & mask == s & mask`) in the slot it wanted: items `s ..= q - cap` are
//! gone, so it moves its cursor to `q - cap + 1`, adds the gap to its lost
//! count, and goes on. Lost + received is exactly the number of items
//! published up to the reader's cursor: nothing is counted twice or skipped
//! silently.

use super::{
    creatable_capacity, load_words, store_words, validate_capacity, AttachError, CachePadded,
    HeapMem, PopError, PushError, RingMem, ShmMem, StampedSlot,
};
use crate::sync::atomic::{fence, AtomicU64, Ordering};

/// Shared header of a broadcast ring (128 bytes, see docs/lockfree.md).
#[repr(C)]
#[derive(Debug)]
pub struct BroadcastHeader {
    /// Number of slots (power of two); written once by the creator.
    capacity: CachePadded<AtomicU64>,
    /// Sequence number of the next item to write == items published.
    write_seq: CachePadded<AtomicU64>,
}

#[cfg(not(loom))]
// SAFETY: repr(C) of ShmSafe fields; all-zero = uninitialised header that
// `init` accepts; every bit pattern is validated by `attach`.
unsafe impl crate::ShmSafe for BroadcastHeader {}

impl BroadcastHeader {
    pub fn new() -> Self {
        BroadcastHeader {
            capacity: CachePadded(AtomicU64::new(0)),
            write_seq: CachePadded(AtomicU64::new(0)),
        }
    }
}
impl Default for BroadcastHeader {
    fn default() -> Self {
        Self::new()
    }
}

/// A reader's private position (lives in the reader's process, not in the
/// ring: the writer never looks at readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastReader {
    next: u64,
    lost: u64,
}

impl BroadcastReader {
    /// A reader that starts at item `seq`.
    pub fn at(seq: u64) -> Self {
        BroadcastReader { next: seq, lost: 0 }
    }
    /// The sequence number this reader will read next.
    pub fn next_seq(&self) -> u64 {
        self.next
    }
    /// Total items this reader has lost by being overrun.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

/// One item handed to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<const W: usize> {
    pub seq: u64,
    pub data: [u64; W],
    /// Items lost just before this one (overrun by the writer).
    pub lost_before: u64,
}

/// Single-writer, multi-reader lossy broadcast ring of `[u64; W]` records.
pub struct SpmcBroadcast<M, const W: usize> {
    mem: M,
    mask: u64,
}

/// Heap-backed broadcast ring.
pub type HeapBroadcast<const W: usize> = SpmcBroadcast<HeapMem<BroadcastHeader, StampedSlot<W>>, W>;

/// Upper bound of resynchronisation rounds per `read` call; after that the
/// call reports "nothing now" so a hostile writer cannot livelock a reader.
const MAX_ROUNDS: u32 = 64;

impl<const W: usize> SpmcBroadcast<HeapMem<BroadcastHeader, StampedSlot<W>>, W> {
    /// A heap ring with `capacity` slots (power of two).
    pub fn new(capacity: usize) -> Result<Self, AttachError> {
        let cap = creatable_capacity(capacity)?;
        let h = BroadcastHeader::new();
        h.capacity.0.store(cap, Ordering::Relaxed);
        let slots = (0..capacity).map(|_| StampedSlot::new()).collect();
        SpmcBroadcast::attach(HeapMem::new(h, slots))
    }
}

impl<'a, const W: usize> SpmcBroadcast<ShmMem<'a, BroadcastHeader, StampedSlot<W>>, W> {
    /// Convenience: attach to a header and slots taken from a region.
    pub fn from_shm(
        header: &'a BroadcastHeader,
        slots: &'a [StampedSlot<W>],
    ) -> Result<Self, AttachError> {
        SpmcBroadcast::attach(ShmMem::new(header, slots))
    }
}

impl<M: RingMem<BroadcastHeader, StampedSlot<W>>, const W: usize> SpmcBroadcast<M, W> {
    /// Creator: initialise zeroed memory as an empty ring with as many slots
    /// as `mem` has. Fails if the header already holds a capacity.
    pub fn init(mem: M) -> Result<Self, AttachError> {
        let cap = creatable_capacity(mem.slots().len())?;
        // SYNC POINT: Release pairs with the Acquire load in `attach` by a
        // peer that finds this value (the region layer also publishes its
        // whole header with Release after the creator set things up).
        match mem
            .header()
            .capacity
            .0
            .compare_exchange(0, cap, Ordering::Release, Ordering::Acquire)
        {
            Ok(_) => {}
            Err(v) => return Err(AttachError::AlreadyInitialised(v)),
        }
        Self::attach(mem)
    }

    /// Build a view over an initialised ring, validating the header.
    pub fn attach(mem: M) -> Result<Self, AttachError> {
        // SYNC POINT: Acquire pairs with the creator's Release in `init`.
        let cap = mem.header().capacity.0.load(Ordering::Acquire);
        let mask = validate_capacity(cap, mem.slots().len())?;
        Ok(SpmcBroadcast { mem, mask })
    }

    pub fn capacity(&self) -> usize {
        (self.mask + 1) as usize
    }

    /// Items published so far (== the next sequence number to be written).
    pub fn write_seq(&self) -> u64 {
        // SYNC POINT: Acquire pairs with the writer's Release store of
        // `write_seq` in `push`: items below the value read are complete.
        self.mem.header().write_seq.0.load(Ordering::Acquire)
    }

    #[inline]
    fn slot(&self, seq: u64) -> &StampedSlot<W> {
        // The cached mask bounds the index whatever the header says now.
        &self.mem.slots()[(seq & self.mask) as usize]
    }

    /// Writer: publish one record; returns its sequence number. Never waits.
    /// Only one writer may call this (it is the ring's single producer).
    pub fn push(&self, item: [u64; W]) -> Result<u64, PushError> {
        let h = self.mem.header();
        // SYNC POINT: Relaxed: only the writer stores `write_seq`, so it reads
        // its own last store (or, after a writer restart, the value a crashed
        // writer left, which `recover_writer` has repaired).
        let s = h.write_seq.0.load(Ordering::Relaxed);
        if s >= u64::MAX / 4 {
            return Err(PushError::Corrupt("write_seq out of range"));
        }
        self.write_slot(s, &item);
        // SYNC POINT: Release pairs with readers' Acquire load of
        // `write_seq` (`write_seq()`, `reader_from_*`): all items < s+1 are
        // complete for a reader that sees s+1.
        h.write_seq.0.store(s + 1, Ordering::Release);
        Ok(s)
    }

    /// Writer: publish several records with one `write_seq` update.
    pub fn push_batch(&self, items: &[[u64; W]]) -> Result<u64, PushError> {
        let h = self.mem.header();
        // SYNC POINT: Relaxed, as in `push` (own variable).
        let s = h.write_seq.0.load(Ordering::Relaxed);
        if s >= u64::MAX / 4 {
            return Err(PushError::Corrupt("write_seq out of range"));
        }
        for (i, it) in items.iter().enumerate() {
            self.write_slot(s + i as u64, it);
        }
        // SYNC POINT: Release, as in `push`.
        h.write_seq
            .0
            .store(s + items.len() as u64, Ordering::Release);
        Ok(s)
    }

    fn write_slot(&self, s: u64, item: &[u64; W]) {
        let slot = self.slot(s);
        // SYNC POINT: mark the slot busy. Relaxed store, made effective by
        // the Release fence below: a reader that sees any of the data words
        // written after the fence and then runs its Acquire fence must see
        // this stamp (or a later one) on its re-check.
        slot.stamp.store(2 * s + 1, Ordering::Relaxed);
        // FENCE: orders the busy stamp before the data stores (seqlock
        // writer side; pairs with the reader's Acquire fence in `try_read`).
        fence(Ordering::Release);
        store_words(&slot.data, item);
        // SYNC POINT: Release pairs with the reader's Acquire load of the
        // stamp (st1): a reader that sees 2s+2 sees the data above.
        slot.stamp.store(2 * s + 2, Ordering::Release);
    }

    /// A writer that restarts (e.g. after its predecessor crashed) calls
    /// this once before pushing: if the crashed writer completed item
    /// `write_seq` but died before advancing `write_seq`, advance it, so the
    /// item is not published twice under one sequence number.
    pub fn recover_writer(&self) {
        let h = self.mem.header();
        // SYNC POINT: Acquire pairs with the dead writer's Release stores.
        let s = h.write_seq.0.load(Ordering::Acquire);
        if s >= u64::MAX / 4 {
            return;
        }
        // SYNC POINT: Acquire pairs with the dead writer's Release stamp.
        if self.slot(s).stamp.load(Ordering::Acquire) == 2 * s + 2 {
            // SYNC POINT: Release, as in `push`.
            h.write_seq.0.store(s + 1, Ordering::Release);
        }
    }

    /// A reader that will see only items published from now on.
    pub fn reader_from_now(&self) -> BroadcastReader {
        BroadcastReader::at(self.write_seq())
    }

    /// A reader that starts at the oldest item still in the ring (for
    /// late joiners that want history, e.g. transient-local durability).
    pub fn reader_from_oldest(&self) -> BroadcastReader {
        let w = self.write_seq();
        BroadcastReader::at(w.saturating_sub(self.mask + 1))
    }

    /// True if an item at the reader's cursor (or a lap past it) is there.
    pub fn has_data(&self, r: &BroadcastReader) -> bool {
        // SYNC POINT: Acquire; a hint only, `read` re-validates.
        let st = self.slot(r.next).stamp.load(Ordering::Acquire);
        // Saturating: a cursor near u64::MAX (garbage) must not overflow.
        st >= r.next.saturating_mul(2).saturating_add(2)
    }

    /// Reader: the next item for cursor `r`, `Ok(None)` if the writer has not
    /// published it yet. Items the writer overwrote before we got to them
    /// are skipped and counted (`Received::lost_before`, `r.lost()`).
    pub fn read(&self, r: &mut BroadcastReader) -> Result<Option<Received<W>>, PopError> {
        let mut lost = 0u64;
        for _ in 0..MAX_ROUNDS {
            let s = r.next;
            if s >= u64::MAX / 4 {
                return Err(PopError::Corrupt("reader cursor out of range"));
            }
            let slot = self.slot(s);
            let want = 2 * s + 2;
            // SYNC POINT (st1): Acquire pairs with the writer's Release store
            // of the complete stamp 2s+2 in `write_slot`.
            let st1 = slot.stamp.load(Ordering::Acquire);
            if st1 == want {
                let data = load_words(&slot.data);
                // FENCE: seqlock reader side; pairs with the writer's Release
                // fence: if a data word above came from a later write, the
                // busy stamp of that write is visible to the re-check below.
                fence(Ordering::Acquire);
                // SYNC POINT (st2): Relaxed re-check, ordered by the fence.
                let st2 = slot.stamp.load(Ordering::Relaxed);
                if st2 == st1 {
                    r.next = s + 1;
                    r.lost += lost;
                    return Ok(Some(Received {
                        seq: s,
                        data,
                        lost_before: lost,
                    }));
                }
                // Overwritten while we read: item s is lost.
                lost += self.skip_to(r, s, st2)?;
                continue;
            }
            if st1 < want {
                // Not yet written (an older lap, or item s in progress).
                if st1 != 0 && ((st1 - 1) / 2) & self.mask != s & self.mask {
                    return Err(PopError::Corrupt("slot stamp for another slot"));
                }
                r.lost += lost;
                return self.check_not_ahead(r).map(|()| None);
            }
            // A later item (q >= s + cap) is in, or going into, our slot.
            lost += self.skip_to(r, s, st1)?;
        }
        r.lost += lost;
        Ok(None)
    }

    /// Reader: read up to `out.len()` items; returns how many were stored.
    /// Lost items are counted in `r.lost()`.
    pub fn read_batch(
        &self,
        r: &mut BroadcastReader,
        out: &mut [Received<W>],
    ) -> Result<usize, PopError> {
        let mut n = 0;
        while n < out.len() {
            match self.read(r)? {
                Some(it) => {
                    out[n] = it;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }

    /// Cursor `s` found stamp `st` (> the one it wanted): move the cursor to
    /// the oldest item that can still be in the ring and return how many
    /// items were skipped.
    fn skip_to(&self, r: &mut BroadcastReader, s: u64, st: u64) -> Result<u64, PopError> {
        let q = (st - 1) / 2; // the item the writer has at least started
        if q & self.mask != s & self.mask || q <= s {
            return Err(PopError::Corrupt("slot stamp for another slot"));
        }
        // Items s ..= q - cap are overwritten (q - cap >= s here).
        let mut new = q - self.mask; // q - cap + 1
                                     // Items below write_seq - cap are overwritten too (their successors
                                     // one lap later are complete): jump there at once, so a reader far
                                     // behind resynchronises in one round instead of one lap per round.
        let w = self.write_seq();
        if w < u64::MAX / 4 {
            new = new.max(w.saturating_sub(self.mask + 1));
        }
        let skipped = new - s;
        r.next = new;
        Ok(skipped)
    }

    /// A cursor far ahead of `write_seq` means garbage (a stamp from a
    /// hostile peer moved it): report it once and rejoin at the head.
    fn check_not_ahead(&self, r: &mut BroadcastReader) -> Result<(), PopError> {
        let w = self.write_seq();
        if r.next > w.saturating_add(self.mask + 1) {
            r.next = w;
            return Err(PopError::Corrupt("reader cursor ahead of the writer"));
        }
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn basic_in_order() {
        let b = HeapBroadcast::<1>::new(4).unwrap();
        let mut r = b.reader_from_now();
        assert_eq!(b.read(&mut r).unwrap(), None);
        for i in 0..3 {
            assert_eq!(b.push([i * 10]).unwrap(), i);
        }
        for i in 0..3 {
            let it = b.read(&mut r).unwrap().unwrap();
            assert_eq!((it.seq, it.data, it.lost_before), (i, [i * 10], 0));
        }
        assert_eq!(b.read(&mut r).unwrap(), None);
    }

    #[test]
    fn overrun_reports_exact_loss() {
        let b = HeapBroadcast::<2>::new(4).unwrap();
        let mut r = b.reader_from_now();
        for i in 0..10u64 {
            b.push([i, !i]).unwrap();
        }
        // Items 0..=5 are overwritten by 4..=9 (cap 4): 6 lost.
        let it = b.read(&mut r).unwrap().unwrap();
        assert_eq!(it.seq, 6);
        assert_eq!(it.lost_before, 6);
        assert_eq!(it.data, [6, !6]);
        let mut got = vec![it.seq];
        while let Some(it) = b.read(&mut r).unwrap() {
            got.push(it.seq);
        }
        assert_eq!(got, vec![6, 7, 8, 9]);
        assert_eq!(r.lost(), 6);
        assert_eq!(r.lost() + got.len() as u64, 10);
    }

    #[test]
    fn two_readers_independent() {
        let b = HeapBroadcast::<1>::new(8).unwrap();
        let mut r1 = b.reader_from_now();
        b.push([1]).unwrap();
        let mut r2 = b.reader_from_now();
        b.push([2]).unwrap();
        assert_eq!(b.read(&mut r1).unwrap().unwrap().data, [1]);
        assert_eq!(b.read(&mut r2).unwrap().unwrap().data, [2]);
        assert_eq!(b.read(&mut r1).unwrap().unwrap().data, [2]);
        let mut old = b.reader_from_oldest();
        assert_eq!(old.next_seq(), 0);
        assert_eq!(b.read(&mut old).unwrap().unwrap().data, [1]);
    }

    #[test]
    fn batch_push_and_read() {
        let b = HeapBroadcast::<1>::new(8).unwrap();
        let mut r = b.reader_from_now();
        assert_eq!(b.push_batch(&[[1], [2], [3]]).unwrap(), 0);
        let mut out = [Received {
            seq: 0,
            data: [0],
            lost_before: 0,
        }; 8];
        assert_eq!(b.read_batch(&mut r, &mut out).unwrap(), 3);
        assert_eq!(out[2].data, [3]);
        assert_eq!(b.write_seq(), 3);
    }

    #[test]
    fn corrupt_stamp_is_an_error_not_a_panic() {
        let b = HeapBroadcast::<1>::new(4).unwrap();
        let mut r = b.reader_from_now();
        // A stamp claiming item 5 (slot 1) sits in slot 0.
        b.mem.slots()[0].stamp.store(2 * 5 + 2, Ordering::Relaxed);
        assert!(matches!(b.read(&mut r), Err(PopError::Corrupt(_))));
        // A stamp far in the future for the right slot: cursor jumps, then
        // the check against write_seq pulls it back with an error.
        b.mem.slots()[0]
            .stamp
            .store(2 * (1u64 << 40) + 2, Ordering::Relaxed);
        let mut r = b.reader_from_now();
        let _ = b.read(&mut r);
        let e = b.read(&mut r);
        assert!(matches!(e, Err(PopError::Corrupt(_))), "{e:?}");
        assert_eq!(r.next_seq(), 0);
        // And the reader keeps working after the writer moves on.
        b.mem.slots()[0].stamp.store(0, Ordering::Relaxed);
        b.push([7]).unwrap();
        assert_eq!(b.read(&mut r).unwrap().unwrap().data, [7]);
    }

    #[test]
    fn recover_writer_does_not_duplicate() {
        let b = HeapBroadcast::<1>::new(4).unwrap();
        b.push([1]).unwrap();
        // Simulate a writer that completed item 1 but died before bumping
        // write_seq.
        b.write_slot(1, &[2]);
        b.recover_writer();
        assert_eq!(b.push([3]).unwrap(), 2);
    }

    #[test]
    fn init_rejects_double_init_and_attach_validates() {
        let h = BroadcastHeader::new();
        let slots: Vec<StampedSlot<1>> = (0..8).map(|_| StampedSlot::new()).collect();
        assert!(SpmcBroadcast::from_shm(&h, &slots).is_err());
        SpmcBroadcast::init(ShmMem::new(&h, &slots[..])).unwrap();
        assert_eq!(
            SpmcBroadcast::init(ShmMem::new(&h, &slots[..])).err(),
            Some(AttachError::AlreadyInitialised(8))
        );
        assert!(SpmcBroadcast::from_shm(&h, &slots).is_ok());
        assert_eq!(
            SpmcBroadcast::from_shm(&h, &slots[..4]).err(),
            Some(AttachError::LengthMismatch {
                header: 8,
                slots: 4
            })
        );
        h.capacity.0.store(6, Ordering::Relaxed);
        assert_eq!(
            SpmcBroadcast::from_shm(&h, &slots[..6]).err(),
            Some(AttachError::BadCapacity(6))
        );
    }
}
