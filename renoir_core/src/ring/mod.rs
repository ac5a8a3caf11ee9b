//! Lock-free rings usable across processes.
//!
//! Every ring is a *view* over a header and a slice of slots, both
//! `#[repr(C)]` and [`ShmSafe`](crate::ShmSafe), reached through the
//! [`RingMem`] trait. The same algorithm therefore runs
//! - on shared memory: build a [`ShmMem`] from a `&Header` and `&[Slot]`
//!   taken out of a region (`region.get` / `region.get_slice`), and
//! - on the heap: [`HeapMem`], built with `new`, which is what the loom and
//!   Miri runs exercise.
//!
//! All-zero memory is a valid *empty* ring: the creator only stores the
//! capacity into the header (`init`), and peers `attach`.
//!
//! | ring | producers | consumers | algorithm |
//! |------|-----------|-----------|-----------|
//! | [`SpscRing`] | 1 | 1 | Lamport's single-producer/single-consumer queue (L. Lamport, "Specifying concurrent program modules", 1983), free-running 64-bit indices |
//! | [`SpmcBroadcast`] | 1 | N, each its own cursor | seqlock-stamped slots as in the LMAX Disruptor's ring buffer with sequence numbers; lossy, the writer never waits |
//! | [`MpmcRing`] | N | N | D. Vyukov's bounded MPMC queue (per-slot sequence), with a zero-valid "turn" stamp |
//! | [`SequencedRing`] | N | 1 | Disruptor-style claim / publish: producers claim sequence numbers, the consumer takes them strictly in sequence order |
//!
//! Items are `[u64; W]` records (W = 1 for plain descriptors: offsets,
//! indices). Slot data are `AtomicU64` words accessed with `Relaxed` order,
//! so even a misbehaving peer that writes while we read cannot cause a data
//! race in the Rust sense: at worst we read garbage, never UB.
//!
//! # Untrusted memory
//! Everything in the header may be scribbled on by a peer. `attach`
//! validates the capacity (non-zero power of two, equal to the slot count)
//! and caches the mask locally; slot indices are always `seq & mask` with
//! the *cached* mask, so they are in bounds whatever the header says later.
//! Index relations that must hold (e.g. `tail - head <= capacity`) are
//! checked on every operation and reported as `Corrupt` errors. No
//! function here panics on shared data.
//!
//! # Memory ordering
//! Every atomic access carries a `// SYNC POINT:` comment naming the access
//! it pairs with. The code relies only on Acquire/Release pairs (and SeqCst
//! where stated), never on x86-TSO; `docs/lockfree.md` gives the byte layout
//! and the ordering argument of each ring.

// Atomics here come only from `crate::sync` (the loom-swappable facade).
// clippy's `disallowed-types` resolves that re-export to its std definition
// and would flag every use; `ring::tests::no_direct_std_atomics` enforces
// the rule for these files instead.
#![allow(clippy::disallowed_types)]

mod broadcast;
mod mpmc;
mod sequenced;
mod spsc;
mod view;

pub use broadcast::{BroadcastHeader, BroadcastReader, HeapBroadcast, Received, SpmcBroadcast};
pub use mpmc::{HeapMpmc, MpmcHeader, MpmcRing};
pub use sequenced::{HeapSequenced, SequencedHeader, SequencedRing};
pub use spsc::{HeapSpsc, SpscHeader, SpscRing};

use crate::sync::atomic::AtomicU64;

/// Largest capacity we accept from a header (2^31 slots): keeps lap
/// arithmetic far from overflow and rejects absurd values early.
pub const MAX_CAPACITY: u64 = 1 << 31;

/// Access to a ring's memory: a header and a slot array.
///
/// Implemented by [`HeapMem`] (owned) and [`ShmMem`] (borrowed from a
/// region); a layer above may implement it for its own handle (for example
/// one that keeps the region alive with an `Arc`).
pub trait RingMem<H, S> {
    fn header(&self) -> &H;
    fn slots(&self) -> &[S];
}

/// Heap backend: owns its header and slots.
#[derive(Debug)]
pub struct HeapMem<H, S> {
    header: Box<H>,
    slots: Box<[S]>,
}

impl<H, S> HeapMem<H, S> {
    pub fn new(header: H, slots: Vec<S>) -> Self {
        HeapMem {
            header: Box::new(header),
            slots: slots.into_boxed_slice(),
        }
    }
}

impl<H, S> RingMem<H, S> for HeapMem<H, S> {
    fn header(&self) -> &H {
        &self.header
    }
    fn slots(&self) -> &[S] {
        &self.slots
    }
}

/// Shared-memory backend: borrows a header and slots (from a region).
#[derive(Debug)]
pub struct ShmMem<'a, H, S> {
    header: &'a H,
    slots: &'a [S],
}

impl<H, S> Clone for ShmMem<'_, H, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<H, S> Copy for ShmMem<'_, H, S> {}

impl<'a, H, S> ShmMem<'a, H, S> {
    pub fn new(header: &'a H, slots: &'a [S]) -> Self {
        ShmMem { header, slots }
    }
}

impl<H, S> RingMem<H, S> for ShmMem<'_, H, S> {
    fn header(&self) -> &H {
        self.header
    }
    fn slots(&self) -> &[S] {
        self.slots
    }
}

impl<H, S, M: RingMem<H, S>> RingMem<H, S> for std::sync::Arc<M> {
    fn header(&self) -> &H {
        (**self).header()
    }
    fn slots(&self) -> &[S] {
        (**self).slots()
    }
}

impl<H, S, M: RingMem<H, S>> RingMem<H, S> for &M {
    fn header(&self) -> &H {
        (**self).header()
    }
    fn slots(&self) -> &[S] {
        (**self).slots()
    }
}

/// A slot holding one `[u64; W]` record and no stamp (SPSC).
#[repr(C)]
#[derive(Debug)]
pub struct Cell<const W: usize> {
    data: [AtomicU64; W],
}

/// A slot holding a sequence stamp and one `[u64; W]` record
/// (broadcast, MPMC, sequenced rings).
#[repr(C)]
#[derive(Debug)]
pub struct StampedSlot<const W: usize> {
    stamp: AtomicU64,
    data: [AtomicU64; W],
}

#[cfg(not(loom))]
// SAFETY: repr(C) array of AtomicU64 (ShmSafe): no pointers, no padding,
// every bit pattern valid, all-zero = an empty slot.
unsafe impl<const W: usize> crate::ShmSafe for Cell<W> {}

#[cfg(not(loom))]
// SAFETY: repr(C) of AtomicU64 fields only: no pointers, no padding, every
// bit pattern valid (stamps are validated on read), all-zero = empty slot.
unsafe impl<const W: usize> crate::ShmSafe for StampedSlot<W> {}

fn zero_words<const W: usize>() -> [AtomicU64; W] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

impl<const W: usize> Cell<W> {
    pub fn new() -> Self {
        Cell { data: zero_words() }
    }
}
impl<const W: usize> Default for Cell<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const W: usize> StampedSlot<W> {
    pub fn new() -> Self {
        StampedSlot {
            stamp: AtomicU64::new(0),
            data: zero_words(),
        }
    }
}
impl<const W: usize> Default for StampedSlot<W> {
    fn default() -> Self {
        Self::new()
    }
}

/// Store a record into slot words. `Relaxed`: publication is done by the
/// caller's Release store of an index or stamp after this.
#[inline]
fn store_words<const W: usize>(dst: &[AtomicU64; W], v: &[u64; W]) {
    for (d, s) in dst.iter().zip(v.iter()) {
        // SYNC POINT: none by itself; made visible by the Release store
        // (index or stamp) that follows it in program order.
        d.store(*s, crate::sync::atomic::Ordering::Relaxed);
    }
}

/// Load a record from slot words. `Relaxed`: the caller's preceding Acquire
/// load (of the index or stamp) orders these after the producer's stores.
#[inline]
fn load_words<const W: usize>(src: &[AtomicU64; W]) -> [u64; W] {
    let mut out = [0u64; W];
    for (o, s) in out.iter_mut().zip(src.iter()) {
        // SYNC POINT: ordered by the Acquire load that precedes it (index or
        // stamp) and, for seqlock readers, by the Acquire fence after it.
        *o = s.load(crate::sync::atomic::Ordering::Relaxed);
    }
    out
}

/// Why a ring view could not be built over some memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("ring capacity {0} is not a non-zero power of two <= 2^31")]
    BadCapacity(u64),
    #[error("ring header says capacity {header} but {slots} slots are mapped")]
    LengthMismatch { header: u64, slots: usize },
    #[error("ring header already initialised (capacity {0})")]
    AlreadyInitialised(u64),
}

/// Why a push did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("ring is full")]
    Full,
    #[error("the claimed sequence number was revoked by the consumer")]
    Revoked,
    #[error("ring memory is corrupt: {0}")]
    Corrupt(&'static str),
}

/// Why a pop failed (an empty ring is `Ok(None)`, not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    #[error("ring memory is corrupt: {0}")]
    Corrupt(&'static str),
}

/// Check a capacity read from a header against the mapped slot count and
/// return the mask to cache.
fn validate_capacity(cap: u64, slots: usize) -> Result<u64, AttachError> {
    if cap == 0 || !cap.is_power_of_two() || cap > MAX_CAPACITY {
        return Err(AttachError::BadCapacity(cap));
    }
    if cap != slots as u64 {
        return Err(AttachError::LengthMismatch { header: cap, slots });
    }
    Ok(cap - 1)
}

/// Capacity a creator may store for `slots` slots.
fn creatable_capacity(slots: usize) -> Result<u64, AttachError> {
    let cap = slots as u64;
    if cap == 0 || !cap.is_power_of_two() || cap > MAX_CAPACITY {
        return Err(AttachError::BadCapacity(cap));
    }
    Ok(cap)
}

/// Pad a field to its own 64-byte cache line so producer and consumer
/// indices do not false-share.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct CachePadded<T>(pub T);

#[cfg(not(loom))]
// SAFETY: repr(C, align(64)) wrapper of a ShmSafe value; the trailing
// padding bytes are never read as a value.
unsafe impl<T: crate::ShmSafe> crate::ShmSafe for CachePadded<T> {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    /// The facade rule (all atomics via `crate::sync`) for the files of the
    /// lock-free layer, which silence clippy's `disallowed-types` because it
    /// also flags the facade's re-exports.
    #[test]
    fn no_direct_std_atomics() {
        let files = [
            ("ring/mod.rs", include_str!("mod.rs")),
            ("ring/spsc.rs", include_str!("spsc.rs")),
            ("ring/broadcast.rs", include_str!("broadcast.rs")),
            ("ring/mpmc.rs", include_str!("mpmc.rs")),
            ("ring/sequenced.rs", include_str!("sequenced.rs")),
            ("ring/view.rs", include_str!("view.rs")),
            ("notify/mod.rs", include_str!("../notify/mod.rs")),
            ("platform/futex.rs", include_str!("../platform/futex.rs")),
        ];
        let needle = ["std::sync::", "atomic"].concat();
        let core_needle = ["core::sync::", "atomic"].concat();
        for (name, src) in files {
            assert!(
                !src.contains(&needle) && !src.contains(&core_needle),
                "{name} uses atomics directly instead of crate::sync"
            );
        }
    }

    /// The byte layouts documented in docs/lockfree.md.
    #[test]
    fn layouts_match_the_docs() {
        assert_eq!(size_of::<SpscHeader>(), 192);
        assert_eq!(size_of::<MpmcHeader>(), 192);
        assert_eq!(size_of::<SequencedHeader>(), 192);
        assert_eq!(size_of::<BroadcastHeader>(), 128);
        for a in [
            align_of::<SpscHeader>(),
            align_of::<MpmcHeader>(),
            align_of::<SequencedHeader>(),
            align_of::<BroadcastHeader>(),
        ] {
            assert_eq!(a, 64);
        }
        assert_eq!(size_of::<Cell<1>>(), 8);
        assert_eq!(size_of::<Cell<8>>(), 64);
        assert_eq!(size_of::<StampedSlot<1>>(), 16);
        assert_eq!(size_of::<StampedSlot<7>>(), 64);
        assert_eq!(align_of::<StampedSlot<7>>(), 8);
        assert_eq!(size_of::<crate::notify::Event>(), 8);
        assert_eq!(size_of::<crate::notify::Doorbell>(), 8);
    }

    #[test]
    fn capacity_validation() {
        assert_eq!(validate_capacity(8, 8), Ok(7));
        assert!(validate_capacity(0, 0).is_err());
        assert!(validate_capacity(6, 6).is_err());
        assert!(validate_capacity(MAX_CAPACITY * 2, 0).is_err());
        assert_eq!(
            validate_capacity(8, 4),
            Err(AttachError::LengthMismatch {
                header: 8,
                slots: 4
            })
        );
    }
}
