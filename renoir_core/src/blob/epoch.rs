//! Epoch-based reclamation across processes: per-reader watermarks in
//! shared memory.
//!
//! Words (all zero = valid, empty):
//! - `global` (u64): the writer's epoch counter. Only the writer changes it
//!   (`fetch_add` when it retires a blob).
//! - per reader slot ([`ReaderSlot`], 64 bytes): `owner` (`CLAIMED | pid`),
//!   `start_time` (the owner's `/proc/<pid>/stat` start time), `pin`
//!   (`ACTIVE | epoch` while the reader may hold blob references, 0 when
//!   quiescent), `pins` (statistics).
//!
//! Protocol (the memory-ordering argument is in docs/large-payloads.md):
//! - reader `pin`: `g = global.load(Acquire)`; `pin.store(ACTIVE|g, SeqCst)`;
//!   `fence(SeqCst)`; only then read descriptors and blob bytes.
//! - reader `unpin`: `pin.store(0, Release)`.
//! - writer: make the blob unreachable for new readers (overwrite its
//!   descriptor), then `e = global.fetch_add(1, SeqCst)` is the retire
//!   epoch; `scan`: `fence(SeqCst)`, then `pin.load(Acquire)` of every slot.
//!   A blob retired at `e` is freed once every active pin is `> e`.
//!
//! The same code runs over a heap backend ([`HeapEpochs`], used by loom)
//! and over a region ([`super::store`]).

use crate::sync::atomic::{fence, AtomicU64, Ordering};

/// Slot is claimed (bit 63 of `owner`).
pub const CLAIMED: u64 = 1 << 63;
/// Reader is inside a read section (bit 63 of `pin`).
pub const ACTIVE: u64 = 1 << 63;

/// One reader's watermark slot (64 bytes: its own cache line).
#[repr(C, align(64))]
#[derive(Default)]
pub struct ReaderSlot {
    pub owner: AtomicU64,
    pub start_time: AtomicU64,
    pub pin: AtomicU64,
    pub pins: AtomicU64,
    pub reserved: [u64; 4],
}

#[cfg(not(loom))]
// SAFETY: repr(C), atomics and integers only, all-zero valid, 64 bytes.
unsafe impl crate::ShmSafe for ReaderSlot {}

/// Where the epoch words live.
pub trait EpochMem {
    fn global(&self) -> &AtomicU64;
    fn slots(&self) -> &[ReaderSlot];
}

/// Process-local backend (tests, loom).
pub struct HeapEpochs {
    global: AtomicU64,
    slots: Box<[ReaderSlot]>,
}

impl HeapEpochs {
    pub fn new(readers: usize) -> HeapEpochs {
        HeapEpochs {
            global: AtomicU64::new(0),
            slots: (0..readers).map(|_| ReaderSlot::default()).collect(),
        }
    }
}

impl EpochMem for HeapEpochs {
    fn global(&self) -> &AtomicU64 {
        &self.global
    }
    fn slots(&self) -> &[ReaderSlot] {
        &self.slots
    }
}

/// Claim a free reader slot for process `pid` with `start_time`.
/// Returns the slot index, or `None` when all slots are taken.
pub fn claim_slot(mem: &impl EpochMem, pid: u32, start_time: u64) -> Option<usize> {
    for (i, s) in mem.slots().iter().enumerate() {
        // SYNC POINT: Acquire pairs with the Release store of 0 in
        // `release_slot` (the previous owner's last words are done).
        if s.owner.load(Ordering::Acquire) != 0 {
            continue;
        }
        // SYNC POINT: AcqRel CAS: only one claimer wins the slot.
        if s.owner
            .compare_exchange(
                0,
                CLAIMED | u64::from(pid),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            // SYNC POINT: Release: a scanner that Acquire-loads a non-zero
            // start time sees the owner word above. A scanner that still
            // reads 0 judges liveness by pid only.
            s.start_time.store(start_time, Ordering::Release);
            // SYNC POINT: Relaxed: pin is still 0 (slot was free).
            s.pin.store(0, Ordering::Relaxed);
            return Some(i);
        }
    }
    None
}

/// Give a slot back (reader drops, or a survivor releases a dead reader).
pub fn release_slot(mem: &impl EpochMem, slot: usize, expected_owner: u64) -> bool {
    let Some(s) = mem.slots().get(slot) else {
        return false;
    };
    // SYNC POINT: Release: the reader's last reads (before its unpin, or
    // nothing at all for a dead reader) happen before the slot is free.
    s.pin.store(0, Ordering::Release);
    s.start_time.store(0, Ordering::Relaxed);
    // SYNC POINT: Release pairs with the Acquire in `claim_slot`.
    s.owner
        .compare_exchange(expected_owner, 0, Ordering::Release, Ordering::Relaxed)
        .is_ok()
}

/// Enter a read section on `slot`. Returns the pinned epoch.
pub fn pin(mem: &impl EpochMem, slot: usize) -> u64 {
    let Some(s) = mem.slots().get(slot) else {
        return 0;
    };
    // SYNC POINT: Acquire pairs with the writer's fetch_add in `retire`:
    // seeing epoch g+1 means seeing every unpublish done before retire g.
    let g = mem.global().load(Ordering::Acquire) & !ACTIVE;
    // SYNC POINT: SeqCst store + fence: the Dekker pair with the writer's
    // SeqCst fence in `min_pin`: either the writer sees this pin, or this
    // reader's later descriptor loads see the writer's unpublish.
    s.pin.store(ACTIVE | g, Ordering::SeqCst);
    // FENCE: orders the pin store before the descriptor loads that follow.
    fence(Ordering::SeqCst);
    // SYNC POINT: Relaxed statistics.
    s.pins.fetch_add(1, Ordering::Relaxed);
    g
}

/// Leave the read section.
pub fn unpin(mem: &impl EpochMem, slot: usize) {
    if let Some(s) = mem.slots().get(slot) {
        // SYNC POINT: Release pairs with the writer's Acquire load of `pin`
        // in `min_pin`: our reads of the blob happen before its free.
        s.pin.store(0, Ordering::Release);
    }
}

/// Writer: take a retire epoch for a blob that was just made unreachable.
pub fn retire_epoch(mem: &impl EpochMem) -> u64 {
    // SYNC POINT: SeqCst RMW (release part pairs with the readers' Acquire
    // load in `pin`; ordered after the unpublish store before it).
    mem.global().fetch_add(1, Ordering::SeqCst) & !ACTIVE
}

/// What a scan found about one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedSlot {
    pub slot: usize,
    pub owner: u64,
    pub start_time: u64,
    pub epoch: u64,
}

/// Writer: the smallest pinned epoch among active readers (`u64::MAX` if
/// none), plus the pinned slots (for liveness checks). A blob retired at
/// `e` may be freed iff `e < min`.
pub fn min_pin(mem: &impl EpochMem, pinned: &mut Vec<PinnedSlot>) -> u64 {
    pinned.clear();
    // FENCE: the writer's half of the Dekker pair (see `pin`).
    fence(Ordering::SeqCst);
    let mut min = u64::MAX;
    for (i, s) in mem.slots().iter().enumerate() {
        // SYNC POINT: Acquire pairs with the reader's Release in `unpin`.
        let p = s.pin.load(Ordering::Acquire);
        if p & ACTIVE == 0 {
            continue;
        }
        let e = p & !ACTIVE;
        min = min.min(e);
        pinned.push(PinnedSlot {
            slot: i,
            // SYNC POINT: Relaxed: only for liveness judgement; a stale
            // value makes the judgement conservative (see release_dead).
            owner: s.owner.load(Ordering::Relaxed),
            // SYNC POINT: Acquire pairs with the Release in `claim_slot`.
            start_time: s.start_time.load(Ordering::Acquire),
            epoch: e,
        });
    }
    min
}
