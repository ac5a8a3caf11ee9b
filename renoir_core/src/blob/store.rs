//! The chunked blob store over a [`Region`].
//!
//! Layout at a 64-aligned `offset` (details in docs/large-payloads.md):
//!
//! ```text
//! offset   +128                 slots end (64-aligned)      chunk pool (64-aligned)
//! | StoreHeader | ReaderSlot[n] | table Pool (64 + 4*max_chunks per block) | chunk Pool (chunk_size per block) |
//! ```
//!
//! A blob is one table block (header + chunk indices) plus its chunks.
//! The logical sample a topic would carry is a [`BlobDesc`] (table index +
//! sequence) packed in a u64.

use super::epoch::{self, EpochMem, PinnedSlot, ReaderSlot, CLAIMED};
use super::header::{
    chunk_count, BlobHeader, Checksum, ContentType, Limits, FLAG_CHECKSUM, HEADER_LEN,
};
use super::{shm_io, BlobError};
use crate::alloc::{Pool, MAX_OWNER_TAG};
use crate::platform::ProcessIdentity;
use crate::region::Region;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STORE_MAGIC: u64 = u64::from_le_bytes(*b"RNBLOBS1");
const STORE_VERSION: u32 = 1;
const STORE_HEADER_SIZE: usize = 128;
const MAX_READER_SLOTS: u32 = 1024;

/// Store header (128 bytes). Geometry words are written once by the
/// creator before `magic` (Release); `global` is the epoch counter.
#[repr(C, align(64))]
pub struct StoreHeader {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub chunk_size: AtomicU32,
    pub chunk_capacity: AtomicU32,
    pub table_capacity: AtomicU32,
    pub max_chunks: AtomicU32,
    pub reader_slots: AtomicU32,
    pub slots_off: AtomicU64,
    pub tables_off: AtomicU64,
    pub chunks_off: AtomicU64,
    pub reserved0: u64,
    pub global: AtomicU64,
    pub reserved1: [u64; 7],
}
// SAFETY: repr(C), atomics and integers only, all-zero valid, 128 bytes.
unsafe impl crate::ShmSafe for StoreHeader {}
const _: () = assert!(std::mem::size_of::<StoreHeader>() == STORE_HEADER_SIZE);

/// Geometry of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Bytes per chunk block (rounded up to 64).
    pub chunk_size: u32,
    /// Number of chunk blocks.
    pub chunk_capacity: u32,
    /// Number of blobs that may exist at once (table blocks).
    pub table_capacity: u32,
    /// Most chunks one blob may have.
    pub max_chunks: u32,
    /// Reader slots (watermarks).
    pub reader_slots: u32,
}

impl StoreConfig {
    fn table_block(&self) -> u32 {
        (HEADER_LEN as u32 + 4 * self.max_chunks).next_multiple_of(64)
    }
    fn layout(&self, offset: usize) -> Option<(usize, usize, usize, usize)> {
        let slots = offset.checked_add(STORE_HEADER_SIZE)?;
        let tables = slots.checked_add(64usize.checked_mul(self.reader_slots as usize)?)?;
        let tb = Pool::required_bytes(self.table_block(), self.table_capacity, 64)?;
        let chunks = tables
            .checked_add(usize::try_from(tb).ok()?)?
            .next_multiple_of(64);
        let cb = Pool::required_bytes(self.chunk_size, self.chunk_capacity, 64)?;
        let end = chunks.checked_add(usize::try_from(cb).ok()?)?;
        Some((slots, tables, chunks, end))
    }
    /// Bytes the store needs from its (64-aligned) offset.
    pub fn required_bytes(&self) -> Option<u64> {
        self.layout(0).map(|(_, _, _, end)| end as u64)
    }
}

/// The logical sample: which table block, and the writer's sequence number
/// for it (catches a stale descriptor whose block was reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobDesc {
    pub table: u32,
    pub seq: u32,
}

impl BlobDesc {
    pub fn to_u64(self) -> u64 {
        (u64::from(self.seq) << 32) | u64::from(self.table)
    }
    pub fn from_u64(v: u64) -> BlobDesc {
        BlobDesc {
            table: v as u32,
            seq: (v >> 32) as u32,
        }
    }
}

/// An attached store (creator or opener).
pub struct BlobStore {
    region: Arc<Region>,
    offset: usize,
    cfg: StoreConfig,
    slots_off: usize,
    tables: Pool,
    chunks: Pool,
    dummy: AtomicU64,
}

impl EpochMem for BlobStore {
    fn global(&self) -> &AtomicU64 {
        match self.region.get::<StoreHeader>(self.offset) {
            Ok(h) => &h.global,
            // Unreachable: validated at construction.
            Err(_) => &self.dummy,
        }
    }
    fn slots(&self) -> &[ReaderSlot] {
        self.region
            .get_slice::<ReaderSlot>(self.slots_off, self.cfg.reader_slots as usize)
            .unwrap_or(&[])
    }
}

fn layout_err(e: impl std::fmt::Display) -> BlobError {
    BlobError::Layout(e.to_string())
}

impl BlobStore {
    /// Lay out a new store at `offset` (64-aligned) in a writable region.
    pub fn create_in(
        region: &Arc<Region>,
        offset: usize,
        cfg: StoreConfig,
    ) -> Result<BlobStore, BlobError> {
        if cfg.reader_slots == 0
            || cfg.reader_slots > MAX_READER_SLOTS
            || cfg.max_chunks == 0
            || cfg.chunk_size == 0
        {
            return Err(layout_err(format!("bad config {cfg:?}")));
        }
        let cfg = StoreConfig {
            chunk_size: cfg
                .chunk_size
                .checked_next_multiple_of(64)
                .ok_or_else(|| layout_err("chunk size"))?,
            ..cfg
        };
        let (slots_off, tables_off, chunks_off, _) = cfg
            .layout(offset)
            .ok_or_else(|| layout_err("size overflow"))?;
        let h: &StoreHeader = region.get(offset).map_err(layout_err)?;
        let slots: &[ReaderSlot] = region
            .get_slice(slots_off, cfg.reader_slots as usize)
            .map_err(layout_err)?;
        for s in slots {
            for w in [&s.owner, &s.start_time, &s.pin, &s.pins] {
                // SYNC POINT: Relaxed init, published by the Release of magic.
                w.store(0, Ordering::Relaxed);
            }
        }
        let tables = Pool::create_in(
            region,
            tables_off,
            cfg.table_block(),
            cfg.table_capacity,
            cfg.table_capacity,
            64,
        )
        .map_err(layout_err)?;
        let chunks = Pool::create_in(
            region,
            chunks_off,
            cfg.chunk_size,
            cfg.chunk_capacity,
            0,
            64,
        )
        .map_err(layout_err)?;
        // SYNC POINT: Relaxed geometry stores, published by the Release
        // store of `magic` below.
        h.version.store(STORE_VERSION, Ordering::Relaxed);
        h.chunk_size.store(cfg.chunk_size, Ordering::Relaxed);
        h.chunk_capacity
            .store(cfg.chunk_capacity, Ordering::Relaxed);
        h.table_capacity
            .store(cfg.table_capacity, Ordering::Relaxed);
        h.max_chunks.store(cfg.max_chunks, Ordering::Relaxed);
        h.reader_slots.store(cfg.reader_slots, Ordering::Relaxed);
        h.slots_off.store(slots_off as u64, Ordering::Relaxed);
        h.tables_off.store(tables_off as u64, Ordering::Relaxed);
        h.chunks_off.store(chunks_off as u64, Ordering::Relaxed);
        h.global.store(0, Ordering::Relaxed);
        // SYNC POINT: Release pairs with the Acquire in `open_in`.
        h.magic.store(STORE_MAGIC, Ordering::Release);
        Ok(BlobStore {
            region: region.clone(),
            offset,
            cfg,
            slots_off,
            tables,
            chunks,
            dummy: AtomicU64::new(0),
        })
    }

    /// Attach to a store another process created; validates everything.
    pub fn open_in(region: &Arc<Region>, offset: usize) -> Result<BlobStore, BlobError> {
        let h: &StoreHeader = region.get(offset).map_err(layout_err)?;
        // SYNC POINT: Acquire pairs with the Release in `create_in`.
        let magic = h.magic.load(Ordering::Acquire);
        if magic != STORE_MAGIC {
            return Err(layout_err(format!("no blob store (magic {magic:#x})")));
        }
        // SYNC POINT (all loads below): Relaxed, ordered by the Acquire of magic.
        let version = h.version.load(Ordering::Relaxed);
        if version != STORE_VERSION {
            return Err(layout_err(format!("version {version}")));
        }
        let cfg = StoreConfig {
            chunk_size: h.chunk_size.load(Ordering::Relaxed),
            chunk_capacity: h.chunk_capacity.load(Ordering::Relaxed),
            table_capacity: h.table_capacity.load(Ordering::Relaxed),
            max_chunks: h.max_chunks.load(Ordering::Relaxed),
            reader_slots: h.reader_slots.load(Ordering::Relaxed),
        };
        if cfg.reader_slots == 0
            || cfg.reader_slots > MAX_READER_SLOTS
            || cfg.max_chunks == 0
            || cfg.max_chunks > (1 << 24)
        {
            return Err(layout_err(format!("bad geometry {cfg:?}")));
        }
        let (slots_off, tables_off, chunks_off, _) = cfg
            .layout(offset)
            .ok_or_else(|| layout_err("size overflow"))?;
        if h.slots_off.load(Ordering::Relaxed) != slots_off as u64
            || h.tables_off.load(Ordering::Relaxed) != tables_off as u64
            || h.chunks_off.load(Ordering::Relaxed) != chunks_off as u64
        {
            return Err(layout_err("offsets disagree with geometry"));
        }
        region
            .get_slice::<ReaderSlot>(slots_off, cfg.reader_slots as usize)
            .map_err(layout_err)?;
        let tables = Pool::open_in(region, tables_off).map_err(layout_err)?;
        let chunks = Pool::open_in(region, chunks_off).map_err(layout_err)?;
        if tables.block_size() < cfg.table_block()
            || tables.capacity() != cfg.table_capacity
            || chunks.block_size() != cfg.chunk_size
            || chunks.capacity() != cfg.chunk_capacity
        {
            return Err(layout_err("pool geometry disagrees with store header"));
        }
        Ok(BlobStore {
            region: region.clone(),
            offset,
            cfg,
            slots_off,
            tables,
            chunks,
            dummy: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> StoreConfig {
        self.cfg
    }
    pub fn region(&self) -> &Arc<Region> {
        &self.region
    }
    /// Chunks currently lent (published or retired, not yet freed).
    pub fn chunks_in_use(&self) -> u32 {
        self.chunks.stats().in_use
    }
    /// Blobs currently existing (table blocks lent).
    pub fn blobs_in_use(&self) -> u32 {
        self.tables.stats().in_use
    }
    /// A snapshot of the store's state for tools (`renoir ls`): read-only
    /// loads, so a store mapped read-only can be inspected.
    pub fn summary(&self) -> StoreSummary {
        let (mut readers, mut pinned, mut pins) = (0, 0, 0);
        for s in self.slots() {
            // SYNC POINT: Relaxed snapshot for display only.
            if s.owner.load(Ordering::Relaxed) & CLAIMED != 0 {
                readers += 1;
            }
            if s.pin.load(Ordering::Relaxed) & epoch::ACTIVE != 0 {
                pinned += 1;
            }
            pins += s.pins.load(Ordering::Relaxed);
        }
        StoreSummary {
            chunk_size: self.cfg.chunk_size,
            chunk_capacity: self.cfg.chunk_capacity,
            chunks_in_use: self.chunks_in_use(),
            table_capacity: self.cfg.table_capacity,
            blobs_in_use: self.blobs_in_use(),
            readers,
            pinned,
            // SYNC POINT: Relaxed snapshot for display only.
            epoch: self.global().load(Ordering::Relaxed),
            pins,
        }
    }
    fn limits(&self) -> Limits {
        Limits {
            max_chunk_len: self.cfg.chunk_size,
            max_chunks: self.cfg.max_chunks,
        }
    }
}

/// [`BlobStore::summary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreSummary {
    pub chunk_size: u32,
    pub chunk_capacity: u32,
    pub chunks_in_use: u32,
    pub table_capacity: u32,
    /// Blobs in the ring or retired and not yet freed.
    pub blobs_in_use: u32,
    /// Reader slots claimed / currently pinned.
    pub readers: u32,
    pub pinned: u32,
    /// The writer's epoch (= blobs retired so far).
    pub epoch: u64,
    /// Pins taken by readers (statistics).
    pub pins: u64,
}

/// How a payload is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStrategy {
    /// Chunks of exactly this many bytes (capped at the store's chunk
    /// size); the last holds the rest.
    Fixed(u32),
    /// As few chunks as the store's chunk size allows, of equal length
    /// (rounded up to 64 bytes): no tiny tail chunk.
    Adaptive,
}

impl ChunkStrategy {
    /// Chunk length for a payload of `len` bytes in blocks of `block`.
    pub fn chunk_len(self, len: u64, block: u32) -> u32 {
        match self {
            ChunkStrategy::Fixed(c) => c.clamp(1, block),
            ChunkStrategy::Adaptive => {
                let n = len.div_ceil(u64::from(block)).max(1);
                let per = len
                    .div_ceil(n)
                    .next_multiple_of(64)
                    .clamp(64, u64::from(block));
                per as u32
            }
        }
    }
}

/// When and how the writer reclaims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReclaimPolicy {
    /// Scan watermarks at most this often from `publish` (always when an
    /// allocation fails).
    pub check_interval: Duration,
    /// A retired blob older than this triggers a liveness check of the
    /// readers holding it back.
    pub max_age: Duration,
    /// Release the slots of dead readers found that way.
    pub forced_cleanup: bool,
}

impl Default for ReclaimPolicy {
    fn default() -> Self {
        ReclaimPolicy {
            check_interval: Duration::from_millis(10),
            max_age: Duration::from_secs(1),
            forced_cleanup: true,
        }
    }
}

/// Writer statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReclaimStats {
    pub published: u64,
    pub bytes: u64,
    pub retired: u64,
    pub freed: u64,
    /// Retired blobs still waiting for readers.
    pub pending: u64,
    pub scans: u64,
    /// Blobs older than `max_age` seen held by live readers.
    pub overdue: u64,
    /// Slots of dead readers released.
    pub dead_readers_released: u64,
    /// Publishes refused for lack of chunks or tables.
    pub exhausted: u64,
}

struct Retired {
    table: u32,
    chunks: Vec<u32>,
    epoch: u64,
    at: Instant,
}

/// The single writer of a store (the publisher's process).
pub struct BlobWriter {
    store: BlobStore,
    owner: u32,
    seq: u32,
    strategy: ChunkStrategy,
    checksum: bool,
    policy: ReclaimPolicy,
    live: HashMap<u32, (u32, Vec<u32>)>,
    retired: VecDeque<Retired>,
    last_scan: Instant,
    pinned: Vec<PinnedSlot>,
    stats: ReclaimStats,
}

impl BlobWriter {
    pub fn new(
        store: BlobStore,
        strategy: ChunkStrategy,
        checksum: bool,
        policy: ReclaimPolicy,
    ) -> BlobWriter {
        let owner = (ProcessIdentity::current().pid & MAX_OWNER_TAG).max(1);
        BlobWriter {
            store,
            owner,
            seq: 0,
            strategy,
            checksum,
            policy,
            live: HashMap::new(),
            retired: VecDeque::new(),
            last_scan: Instant::now(),
            pinned: Vec::new(),
            stats: ReclaimStats::default(),
        }
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }
    pub fn stats(&self) -> ReclaimStats {
        ReclaimStats {
            pending: self.retired.len() as u64,
            ..self.stats
        }
    }

    /// Copy `payload` into chunks and return the descriptor to publish.
    /// Fails with `Exhausted` (after one reclaim scan) when readers hold
    /// too much: back-pressure, never overwriting a loaned chunk.
    pub fn publish(&mut self, payload: &[u8], ct: ContentType) -> Result<BlobDesc, BlobError> {
        if self.last_scan.elapsed() >= self.policy.check_interval {
            self.reclaim();
        }
        match self.try_publish(payload, ct) {
            Err(BlobError::Exhausted { .. }) => {
                self.reclaim();
                self.try_publish(payload, ct)
                    .inspect_err(|_| self.stats.exhausted += 1)
            }
            r => r,
        }
    }

    fn try_publish(&mut self, payload: &[u8], ct: ContentType) -> Result<BlobDesc, BlobError> {
        let len = payload.len() as u64;
        let chunk_len = self.strategy.chunk_len(len, self.store.cfg.chunk_size);
        let n = chunk_count(len, chunk_len)
            .filter(|&n| n <= self.store.cfg.max_chunks)
            .ok_or(BlobError::TooLarge {
                len,
                max_chunks: self.store.cfg.max_chunks,
            })?;
        let table = self
            .store
            .tables
            .alloc_tagged(self.owner)
            .ok_or(BlobError::Exhausted {
                what: "blob table",
                len,
            })?;
        let mut chunks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            match self.store.chunks.alloc_tagged(self.owner) {
                Some(c) => chunks.push(c),
                None => {
                    self.free_blocks(table, &chunks);
                    return Err(BlobError::Exhausted {
                        what: "chunks",
                        len,
                    });
                }
            }
        }
        let mut sum = Checksum::new();
        let region = &self.store.region;
        let mut table_bytes = vec![0u8; HEADER_LEN + 4 * chunks.len()];
        for (i, (&c, src)) in chunks
            .iter()
            .zip(payload.chunks(chunk_len as usize))
            .enumerate()
        {
            let off = self
                .store
                .chunks
                .offset_of(c)
                .ok_or(BlobError::BadChunkIndex(c))?;
            shm_io::write_loaned(region, off as usize, src).map_err(BlobError::Bounds)?;
            if self.checksum {
                sum.update(src);
            }
            table_bytes[HEADER_LEN + 4 * i..HEADER_LEN + 4 * i + 4]
                .copy_from_slice(&c.to_le_bytes());
        }
        self.seq = self.seq.wrapping_add(1);
        let mut hdr = BlobHeader::new(ct, len, chunk_len, self.seq);
        if self.checksum {
            hdr.flags |= FLAG_CHECKSUM;
            hdr.checksum = sum.finish();
        }
        hdr.encode(&mut table_bytes)?;
        let toff = self
            .store
            .tables
            .offset_of(table)
            .ok_or(BlobError::BadTable(table))?;
        shm_io::write_loaned(region, toff as usize, &table_bytes).map_err(BlobError::Bounds)?;
        self.live.insert(table, (self.seq, chunks));
        self.stats.published += 1;
        self.stats.bytes += len;
        Ok(BlobDesc {
            table,
            seq: self.seq,
        })
    }

    fn free_blocks(&self, table: u32, chunks: &[u32]) {
        for &c in chunks {
            // Our own loans (indices from our local list): cannot fail.
            let _ = self.store.chunks.free_owned(c, self.owner);
        }
        let _ = self.store.tables.free_owned(table, self.owner);
    }

    /// The blob is no longer reachable by new readers (its descriptor was
    /// overwritten): free it once every reader has moved past. Unknown
    /// descriptors are ignored (returns false).
    pub fn retire(&mut self, desc: BlobDesc) -> bool {
        match self.live.get(&desc.table) {
            Some((seq, _)) if *seq == desc.seq => {}
            _ => return false,
        }
        let Some((_, chunks)) = self.live.remove(&desc.table) else {
            return false;
        };
        let e = epoch::retire_epoch(&self.store);
        self.retired.push_back(Retired {
            table: desc.table,
            chunks,
            epoch: e,
            at: Instant::now(),
        });
        self.stats.retired += 1;
        true
    }

    /// Scan the watermarks and free what every reader has passed. Applies
    /// the max-age / forced-cleanup policy. Returns blobs freed.
    pub fn reclaim(&mut self) -> u64 {
        self.last_scan = Instant::now();
        self.stats.scans += 1;
        let mut pinned = std::mem::take(&mut self.pinned);
        let mut min = epoch::min_pin(&self.store, &mut pinned);
        let oldest_overdue = self
            .retired
            .front()
            .is_some_and(|r| r.epoch >= min && r.at.elapsed() >= self.policy.max_age);
        if oldest_overdue {
            let mut released = false;
            for p in &pinned {
                if self.policy.forced_cleanup
                    && reader_dead(p)
                    && epoch::release_slot(&self.store, p.slot, p.owner)
                {
                    self.stats.dead_readers_released += 1;
                    released = true;
                }
            }
            if released {
                min = epoch::min_pin(&self.store, &mut pinned);
            }
            if self.retired.front().is_some_and(|r| r.epoch >= min) {
                self.stats.overdue += 1;
            }
        }
        self.pinned = pinned;
        let mut freed = 0;
        while self.retired.front().is_some_and(|r| r.epoch < min) {
            if let Some(r) = self.retired.pop_front() {
                self.free_blocks(r.table, &r.chunks);
                freed += 1;
            }
        }
        self.stats.freed += freed;
        freed
    }

    /// Release every dead reader's slot now, whatever the policy says.
    /// Returns how many were released.
    pub fn release_dead_readers(&mut self) -> u64 {
        let mut n = 0;
        for (i, s) in self.store.slots().iter().enumerate() {
            // SYNC POINT: Acquire pairs with the Release in `claim_slot`.
            let owner = s.owner.load(Ordering::Acquire);
            if owner & CLAIMED == 0 {
                continue;
            }
            let p = PinnedSlot {
                slot: i,
                owner,
                start_time: s.start_time.load(Ordering::Acquire),
                epoch: 0,
            };
            if reader_dead(&p) && epoch::release_slot(&self.store, i, owner) {
                n += 1;
            }
        }
        self.stats.dead_readers_released += n;
        n
    }
}

/// A reader is dead if its pid is gone, or (when its start time is known)
/// the pid now belongs to another process.
fn reader_dead(p: &PinnedSlot) -> bool {
    if p.owner & CLAIMED == 0 {
        return false;
    }
    let pid = (p.owner & 0xFFFF_FFFF) as u32;
    if p.start_time == 0 {
        return ProcessIdentity::of_pid(pid).is_none();
    }
    !ProcessIdentity {
        pid,
        start_time: p.start_time,
    }
    .is_alive()
}

/// A reader: owns one watermark slot while it lives.
pub struct BlobReader {
    store: BlobStore,
    slot: usize,
    owner_word: u64,
    verify: bool,
    released: bool,
}

impl BlobReader {
    /// Claim a reader slot. `verify`: check payload checksums on open.
    pub fn new(store: BlobStore, verify: bool) -> Result<BlobReader, BlobError> {
        let me = ProcessIdentity::current();
        let slot = epoch::claim_slot(&store, me.pid, me.start_time)
            .ok_or(BlobError::NoReaderSlot(store.cfg.reader_slots))?;
        Ok(BlobReader {
            store,
            slot,
            owner_word: CLAIMED | u64::from(me.pid),
            verify,
            released: false,
        })
    }

    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Enter a read section: blobs opened through the guard stay valid
    /// until it drops.
    pub fn pin(&mut self) -> ReadGuard<'_> {
        epoch::pin(&self.store, self.slot);
        ReadGuard { r: self }
    }

    /// Drop without releasing the slot: what a crash leaves behind.
    pub fn abandon(mut self) {
        self.released = true;
    }
}

impl Drop for BlobReader {
    fn drop(&mut self) {
        if !self.released {
            epoch::release_slot(&self.store, self.slot, self.owner_word);
        }
    }
}

/// A pinned read section.
pub struct ReadGuard<'a> {
    r: &'a mut BlobReader,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        epoch::unpin(&self.r.store, self.r.slot);
    }
}

impl ReadGuard<'_> {
    /// Validate a descriptor received from the writer and give access to
    /// its bytes. Checks the table block, header, chunk indices and (if
    /// enabled and present) the checksum.
    pub fn open(&self, desc: BlobDesc) -> Result<BlobRef<'_>, BlobError> {
        let st = &self.r.store;
        let (hdr, spans) = open_spans(st, desc)?;
        let blob = BlobRef {
            store: st,
            hdr,
            spans,
        };
        if self.r.verify && hdr.flags & FLAG_CHECKSUM != 0 {
            blob.verify()?;
        }
        Ok(blob)
    }
}

/// Validate `desc` against the store (table block lent, header, seq, chunk
/// indices lent) and return the header copy plus the chunk spans. The
/// caller must be pinned.
fn open_spans(
    st: &BlobStore,
    desc: BlobDesc,
) -> Result<(BlobHeader, Vec<(usize, usize)>), BlobError> {
    if st.tables.owner_of(desc.table).is_none() {
        return Err(BlobError::BadTable(desc.table));
    }
    let toff = st
        .tables
        .offset_of(desc.table)
        .ok_or(BlobError::BadTable(desc.table))? as usize;
    let hb = st
        .region
        .bytes(toff, HEADER_LEN)
        .map_err(|e| BlobError::Bounds(e.to_string()))?;
    let hdr = BlobHeader::parse(hb, st.limits())?;
    if hdr.seq != desc.seq {
        return Err(BlobError::Stale {
            expected: desc.seq,
            found: hdr.seq,
        });
    }
    let n = hdr.chunk_count as usize;
    let ib = st
        .region
        .bytes(toff + HEADER_LEN, 4 * n)
        .map_err(|e| BlobError::Bounds(e.to_string()))?;
    let mut spans = Vec::with_capacity(n);
    for (i, w) in ib.chunks_exact(4).enumerate() {
        let c = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let off = st.chunks.offset_of(c).ok_or(BlobError::BadChunkIndex(c))?;
        if st.chunks.owner_of(c).is_none() {
            return Err(BlobError::BadChunkIndex(c));
        }
        spans.push((off as usize, hdr.chunk_len_of(i as u32)));
    }
    Ok((hdr, spans))
}

/// A reader whose pins can be held by several owners at once (a topic
/// subscriber holding several chunked samples): one watermark slot plus a
/// process-local pin count. The slot is pinned on 0 -> 1 and unpinned on
/// 1 -> 0; nested pins keep the first (older) epoch, which protects at
/// least as much as a fresh one (a blob retired before it was made
/// unreachable before the first pin, so no later descriptor load finds it).
pub struct SharedReader {
    store: BlobStore,
    slot: usize,
    owner_word: u64,
    verify: bool,
    pins: std::sync::Mutex<u32>,
    abandoned: AtomicBool,
}

impl SharedReader {
    /// Claim a reader slot. `verify`: check payload checksums on open.
    pub fn new(store: BlobStore, verify: bool) -> Result<Arc<SharedReader>, BlobError> {
        let me = ProcessIdentity::current();
        let slot = epoch::claim_slot(&store, me.pid, me.start_time)
            .ok_or(BlobError::NoReaderSlot(store.cfg.reader_slots))?;
        Ok(Arc::new(SharedReader {
            store,
            slot,
            owner_word: CLAIMED | u64::from(me.pid),
            verify,
            pins: std::sync::Mutex::new(0),
            abandoned: AtomicBool::new(false),
        }))
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Pins currently held (statistics, tests).
    pub fn pin_count(&self) -> u32 {
        *self.pins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enter (or nest) a read section; it lasts until the token drops.
    pub fn pin(self: &Arc<Self>) -> PinToken {
        let mut n = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        if *n == 0 {
            epoch::pin(&self.store, self.slot);
        }
        *n += 1;
        PinToken { r: self.clone() }
    }

    /// Keep the slot and any pin as they are when dropped: what a crash
    /// leaves behind (the writer's liveness check releases it).
    pub fn abandon(&self) {
        // SYNC POINT: process-local flag, read by our own drops only.
        self.abandoned.store(true, Ordering::Relaxed);
    }

    fn is_abandoned(&self) -> bool {
        // SYNC POINT: as in `abandon`.
        self.abandoned.load(Ordering::Relaxed)
    }
}

impl Drop for SharedReader {
    fn drop(&mut self) {
        if !self.is_abandoned() {
            epoch::release_slot(&self.store, self.slot, self.owner_word);
        }
    }
}

/// One nesting level of a [`SharedReader`]'s pin.
pub struct PinToken {
    r: Arc<SharedReader>,
}

impl std::fmt::Debug for PinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinToken")
            .field("slot", &self.r.slot)
            .finish()
    }
}

impl Drop for PinToken {
    fn drop(&mut self) {
        if self.r.is_abandoned() {
            return;
        }
        let mut n = self.r.pins.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            epoch::unpin(&self.r.store, self.r.slot);
        }
    }
}

impl PinToken {
    /// Validate `desc` (see [`ReadGuard::open`]) and keep it readable for
    /// as long as the returned [`HeldBlob`] (which owns this pin) lives.
    pub fn open(self, desc: BlobDesc) -> Result<HeldBlob, BlobError> {
        let (hdr, spans) = open_spans(&self.r.store, desc)?;
        let blob = HeldBlob {
            pin: self,
            hdr,
            spans,
        };
        if blob.pin.r.verify && hdr.flags & FLAG_CHECKSUM != 0 {
            blob.as_ref().verify()?;
        }
        Ok(blob)
    }
}

/// A validated blob that owns its pin (no borrow of the reader): what a
/// topic `Sample` keeps.
pub struct HeldBlob {
    pin: PinToken,
    hdr: BlobHeader,
    spans: Vec<(usize, usize)>,
}

impl std::fmt::Debug for HeldBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldBlob")
            .field("len", &self.hdr.total_len)
            .field("chunks", &self.spans.len())
            .finish()
    }
}

impl HeldBlob {
    /// The same accessors as [`BlobRef`], borrowing this blob.
    pub fn as_ref(&self) -> BlobRef<'_> {
        BlobRef {
            store: &self.pin.r.store,
            hdr: self.hdr,
            spans: self.spans.clone(),
        }
    }
    pub fn len(&self) -> usize {
        self.hdr.total_len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.hdr.total_len == 0
    }
    pub fn chunk_count(&self) -> usize {
        self.spans.len()
    }
    /// Chunk blocks of the store this blob lives in.
    pub fn store_chunk_capacity(&self) -> u32 {
        self.pin.r.store.cfg.chunk_capacity
    }
    /// Zero-copy slices of the chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let region = &self.pin.r.store.region;
        self.spans
            .iter()
            .map(move |&(off, len)| region.bytes(off, len).unwrap_or(&[]))
    }
    /// The whole payload without copying, if it is in one chunk (or empty).
    pub fn as_contiguous(&self) -> Option<&[u8]> {
        match self.spans.as_slice() {
            [] => Some(&[]),
            [(off, len)] => self.pin.r.store.region.bytes(*off, *len).ok(),
            _ => None,
        }
    }
    /// Copy the payload into `out`, which must be exactly `len()` bytes.
    pub fn copy_to(&self, out: &mut [u8]) -> Result<(), BlobError> {
        gather(self.chunks(), self.hdr.total_len, out)
    }
}

/// A validated blob, readable while its guard lives.
pub struct BlobRef<'g> {
    store: &'g BlobStore,
    hdr: BlobHeader,
    spans: Vec<(usize, usize)>,
}

impl<'g> BlobRef<'g> {
    /// Chunk blocks of the store this blob lives in.
    pub fn store_chunk_capacity(&self) -> u32 {
        self.store.cfg.chunk_capacity
    }
    /// The validated header copy.
    pub fn header(&self) -> &BlobHeader {
        &self.hdr
    }
    /// Detected content type.
    pub fn content_type(&self) -> ContentType {
        self.hdr.content().unwrap_or(ContentType::Raw)
    }
    pub fn len(&self) -> usize {
        self.hdr.total_len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.hdr.total_len == 0
    }
    pub fn chunk_count(&self) -> usize {
        self.spans.len()
    }
    /// Zero-copy slices of the chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &'g [u8]> + '_ {
        let region = &self.store.region;
        self.spans
            .iter()
            .map(move |&(off, len)| region.bytes(off, len).unwrap_or(&[]))
    }
    /// The whole payload without copying, if it is in one chunk (or empty).
    pub fn as_contiguous(&self) -> Option<&'g [u8]> {
        match self.spans.as_slice() {
            [] => Some(&[]),
            [(off, len)] => self.store.region.bytes(*off, *len).ok(),
            _ => None,
        }
    }
    /// Copy the payload into `out` (cleared first).
    pub fn reassemble_into(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.len());
        for c in self.chunks() {
            out.extend_from_slice(c);
        }
    }
    /// Copy the payload into `out`, which must be exactly `len()` bytes.
    pub fn copy_to(&self, out: &mut [u8]) -> Result<(), BlobError> {
        gather(self.chunks(), self.hdr.total_len, out)
    }
    /// Check the payload checksum (Ok if the writer stored none).
    pub fn verify(&self) -> Result<(), BlobError> {
        if self.hdr.flags & FLAG_CHECKSUM == 0 {
            return Ok(());
        }
        let mut s = Checksum::new();
        for c in self.chunks() {
            s.update(c);
        }
        let actual = s.finish();
        if actual != self.hdr.checksum {
            return Err(BlobError::ChecksumMismatch {
                expected: self.hdr.checksum,
                actual,
            });
        }
        Ok(())
    }
}

/// Copy chunk slices of a `total`-byte payload into `out` (exactly `total`
/// bytes): one copy, chunk by chunk, no intermediate buffer.
pub fn gather<'a>(
    chunks: impl Iterator<Item = &'a [u8]>,
    total: u64,
    out: &mut [u8],
) -> Result<(), BlobError> {
    if out.len() as u64 != total {
        return Err(BlobError::LengthMismatch {
            need: total,
            have: out.len(),
        });
    }
    let mut at = 0;
    for c in chunks {
        let end = at + c.len();
        if end > out.len() {
            return Err(BlobError::LengthMismatch {
                need: end as u64,
                have: out.len(),
            });
        }
        out[at..end].copy_from_slice(c);
        at = end;
    }
    Ok(())
}
