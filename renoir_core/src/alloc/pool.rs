//! [`Pool`]: fixed-size blocks with a lock-free free list in shared memory.
//!
//! Control words (see docs/memory.md for the byte layout):
//! - `head: u64` = `tag << 32 | index` of the top free block (`index ==
//!   NIL` when empty). The tag is bumped by every successful push and pop,
//!   so a pop that read `next` from a block that was meanwhile popped and
//!   pushed again fails its CAS instead of corrupting the list (ABA).
//! - per block `next: u32` (the index below it on the stack) and
//!   `state: u32` = `0` (free) or `USED | owner_tag`. `free` validates the
//!   index and flips `state` from used to free *before* pushing, so a double
//!   free or a free of a never-lent index is an error and can never put a
//!   block on the list twice; the owner tag (a process slot) lets survivors
//!   return the blocks of a dead process with [`Pool::reclaim_owner`].
//! - `carved: u32`: blocks `0..carved` have been put in circulation; the
//!   rest are handed out on demand (bounded growth up to `capacity`).
//!
//! Crash windows (a process killed between two steps) only ever *leak* a
//! block (state free but not on the list, or state used by a dead tag, the
//! latter reclaimable); they never create a cycle or a double hand-out.
//! [`Pool::audit`] counts leaks when the pool is quiescent.

use super::{align_up, FreeError, LayoutError};
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::sync::hint;

/// `b"RNPL"`: written last (Release) when a shared pool is initialized.
pub const POOL_MAGIC: u32 = u32::from_ne_bytes(*b"RNPL");
pub const POOL_VERSION: u32 = 1;
/// Empty-stack index.
const NIL: u32 = u32::MAX;
/// `state` bit meaning "lent out"; the low 31 bits hold the owner tag.
const USED: u32 = 1 << 31;
/// Largest owner tag (tags are masked to 31 bits).
pub const MAX_OWNER_TAG: u32 = USED - 1;
/// Most blocks per pool (indices must stay below NIL).
pub const MAX_BLOCKS: u32 = 1 << 30;
/// Size of [`PoolHeader`].
pub const POOL_HEADER_SIZE: usize = 128;

fn pack(tag: u32, index: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(index)
}
fn unpack(h: u64) -> (u32, u32) {
    ((h >> 32) as u32, h as u32)
}

/// Pool control header (128 bytes; immutable geometry, then hot words on
/// their own cache line).
#[repr(C)]
pub struct PoolHeader {
    /// [`POOL_MAGIC`] once initialized. SYNC POINT: Release store by the
    /// initializer after every other field; Acquire load in `open_in`.
    magic: AtomicU32,
    version: AtomicU32,
    block_size: AtomicU32,
    capacity: AtomicU32,
    /// Region offset of block 0's data.
    data_offset: AtomicU64,
    _reserved0: [u64; 5],
    /// Tagged top of the free stack. SYNC POINT: see `push`/`pop`.
    head: AtomicU64,
    carved: AtomicU32,
    in_use: AtomicU32,
    high_water: AtomicU32,
    _reserved1: u32,
    allocs: AtomicU64,
    frees: AtomicU64,
    failures: AtomicU64,
    _reserved2: [u64; 2],
}

/// Per-block control words (8 bytes).
#[repr(C)]
pub struct BlockCtl {
    next: AtomicU32,
    state: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<PoolHeader>() == POOL_HEADER_SIZE);
    assert!(std::mem::offset_of!(PoolHeader, head) == 64);
    assert!(std::mem::offset_of!(PoolHeader, failures) == 104);
    assert!(std::mem::size_of::<BlockCtl>() == 8);
};

// SAFETY: repr(C), only u32/u64 atomics and integers, every bit pattern
// valid, no padding (sizes asserted above).
#[cfg(not(loom))]
unsafe impl crate::ShmSafe for PoolHeader {}
// SAFETY: two AtomicU32, repr(C), every bit pattern valid.
#[cfg(not(loom))]
unsafe impl crate::ShmSafe for BlockCtl {}

impl PoolHeader {
    fn new_heap(block_size: u32, capacity: u32) -> PoolHeader {
        PoolHeader {
            magic: AtomicU32::new(POOL_MAGIC),
            version: AtomicU32::new(POOL_VERSION),
            block_size: AtomicU32::new(block_size),
            capacity: AtomicU32::new(capacity),
            data_offset: AtomicU64::new(0),
            _reserved0: [0; 5],
            head: AtomicU64::new(pack(0, NIL)),
            carved: AtomicU32::new(0),
            in_use: AtomicU32::new(0),
            high_water: AtomicU32::new(0),
            _reserved1: 0,
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            _reserved2: [0; 2],
        }
    }
}

/// Validated geometry, copied out of shared memory once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    block_size: u32,
    capacity: u32,
    data_offset: u64,
}

enum Mem {
    Heap {
        hdr: Box<PoolHeader>,
        ctl: Box<[BlockCtl]>,
    },
    #[cfg(not(loom))]
    Shm(shm_view::ShmView),
}

/// A fixed-size block pool. See the module docs.
pub struct Pool {
    mem: Mem,
    geo: Geometry,
}

/// Counters (approximate under concurrency; exact when quiescent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    pub block_size: u32,
    pub capacity: u32,
    pub carved: u32,
    pub in_use: u32,
    pub high_water: u32,
    pub allocs: u64,
    pub frees: u64,
    pub failures: u64,
}

impl PoolStats {
    /// Fraction of the capacity lent out.
    pub fn utilization(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            f64::from(self.in_use) / f64::from(self.capacity)
        }
    }
}

/// Result of walking a quiescent pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolAudit {
    /// Blocks on the free list.
    pub free_listed: u32,
    /// Blocks whose state says "used".
    pub used: u32,
    /// Carved blocks that are neither (lost by a crash mid-operation).
    pub leaked: u32,
    /// The free list was malformed (cycle, bad index, or a used block on it).
    pub corrupt: bool,
}

/// Upper bound of the bytes [`Pool::create_in`] uses at a 64-aligned
/// offset for `capacity` blocks of `block_size` (rounded up to `align`):
/// header, control array, padding, data.
pub fn required_bytes(block_size: u32, capacity: u32, align: usize) -> Option<u64> {
    let align = align.max(64) as u64;
    let ctl_end = (POOL_HEADER_SIZE as u64).checked_add(u64::from(capacity) * 8)?;
    // Data starts at the next `align` boundary; from a 64-aligned offset
    // that costs at most `align - 64` bytes beyond the 64-aligned end.
    let data = align_up(ctl_end, 64)?.checked_add(align - 64)?;
    let bs = align_up(u64::from(block_size), align)?;
    data.checked_add(bs.checked_mul(u64::from(capacity))?)
}

fn check_geometry(block_size: u32, capacity: u32, prealloc: u32) -> Result<(), LayoutError> {
    if block_size == 0 || capacity == 0 || capacity > MAX_BLOCKS || prealloc > capacity {
        return Err(LayoutError::Invalid(format!(
            "block_size {block_size}, capacity {capacity}, prealloc {prealloc}"
        )));
    }
    Ok(())
}

impl Pool {
    /// A process-local pool (heap control words; works under loom).
    /// Offsets are virtual: block `i` is at `i * block_size`.
    pub fn new(block_size: u32, capacity: u32, prealloc: u32) -> Result<Pool, LayoutError> {
        Self::new_at(block_size, capacity, prealloc, 0)
    }

    /// A heap pool whose virtual offsets start at `base` (so the classes of
    /// a heap `BufferPool` get disjoint offset ranges).
    pub(crate) fn new_at(
        block_size: u32,
        capacity: u32,
        prealloc: u32,
        base: u64,
    ) -> Result<Pool, LayoutError> {
        check_geometry(block_size, capacity, prealloc)?;
        let ctl: Box<[BlockCtl]> = (0..capacity)
            .map(|_| BlockCtl {
                next: AtomicU32::new(NIL),
                state: AtomicU32::new(0),
            })
            .collect();
        let pool = Pool {
            mem: Mem::Heap {
                hdr: Box::new(PoolHeader::new_heap(block_size, capacity)),
                ctl,
            },
            geo: Geometry {
                block_size,
                capacity,
                data_offset: base,
            },
        };
        pool.prefill(prealloc);
        Ok(pool)
    }

    fn hdr(&self) -> &PoolHeader {
        match &self.mem {
            Mem::Heap { hdr, .. } => hdr,
            #[cfg(not(loom))]
            Mem::Shm(v) => v.hdr(),
        }
    }

    fn ctl(&self) -> &[BlockCtl] {
        match &self.mem {
            Mem::Heap { ctl, .. } => ctl,
            #[cfg(not(loom))]
            Mem::Shm(v) => v.ctl(),
        }
    }

    /// Carve `n` blocks and push them (initialization, single-threaded).
    fn prefill(&self, n: u32) {
        for _ in 0..n {
            if let Some(i) = self.carve() {
                self.ctl()[i as usize].state.store(0, Ordering::Relaxed);
                self.push(i);
            }
        }
    }

    pub fn block_size(&self) -> u32 {
        self.geo.block_size
    }

    /// See [`required_bytes`].
    pub fn required_bytes(block_size: u32, capacity: u32, align: usize) -> Option<u64> {
        required_bytes(block_size, capacity, align)
    }
    pub fn capacity(&self) -> u32 {
        self.geo.capacity
    }

    /// Region offset of block `index`'s data (virtual for heap pools).
    pub fn offset_of(&self, index: u32) -> Option<u64> {
        (index < self.geo.capacity)
            .then(|| self.geo.data_offset + u64::from(index) * u64::from(self.geo.block_size))
    }

    /// The block whose data starts at `offset` (validated).
    pub fn index_of(&self, offset: u64) -> Result<u32, FreeError> {
        let rel = offset
            .checked_sub(self.geo.data_offset)
            .ok_or(FreeError::NotABlock(offset))?;
        let bs = u64::from(self.geo.block_size);
        let index = rel / bs;
        if index * bs != rel || index >= u64::from(self.geo.capacity) {
            return Err(FreeError::NotABlock(offset));
        }
        Ok(index as u32)
    }

    /// Whether `offset` lies in this pool's data range.
    pub fn contains(&self, offset: u64) -> bool {
        let span = u64::from(self.geo.block_size) * u64::from(self.geo.capacity);
        offset >= self.geo.data_offset && offset - self.geo.data_offset < span
    }

    /// A block, tagged with owner 0.
    pub fn alloc(&self) -> Option<u32> {
        self.alloc_tagged(0)
    }

    /// A block lent to `owner` (a process slot, masked to 31 bits).
    pub fn alloc_tagged(&self, owner: u32) -> Option<u32> {
        let used = USED | (owner & MAX_OWNER_TAG);
        let hdr = self.hdr();
        let ctl = self.ctl();
        let cap = self.geo.capacity;
        let mut corrupt_skips = 0u32;
        // SYNC POINT: Acquire pairs with the Release CAS in `push`, so the
        // pusher's `next` store and its writes to the block are visible.
        let mut h = hdr.head.load(Ordering::Acquire);
        loop {
            let (tag, idx) = unpack(h);
            if idx == NIL {
                return match self.carve() {
                    Some(i) => {
                        // Relaxed: a fresh block carries no data to publish.
                        ctl[i as usize].state.store(used, Ordering::Relaxed);
                        self.count_alloc();
                        Some(i)
                    }
                    None => {
                        hdr.failures.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                };
            }
            if idx >= cap {
                // Corrupt head (a peer scribbled on it): drop the list. The
                // blocks on it leak, but nothing out of range is touched.
                match hdr.head.compare_exchange(
                    h,
                    pack(tag.wrapping_add(1), NIL),
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => h = pack(tag.wrapping_add(1), NIL),
                    Err(now) => h = now,
                }
                continue;
            }
            // Relaxed: if `idx` was popped and pushed again since our head
            // load, the tag changed and the CAS below fails; otherwise the
            // Acquire above made the value written before the push visible.
            let mut next = ctl[idx as usize].next.load(Ordering::Relaxed);
            if next != NIL && next >= cap {
                next = NIL; // corrupt link: cut the list here
            }
            // SYNC POINT: success Acquire (see the head load); Relaxed would
            // not do on failure because we go on to read `next` of the new
            // head, so failure is Acquire too.
            match hdr.head.compare_exchange_weak(
                h,
                pack(tag.wrapping_add(1), next),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SYNC POINT: Acquire pairs with the Release in `free`'s
                    // used->free CAS (the previous holder's last writes).
                    match ctl[idx as usize].state.compare_exchange(
                        0,
                        used,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => {
                            self.count_alloc();
                            return Some(idx);
                        }
                        Err(_) => {
                            // A used block was on the free list: the list
                            // was corrupted. Leave the block to its holder.
                            corrupt_skips += 1;
                            if corrupt_skips > cap {
                                hdr.failures.fetch_add(1, Ordering::Relaxed);
                                return None;
                            }
                            h = hdr.head.load(Ordering::Acquire);
                        }
                    }
                }
                Err(now) => {
                    hint::spin_loop();
                    h = now;
                }
            }
        }
    }

    fn count_alloc(&self) {
        let hdr = self.hdr();
        // Relaxed: statistics only.
        hdr.allocs.fetch_add(1, Ordering::Relaxed);
        let now = hdr.in_use.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        // Plain load first: the RMW is only needed when a new maximum is set.
        if now > hdr.high_water.load(Ordering::Relaxed) {
            hdr.high_water.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Take a never-used block (bounded growth).
    fn carve(&self) -> Option<u32> {
        let hdr = self.hdr();
        // SYNC POINT: AcqRel/Acquire on `carved` pairs with the Acquire load
        // in `free`, so whoever frees block i sees carved > i.
        let mut c = hdr.carved.load(Ordering::Acquire);
        loop {
            if c >= self.geo.capacity {
                return None;
            }
            match hdr
                .carved
                .compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(c),
                Err(now) => c = now,
            }
        }
    }

    fn push(&self, idx: u32) {
        let hdr = self.hdr();
        let slot = &self.ctl()[idx as usize];
        let mut h = hdr.head.load(Ordering::Relaxed);
        loop {
            let (tag, top) = unpack(h);
            // Relaxed: published by the Release CAS below.
            slot.next.store(top, Ordering::Relaxed);
            // SYNC POINT: Release publishes `next` and the block contents to
            // the popper's Acquire load of `head`.
            match hdr.head.compare_exchange_weak(
                h,
                pack(tag.wrapping_add(1), idx),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => {
                    hint::spin_loop();
                    h = now;
                }
            }
        }
    }

    /// Return block `index` (from any process). Errors if the index is out
    /// of range or the block is not lent out; the pool is unchanged then.
    pub fn free(&self, index: u32) -> Result<(), FreeError> {
        self.free_inner(index, None)
    }

    /// Like [`Pool::free`], but also checks the block was lent to `owner`.
    pub fn free_owned(&self, index: u32, owner: u32) -> Result<(), FreeError> {
        self.free_inner(index, Some(owner & MAX_OWNER_TAG))
    }

    fn free_inner(&self, index: u32, owner: Option<u32>) -> Result<(), FreeError> {
        let cap = self.geo.capacity;
        if index >= cap {
            return Err(FreeError::OutOfRange {
                index,
                capacity: cap,
            });
        }
        // SYNC POINT: pairs with the AcqRel CAS in `carve`.
        if index >= self.hdr().carved.load(Ordering::Acquire) {
            return Err(FreeError::NotAllocated(index));
        }
        let state = &self.ctl()[index as usize].state;
        let s = state.load(Ordering::Relaxed);
        if s & USED == 0 {
            return Err(FreeError::NotAllocated(index));
        }
        if let Some(expected) = owner {
            if s & MAX_OWNER_TAG != expected {
                return Err(FreeError::WrongOwner {
                    index,
                    expected,
                    found: s & MAX_OWNER_TAG,
                });
            }
        }
        // SYNC POINT: Release pairs with the Acquire state CAS in
        // `alloc_tagged`. Exactly one of two racing frees wins this CAS.
        if state
            .compare_exchange(s, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            return Err(FreeError::NotAllocated(index));
        }
        self.push(index);
        let hdr = self.hdr();
        // Relaxed: statistics only. Wrapping (one RMW, no CAS loop);
        // `stats` clamps the value, since a peer may corrupt the counter.
        hdr.in_use.fetch_sub(1, Ordering::Relaxed);
        hdr.frees.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Owner tag of a lent block, `None` if free / out of range.
    pub fn owner_of(&self, index: u32) -> Option<u32> {
        let s = self
            .ctl()
            .get(index as usize)?
            .state
            .load(Ordering::Relaxed);
        (s & USED != 0).then_some(s & MAX_OWNER_TAG)
    }

    /// Return every block lent to `owner` (a dead process's slot). Returns
    /// how many were reclaimed. Only call it when `owner` can no longer use
    /// its blocks.
    pub fn reclaim_owner(&self, owner: u32) -> u32 {
        let want = USED | (owner & MAX_OWNER_TAG);
        let carved = self
            .hdr()
            .carved
            .load(Ordering::Acquire)
            .min(self.geo.capacity);
        let mut n = 0;
        for i in 0..carved {
            if self.ctl()[i as usize].state.load(Ordering::Relaxed) == want
                && self.free_inner(i, Some(owner & MAX_OWNER_TAG)).is_ok()
            {
                n += 1;
            }
        }
        n
    }

    pub fn stats(&self) -> PoolStats {
        let h = self.hdr();
        PoolStats {
            block_size: self.geo.block_size,
            capacity: self.geo.capacity,
            carved: h.carved.load(Ordering::Relaxed).min(self.geo.capacity),
            in_use: h.in_use.load(Ordering::Relaxed).min(self.geo.capacity),
            high_water: h.high_water.load(Ordering::Relaxed),
            allocs: h.allocs.load(Ordering::Relaxed),
            frees: h.frees.load(Ordering::Relaxed),
            failures: h.failures.load(Ordering::Relaxed),
        }
    }

    /// Put leaked blocks (free state, not on the list: left by a process
    /// killed inside `alloc` or `free`) back on the free list. Returns how
    /// many. **Only when no other thread or process uses the pool** (e.g.
    /// its owner, after every peer has detached or died): the list walk is
    /// not safe against concurrent pops and pushes.
    pub fn repair(&self) -> u32 {
        let cap = self.geo.capacity;
        let carved = self.hdr().carved.load(Ordering::Acquire).min(cap);
        let ctl = self.ctl();
        let listed = self.listed_bitmap(carved);
        let mut n = 0;
        for i in 0..carved {
            let on_list = listed
                .as_ref()
                .is_some_and(|b| b[i as usize / 64] & (1 << (i % 64)) != 0);
            if !on_list && ctl[i as usize].state.load(Ordering::Relaxed) & USED == 0 {
                if listed.is_none() && n == 0 {
                    // Corrupt list: start over with an empty one.
                    self.hdr().head.store(pack(0, NIL), Ordering::Relaxed);
                }
                self.push(i);
                n += 1;
            }
        }
        n
    }

    /// Bitmap of the blocks on the free list, `None` if the list is
    /// malformed (cycle, index out of range). Bounded by `carved` steps.
    fn listed_bitmap(&self, carved: u32) -> Option<Vec<u64>> {
        let ctl = self.ctl();
        let mut seen = vec![0u64; (self.geo.capacity as usize).div_ceil(64)];
        let (_, mut i) = unpack(self.hdr().head.load(Ordering::Acquire));
        while i != NIL {
            if i >= carved || seen[i as usize / 64] & (1 << (i % 64)) != 0 {
                return None;
            }
            seen[i as usize / 64] |= 1 << (i % 64);
            i = ctl[i as usize].next.load(Ordering::Relaxed);
        }
        Some(seen)
    }

    /// Walk the free list and the states. Only meaningful when no other
    /// thread or process uses the pool; bounded even on a corrupt list.
    pub fn audit(&self) -> PoolAudit {
        let cap = self.geo.capacity;
        let carved = self.hdr().carved.load(Ordering::Acquire).min(cap);
        let ctl = self.ctl();
        // One bit per block: bounded memory even for huge pools.
        let mut seen = vec![0u64; (cap as usize).div_ceil(64)];
        let test = |seen: &[u64], i: u32| seen[i as usize / 64] & (1 << (i % 64)) != 0;
        let mut a = PoolAudit::default();
        let (_, mut i) = unpack(self.hdr().head.load(Ordering::Acquire));
        while i != NIL {
            if i >= carved || test(&seen, i) {
                a.corrupt = true;
                break;
            }
            seen[i as usize / 64] |= 1 << (i % 64);
            a.free_listed += 1;
            if ctl[i as usize].state.load(Ordering::Relaxed) & USED != 0 {
                a.corrupt = true;
            }
            i = ctl[i as usize].next.load(Ordering::Relaxed);
        }
        for (k, c) in ctl.iter().take(carved as usize).enumerate() {
            if c.state.load(Ordering::Relaxed) & USED != 0 {
                a.used += 1;
            } else if !test(&seen, k as u32) {
                a.leaked += 1;
            }
        }
        a
    }
}

#[cfg(not(loom))]
mod shm_view {
    //! The shared-memory backend: a pool laid out inside a region.
    use super::*;
    use crate::region::{BoundsError, Region};
    use std::ptr::NonNull;
    use std::sync::Arc;

    /// Pointers into `region`, validated at construction and kept valid by
    /// holding the `Arc`.
    pub(super) struct ShmView {
        _region: Arc<Region>,
        hdr: NonNull<PoolHeader>,
        ctl: NonNull<BlockCtl>,
        count: usize,
    }

    // SAFETY: the pointers are into a mapping owned by `_region` (Send +
    // Sync) and only give out shared references to atomics.
    unsafe impl Send for ShmView {}
    // SAFETY: as above.
    unsafe impl Sync for ShmView {}

    impl ShmView {
        pub(super) fn hdr(&self) -> &PoolHeader {
            // SAFETY: validated by `Region::get` at construction; the region
            // outlives `self`; PoolHeader is ShmSafe.
            unsafe { self.hdr.as_ref() }
        }
        pub(super) fn ctl(&self) -> &[BlockCtl] {
            // SAFETY: validated by `Region::get_slice` for `count` elements
            // at construction; the region outlives `self`.
            unsafe { std::slice::from_raw_parts(self.ctl.as_ptr(), self.count) }
        }
    }

    fn view(region: &Arc<Region>, offset: usize, capacity: u32) -> Result<ShmView, LayoutError> {
        let hdr: &PoolHeader = region.get(offset)?;
        let ctl_off = offset
            .checked_add(POOL_HEADER_SIZE)
            .ok_or(LayoutError::Bounds(BoundsError::Misaligned {
                offset,
                align: 64,
            }))?;
        let ctl: &[BlockCtl] = region.get_slice(ctl_off, capacity as usize)?;
        Ok(ShmView {
            _region: region.clone(),
            hdr: NonNull::from(hdr),
            ctl: NonNull::from(ctl).cast(),
            count: capacity as usize,
        })
    }

    fn data_range_ok(region: &Region, g: &Geometry, align: u64) -> Result<(), LayoutError> {
        let span = u64::from(g.block_size) * u64::from(g.capacity);
        let end = g.data_offset.checked_add(span);
        // `align` is a power of two (checked by the callers).
        if g.data_offset & (align - 1) != 0
            || g.data_offset < region.payload_offset() as u64
            || !matches!(end, Some(e) if e <= region.len() as u64)
        {
            return Err(LayoutError::Invalid(format!(
                "data {}+{span} outside region payload {}..{}",
                g.data_offset,
                region.payload_offset(),
                region.len()
            )));
        }
        Ok(())
    }

    impl Pool {
        /// Lay out and initialize a pool at `offset` (64-aligned) in a
        /// writable region; uses [`required_bytes`] bytes from there.
        /// Blocks are `align`-aligned (a power of two, at least 64) and
        /// `block_size` is rounded up to it.
        pub fn create_in(
            region: &Arc<Region>,
            offset: usize,
            block_size: u32,
            capacity: u32,
            prealloc: u32,
            align: usize,
        ) -> Result<Pool, LayoutError> {
            if !region.writable() {
                return Err(LayoutError::ReadOnly);
            }
            if offset & 63 != 0 {
                return Err(LayoutError::Invalid(format!(
                    "offset {offset} not 64-aligned"
                )));
            }
            let align = align.max(64);
            if !align.is_power_of_two() || align > 4096 {
                return Err(LayoutError::Invalid(format!("alignment {align}")));
            }
            let block_size = align_up(u64::from(block_size), align as u64)
                .and_then(|b| u32::try_from(b).ok())
                .ok_or_else(|| LayoutError::Invalid("block size too large".into()))?;
            check_geometry(block_size, capacity, prealloc)?;
            let ctl_end = offset as u64 + POOL_HEADER_SIZE as u64 + u64::from(capacity) * 8;
            let geo = Geometry {
                block_size,
                capacity,
                data_offset: align_up(ctl_end, align as u64)
                    .ok_or_else(|| LayoutError::Invalid("offset too large".into()))?,
            };
            data_range_ok(region, &geo, align as u64)?;
            let v = view(region, offset, capacity)?;
            let h = v.hdr();
            // Relaxed stores: published by the Release store of `magic`.
            h.magic.store(0, Ordering::Relaxed);
            h.version.store(POOL_VERSION, Ordering::Relaxed);
            h.block_size.store(block_size, Ordering::Relaxed);
            h.capacity.store(capacity, Ordering::Relaxed);
            h.data_offset.store(geo.data_offset, Ordering::Relaxed);
            h.head.store(pack(0, NIL), Ordering::Relaxed);
            for w in [&h.carved, &h.in_use, &h.high_water] {
                w.store(0, Ordering::Relaxed);
            }
            for w in [&h.allocs, &h.frees, &h.failures] {
                w.store(0, Ordering::Relaxed);
            }
            for c in v.ctl() {
                c.next.store(NIL, Ordering::Relaxed);
                c.state.store(0, Ordering::Relaxed);
            }
            let pool = Pool {
                mem: Mem::Shm(v),
                geo,
            };
            pool.prefill(prealloc);
            // SYNC POINT: Release publishes the initialized pool; pairs with
            // the Acquire load in `open_in`.
            pool.hdr().magic.store(POOL_MAGIC, Ordering::Release);
            Ok(pool)
        }

        /// Attach to a pool another process initialized at `offset`.
        /// Validates the header against the region; a read-only region is
        /// fine for [`Pool::stats`] but must not be used to alloc/free.
        pub fn open_in(region: &Arc<Region>, offset: usize) -> Result<Pool, LayoutError> {
            let hdr: &PoolHeader = region.get(offset)?;
            // SYNC POINT: pairs with the Release store at the end of
            // `create_in`.
            let magic = hdr.magic.load(Ordering::Acquire);
            if magic != POOL_MAGIC {
                return Err(LayoutError::NotInitialized(magic));
            }
            let version = hdr.version.load(Ordering::Relaxed);
            if version != POOL_VERSION {
                return Err(LayoutError::Version(version));
            }
            let geo = Geometry {
                block_size: hdr.block_size.load(Ordering::Relaxed),
                capacity: hdr.capacity.load(Ordering::Relaxed),
                data_offset: hdr.data_offset.load(Ordering::Relaxed),
            };
            check_geometry(geo.block_size, geo.capacity, 0)?;
            if geo.block_size & 63 != 0 {
                return Err(LayoutError::Invalid(format!(
                    "block size {}",
                    geo.block_size
                )));
            }
            let ctl_end = offset as u64 + POOL_HEADER_SIZE as u64 + u64::from(geo.capacity) * 8;
            if geo.data_offset < ctl_end {
                return Err(LayoutError::Invalid("data overlaps control words".into()));
            }
            data_range_ok(region, &geo, 64)?;
            let v = view(region, offset, geo.capacity)?;
            Ok(Pool {
                mem: Mem::Shm(v),
                geo,
            })
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_cycle_and_growth() {
        let p = Pool::new(64, 4, 2).unwrap();
        assert_eq!(p.stats().carved, 2);
        let a: Vec<u32> = (0..4).map(|_| p.alloc().unwrap()).collect();
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, vec![0, 1, 2, 3]);
        assert_eq!(p.alloc(), None);
        let st = p.stats();
        assert_eq!(
            (st.carved, st.in_use, st.high_water, st.failures),
            (4, 4, 4, 1)
        );
        assert_eq!(st.utilization(), 1.0);
        p.free(a[2]).unwrap();
        assert_eq!(p.alloc(), Some(a[2]));
        for i in a {
            p.free(i).unwrap();
        }
        let audit = p.audit();
        assert_eq!(
            audit,
            PoolAudit {
                free_listed: 4,
                used: 0,
                leaked: 0,
                corrupt: false
            }
        );
        assert_eq!(p.stats().in_use, 0);
        assert_eq!(p.stats().high_water, 4);
    }

    #[test]
    fn bad_frees_are_errors_and_change_nothing() {
        let p = Pool::new(64, 4, 0).unwrap();
        assert_eq!(p.free(0), Err(FreeError::NotAllocated(0)));
        assert_eq!(
            p.free(4),
            Err(FreeError::OutOfRange {
                index: 4,
                capacity: 4
            })
        );
        assert_eq!(
            p.free(u32::MAX),
            Err(FreeError::OutOfRange {
                index: u32::MAX,
                capacity: 4
            })
        );
        let i = p.alloc_tagged(7).unwrap();
        assert_eq!(p.owner_of(i), Some(7));
        assert_eq!(
            p.free_owned(i, 8),
            Err(FreeError::WrongOwner {
                index: i,
                expected: 8,
                found: 7
            })
        );
        p.free_owned(i, 7).unwrap();
        assert_eq!(p.free(i), Err(FreeError::NotAllocated(i)));
        assert_eq!(p.owner_of(i), None);
        let a = p.audit();
        assert_eq!(
            (a.free_listed, a.used, a.leaked, a.corrupt),
            (1, 0, 0, false)
        );
    }

    #[test]
    fn reclaim_owner_returns_only_that_owners_blocks() {
        let p = Pool::new(64, 8, 8).unwrap();
        let mine: Vec<u32> = (0..3).map(|_| p.alloc_tagged(1).unwrap()).collect();
        let theirs: Vec<u32> = (0..2).map(|_| p.alloc_tagged(2).unwrap()).collect();
        assert_eq!(p.reclaim_owner(1), 3);
        assert_eq!(p.reclaim_owner(1), 0);
        for i in &mine {
            assert_eq!(p.owner_of(*i), None);
        }
        for i in &theirs {
            assert_eq!(p.owner_of(*i), Some(2));
        }
        assert_eq!(p.stats().in_use, 2);
    }

    #[test]
    fn repair_returns_leaked_blocks() {
        let p = Pool::new(64, 4, 4).unwrap();
        // Simulate a process killed inside `free`: state cleared, not pushed.
        let i = p.alloc().unwrap();
        p.ctl()[i as usize].state.store(0, Ordering::Relaxed);
        assert_eq!(p.audit().leaked, 1);
        assert_eq!(p.repair(), 1);
        assert_eq!(
            p.audit(),
            PoolAudit {
                free_listed: 4,
                used: 0,
                leaked: 0,
                corrupt: false
            }
        );
        assert_eq!(p.repair(), 0);
        // A corrupt list (cycle) is rebuilt from the states.
        let (a, b) = (p.alloc().unwrap(), p.alloc().unwrap());
        p.free(a).unwrap();
        p.free(b).unwrap();
        p.ctl()[a as usize].next.store(b, Ordering::Relaxed);
        assert!(p.audit().corrupt);
        assert_eq!(p.repair(), 4);
        let a = p.audit();
        assert_eq!(
            (a.free_listed, a.used, a.leaked, a.corrupt),
            (4, 0, 0, false)
        );
    }

    #[test]
    fn offsets_map_back_to_indices() {
        let p = Pool::new(128, 4, 0).unwrap();
        assert_eq!(p.offset_of(3), Some(384));
        assert_eq!(p.offset_of(4), None);
        assert_eq!(p.index_of(384), Ok(3));
        assert_eq!(p.index_of(385), Err(FreeError::NotABlock(385)));
        assert_eq!(p.index_of(512), Err(FreeError::NotABlock(512)));
        assert!(p.contains(511) && !p.contains(512));
    }

    #[test]
    fn invalid_geometry_rejected() {
        assert!(Pool::new(0, 4, 0).is_err());
        assert!(Pool::new(64, 0, 0).is_err());
        assert!(Pool::new(64, 4, 5).is_err());
        assert!(Pool::new(64, MAX_BLOCKS + 1, 0).is_err());
    }

    #[test]
    fn threads_never_share_a_block() {
        use std::sync::Arc;
        let p = Arc::new(Pool::new(64, 16, 16).unwrap());
        let owners: Arc<Vec<crate::sync::atomic::AtomicU32>> = Arc::new(
            (0..16)
                .map(|_| crate::sync::atomic::AtomicU32::new(0))
                .collect(),
        );
        let hs: Vec<_> = (0..4u32)
            .map(|t| {
                let (p, owners) = (p.clone(), owners.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if let Some(i) = p.alloc_tagged(t) {
                            let prev = owners[i as usize].swap(t + 1, Ordering::AcqRel);
                            assert_eq!(prev, 0, "block {i} handed out twice");
                            owners[i as usize].store(0, Ordering::Release);
                            p.free_owned(i, t).unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let a = p.audit();
        assert_eq!(
            (a.free_listed, a.used, a.leaked, a.corrupt),
            (16, 0, 0, false)
        );
        assert_eq!(p.stats().in_use, 0);
    }
}
