//! [`SequencedRing`]: many producers claim sequence numbers, one consumer
//! takes the items strictly in sequence order.
//!
//! This is the LMAX Disruptor's multi-producer sequencer reduced to one
//! consumer: a producer *claims* the next `n` sequence numbers (CAS on
//! `claim`, gated on `consumed` so a claim never laps the consumer), writes
//! each slot, and *publishes* it by stamping it. The consumer reads sequence
//! `s` only when slot `s & mask` is stamped complete for `s`, so items come
//! out in claim order even when producers finish out of order.
//!
//! Slot stamps for lap `L = s / cap` (all-zero = free for lap 0):
//!
//! | stamp    | meaning                                  |
//! |----------|------------------------------------------|
//! | `4L`     | free for the producer of sequence `s`    |
//! | `4L + 1` | that producer is writing                 |
//! | `4L + 2` | complete, ready for the consumer         |
//! | `4L + 4` | consumed (== free for lap `L + 1`)       |
//!
//! A producer that dies after claiming would block the consumer forever at
//! its sequence number. The consumer can then [`skip`](SequencedRing::skip)
//! it: from state `4L` a CAS to `4L + 4` revokes the claim (a slow but
//! alive producer then finds its CAS `4L -> 4L+1` failing and gets
//! `Revoked`, having written nothing); state `4L + 1` can only be skipped
//! with `force` once the caller knows the producer is dead.

use super::view::{CapacityHeader, RingView};
use super::{
    load_words, store_words, AttachError, CachePadded, HeapMem, PopError, PushError, RingMem,
    ShmMem, StampedSlot,
};
use crate::sync::atomic::{AtomicU64, Ordering};

/// Shared header of a sequenced ring (192 bytes, see docs/lockfree.md).
#[repr(C)]
#[derive(Debug, Default)]
pub struct SequencedHeader {
    capacity: CachePadded<AtomicU64>,
    /// Next sequence number to claim; CAS by producers.
    claim: CachePadded<AtomicU64>,
    /// Next sequence number the consumer takes; written by the consumer.
    consumed: CachePadded<AtomicU64>,
}

#[cfg(not(loom))]
// SAFETY: repr(C) of ShmSafe fields; all-zero = uninitialised header;
// every value is validated on use.
unsafe impl crate::ShmSafe for SequencedHeader {}

impl SequencedHeader {
    /// An all-zero (uninitialised) header.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CapacityHeader for SequencedHeader {
    fn capacity_word(&self) -> &AtomicU64 {
        &self.capacity.0
    }
}

/// Multi-producer, single-consumer, sequence-ordered ring.
pub struct SequencedRing<M, const W: usize> {
    view: RingView<M, SequencedHeader, StampedSlot<W>>,
}

/// Heap-backed sequenced ring.
pub type HeapSequenced<const W: usize> = SequencedRing<HeapMem<SequencedHeader, StampedSlot<W>>, W>;

const MAX_SEQ: u64 = 1 << 61;
/// Retries before a claim gives up on counters that never add up.
const MAX_RETRIES: u32 = 1 << 16;

impl<const W: usize> SequencedRing<HeapMem<SequencedHeader, StampedSlot<W>>, W> {
    /// A heap ring with `capacity` slots (power of two).
    pub fn new(capacity: usize) -> Result<Self, AttachError> {
        RingView::heap(capacity).map(|view| SequencedRing { view })
    }
}

impl<'a, const W: usize> SequencedRing<ShmMem<'a, SequencedHeader, StampedSlot<W>>, W> {
    /// Convenience: attach to a header and slots taken from a region.
    pub fn from_shm(
        header: &'a SequencedHeader,
        slots: &'a [StampedSlot<W>],
    ) -> Result<Self, AttachError> {
        SequencedRing::attach(ShmMem::new(header, slots))
    }
}

impl<M: RingMem<SequencedHeader, StampedSlot<W>>, const W: usize> SequencedRing<M, W> {
    /// Creator: initialise zeroed memory as an empty ring.
    pub fn init(mem: M) -> Result<Self, AttachError> {
        RingView::init(mem).map(|view| SequencedRing { view })
    }

    /// Build a view over an initialised ring, validating the header.
    pub fn attach(mem: M) -> Result<Self, AttachError> {
        RingView::attach(mem).map(|view| SequencedRing { view })
    }

    pub fn capacity(&self) -> usize {
        self.view.cap() as usize
    }

    #[inline]
    fn base(&self, s: u64) -> u64 {
        4 * self.view.lap(s)
    }

    /// Producer: claim `n` consecutive sequence numbers (1 <= n <= capacity);
    /// returns the first. `Err(Full)` if fewer than `n` slots are free.
    /// Every claimed number must then be [`publish`](Self::publish)ed.
    pub fn claim(&self, n: u64) -> Result<u64, PushError> {
        if n == 0 || n > self.view.cap() {
            return Err(PushError::Full);
        }
        let h = self.view.header();
        // SYNC POINT: Relaxed; the CAS below decides.
        let mut c = h.claim.0.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            // SYNC POINT: Acquire pairs with the consumer's Release store of
            // `consumed` in `release`/`skip`; that store follows its stamp
            // store freeing the slot, so slots below `consumed + cap` are
            // free for us.
            let d = h.consumed.0.load(Ordering::Acquire);
            if c >= MAX_SEQ {
                return Err(PushError::Corrupt("sequenced: claim out of range"));
            }
            if c < d {
                // Our `claim` value is stale. The consumer took item d-1 after
                // its producer claimed it (claim CAS -> publish Release ->
                // consumer Acquire -> consumed Release -> our Acquire above),
                // so a reload must now return >= d; if not, the header lies.
                // SYNC POINT: Relaxed; coherence + the chain above.
                c = h.claim.0.load(Ordering::Relaxed);
                if c < d {
                    return Err(PushError::Corrupt("sequenced: consumed > claim"));
                }
                continue;
            }
            if c - d > self.view.cap() {
                // Our `consumed` may be older than the one another producer
                // gated its claim on: look again (bounded, then corrupt).
                crate::sync::hint::spin_loop();
                // SYNC POINT: Relaxed, as above.
                c = h.claim.0.load(Ordering::Relaxed);
                continue;
            }
            if c - d + n > self.view.cap() {
                return Err(PushError::Full);
            }
            // SYNC POINT: Relaxed CAS: arbitrates sequence numbers between
            // producers; data ordering goes through the slot stamps.
            match h
                .claim
                .0
                .compare_exchange_weak(c, c + n, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(c),
                Err(now) => {
                    c = now;
                    crate::sync::hint::spin_loop();
                }
            }
        }
        Err(PushError::Corrupt(
            "sequenced: claim/consumed never consistent",
        ))
    }

    /// Producer: write the record for a sequence number it claimed and make
    /// it visible to the consumer. `Err(Revoked)` if the consumer skipped it.
    pub fn publish(&self, seq: u64, item: [u64; W]) -> Result<(), PushError> {
        if seq >= MAX_SEQ {
            return Err(PushError::Corrupt("sequenced: seq out of range"));
        }
        let slot = self.view.slot(seq);
        let b = self.base(seq);
        // SYNC POINT: Acquire on success pairs with the consumer's Release
        // stamp store (4L) when it freed the slot: its read of the previous
        // lap's record is complete before we overwrite it. Failure means the
        // consumer skipped (revoked) this sequence number.
        match slot
            .stamp
            .compare_exchange(b, b + 1, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(st) if st == b + 4 => return Err(PushError::Revoked),
            Err(_) => return Err(PushError::Corrupt("sequenced: slot not free for seq")),
        }
        store_words(&slot.data, &item);
        // SYNC POINT: Release pairs with the consumer's Acquire stamp load in
        // `pop`: publishes the record.
        slot.stamp.store(b + 2, Ordering::Release);
        Ok(())
    }

    /// Producer: claim one sequence number and publish `item` under it.
    pub fn push(&self, item: [u64; W]) -> Result<u64, PushError> {
        let s = self.claim(1)?;
        self.publish(s, item)?;
        Ok(s)
    }

    /// Producer: claim `items.len()` consecutive numbers (all or nothing)
    /// and publish them; returns the first sequence number.
    pub fn push_batch(&self, items: &[[u64; W]]) -> Result<u64, PushError> {
        let s = self.claim(items.len() as u64)?;
        for (i, it) in items.iter().enumerate() {
            self.publish(s + i as u64, *it)?;
        }
        Ok(s)
    }

    /// Consumer (only one): the record with the next sequence number, or
    /// `Ok(None)` if it is not published yet (even if later ones are).
    pub fn pop(&self) -> Result<Option<(u64, [u64; W])>, PopError> {
        let h = self.view.header();
        // SYNC POINT: Relaxed: only the consumer writes `consumed`.
        let s = h.consumed.0.load(Ordering::Relaxed);
        if s >= MAX_SEQ {
            return Err(PopError::Corrupt("sequenced: consumed out of range"));
        }
        let slot = self.view.slot(s);
        let b = self.base(s);
        // SYNC POINT: Acquire pairs with the producer's Release store of
        // `4L+2` in `publish`.
        let st = slot.stamp.load(Ordering::Acquire);
        if st == b || st == b + 1 {
            return Ok(None);
        }
        if st != b + 2 {
            return Err(PopError::Corrupt("sequenced: slot stamp for another seq"));
        }
        let v = load_words(&slot.data);
        self.release(s, slot, b);
        Ok(Some((s, v)))
    }

    /// Consumer: pop up to `out.len()` records in order; returns how many.
    pub fn pop_batch(&self, out: &mut [(u64, [u64; W])]) -> Result<usize, PopError> {
        for (i, o) in out.iter_mut().enumerate() {
            match self.pop()? {
                Some(v) => *o = v,
                None => return Ok(i),
            }
        }
        Ok(out.len())
    }

    fn release(&self, s: u64, slot: &StampedSlot<W>, b: u64) {
        // SYNC POINT: Release pairs with the next lap's producer's Acquire
        // CAS in `publish`: our read of the record is done.
        slot.stamp.store(b + 4, Ordering::Release);
        // SYNC POINT: Release pairs with the producers' Acquire load of
        // `consumed` in `claim`: the slot freed above is visible to them.
        self.view
            .header()
            .consumed
            .0
            .store(s + 1, Ordering::Release);
    }

    /// Consumer: give up on the sequence number it is blocked on, because its
    /// producer is gone. Without `force` only a claim whose producer has not
    /// started writing is revoked (safe even if that producer is merely
    /// slow); with `force` a half-written record is dropped too (only when
    /// the producer is known dead). Returns the skipped sequence number, or
    /// `None` if there was nothing to skip.
    pub fn skip(&self, force: bool) -> Result<Option<u64>, PopError> {
        let h = self.view.header();
        // SYNC POINT: Relaxed: only the consumer writes `consumed`.
        let s = h.consumed.0.load(Ordering::Relaxed);
        // SYNC POINT: Acquire: a claim we see was made by a producer; we may
        // only revoke sequence numbers that were claimed.
        let c = h.claim.0.load(Ordering::Acquire);
        if c <= s || s >= MAX_SEQ {
            return Ok(None);
        }
        let slot = self.view.slot(s);
        let b = self.base(s);
        for from in [b, b + 1] {
            if from == b + 1 && !force {
                break;
            }
            // SYNC POINT: Acquire/Release CAS races with the producer's CAS
            // in `publish`: exactly one of them wins the free state.
            if slot
                .stamp
                .compare_exchange(from, b + 4, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                // SYNC POINT: Release, as in `release`: producers gating on
                // `consumed` see the slot freed by the CAS above.
                h.consumed.0.store(s + 1, Ordering::Release);
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// Next sequence number the consumer will take.
    pub fn consumed(&self) -> u64 {
        // SYNC POINT: Acquire, a snapshot for monitoring.
        self.view.header().consumed.0.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn in_order_even_if_published_out_of_order() {
        let r = HeapSequenced::<1>::new(4).unwrap();
        let a = r.claim(1).unwrap();
        let b = r.claim(1).unwrap();
        assert_eq!((a, b), (0, 1));
        r.publish(b, [20]).unwrap();
        assert_eq!(r.pop().unwrap(), None, "seq 0 not yet published");
        r.publish(a, [10]).unwrap();
        assert_eq!(r.pop().unwrap(), Some((0, [10])));
        assert_eq!(r.pop().unwrap(), Some((1, [20])));
        assert_eq!(r.pop().unwrap(), None);
    }

    #[test]
    fn full_and_batches() {
        let r = HeapSequenced::<2>::new(4).unwrap();
        assert_eq!(r.push_batch(&[[1, 1], [2, 2], [3, 3]]).unwrap(), 0);
        assert_eq!(r.claim(2), Err(PushError::Full));
        assert_eq!(r.push([4, 4]).unwrap(), 3);
        assert_eq!(r.push([5, 5]), Err(PushError::Full));
        let mut out = [(0, [0; 2]); 8];
        assert_eq!(r.pop_batch(&mut out).unwrap(), 4);
        assert_eq!(out[3], (3, [4, 4]));
        assert_eq!(r.push([5, 5]).unwrap(), 4);
    }

    #[test]
    fn skip_revokes_a_dead_claim() {
        let r = HeapSequenced::<1>::new(4).unwrap();
        let dead = r.claim(1).unwrap();
        r.push([2]).unwrap();
        assert_eq!(r.pop().unwrap(), None);
        assert_eq!(r.skip(false).unwrap(), Some(dead));
        assert_eq!(r.pop().unwrap(), Some((1, [2])));
        // The slow producer comes back: its claim was revoked.
        assert_eq!(r.publish(dead, [1]), Err(PushError::Revoked));
        // A half-written record needs force.
        let s = r.claim(1).unwrap();
        r.view.slot(s).stamp.store(r.base(s) + 1, Ordering::Relaxed);
        assert_eq!(r.skip(false).unwrap(), None);
        assert_eq!(r.skip(true).unwrap(), Some(s));
        assert_eq!(r.skip(true).unwrap(), None, "nothing claimed any more");
    }

    #[test]
    fn corrupt_is_error() {
        let r = HeapSequenced::<1>::new(4).unwrap();
        r.view.header().claim.0.store(99, Ordering::Relaxed);
        assert!(matches!(r.push([1]), Err(PushError::Corrupt(_))));
        r.view.header().claim.0.store(1, Ordering::Relaxed);
        r.view.slot(0).stamp.store(77, Ordering::Relaxed);
        assert!(matches!(r.pop(), Err(PopError::Corrupt(_))));
    }
}
