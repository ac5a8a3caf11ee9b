//! [`BufferPool`]: variable-length buffers from size classes of [`Pool`]s.
//!
//! A request of `len` bytes is served by the smallest class whose block
//! fits, falling back to larger classes when that one is exhausted. Each
//! class pre-allocates `prealloc` blocks onto its free list and grows on
//! demand up to `capacity` (bounded growth). When every fitting class is
//! exhausted, [`Wait::Timeout`] retries with short sleeps until the deadline.
//!
//! A [`Buffer`] is a loan: it names a block by offset. It can be handed to
//! another process as `(offset, len)`; that process turns it back into a
//! `Buffer` with [`BufferPool::receive`] (validated: must be the start of a
//! block that is currently lent) and returns it with [`BufferPool::free`]
//! or [`BufferPool::free_offset`].

use super::pool::{Pool, PoolStats};
use super::{align_up, AllocError, FreeError, LayoutError, Wait};
use crate::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most size classes per pool.
pub const MAX_CLASSES: usize = 16;
/// Default block alignment.
pub const DEFAULT_ALIGN: usize = 64;

/// One size class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SizeClass {
    /// Block size (rounded up to the alignment).
    pub size: u32,
    /// Most blocks this class will ever hand out at once.
    pub capacity: u32,
    /// Blocks put on the free list at creation.
    pub prealloc: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferPoolConfig {
    pub classes: Vec<SizeClass>,
    /// Block alignment: a power of two, 64 by default.
    pub align: usize,
}

impl BufferPoolConfig {
    pub fn new(classes: Vec<SizeClass>) -> Self {
        BufferPoolConfig {
            classes,
            align: DEFAULT_ALIGN,
        }
    }

    /// Check and normalize: sizes rounded up to `align`, strictly
    /// ascending, at most [`MAX_CLASSES`].
    fn normalized(&self) -> Result<Vec<SizeClass>, LayoutError> {
        let bad = |m: String| Err(LayoutError::Invalid(m));
        if !self.align.is_power_of_two() || self.align < 64 || self.align > 4096 {
            return bad(format!(
                "alignment {} (power of two in 64..=4096)",
                self.align
            ));
        }
        if self.classes.is_empty() || self.classes.len() > MAX_CLASSES {
            return bad(format!("1..={MAX_CLASSES} size classes required"));
        }
        let mut out: Vec<SizeClass> = Vec::with_capacity(self.classes.len());
        for c in &self.classes {
            let size = align_up(u64::from(c.size.max(1)), self.align as u64)
                .and_then(|s| u32::try_from(s).ok());
            let Some(size) = size else {
                return bad(format!("class size {} too large", c.size));
            };
            if out.last().is_some_and(|p| p.size >= size) {
                return bad("class sizes must be strictly ascending after rounding".into());
            }
            if c.capacity == 0 || c.prealloc > c.capacity {
                return bad(format!(
                    "class {}: capacity {} prealloc {}",
                    c.size, c.capacity, c.prealloc
                ));
            }
            out.push(SizeClass { size, ..*c });
        }
        Ok(out)
    }

    /// Bytes [`BufferPool::create_in`] needs at a 64-aligned offset.
    pub fn required_bytes(&self) -> Result<u64, LayoutError> {
        let classes = self.normalized()?;
        let mut total = HEADER_BYTES as u64;
        for c in &classes {
            let need = Pool::required_bytes(c.size, c.capacity, self.align)
                .and_then(|n| align_up(n, 64))
                .ok_or_else(|| LayoutError::Invalid("pool too large".into()))?;
            total = total
                .checked_add(need)
                .ok_or_else(|| LayoutError::Invalid("pool too large".into()))?;
        }
        Ok(total)
    }
}

/// A lent block: `len` bytes at region offset `offset`. Not `Clone`: it is
/// the right to use and return that block.
#[derive(Debug, PartialEq, Eq)]
pub struct Buffer {
    offset: u64,
    len: usize,
    class: u8,
    index: u32,
}

impl Buffer {
    /// Region offset of the first byte (64-aligned by default).
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Requested length.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Size class index.
    pub fn class(&self) -> usize {
        usize::from(self.class)
    }
    /// Block index within its class.
    pub fn index(&self) -> u32 {
        self.index
    }
    /// Give up this handle to hand the loan to another process as
    /// `(offset, len)`; the receiver rebuilds it with
    /// [`BufferPool::receive`] and returns it.
    pub fn into_raw(self) -> (u64, usize) {
        (self.offset, self.len)
    }
}

/// Statistics over all classes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BufferPoolStats {
    pub classes: Vec<PoolStats>,
    /// Bytes of blocks lent out / of all blocks.
    pub in_use_bytes: u64,
    pub capacity_bytes: u64,
    /// Failed `alloc` calls through this handle (after all fallbacks and
    /// waiting).
    pub failures: u64,
}

impl BufferPoolStats {
    /// Fraction of the byte capacity lent out.
    pub fn utilization(&self) -> f64 {
        if self.capacity_bytes == 0 {
            0.0
        } else {
            self.in_use_bytes as f64 / self.capacity_bytes as f64
        }
    }
    /// Sum of the classes' high-water marks (blocks).
    pub fn high_water(&self) -> u64 {
        self.classes.iter().map(|c| u64::from(c.high_water)).sum()
    }
}

/// Size of the shared header: 64 bytes + 32 per class slot.
const HEADER_BYTES: usize = 64 + 32 * MAX_CLASSES;

pub struct BufferPool {
    pools: Vec<Pool>,
    owner: u32,
    failures: AtomicU64,
    #[cfg(not(loom))]
    region: Option<std::sync::Arc<crate::region::Region>>,
}

impl BufferPool {
    /// A process-local pool (heap control words; works under loom). Offsets
    /// are virtual (classes get disjoint ranges); there are no bytes behind
    /// them ([`BufferPool::bytes`] returns `None`).
    pub fn new(cfg: &BufferPoolConfig) -> Result<BufferPool, LayoutError> {
        let classes = cfg.normalized()?;
        let mut base = 0u64;
        let mut pools = Vec::with_capacity(classes.len());
        for c in &classes {
            pools.push(Pool::new_at(c.size, c.capacity, c.prealloc, base)?);
            base += u64::from(c.size) * u64::from(c.capacity);
        }
        Ok(BufferPool {
            pools,
            owner: 0,
            failures: AtomicU64::new(0),
            #[cfg(not(loom))]
            region: None,
        })
    }

    /// Tag every block this handle allocates with `owner` (this process's
    /// slot), so [`BufferPool::reclaim_owner`] can return them if it dies.
    pub fn with_owner(mut self, owner: u32) -> Self {
        self.owner = owner & super::MAX_OWNER_TAG;
        self
    }

    pub fn class_count(&self) -> usize {
        self.pools.len()
    }

    /// Largest request served.
    pub fn max_len(&self) -> usize {
        self.pools.last().map_or(0, |p| p.block_size() as usize)
    }

    /// A buffer of at least `len` bytes.
    pub fn alloc(&self, len: usize, wait: Wait) -> Result<Buffer, AllocError> {
        let first = self
            .pools
            .iter()
            .position(|p| p.block_size() as usize >= len)
            .ok_or(AllocError::TooLarge {
                len,
                max: self.max_len(),
            })?;
        let start = Instant::now();
        let mut sleep_us = 10u64;
        loop {
            for (class, pool) in self.pools.iter().enumerate().skip(first) {
                if let Some(index) = pool.alloc_tagged(self.owner) {
                    let offset = pool
                        .offset_of(index)
                        .expect("index from the pool is in range");
                    return Ok(Buffer {
                        offset,
                        len,
                        class: class as u8,
                        index,
                    });
                }
            }
            let waited = start.elapsed();
            match wait {
                Wait::Timeout(d) if waited < d => {
                    // Sleep with backoff (10 µs .. 1 ms), never past the deadline.
                    let left = d - waited;
                    std::thread::sleep(Duration::from_micros(sleep_us).min(left));
                    sleep_us = (sleep_us * 2).min(1000);
                }
                _ => {
                    // Relaxed: statistics only.
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(match wait {
                        Wait::No => AllocError::Exhausted { len },
                        Wait::Timeout(_) => AllocError::Timeout { len, waited },
                    });
                }
            }
        }
    }

    /// Return a buffer.
    pub fn free(&self, buf: Buffer) -> Result<(), FreeError> {
        let pool = self
            .pools
            .get(buf.class())
            .ok_or(FreeError::NotABlock(buf.offset))?;
        pool.free(buf.index)
    }

    /// Return the buffer that starts at `offset` (e.g. received from
    /// another process). Validated: must be a lent block's start.
    pub fn free_offset(&self, offset: u64) -> Result<(), FreeError> {
        let (pool, index) = self.locate(offset)?;
        pool.free(index)
    }

    /// Turn an `(offset, len)` received from another process into a
    /// `Buffer`, checking that it names a lent block and that `len` fits.
    /// The caller must be the only holder of that loan (the sender gave up
    /// its `Buffer` when it sent the offset).
    pub fn receive(&self, offset: u64, len: usize) -> Result<Buffer, FreeError> {
        let (pool, index) = self.locate(offset)?;
        if len > pool.block_size() as usize {
            return Err(FreeError::BadLength {
                len,
                block_size: pool.block_size() as usize,
            });
        }
        if pool.owner_of(index).is_none() {
            return Err(FreeError::NotAllocated(index));
        }
        let class = self
            .pools
            .iter()
            .position(|p| std::ptr::eq(p, pool))
            .expect("pool is ours") as u8;
        Ok(Buffer {
            offset,
            len,
            class,
            index,
        })
    }

    fn locate(&self, offset: u64) -> Result<(&Pool, u32), FreeError> {
        let pool = self
            .pools
            .iter()
            .find(|p| p.contains(offset))
            .ok_or(FreeError::NotABlock(offset))?;
        Ok((pool, pool.index_of(offset)?))
    }

    /// Return every block lent to `owner` (a dead process's slot).
    pub fn reclaim_owner(&self, owner: u32) -> u32 {
        self.pools.iter().map(|p| p.reclaim_owner(owner)).sum()
    }

    pub fn stats(&self) -> BufferPoolStats {
        let classes: Vec<PoolStats> = self.pools.iter().map(|p| p.stats()).collect();
        BufferPoolStats {
            in_use_bytes: classes
                .iter()
                .map(|c| u64::from(c.in_use) * u64::from(c.block_size))
                .sum(),
            capacity_bytes: classes
                .iter()
                .map(|c| u64::from(c.capacity) * u64::from(c.block_size))
                .sum(),
            failures: self.failures.load(Ordering::Relaxed),
            classes,
        }
    }

    /// Direct access to a class's pool (e.g. for audits).
    pub fn pool(&self, class: usize) -> Option<&Pool> {
        self.pools.get(class)
    }
}

#[cfg(not(loom))]
mod shm {
    use super::*;
    use crate::region::Region;
    use crate::sync::atomic::AtomicU32;
    use std::sync::Arc;

    const MAGIC: u32 = u32::from_ne_bytes(*b"RNBP");
    const VERSION: u32 = 1;

    /// Shared header of a buffer pool (64 bytes, then the class table).
    #[repr(C)]
    struct BpHeader {
        /// SYNC POINT: Release store last in `create_in`, Acquire load in
        /// `open_in`.
        magic: AtomicU32,
        version: AtomicU32,
        class_count: AtomicU32,
        align: AtomicU32,
        _reserved: [u64; 6],
        classes: [ClassDesc; MAX_CLASSES],
    }

    #[repr(C)]
    struct ClassDesc {
        size: AtomicU32,
        capacity: AtomicU32,
        pool_offset: AtomicU64,
        _reserved: [u64; 2],
    }

    const _: () = assert!(std::mem::size_of::<BpHeader>() == HEADER_BYTES);
    // SAFETY: repr(C), atomics and integers only, every bit pattern valid.
    unsafe impl crate::ShmSafe for BpHeader {}

    impl BufferPool {
        /// Lay out a buffer pool at `offset` (64-aligned) in a writable
        /// region; it uses [`BufferPoolConfig::required_bytes`] bytes.
        pub fn create_in(
            region: &Arc<Region>,
            offset: usize,
            cfg: &BufferPoolConfig,
        ) -> Result<BufferPool, LayoutError> {
            let classes = cfg.normalized()?;
            if !region.writable() {
                return Err(LayoutError::ReadOnly);
            }
            if offset & 63 != 0 {
                return Err(LayoutError::Invalid(format!(
                    "offset {offset} not 64-aligned"
                )));
            }
            let need = cfg.required_bytes()?;
            let fits =
                matches!((offset as u64).checked_add(need), Some(e) if e <= region.len() as u64);
            if !fits {
                return Err(LayoutError::Invalid(format!(
                    "{need} bytes at {offset} do not fit the region ({} bytes)",
                    region.len()
                )));
            }
            let h: &BpHeader = region.get(offset)?;
            h.magic.store(0, Ordering::Relaxed);
            let mut at = (offset + HEADER_BYTES) as u64;
            let mut pools = Vec::with_capacity(classes.len());
            for (k, c) in classes.iter().enumerate() {
                let pool = Pool::create_in(
                    region,
                    at as usize,
                    c.size,
                    c.capacity,
                    c.prealloc,
                    cfg.align,
                )?;
                let d = &h.classes[k];
                // Relaxed: published by the Release store of `magic`.
                d.size.store(c.size, Ordering::Relaxed);
                d.capacity.store(c.capacity, Ordering::Relaxed);
                d.pool_offset.store(at, Ordering::Relaxed);
                pools.push(pool);
                let used = Pool::required_bytes(c.size, c.capacity, cfg.align)
                    .and_then(|n| align_up(n, 64))
                    .expect("checked by required_bytes");
                at += used;
            }
            h.version.store(VERSION, Ordering::Relaxed);
            h.class_count.store(classes.len() as u32, Ordering::Relaxed);
            h.align.store(cfg.align as u32, Ordering::Relaxed);
            // SYNC POINT: publishes the header and class table; pairs with
            // the Acquire load in `open_in`.
            h.magic.store(MAGIC, Ordering::Release);
            Ok(BufferPool {
                pools,
                owner: 0,
                failures: AtomicU64::new(0),
                region: Some(region.clone()),
            })
        }

        /// Attach to a buffer pool laid out at `offset` by another process.
        pub fn open_in(region: &Arc<Region>, offset: usize) -> Result<BufferPool, LayoutError> {
            let h: &BpHeader = region.get(offset)?;
            // SYNC POINT: pairs with the Release store in `create_in`.
            let magic = h.magic.load(Ordering::Acquire);
            if magic != MAGIC {
                return Err(LayoutError::NotInitialized(magic));
            }
            let version = h.version.load(Ordering::Relaxed);
            if version != VERSION {
                return Err(LayoutError::Version(version));
            }
            let n = h.class_count.load(Ordering::Relaxed) as usize;
            if n == 0 || n > MAX_CLASSES {
                return Err(LayoutError::Invalid(format!("{n} classes")));
            }
            let mut pools: Vec<Pool> = Vec::with_capacity(n);
            for d in &h.classes[..n] {
                let off = d.pool_offset.load(Ordering::Relaxed);
                let off = usize::try_from(off)
                    .map_err(|_| LayoutError::Invalid(format!("pool offset {off}")))?;
                let pool = Pool::open_in(region, off)?;
                if pool.block_size() != d.size.load(Ordering::Relaxed)
                    || pool.capacity() != d.capacity.load(Ordering::Relaxed)
                {
                    return Err(LayoutError::Invalid(
                        "class table disagrees with pool".into(),
                    ));
                }
                if let Some(prev) = pools.last() {
                    // Ascending sizes and disjoint data ranges, or offsets
                    // could map to two classes.
                    let prev_end = prev.offset_of(prev.capacity() - 1).unwrap_or(0)
                        + u64::from(prev.block_size());
                    let first = pool.offset_of(0).unwrap_or(0);
                    if pool.block_size() <= prev.block_size() || first < prev_end {
                        return Err(LayoutError::Invalid("classes overlap or unordered".into()));
                    }
                }
                pools.push(pool);
            }
            Ok(BufferPool {
                pools,
                owner: 0,
                failures: AtomicU64::new(0),
                region: Some(region.clone()),
            })
        }

        /// The bytes of a buffer (`len` of them). `None` for heap pools.
        pub fn bytes(&self, buf: &Buffer) -> Option<&[u8]> {
            self.region
                .as_ref()?
                .bytes(buf.offset as usize, buf.len)
                .ok()
        }

        /// Mutable bytes of a buffer. `None` for heap pools or a read-only
        /// region.
        ///
        /// # Safety
        /// `buf` must be a loan this caller holds exclusively (returned by
        /// `alloc`, or by `receive` after the sender gave it up), and no
        /// other view of those bytes may be alive.
        #[allow(clippy::mut_from_ref)]
        pub unsafe fn bytes_mut(&self, buf: &Buffer) -> Option<&mut [u8]> {
            let region = self.region.as_ref()?;
            // SAFETY: exclusivity of the loan is this function's contract;
            // `Region::bytes_mut` checks bounds and writability.
            unsafe { region.bytes_mut(buf.offset as usize, buf.len) }.ok()
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cfg() -> BufferPoolConfig {
        BufferPoolConfig::new(vec![
            SizeClass {
                size: 64,
                capacity: 4,
                prealloc: 2,
            },
            SizeClass {
                size: 1000,
                capacity: 2,
                prealloc: 0,
            },
        ])
    }

    #[test]
    fn classes_fallback_and_limits() {
        let bp = BufferPool::new(&cfg()).unwrap();
        assert_eq!(bp.max_len(), 1024);
        assert!(matches!(
            bp.alloc(1025, Wait::No),
            Err(AllocError::TooLarge { .. })
        ));
        let small: Vec<Buffer> = (0..4).map(|_| bp.alloc(10, Wait::No).unwrap()).collect();
        assert!(small.iter().all(|b| b.class() == 0 && b.offset() % 64 == 0));
        // class 0 exhausted -> falls back to class 1
        let b = bp.alloc(10, Wait::No).unwrap();
        assert_eq!(b.class(), 1);
        let c = bp.alloc(500, Wait::No).unwrap();
        assert_eq!(c.class(), 1);
        assert_eq!(bp.alloc(1, Wait::No), Err(AllocError::Exhausted { len: 1 }));
        let t0 = Instant::now();
        let e = bp
            .alloc(1, Wait::Timeout(Duration::from_millis(30)))
            .unwrap_err();
        assert!(matches!(e, AllocError::Timeout { len: 1, .. }));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let st = bp.stats();
        assert_eq!(st.failures, 2);
        assert_eq!(st.in_use_bytes, 4 * 64 + 2 * 1024);
        assert_eq!(st.capacity_bytes, st.in_use_bytes);
        assert_eq!(st.utilization(), 1.0);
        assert_eq!(st.high_water(), 6);
        for x in small {
            bp.free(x).unwrap();
        }
        bp.free(b).unwrap();
        bp.free_offset(c.offset()).unwrap();
        assert_eq!(
            bp.free_offset(c.offset()),
            Err(FreeError::NotAllocated(c.index()))
        );
        assert_eq!(bp.stats().in_use_bytes, 0);
    }

    #[test]
    fn timeout_alloc_succeeds_when_a_buffer_comes_back() {
        let bp = std::sync::Arc::new(
            BufferPool::new(&BufferPoolConfig::new(vec![SizeClass {
                size: 64,
                capacity: 1,
                prealloc: 1,
            }]))
            .unwrap(),
        );
        let held = bp.alloc(8, Wait::No).unwrap();
        let off = held.offset();
        let bp2 = bp.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            bp2.free_offset(off).unwrap();
        });
        let got = bp.alloc(8, Wait::Timeout(Duration::from_secs(5))).unwrap();
        assert_eq!(got.offset(), off);
        h.join().unwrap();
    }

    #[test]
    fn receive_validates() {
        let bp = BufferPool::new(&cfg()).unwrap();
        let b = bp.alloc(100, Wait::No).unwrap();
        assert_eq!(
            bp.receive(b.offset() + 1, 1),
            Err(FreeError::NotABlock(b.offset() + 1))
        );
        assert!(matches!(
            bp.receive(b.offset(), 2000),
            Err(FreeError::BadLength { .. })
        ));
        assert_eq!(bp.receive(1 << 40, 1), Err(FreeError::NotABlock(1 << 40)));
        let r = bp.receive(b.offset(), 100).unwrap();
        assert_eq!(r, b);
        bp.free(r).unwrap();
        assert!(matches!(
            bp.receive(b.offset(), 100),
            Err(FreeError::NotAllocated(_))
        ));
    }

    #[test]
    fn config_is_validated() {
        let mk = |classes, align| BufferPoolConfig { classes, align };
        let c = |size, capacity, prealloc| SizeClass {
            size,
            capacity,
            prealloc,
        };
        assert!(BufferPool::new(&mk(vec![], 64)).is_err());
        assert!(BufferPool::new(&mk(vec![c(64, 1, 0)], 32)).is_err());
        assert!(BufferPool::new(&mk(vec![c(64, 1, 0)], 96)).is_err());
        assert!(BufferPool::new(&mk(vec![c(64, 0, 0)], 64)).is_err());
        assert!(BufferPool::new(&mk(vec![c(64, 1, 2)], 64)).is_err());
        // 60 and 64 both round to 64: not strictly ascending
        assert!(BufferPool::new(&mk(vec![c(60, 1, 0), c(64, 1, 0)], 64)).is_err());
        assert!(BufferPool::new(&mk(vec![c(1, 1, 0); MAX_CLASSES + 1], 64)).is_err());
        assert!(BufferPool::new(&mk(vec![c(64, 1, 0), c(4096, 1, 0)], 4096)).is_err());
        assert!(BufferPool::new(&mk(vec![c(64, 1, 0), c(8192, 1, 0)], 4096)).is_ok());
    }
}
