//! [`RingView`]: what the counter-indexed rings ([`SpscRing`],
//! [`MpmcRing`], [`SequencedRing`]) share: building a view over ring memory
//! (a fresh heap ring, a creator's `init` of zeroed memory, a peer's
//! `attach`), the capacity checks of that step, and the geometry cached
//! from it (mask and lap shift) with which slots are indexed.
//!
//! Each ring owns only its header's counters and its protocol; the
//! capacity word every header starts with is reached through
//! [`CapacityHeader`].
//!
//! [`SpscRing`]: super::SpscRing
//! [`MpmcRing`]: super::MpmcRing
//! [`SequencedRing`]: super::SequencedRing

use std::marker::PhantomData;

use super::{creatable_capacity, validate_capacity, AttachError, HeapMem, RingMem};
use crate::sync::atomic::{AtomicU64, Ordering};

/// A ring header whose capacity word is set once by the creator and read
/// by every peer at attach. `Default` is the all-zero (uninitialised)
/// header.
pub(super) trait CapacityHeader: Default {
    fn capacity_word(&self) -> &AtomicU64;
}

/// A validated view over a ring's memory: the memory plus the geometry
/// derived from its capacity when the view was built. The geometry is
/// cached locally, so later scribbles on the header's capacity cannot put a
/// slot index out of bounds.
pub(super) struct RingView<M, H, S> {
    mem: M,
    mask: u64,
    shift: u32,
    _layout: PhantomData<fn() -> (H, S)>,
}

impl<H: CapacityHeader, S: Default> RingView<HeapMem<H, S>, H, S> {
    /// A heap ring with `capacity` slots (power of two).
    pub(super) fn heap(capacity: usize) -> Result<Self, AttachError> {
        let cap = creatable_capacity(capacity)?;
        let h = H::default();
        // SYNC POINT: none needed: the header is not shared yet; `attach`
        // below reads it on this thread.
        h.capacity_word().store(cap, Ordering::Relaxed);
        let slots = (0..capacity).map(|_| S::default()).collect();
        Self::attach(HeapMem::new(h, slots))
    }
}

impl<M: RingMem<H, S>, H: CapacityHeader, S> RingView<M, H, S> {
    /// Creator: initialise zeroed memory as an empty ring.
    pub(super) fn init(mem: M) -> Result<Self, AttachError> {
        let cap = creatable_capacity(mem.slots().len())?;
        // SYNC POINT: Release pairs with the Acquire load in `attach`.
        mem.header()
            .capacity_word()
            .compare_exchange(0, cap, Ordering::Release, Ordering::Acquire)
            .map_err(AttachError::AlreadyInitialised)?;
        Self::attach(mem)
    }

    /// Build a view over an initialised ring, validating the header.
    pub(super) fn attach(mem: M) -> Result<Self, AttachError> {
        // SYNC POINT: Acquire pairs with the creator's Release in `init`.
        let cap = mem.header().capacity_word().load(Ordering::Acquire);
        let mask = validate_capacity(cap, mem.slots().len())?;
        Ok(RingView {
            mem,
            mask,
            shift: cap.trailing_zeros(),
            _layout: PhantomData,
        })
    }

    #[inline]
    pub(super) fn header(&self) -> &H {
        self.mem.header()
    }

    /// The slot for position (sequence number) `pos`: always in bounds.
    #[inline]
    pub(super) fn slot(&self, pos: u64) -> &S {
        &self.mem.slots()[(pos & self.mask) as usize]
    }

    /// Slot count, as validated at attach.
    #[inline]
    pub(super) fn cap(&self) -> u64 {
        self.mask + 1
    }

    /// Lap of position `pos`: `pos / capacity`.
    #[inline]
    pub(super) fn lap(&self, pos: u64) -> u64 {
        pos >> self.shift
    }
}
