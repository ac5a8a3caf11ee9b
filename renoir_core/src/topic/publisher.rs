//! The publish path: loan a slot, write once, stamp a ring entry, ring the
//! doorbells of matched readers.

#![allow(clippy::disallowed_types)]

use super::layout::*;
use super::qos::{Durability, EndpointKind, History, Reliability, TopicSpec};
use crate::blob::{BlobDesc, BlobError, BlobStore, BlobWriter, ContentType, StoreConfig};
use crate::config::BlobConfig;
use crate::region::{Access, Backend, Region, RegionConfig};
use crate::registry::slot::{Word, CLAIMING, FREE, LIVE, RECLAIMING};
use crate::registry::{
    ep_key, mark_abandoned, now_unix_ns, Domain, EndpointReg, EndpointStats, NodeHandle,
    RegisterError,
};
use crate::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Creating a publisher failed.
#[derive(Debug, thiserror::Error)]
pub enum CreatePublisherError {
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error("cannot create publisher segment: {0}")]
    Segment(#[from] crate::region::CreateError),
    #[error("invalid topic spec: {0}")]
    Invalid(String),
}

/// Loaning or publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("sample of {len} bytes exceeds the maximum of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("no free slot: all {0} slots are loaned or held by readers")]
    PoolExhausted(u32),
    #[error("a reliable reader did not make room within {0:?}")]
    Timeout(Duration),
    #[error("cannot allocate a {size}-byte blob: {source}")]
    Blob {
        size: usize,
        source: crate::region::CreateError,
    },
    #[error("sample was loaned by another publisher")]
    ForeignSample,
    #[error("shared memory of this publisher is inconsistent: {0}")]
    Corrupt(String),
    #[error(
        "chunk store full: no room for a {len}-byte sample \
         ({in_use} of {capacity} chunks held by readers or in the ring)"
    )]
    ChunksExhausted {
        len: usize,
        in_use: u32,
        capacity: u32,
    },
    #[error("chunk store: {0}")]
    Chunked(String),
}

/// The chunk store of a publisher (created on the first sample larger
/// than `max_slot_size`).
struct Large {
    gen: u32,
    writer: BlobWriter,
    region: Arc<Region>,
    /// Samples dropped because the store was full (best effort).
    dropped: u64,
    /// Replaced (smaller) generations, kept until their blobs are freed.
    old: Vec<(u32, BlobWriter, Arc<Region>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Loaned,
    InRing(u64),
    /// Published as sample `q` while its writer is still filling it
    /// ([`StreamingSample`]); never reused until finished or aborted.
    Streaming(u64),
}

struct Local {
    /// Next sequence index.
    head: u64,
    slots: Vec<SlotState>,
    /// Per slot: blob region (publisher mapping) with its generation.
    blobs: Vec<Option<(u32, Arc<Region>)>>,
    last_reader_reap: Instant,
    /// Where the inline fast path of `loan` starts looking.
    hint: usize,
    /// Per ring index: the chunked sample it names (process-local copy,
    /// never read back from shared memory), retired when overwritten.
    /// (sequence index, store generation, descriptor).
    ring_blobs: Vec<Option<(u64, u32, BlobDesc)>>,
    large: Option<Large>,
}

pub(crate) struct PubShared {
    pub(crate) domain: Arc<Domain>,
    pub(crate) reg: EndpointReg,
    pub(crate) ctl: Region,
    pub(crate) data: Region,
    pub(crate) lay: PubLayout,
    pub(crate) ctl_name: String,
    spec: TopicSpec,
    cfg: BlobConfig,
    local: Mutex<Local>,
    max_blocking: Mutex<Duration>,
    abandoned: crate::sync::atomic::AtomicBool,
}

/// A publisher on one topic. Cheap to share behind an `Arc`; all methods
/// take `&self`.
pub struct Publisher {
    sh: Arc<PubShared>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.sh.spec.name)
            .field("segment", &self.sh.ctl_name)
            .finish()
    }
}

/// Chunk store statistics of one publisher ([`Publisher::chunk_stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkStats {
    pub reclaim: crate::blob::ReclaimStats,
    pub chunks_in_use: u32,
    pub chunk_capacity: u32,
    pub chunk_size: u32,
    /// Samples dropped because the store was full.
    pub dropped: u64,
    /// Logical name of the store's region.
    pub segment: String,
}

/// A loaned, writable sample: exactly `len` bytes in shared memory.
/// Publish it with [`Publisher::publish`]; dropping it returns the slot.
pub struct SampleMut {
    sh: Arc<PubShared>,
    slot: u32,
    len: usize,
    blob: Option<(u32, Arc<Region>)>,
    done: bool,
}

impl std::fmt::Debug for SampleMut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleMut")
            .field("slot", &self.slot)
            .field("len", &self.len)
            .finish()
    }
}

impl SampleMut {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::ops::Deref for SampleMut {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.blob {
            Some((_, r)) => r.bytes(r.payload_offset(), self.len).unwrap_or(&[]),
            None => {
                let off = self.sh.data.payload_offset()
                    + self.slot as usize * self.sh.lay.slot_size as usize;
                self.sh.data.bytes(off, self.len).unwrap_or(&[])
            }
        }
    }
}

/// Where the bytes of `slot` live: its large-sample segment, or its inline
/// slot in the data segment.
fn slot_bytes<'a>(
    sh: &'a PubShared,
    slot: u32,
    blob: &'a Option<(u32, Arc<Region>)>,
) -> (&'a Region, usize) {
    match blob {
        Some((_, r)) => (&**r, r.payload_offset()),
        None => (
            &sh.data,
            sh.data.payload_offset() + slot as usize * sh.lay.slot_size as usize,
        ),
    }
}

impl std::ops::DerefMut for SampleMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        let (r, off) = slot_bytes(&self.sh, self.slot, &self.blob);
        // SAFETY: the slot is in state Loaned, lent exclusively to this
        // SampleMut: `loan` checked that no reader holds it (holder bits 0)
        // after invalidating every ring entry that referenced it, so no
        // reader can start reading it, and no other loan gets it until this
        // SampleMut is published or dropped. Readers map it read-only.
        unsafe { r.bytes_mut(off, self.len) }.unwrap_or(&mut [])
    }
}

impl Drop for SampleMut {
    fn drop(&mut self) {
        if !self.done {
            let mut l = self.sh.lock();
            if let Some(s) = l.slots.get_mut(self.slot as usize) {
                *s = SlotState::Free;
            }
            self.sh.update_pool_counter(&l);
        }
    }
}

/// A sample already published whose bytes are still being written
/// ([`Publisher::publish_streaming`]). Bytes below the progress mark are
/// final and may be read by subscribers; write each byte once, in any
/// order, but only above the mark.
pub struct StreamingSample {
    sh: Arc<PubShared>,
    slot: u32,
    len: usize,
    blob: Option<(u32, Arc<Region>)>,
    q: u64,
    written: u64,
    finished: bool,
}

impl std::fmt::Debug for StreamingSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingSample")
            .field("slot", &self.slot)
            .field("len", &self.len)
            .field("written", &self.written)
            .finish()
    }
}

/// The progress mark of a [`StreamingSample`], usable while its bytes are
/// borrowed mutably (see [`StreamingSample::split`]).
pub struct Progress<'a> {
    word: &'a AtomicU64,
    len: u64,
    written: &'a mut u64,
}

impl Progress<'_> {
    /// Bytes `0..upto` are written and final. Monotonic: a lower mark
    /// than the current one is ignored; clamped to the sample length.
    pub fn advance(&mut self, upto: usize) {
        let upto = (upto as u64).min(self.len);
        if upto > *self.written {
            *self.written = upto;
            // SYNC POINT (stream publish): Release orders our writes of
            // bytes below `upto` before a reader's Acquire load of the
            // mark that lets it read them (on ARM: a store-release after
            // plain stores, the same pairing as a seqlock stamp).
            self.word.store(upto, Ordering::Release);
        }
    }
    /// The current mark.
    pub fn written(&self) -> usize {
        *self.written as usize
    }
}

impl StreamingSample {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Sequence number of this sample (from 1).
    pub fn sequence(&self) -> u64 {
        self.q + 1
    }

    /// The sample's bytes and its progress mark.
    pub fn split(&mut self) -> (&mut [u8], Progress<'_>) {
        let (r, off) = slot_bytes(&self.sh, self.slot, &self.blob);
        // SAFETY: the slot is in state Streaming, owned by this
        // StreamingSample alone: `loan` gave it to the SampleMut we came
        // from with no reader holding it, and it is not reused until
        // `end_streaming`. Readers may read it concurrently, but only
        // bytes below the progress mark, which we never write again
        // (`Progress::advance` is monotonic and documented as "final").
        let bytes = unsafe { r.bytes_mut(off, self.len) }.unwrap_or(&mut []);
        let word = &self
            .sh
            .ctl
            .get::<SlotCtl>(self.sh.lay.slot_off(self.slot as usize))
            .expect("own layout")
            .written;
        (
            bytes,
            Progress {
                word,
                len: self.len as u64,
                written: &mut self.written,
            },
        )
    }

    /// Bytes `0..upto` are written and final (see [`Progress::advance`]).
    pub fn advance(&mut self, upto: usize) {
        self.split().1.advance(upto);
    }

    /// Every byte is written: readers waiting for the rest continue.
    pub fn finish(mut self) {
        self.advance(self.len);
        self.finished = true;
        self.sh.end_streaming(self.slot, self.q);
    }
}

impl Drop for StreamingSample {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // SYNC POINT: Release; readers that see the abort drop the sample
        // (and never read the unwritten rest).
        self.sh
            .slot_ctl(self.slot as usize)
            .written
            .store(WRITTEN_ABORTED, Ordering::Release);
        self.sh.end_streaming(self.slot, self.q);
    }
}

fn round_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl PubShared {
    fn lock(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hdr(&self) -> &PubHeader {
        self.ctl.get(self.lay.header).expect("own layout")
    }
    pub(crate) fn reader(&self, i: usize) -> &ReaderEntry {
        self.ctl.get(self.lay.reader_off(i)).expect("own layout")
    }
    fn entry(&self, i: usize) -> &RingEntry {
        self.ctl.get(self.lay.ring_off(i)).expect("own layout")
    }
    fn slot_ctl(&self, i: usize) -> &SlotCtl {
        self.ctl.get(self.lay.slot_off(i)).expect("own layout")
    }

    fn held(&self, s: usize) -> bool {
        let c = self.slot_ctl(s);
        // SYNC POINT (Dekker fence F1): orders our earlier SeqCst stamp
        // invalidation (S1) before the holder loads (L1); pairs with the
        // reader's fence F2 between its bit set (S2) and stamp re-read (L2).
        // The fences carry the argument in the C++ model (and in loom, which
        // models SeqCst accesses only as AcqRel).
        crate::sync::atomic::fence(Ordering::SeqCst);
        // SYNC POINT (Dekker L1): SeqCst loads after the SeqCst
        // invalidation of every ring entry naming this slot; pairs with
        // the reader's SeqCst fetch_or (S2) followed by its SeqCst stamp
        // re-check (L2). Either we see the bit, or the reader sees the
        // invalidated stamp and lets go. The Acquire half also orders the
        // reader's payload reads (before its Release fetch_and) before our
        // next write into the slot.
        c.holders[0].load(Ordering::SeqCst) != 0 || c.holders[1].load(Ordering::SeqCst) != 0
    }

    /// Live readers: (index, cursor, reliable). Dead readers are reaped at
    /// most every 200 ms (or when `force`).
    fn readers(&self, l: &mut Local, force: bool) -> Vec<(usize, u64, bool)> {
        // SYNC POINT: Acquire pairs with the fetch_max in attach; bounds the scan.
        let hwm = (self.hdr().reader_hwm.load(Ordering::Acquire) as usize).min(MAX_READERS);
        let reap = force || l.last_reader_reap.elapsed() > Duration::from_millis(200);
        if reap {
            l.last_reader_reap = Instant::now();
            reap_readers(self, hwm);
        }
        let mut out = Vec::new();
        for i in 0..hwm {
            let r = self.reader(i);
            let w = r.slot.load();
            if w.state() != LIVE {
                continue;
            }
            // SYNC POINT: Acquire pairs with the reader's Release store of
            // its cursor after it finished reading the ring entry.
            let c = r.cursor.load(Ordering::Acquire);
            // SYNC POINT: content published with the LIVE store.
            let rel = r.reliable.load(Ordering::Relaxed) == 1;
            out.push((i, c, rel));
        }
        out
    }

    fn update_pool_counter(&self, l: &Local) {
        let used = l.slots.iter().filter(|s| **s != SlotState::Free).count();
        // SYNC POINT: statistics only.
        self.reg
            .record()
            .counters
            .pool_used
            .store(used as u64, Ordering::Relaxed);
    }

    fn invalidate_entry(&self, seq: u64) {
        let e = self.entry((seq % self.lay.ring_cap as u64) as usize);
        // SYNC POINT (Dekker S1): SeqCst store of the "gone" stamp; any
        // reader that sets a holder bit afterwards re-reads this stamp
        // with SeqCst and backs off (see `held`).
        if e.stamp.load(Ordering::Relaxed) == seq + 1 {
            e.stamp.store(0, Ordering::SeqCst);
        }
    }

    fn keep_all_reliable(&self) -> bool {
        self.spec.qos.history == History::KeepAll
            && self.spec.qos.reliability == Reliability::Reliable
    }

    fn loan(self: &Arc<Self>, len: usize) -> Result<SampleMut, PublishError> {
        if len > MAX_SAMPLE {
            return Err(PublishError::TooLarge {
                len,
                max: MAX_SAMPLE,
            });
        }
        let deadline =
            Instant::now() + *self.max_blocking.lock().unwrap_or_else(|e| e.into_inner());
        let mut l = self.lock();
        // Fast path: an inline-sized sample takes the next free, unheld slot
        // (round robin from the last one handed out).
        if len as u64 <= self.lay.slot_size {
            let n = l.slots.len();
            for k in 0..n {
                let s = (l.hint + k) % n;
                if l.slots[s] == SlotState::Free && !self.held(s) {
                    l.slots[s] = SlotState::Loaned;
                    l.hint = (s + 1) % n;
                    self.update_pool_counter(&l);
                    drop(l);
                    return Ok(SampleMut {
                        sh: self.clone(),
                        slot: s as u32,
                        len,
                        blob: None,
                        done: false,
                    });
                }
            }
        }
        let volatile = self.spec.qos.durability == Durability::Volatile;
        let slot = loop {
            // Read the space event before checking, so a take in between
            // makes the wait below return at once.
            let seen = self.hdr().space.seq();
            let readers = self.readers(&mut l, false);
            let min_all = readers.iter().map(|r| r.1).min().unwrap_or(l.head);
            let min_rel = readers
                .iter()
                .filter(|r| r.2)
                .map(|r| r.1)
                .min()
                .unwrap_or(l.head);
            // Candidates: free slots and ring slots every reader consumed
            // (volatile only; transient local keeps them for late joiners).
            let mut best: Option<(usize, bool)> = None; // (slot, fits)
            for (s, st) in l.slots.iter().enumerate() {
                let avail = match *st {
                    SlotState::Free => true,
                    SlotState::InRing(q) => volatile && q < min_all,
                    SlotState::Loaned | SlotState::Streaming(_) => false,
                };
                if !avail || self.held(s) {
                    continue;
                }
                let cap = self.capacity(&l, s);
                let fits = cap >= len as u64;
                let better = match best {
                    None => true,
                    Some((b, bf)) => {
                        (fits && !bf) || (fits == bf && fits && cap < self.capacity(&l, b))
                    }
                };
                if better {
                    best = Some((s, fits));
                }
            }
            // Under pressure: drop the oldest sample still in the ring
            // (keep-last always; keep-all only once reliable readers have
            // it).
            if best.is_none() {
                let mut oldest: Option<(usize, u64)> = None;
                for (s, st) in l.slots.iter().enumerate() {
                    if let SlotState::InRing(q) = *st {
                        let droppable = !self.keep_all_reliable() || q < min_rel;
                        if droppable && !self.held(s) && oldest.is_none_or(|o| q < o.1) {
                            oldest = Some((s, q));
                        }
                    }
                }
                if let Some((s, _)) = oldest {
                    best = Some((s, false));
                }
            }
            match best {
                Some((s, _)) => {
                    if let SlotState::InRing(q) = l.slots[s] {
                        self.invalidate_entry(q);
                        l.slots[s] = SlotState::Free;
                        // Re-check after the invalidation (Dekker).
                        if self.held(s) {
                            continue;
                        }
                    }
                    break s;
                }
                None => {
                    if !self.keep_all_reliable() && readers.iter().all(|r| !r.2) {
                        return Err(PublishError::PoolExhausted(self.lay.n_slots));
                    }
                    if Instant::now() >= deadline {
                        return Err(PublishError::Timeout(
                            *self.max_blocking.lock().unwrap_or_else(|e| e.into_inner()),
                        ));
                    }
                    drop(l);
                    self.wait_space(seen, deadline);
                    l = self.lock();
                    l.last_reader_reap = Instant::now() - Duration::from_secs(1);
                }
            }
        };
        // Size the slot.
        let mut blob = None;
        if len as u64 > self.lay.slot_size {
            let cur = l.blobs[slot].clone();
            blob = match cur {
                Some((g, r)) if r.payload_len() >= len => Some((g, r)),
                _ => {
                    // SYNC POINT: only the publisher writes blob_gen.
                    let g = self
                        .slot_ctl(slot)
                        .blob_gen
                        .load(Ordering::Relaxed)
                        .wrapping_add(1)
                        .clamp(1, CHUNKED - 1);
                    // 1/8 headroom so slowly growing samples (point clouds)
                    // do not replace the blob every time.
                    let cap = round_up(len as u64 + len as u64 / 8, 64 << 10) as usize;
                    let name = blob_name(&self.ctl_name, slot as u32, g);
                    let cfg = RegionConfig::new(name, cap)
                        .backend(self.domain.backend().clone())
                        .description("renoir sample blob");
                    let r = Region::create(&cfg)
                        .map_err(|source| PublishError::Blob { size: cap, source })?;
                    let c = self.slot_ctl(slot);
                    // SYNC POINT: published to readers by the ring entry's
                    // Release stamp (they read blob_gen from the entry).
                    c.blob_cap.store(r.payload_len() as u64, Ordering::Relaxed);
                    c.blob_gen.store(g, Ordering::Relaxed);
                    let r = Arc::new(r);
                    // The old blob (if any) is unlinked when dropped here;
                    // readers that still map it keep their mapping.
                    l.blobs[slot] = Some((g, r.clone()));
                    Some((g, r))
                }
            };
        }
        l.slots[slot] = SlotState::Loaned;
        self.update_pool_counter(&l);
        drop(l);
        Ok(SampleMut {
            sh: self.clone(),
            slot: slot as u32,
            len,
            blob,
            done: false,
        })
    }

    fn capacity(&self, l: &Local, s: usize) -> u64 {
        match &l.blobs[s] {
            Some((_, r)) => (r.payload_len() as u64).max(self.lay.slot_size),
            None => self.lay.slot_size,
        }
    }

    /// Sleep on the space event until `deadline` (reliable readers notify
    /// it after each take), in short chunks so dead readers get reaped.
    fn wait_space(&self, seen: u32, deadline: Instant) {
        let ev = &self.hdr().space;
        let left = deadline.saturating_duration_since(Instant::now());
        ev.wait_seen(seen, Some(left.min(Duration::from_millis(20))));
    }

    fn publish_unchecked(&self, mut s: SampleMut, src_ts: i64) -> Result<u64, PublishError> {
        let (slot, gen, len) = (s.slot, s.blob.as_ref().map_or(0, |b| b.0), s.len);
        // SYNC POINT: only the publisher writes `written`; published with
        // the entry's Release stamp in `commit` (readers read it after
        // their Acquire stamp load). The slot is ours (Loaned, no holder).
        self.slot_ctl(slot as usize)
            .written
            .store(len as u64, Ordering::Relaxed);
        // On error `s` drops after `commit` released the lock, freeing its slot.
        self.commit(slot, gen, 0, None, len, src_ts, |l, q| {
            l.slots[slot as usize] = SlotState::InRing(q);
            s.done = true;
        })
    }

    /// Publish the descriptor of a loaned sample before its bytes are
    /// written; the writer then reports progress through the returned
    /// [`StreamingSample`].
    fn publish_streaming(
        self: &Arc<Self>,
        mut s: SampleMut,
        src_ts: i64,
    ) -> Result<StreamingSample, PublishError> {
        let (slot, gen, len) = (s.slot, s.blob.as_ref().map_or(0, |b| b.0), s.len);
        // SYNC POINT: as in `publish_unchecked`: 0 written, published by
        // the Release stamp; progress follows with Release stores.
        self.slot_ctl(slot as usize)
            .written
            .store(0, Ordering::Relaxed);
        let mut seq = 0;
        self.commit(slot, gen, 0, None, len, src_ts, |l, q| {
            l.slots[slot as usize] = SlotState::Streaming(q);
            s.done = true;
            seq = q;
        })?;
        Ok(StreamingSample {
            sh: self.clone(),
            slot,
            len,
            blob: s.blob.take(),
            q: seq,
            written: 0,
            finished: false,
        })
    }

    /// A streamed sample is complete (or abandoned): its slot becomes an
    /// ordinary ring slot, or free if the ring already moved past it.
    fn end_streaming(&self, slot: u32, q: u64) {
        let mut l = self.lock();
        let left_ring = l.head > q + self.lay.ring_cap as u64;
        if let Some(st) = l.slots.get_mut(slot as usize) {
            if *st == SlotState::Streaming(q) {
                *st = if left_ring {
                    SlotState::Free
                } else {
                    SlotState::InRing(q)
                };
            }
        }
        self.update_pool_counter(&l);
    }

    /// Copy a sample larger than `max_slot_size` into the chunk store and
    /// publish its descriptor. Store full: best effort drops (counted,
    /// logged); reliable waits for readers to let go up to `max_blocking`.
    fn publish_chunked(&self, bytes: &[u8], src_ts: i64) -> Result<u64, PublishError> {
        let max_blocking = *self.max_blocking.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + max_blocking;
        let reliable = self.spec.qos.reliability == Reliability::Reliable;
        let mut l = self.lock();
        let desc = loop {
            let seen = self.hdr().space.seq();
            let large = self.large_store(&mut l, bytes.len())?;
            match large.writer.publish(bytes, ContentType::Raw) {
                Ok(d) => break d,
                Err(BlobError::Exhausted { .. }) => {
                    // Under pressure the oldest chunked sample still in the
                    // ring leaves it early (as slots do in `loan`): keep-last
                    // always, keep-all once every reliable reader took it.
                    if self.drop_oldest_chunked(&mut l) {
                        continue;
                    }
                    let Some(large) = l.large.as_mut() else {
                        continue;
                    };
                    let (in_use, capacity) = (
                        large.writer.store().chunks_in_use(),
                        large.writer.store().config().chunk_capacity,
                    );
                    if !reliable || Instant::now() >= deadline {
                        large.dropped += 1;
                        if large.dropped.is_power_of_two() {
                            eprintln!(
                                "renoir: publisher {} on {}: chunk store full ({in_use}/{capacity} \
                                 chunks held), {} sample(s) of {} bytes dropped so far ({})",
                                self.ctl_name,
                                self.spec.name,
                                large.dropped,
                                bytes.len(),
                                if reliable { "reliable: max_blocking elapsed" } else { "best effort" },
                            );
                        }
                        // SYNC POINT: statistics only.
                        self.reg
                            .record()
                            .counters
                            .lost
                            .fetch_add(1, Ordering::Relaxed);
                        return Err(PublishError::ChunksExhausted {
                            len: bytes.len(),
                            in_use,
                            capacity,
                        });
                    }
                    // SYNC POINT: statistics only.
                    self.reg
                        .record()
                        .counters
                        .blocked
                        .fetch_add(1, Ordering::Relaxed);
                    drop(l);
                    // Readers notify `space` when they drop a chunked sample.
                    self.wait_space(seen, deadline);
                    l = self.lock();
                }
                Err(BlobError::TooLarge { max_chunks, .. }) => {
                    let chunk = large.writer.store().config().chunk_size as u64;
                    if (bytes.len() as u64).div_ceil(chunk) > (1 << 16) {
                        return Err(PublishError::TooLarge {
                            len: bytes.len(),
                            max: max_chunks as usize * chunk as usize,
                        });
                    }
                    // Larger than this store was sized for: the next
                    // generation takes over (the old one lives on until
                    // readers let go of its blobs).
                    self.grow_store(&mut l, bytes.len())?;
                }
                Err(e) => return Err(PublishError::Chunked(e.to_string())),
            }
        };
        let gen = l.large.as_ref().map_or(0, |g| g.gen);
        drop(l);
        let r = self.commit(
            gen,
            CHUNKED,
            desc.to_u64(),
            Some((0, gen, desc)),
            bytes.len(),
            src_ts,
            |_, _| {},
        );
        if r.is_err() {
            // Never reached the ring: no reader can hold it.
            retire_chunked(&mut self.lock(), (gen, desc));
        }
        r
    }

    /// Invalidate and retire the oldest droppable chunked ring entry.
    fn drop_oldest_chunked(&self, l: &mut Local) -> bool {
        let min_rel = if self.keep_all_reliable() {
            let head = l.head;
            self.readers(l, false)
                .iter()
                .filter(|r| r.2)
                .map(|r| r.1)
                .min()
                .unwrap_or(head)
        } else {
            u64::MAX
        };
        let oldest = l
            .ring_blobs
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|(q, g, d)| (i, q, g, d)))
            .filter(|x| x.1 < min_rel)
            .min_by_key(|x| x.1);
        let Some((i, q, g, d)) = oldest else {
            return false;
        };
        // The SeqCst "gone" stamp is the unpublish that precedes retire.
        self.invalidate_entry(q);
        l.ring_blobs[i] = None;
        retire_chunked(l, (g, d));
        true
    }

    /// Replace the chunk store by a generation sized for `len`.
    fn grow_store(&self, l: &mut Local, len: usize) -> Result<(), PublishError> {
        let Some(mut cur) = l.large.take() else {
            return Ok(());
        };
        match self.new_store(cur.gen.wrapping_add(1), len) {
            Ok(mut next) => {
                next.dropped = cur.dropped;
                next.old = std::mem::take(&mut cur.old);
                next.old.push((cur.gen, cur.writer, cur.region));
                l.large = Some(next);
                Ok(())
            }
            Err(e) => {
                l.large = Some(cur);
                Err(e)
            }
        }
    }

    /// The chunk store, created on first use and sized for at least two
    /// samples of `len` bytes (or `pool_size`, whichever is larger).
    fn large_store<'l>(&self, l: &'l mut Local, len: usize) -> Result<&'l mut Large, PublishError> {
        if l.large.is_none() {
            l.large = Some(self.new_store(0, len)?);
        }
        // Free what readers moved past in replaced generations; drop a
        // generation once it holds no blob.
        if let Some(g) = l.large.as_mut() {
            g.old.retain_mut(|(_, w, _)| {
                w.reclaim();
                w.store().blobs_in_use() > 0
            });
        }
        l.large
            .as_mut()
            .ok_or_else(|| PublishError::Chunked("no store".into()))
    }

    fn new_store(&self, gen: u32, len: usize) -> Result<Large, PublishError> {
        {
            let chunk = self.cfg.chunk_size.next_multiple_of(64);
            let need = (len as u64).div_ceil(chunk) + 1;
            let cap = (u64::from(self.cfg.chunk_capacity()))
                .max(2 * need)
                .min(1 << 24) as u32;
            let scfg = StoreConfig {
                chunk_size: chunk as u32,
                chunk_capacity: cap,
                table_capacity: self.lay.ring_cap + 2 * EXTRA_SLOTS + 16,
                max_chunks: cap.min(1 << 16),
                reader_slots: self.cfg.reader_slots,
            };
            let bad = |e: String| PublishError::Chunked(e);
            let size = scfg
                .required_bytes()
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| bad(format!("store too large: {scfg:?}")))?;
            let rc = RegionConfig::new(store_name(&self.ctl_name, gen), size)
                .backend(self.domain.backend().clone())
                .description("renoir chunk store")
                .annotate("topic", self.spec.name.clone());
            let region = Arc::new(
                Region::create(&rc).map_err(|source| PublishError::Blob { size, source })?,
            );
            let store = BlobStore::create_in(&region, region.payload_offset(), scfg)
                .map_err(|e| bad(e.to_string()))?;
            let writer = BlobWriter::new(
                store,
                self.cfg.strategy(),
                self.cfg.checksum,
                self.cfg.policy(),
            );
            Ok(Large {
                gen,
                writer,
                region,
                dropped: 0,
                old: Vec::new(),
            })
        }
    }

    /// Stamp ring entry `head` with a sample (slot + blob generation, or
    /// `CHUNKED` + descriptor), advance head, ring the readers' doorbells.
    /// The chunked sample the entry named before is retired after the new
    /// stamp is stored (the SeqCst stamp invalidation is the unpublish the
    /// epoch protocol relies on).
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        slot: u32,
        gen: u32,
        desc_word: u64,
        chunked: Option<(u64, u32, BlobDesc)>,
        len: usize,
        src_ts: i64,
        on_commit: impl FnOnce(&mut Local, u64),
    ) -> Result<u64, PublishError> {
        let max_blocking = *self.max_blocking.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + max_blocking;
        let mut l = self.lock();
        let q = l.head;
        let cap = self.lay.ring_cap as u64;
        // Reliable keep-all: the entry we overwrite (q - cap) must have been
        // taken by every reliable reader.
        if self.keep_all_reliable() && q >= cap {
            let mut blocked = false;
            loop {
                let seen = self.hdr().space.seq();
                let readers = self.readers(&mut l, blocked);
                let min_rel = readers
                    .iter()
                    .filter(|r| r.2)
                    .map(|r| r.1)
                    .min()
                    .unwrap_or(q);
                if min_rel > q - cap {
                    break;
                }
                if !blocked {
                    blocked = true;
                    // SYNC POINT: statistics only.
                    self.reg
                        .record()
                        .counters
                        .blocked
                        .fetch_add(1, Ordering::Relaxed);
                }
                if Instant::now() >= deadline {
                    drop(l);
                    return Err(PublishError::Timeout(max_blocking));
                }
                drop(l);
                self.wait_space(seen, deadline);
                l = self.lock();
            }
        }
        let idx = (q % cap) as usize;
        // The sample previously at this index leaves the ring.
        if q >= cap {
            if let Some(st) = l
                .slots
                .iter_mut()
                .find(|st| **st == SlotState::InRing(q - cap))
            {
                *st = SlotState::Free;
            }
        }
        let e = self.entry(idx);
        // SYNC POINT (Dekker S1 / seqlock begin): SeqCst store of 0 marks the
        // entry as being rewritten before any field changes; readers that
        // see 0 (or any stamp other than the one they expect) skip it.
        e.stamp.store(0, Ordering::SeqCst);
        // SYNC POINT: fields are relaxed atomics, published by the Release
        // store of the stamp below.
        e.slot.store(slot, Ordering::Relaxed);
        e.blob_gen.store(gen, Ordering::Relaxed);
        e.desc.store(desc_word, Ordering::Relaxed);
        e.len.store(len as u64, Ordering::Relaxed);
        e.src_ts.store(src_ts as u64, Ordering::Relaxed);
        let now = now_unix_ns();
        e.pub_ts.store(now, Ordering::Relaxed);
        // SYNC POINT (seqlock end): Release publishes the payload bytes
        // (written through SampleMut) and the fields above to a reader's
        // Acquire load of this stamp.
        e.stamp.store(q + 1, Ordering::Release);
        // SYNC POINT: Release pairs with readers' Acquire load of head: an
        // index below head has a complete entry (or a newer one).
        self.hdr().head.store(q + 1, Ordering::Release);
        l.head = q + 1;
        on_commit(&mut l, q);
        let old = std::mem::replace(&mut l.ring_blobs[idx], chunked.map(|(_, g, d)| (q, g, d)));
        if let Some((_, g, d)) = old {
            let old = (g, d);
            // Freed by a later reclaim scan (on the next chunked publish,
            // or `reclaim_chunks`) once every reader has moved past.
            retire_chunked(&mut l, old);
        }
        // Dead readers are reaped at most every 200 ms (as in `readers`).
        if l.last_reader_reap.elapsed() > Duration::from_millis(200) {
            l.last_reader_reap = Instant::now();
            // SYNC POINT: Acquire pairs with the fetch_max in attach.
            let hwm = (self.hdr().reader_hwm.load(Ordering::Acquire) as usize).min(MAX_READERS);
            reap_readers(self, hwm);
        }
        drop(l);
        // Wake the readers' processes (no syscall unless they sleep), each
        // process once; no allocation on this path.
        // SYNC POINT: Acquire pairs with the fetch_max in attach.
        let hwm = (self.hdr().reader_hwm.load(Ordering::Acquire) as usize).min(MAX_READERS);
        let mut rung = [(u32::MAX, u32::MAX); 8];
        let (mut n_rung, mut matched) = (0usize, 0u64);
        for i in 0..hwm {
            let r = self.reader(i);
            if !r.slot.load().is_live() {
                continue;
            }
            matched += 1;
            // SYNC POINT: content published with the LIVE store.
            let key = (
                r.process_slot.load(Ordering::Relaxed),
                r.process_gen.load(Ordering::Relaxed),
            );
            if rung[..n_rung].contains(&key) {
                continue;
            }
            if n_rung < rung.len() {
                rung[n_rung] = key;
                n_rung += 1;
            }
            self.domain.ring_process(key.0, key.1);
        }
        let rec = self.reg.record();
        // SYNC POINT: statistics only.
        rec.counters.samples.fetch_add(1, Ordering::Relaxed);
        rec.counters.bytes.fetch_add(len as u64, Ordering::Relaxed);
        rec.counters.matched.store(matched, Ordering::Relaxed);
        // SYNC POINT: liveliness heartbeat, informational (peers only
        // compare it with their clock).
        rec.counters.heartbeat_ns.store(now, Ordering::Relaxed);
        Ok(q + 1)
    }
}

/// Retire a chunked sample that left the ring (or never entered it) in
/// the store generation that holds it.
fn retire_chunked(l: &mut Local, (gen, desc): (u32, BlobDesc)) {
    let Some(g) = l.large.as_mut() else {
        return;
    };
    if g.gen == gen {
        g.writer.retire(desc);
    } else if let Some((_, w, _)) = g.old.iter_mut().find(|o| o.0 == gen) {
        w.retire(desc);
    }
}

/// Reap reader entries whose owner is dead: clear their holder bits in
/// every slot, then free the entry.
pub(crate) fn reap_readers(sh: &PubShared, hwm: usize) -> usize {
    let me = std::process::id();
    let mut live = sh.domain.liveness();
    let mut n = 0;
    for i in 0..hwm {
        let r = sh.reader(i);
        let w = r.slot.load();
        let dead = match w.state() {
            FREE => false,
            CLAIMING => !live.alive(w.pid(), r.slot.owner_start(), None, None),
            LIVE => {
                // SYNC POINT: content published with LIVE.
                let ps = r.process_slot.load(Ordering::Relaxed);
                let pg = r.process_gen.load(Ordering::Relaxed);
                let key = reader_key(&sh.ctl_name, i as u32, w.gen());
                !live.alive(w.pid(), r.slot.owner_start(), Some((ps, pg)), Some(&key))
            }
            RECLAIMING => w.pid() != me && !crate::registry::pid_exists(w.pid()),
            _ => false,
        };
        if !dead {
            continue;
        }
        if let Some(c) = r.slot.begin_reclaim(Word(w.0), me) {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            for s in 0..sh.lay.n_slots as usize {
                // SYNC POINT: Release: the dead reader cannot read any more;
                // pairs with the publisher's SeqCst/Acquire `held` loads.
                sh.slot_ctl(s).holders[word].fetch_and(!bit, Ordering::SeqCst);
            }
            r.slot.finish_reclaim(c);
            n += 1;
        }
    }
    if n > 0 {
        // Wake a writer blocked on the dead reader.
        sh.hdr().space.notify();
    }
    n
}

pub(crate) fn reader_key(ctl: &str, idx: u32, gen: u32) -> String {
    format!("rd/{ctl}/{idx}/{gen}")
}

impl Publisher {
    pub(crate) fn create(
        domain: &Arc<Domain>,
        node: &NodeHandle,
        mut spec: TopicSpec,
        cfg: BlobConfig,
    ) -> Result<Publisher, CreatePublisherError> {
        spec.kind = EndpointKind::Publisher;
        let ring_cap = spec.qos.depth();
        let n_slots = ring_cap + EXTRA_SLOTS;
        let mut slot_size = if spec.payload_hint == 0
            || spec.payload_hint as u64 > cfg.large_threshold.min(INLINE_HINT_MAX as u64)
        {
            DEFAULT_SLOT_SIZE
        } else {
            round_up(spec.payload_hint as u64, 64).max(64)
        };
        // Deep rings of big hints would make a huge data segment: fall back
        // to small inline slots (larger samples then go to blobs on demand).
        if n_slots as u64 * slot_size > MAX_DATA_SEGMENT {
            slot_size = DEFAULT_SLOT_SIZE.min(slot_size);
        }
        let me = domain.identity();
        let mut made: Option<(Region, Region, PubLayout, String)> = None;
        let mut err: Option<CreatePublisherError> = None;
        let reg = domain.register_endpoint(
            node,
            &spec,
            EndpointKind::Publisher,
            |id, _slot, _gen, rec| {
                let ctl_name = ctl_name(domain.id(), me.pid, id);
                let mk = || -> Result<(Region, Region, PubLayout), crate::region::CreateError> {
                    let ctl = Region::create(
                        &RegionConfig::new(
                            ctl_name.clone(),
                            PubLayout::ctl_payload_size(ring_cap, n_slots),
                        )
                        .backend(domain.backend().clone())
                        .description("renoir publisher control")
                        .annotate("topic", spec.name.clone())
                        .annotate("type", spec.type_name.clone()),
                    )?;
                    let lay =
                        PubLayout::compute(ctl.payload_offset(), ring_cap, n_slots, slot_size);
                    let data = Region::create(
                        &RegionConfig::new(
                            data_name(&ctl_name),
                            (n_slots as u64 * slot_size) as usize,
                        )
                        .backend(domain.backend().clone())
                        .description("renoir publisher data")
                        .annotate("topic", spec.name.clone()),
                    )?;
                    // The header is complete before the endpoint goes LIVE, so a
                    // subscriber that discovers it can attach at once.
                    if let Ok(h) = ctl.get::<PubHeader>(lay.header) {
                        // SYNC POINT: header fields published by the Release
                        // store of the magic below (readers check it with Acquire).
                        h.version.store(PUB_VERSION, Ordering::Relaxed);
                        h.ring_cap.store(ring_cap, Ordering::Relaxed);
                        h.n_slots.store(n_slots, Ordering::Relaxed);
                        h.max_readers.store(MAX_READERS as u32, Ordering::Relaxed);
                        h.slot_size.store(slot_size, Ordering::Relaxed);
                        h.durability.store(
                            (spec.qos.durability == Durability::TransientLocal) as u32,
                            Ordering::Relaxed,
                        );
                        h.reliable.store(
                            (spec.qos.reliability == Reliability::Reliable) as u32,
                            Ordering::Relaxed,
                        );
                        h.keep_all.store(
                            (spec.qos.history == History::KeepAll) as u32,
                            Ordering::Relaxed,
                        );
                        let gid: [u8; 16] = crate::registry::layout::u64s_to_bytes(&rec.gid);
                        crate::registry::layout::bytes_to_u64s(&h.gid, &gid);
                        // SYNC POINT: Release; pairs with the attaching reader's Acquire.
                        h.magic.store(PUB_MAGIC, Ordering::Release);
                    }
                    Ok((ctl, data, lay))
                };
                match mk() {
                    Ok((ctl, data, lay)) => {
                        let _ = rec.segment.set(&ctl_name);
                        made = Some((ctl, data, lay, ctl_name));
                        Ok(())
                    }
                    Err(e) => {
                        err = Some(e.into());
                        Err(RegisterError::Invalid {
                            field: "segment",
                            reason: "creation failed".into(),
                        })
                    }
                }
            },
        );
        let reg = match reg {
            Ok(r) => r,
            Err(e) => return Err(err.unwrap_or(e.into())),
        };
        let (ctl, data, lay, ctl_name) =
            made.ok_or_else(|| CreatePublisherError::Invalid("no segment".into()))?;
        let sh = PubShared {
            domain: domain.clone(),
            reg,
            ctl,
            data,
            lay,
            ctl_name,
            spec: spec.clone(),
            cfg,
            local: Mutex::new(Local {
                ring_blobs: vec![None; ring_cap as usize],
                large: None,
                head: 0,
                slots: vec![SlotState::Free; n_slots as usize],
                blobs: vec![None; n_slots as usize],
                last_reader_reap: Instant::now(),
                hint: 0,
            }),
            max_blocking: Mutex::new(Duration::from_millis(100)),
            abandoned: crate::sync::atomic::AtomicBool::new(false),
        };
        // SYNC POINT: statistics only.
        sh.reg
            .record()
            .counters
            .pool_total
            .store(n_slots as u64, Ordering::Relaxed);
        Ok(Publisher { sh: Arc::new(sh) })
    }

    /// Globally unique id of this publisher.
    pub fn gid(&self) -> [u8; 16] {
        self.sh.reg.gid
    }

    /// The topic spec it was created with.
    pub fn spec(&self) -> &TopicSpec {
        &self.sh.spec
    }

    /// Logical name of its control segment.
    pub fn segment_name(&self) -> &str {
        &self.sh.ctl_name
    }

    /// How long `loan`/`publish` may block for a reliable KeepAll reader
    /// (default 100 ms, like DDS's max_blocking_time).
    pub fn set_max_blocking(&self, d: Duration) {
        *self
            .sh
            .max_blocking
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = d;
    }

    /// Loan a writable slice of exactly `len` bytes in shared memory.
    pub fn loan(&self, len: usize) -> Result<SampleMut, PublishError> {
        self.sh.loan(len)
    }

    /// Publish a loaned sample; returns its sequence number (from 1).
    pub fn publish(
        &self,
        sample: SampleMut,
        source_timestamp_ns: i64,
    ) -> Result<u64, PublishError> {
        self.own(&sample)?;
        self.sh.publish_unchecked(sample, source_timestamp_ns)
    }

    fn own(&self, sample: &SampleMut) -> Result<(), PublishError> {
        match Arc::ptr_eq(&sample.sh, &self.sh) {
            true => Ok(()),
            false => Err(PublishError::ForeignSample),
        }
    }

    /// Publish a loaned sample *before* writing it: readers are woken now
    /// and may read every byte below the mark set by
    /// [`StreamingSample::advance`] while the rest is still being written
    /// (a subscriber copying a camera frame follows the writer instead of
    /// waiting for it: the two copies overlap). Readers that need the whole
    /// sample ([`crate::topic::Subscriber::take`]) wait for
    /// [`StreamingSample::finish`]; dropping the `StreamingSample`
    /// unfinished aborts it (readers count it lost). Meant for samples in
    /// large-sample segments; see docs/large-payloads.md.
    pub fn publish_streaming(
        &self,
        sample: SampleMut,
        source_timestamp_ns: i64,
    ) -> Result<StreamingSample, PublishError> {
        self.own(&sample)?;
        self.sh.publish_streaming(sample, source_timestamp_ns)
    }

    /// Copy `bytes` into a loaned slot and publish it. Samples larger than
    /// the publisher's `max_slot_size` are split into chunks of its chunk
    /// store instead (subscribers get a chunked `Sample`). `loan` always
    /// gives a contiguous slot, whatever the size.
    pub fn publish_bytes(
        &self,
        bytes: &[u8],
        source_timestamp_ns: i64,
    ) -> Result<u64, PublishError> {
        if bytes.len() as u64 > self.sh.cfg.max_slot_size {
            if bytes.len() > MAX_SAMPLE {
                return Err(PublishError::TooLarge {
                    len: bytes.len(),
                    max: MAX_SAMPLE,
                });
            }
            return self.sh.publish_chunked(bytes, source_timestamp_ns);
        }
        let mut s = self.loan(bytes.len())?;
        s.copy_from_slice(bytes);
        self.publish(s, source_timestamp_ns)
    }

    /// Live readers attached to this publisher.
    pub fn matched_subscribers(&self) -> usize {
        let mut l = self.sh.lock();
        self.sh.readers(&mut l, false).len()
    }

    /// Assert this publisher's liveliness (QoS `ManualByTopic`; harmless
    /// for `Automatic`): peers see it as `EndpointInfo::last_heartbeat_ns`.
    /// Every publish asserts it too.
    pub fn assert_liveliness(&self) {
        // SYNC POINT: informational heartbeat, as in `publish`.
        self.sh
            .reg
            .record()
            .counters
            .heartbeat_ns
            .store(now_unix_ns(), Ordering::Relaxed);
    }

    /// Live subscribers registered in the registry for this topic that
    /// match this publisher (same type, type hashes equal when both are
    /// set, compatible QoS), whether or not their process has attached yet.
    /// Unlike [`matched_subscribers`](Self::matched_subscribers) this does
    /// not wait for the subscriber's process to poll. Dead owners are
    /// reaped by the graph read.
    pub fn registered_subscribers(&self) -> usize {
        let g = self.sh.domain.graph();
        let zero = [0u8; 32];
        let spec = &self.sh.spec;
        g.endpoints
            .iter()
            .filter(|e| e.kind == EndpointKind::Subscriber)
            .filter(|e| e.topic_name == spec.name && e.type_name == spec.type_name)
            .filter(|e| {
                e.type_hash == zero || spec.type_hash == zero || e.type_hash == spec.type_hash
            })
            .filter(|e| super::qos::qos_compatible(&spec.qos, &e.qos))
            .count()
    }

    /// The large-payload configuration this publisher was created with.
    pub fn blob_config(&self) -> &BlobConfig {
        &self.sh.cfg
    }

    /// Chunk store statistics (`None` until the first chunked sample):
    /// the writer's reclaim counters, chunks in use / capacity, samples
    /// dropped because the store was full.
    pub fn chunk_stats(&self) -> Option<ChunkStats> {
        let l = self.sh.lock();
        l.large.as_ref().map(|g| ChunkStats {
            reclaim: g.writer.stats(),
            chunks_in_use: g.writer.store().chunks_in_use(),
            chunk_capacity: g.writer.store().config().chunk_capacity,
            chunk_size: g.writer.store().config().chunk_size,
            dropped: g.dropped,
            segment: store_name(&self.sh.ctl_name, g.gen),
        })
    }

    /// Run a reclaim scan of the chunk store now (also done on publish);
    /// returns the blobs freed.
    pub fn reclaim_chunks(&self) -> u64 {
        let mut l = self.sh.lock();
        l.large.as_mut().map_or(0, |g| {
            g.old.iter_mut().map(|o| o.1.reclaim()).sum::<u64>() + g.writer.reclaim()
        })
    }

    /// Counters as stored in the registry.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.sh.reg.record().counters;
        // SYNC POINT: statistics only.
        EndpointStats {
            samples: c.samples.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            pool_used: c.pool_used.load(Ordering::Relaxed),
            pool_total: c.pool_total.load(Ordering::Relaxed),
            matched: c.matched.load(Ordering::Relaxed),
            blocked: c.blocked.load(Ordering::Relaxed),
        }
    }

    /// Drop this publisher's mappings *without* cleanup (simulated crash):
    /// its registry record and segments stay until a reaper notices.
    pub fn abandon(self) {
        let sh = &self.sh;
        sh.abandoned.store(true, Ordering::Relaxed);
        mark_abandoned(ep_key(
            sh.domain.prefix(),
            sh.domain.id(),
            sh.reg.slot,
            sh.reg.claim.gen,
        ));
        sh.reg.set_abandoned();
        sh.ctl.unlink_on_drop(false);
        sh.data.unlink_on_drop(false);
        let l = sh.lock();
        for (_, r) in l.blobs.iter().flatten() {
            r.unlink_on_drop(false);
        }
        if let Some(g) = &l.large {
            g.region.unlink_on_drop(false);
            for (_, _, r) in &g.old {
                r.unlink_on_drop(false);
            }
        }
    }
}

impl Drop for PubShared {
    fn drop(&mut self) {
        if self.domain.is_abandoned() || self.abandoned.load(Ordering::Relaxed) {
            self.ctl.unlink_on_drop(false);
            self.data.unlink_on_drop(false);
            let l = self.local.get_mut().unwrap_or_else(|e| e.into_inner());
            for (_, r) in l.blobs.iter().flatten() {
                r.unlink_on_drop(false);
            }
            if let Some(g) = &l.large {
                g.region.unlink_on_drop(false);
                for (_, _, r) in &g.old {
                    r.unlink_on_drop(false);
                }
            }
        }
    }
}

/// Used by the subscriber: open a publisher's segments for reading.
pub(crate) fn open_publisher(
    ctl_name: &str,
    backend: &Backend,
) -> Result<(Region, Region), crate::region::OpenError> {
    let ctl = Region::open(ctl_name, backend.clone(), Access::ReadWrite)?;
    let data = Region::open(&data_name(ctl_name), backend.clone(), Access::ReadOnly)?;
    Ok((ctl, data))
}
