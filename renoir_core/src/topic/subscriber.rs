//! The take path: discover matching publishers in the registry, attach a
//! reader entry to each, follow their descriptor rings with a private
//! cursor, hold slots while a [`Sample`] is alive.

#![allow(clippy::disallowed_types)]

use super::layout::*;
use super::publisher::{open_publisher, reader_key};
use super::qos::{qos_compatible, Durability, EndpointKind, History, Qos, Reliability, TopicSpec};
use crate::blob::{BlobDesc, BlobError, BlobStore, HeldBlob, SharedReader};
use crate::platform::process::ProcessIdentity;
use crate::region::{Access, Backend, Region};
use crate::registry::slot::Claim;
use crate::registry::{
    ep_key, mark_abandoned, now_unix_ns, Domain, EndpointReg, EndpointStats, NodeHandle,
    RegisterError,
};
use crate::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Creating a subscriber failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateSubscriberError {
    #[error(transparent)]
    Register(#[from] RegisterError),
}

/// Taking a sample failed. The cursor has moved past the bad entry, so the
/// next `take` continues with the following sample.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("publisher {segment}: corrupt descriptor: {reason}")]
    Corrupt { segment: String, reason: String },
    #[error("publisher {segment}: cannot map blob {blob}: {source}")]
    Blob {
        segment: String,
        blob: String,
        source: crate::region::OpenError,
    },
    #[error("publisher {segment}: chunked sample: {source}")]
    Chunked { segment: String, source: BlobError },
    #[error("publisher {segment}: streamed sample {sequence} lost: {source}")]
    Stream {
        segment: String,
        sequence: u64,
        source: StreamError,
    },
}

/// Waiting for the rest of a streamed sample failed (see
/// [`crate::topic::Publisher::publish_streaming`]). The sample is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the publisher abandoned it after {written} of {len} bytes")]
    Aborted { written: u64, len: u64 },
    #[error("the publisher's process died after writing {written} of {len} bytes")]
    WriterDied { written: u64, len: u64 },
    #[error("no progress for {stalled_ms} ms after {written} of {len} bytes")]
    Stalled {
        written: u64,
        len: u64,
        stalled_ms: u64,
    },
}

/// How long a reader waits for a live publisher that makes no progress on
/// a streamed sample before giving the sample up.
pub const STREAM_STALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Metadata of a taken sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    pub source_timestamp_ns: i64,
    pub received_timestamp_ns: i64,
    /// When the publisher stamped the descriptor (unix ns).
    pub published_timestamp_ns: i64,
    pub publisher_gid: [u8; 16],
    /// Publisher's sequence number (from 1).
    pub sequence: u64,
}

struct AttState {
    cursor: u64,
    blobs: HashMap<u32, (u32, Arc<Region>)>,
    /// The publisher's chunk store, opened on the first chunked entry.
    chunks: Option<(u32, Arc<SharedReader>)>,
}

/// First sequence index in `head - back .. head` whose entry is intact and
/// was published at or after `since_ns` (unix ns); `head` if none.
/// Everything read here is validated (seqlock re-check, bounds-checked
/// `get`); a bogus entry is passed over, never trusted.
fn catch_up_start(ctl: &Region, lay: &PubLayout, head: u64, back: u64, since_ns: u64) -> u64 {
    let cap = lay.ring_cap as u64;
    if cap == 0 {
        return head;
    }
    for c in head.saturating_sub(back)..head {
        let Ok(e) = ctl.get::<RingEntry>(lay.ring_off((c % cap) as usize)) else {
            return head;
        };
        // SYNC POINT (seqlock begin): Acquire pairs with the publisher's
        // Release store of the stamp.
        let s1 = e.stamp.load(Ordering::Acquire);
        if s1 != c + 1 {
            continue;
        }
        // SYNC POINT: relaxed field load validated by the re-check below.
        let ts = e.pub_ts.load(Ordering::Relaxed);
        // SYNC POINT (seqlock end): orders the field load before the
        // re-check, as in `try_take`.
        crate::sync::atomic::fence(Ordering::Acquire);
        if e.stamp.load(Ordering::Relaxed) != s1 {
            continue;
        }
        if ts >= since_ns {
            return c;
        }
    }
    head
}

/// One publisher this subscriber reads from.
pub(crate) struct Attached {
    ctl: Region,
    data: Region,
    lay: PubLayout,
    ctl_name: String,
    reader_idx: u32,
    claim: Claim,
    gid: [u8; 16],
    ep: (u32, u32),
    /// Keep at most this many unread samples (reader KeepLast depth).
    window: u64,
    reliable: bool,
    backend: Backend,
    /// Publisher's lifespan (0: infinite): older samples are skipped.
    lifespan_ns: u64,
    state: Mutex<AttState>,
    gone: AtomicBool,
    abandoned: Arc<AtomicBool>,
    /// Verify chunked samples' checksums (subscriber's config).
    verify: bool,
    /// Chunks of this publisher's store held zero-copy by our Samples.
    held_chunks: AtomicU32,
    /// The publisher's process when we attached (from the segment name;
    /// `None` if unknown): a streamed sample whose writer died is lost at
    /// once instead of after the stall timeout.
    writer: Option<ProcessIdentity>,
}

impl Attached {
    fn hdr(&self) -> Option<&PubHeader> {
        self.ctl.get(self.lay.header).ok()
    }
    fn reader(&self) -> Option<&ReaderEntry> {
        self.ctl
            .get(self.lay.reader_off(self.reader_idx as usize))
            .ok()
    }
    fn entry(&self, i: usize) -> Option<&RingEntry> {
        self.ctl.get(self.lay.ring_off(i)).ok()
    }
    fn slot_ctl(&self, i: usize) -> Option<&SlotCtl> {
        if i >= self.lay.n_slots as usize {
            return None;
        }
        self.ctl.get(self.lay.slot_off(i)).ok()
    }
    fn bit(&self) -> (usize, u64) {
        let i = self.reader_idx as usize;
        (i / 64, 1u64 << (i % 64))
    }
    fn lock(&self) -> MutexGuard<'_, AttState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn head(&self) -> u64 {
        // SYNC POINT: Acquire pairs with the publisher's Release store of
        // head after stamping the entry.
        self.hdr().map_or(0, |h| h.head.load(Ordering::Acquire))
    }

    fn has_data(&self) -> bool {
        self.head() > self.lock().cursor
    }

    /// Entries between our cursor and `head`, capped at what `take` can
    /// still return (the ring capacity and our KeepLast window). `head` is
    /// read from shared memory: a bogus value only changes the count.
    fn unread(&self) -> u64 {
        let c = self.lock().cursor;
        self.head()
            .saturating_sub(c)
            .min(self.lay.ring_cap as u64)
            .min(self.window)
    }

    fn corrupt(&self, reason: impl Into<String>) -> TakeError {
        TakeError::Corrupt {
            segment: self.ctl_name.clone(),
            reason: reason.into(),
        }
    }

    fn store_cursor(&self, c: u64) {
        if let Some(r) = self.reader() {
            // SYNC POINT: Release: our reads of the entries below `c` happen
            // before the publisher's Acquire load of our cursor (reliable
            // writers overwrite only what every reliable reader passed).
            r.cursor.store(c, Ordering::Release);
        }
    }

    /// Try to take the next sample from this publisher. Returns
    /// `(sample, lost_now)`.
    fn try_take(self: &Arc<Self>, lost: &mut u64) -> Result<Option<Sample>, TakeError> {
        let mut st = self.lock();
        let cap = self.lay.ring_cap as u64;
        loop {
            // Pin the chunk store (if this publisher has one) *before*
            // reading the ring entry: the epoch protocol needs the pin to
            // precede the descriptor load (docs/large-payloads.md §4).
            let pin = st.chunks.as_ref().map(|(g, r)| (*g, r.pin()));
            let head = self.head();
            let mut c = st.cursor;
            if head <= c {
                return Ok(None);
            }
            let window = self.window.min(cap);
            if head - c > window {
                let skip = head - window - c;
                *lost += skip;
                c = head - window;
            }
            let idx = (c % cap) as usize;
            let Some(e) = self.entry(idx) else {
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                return Err(self.corrupt("ring entry out of bounds"));
            };
            // SYNC POINT (seqlock begin): Acquire pairs with the publisher's
            // Release store of the stamp (entry fields and payload visible).
            let s1 = e.stamp.load(Ordering::Acquire);
            if s1 != c + 1 {
                // Overwritten or dropped since head passed it: lost.
                *lost += 1;
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                continue;
            }
            // SYNC POINT: relaxed field loads validated by the stamp re-check.
            let slot = e.slot.load(Ordering::Relaxed);
            let bgen = e.blob_gen.load(Ordering::Relaxed);
            let len = e.len.load(Ordering::Relaxed);
            let src_ts = e.src_ts.load(Ordering::Relaxed) as i64;
            let pub_ts = e.pub_ts.load(Ordering::Relaxed) as i64;
            let desc = e.desc.load(Ordering::Relaxed);
            // SYNC POINT (seqlock end): fence orders the field loads before
            // the re-check.
            crate::sync::atomic::fence(Ordering::Acquire);
            if e.stamp.load(Ordering::Relaxed) != s1 {
                *lost += 1;
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                continue;
            }
            if self.lifespan_ns > 0
                && (now_unix_ns() as i64).saturating_sub(src_ts) > self.lifespan_ns as i64
            {
                // Expired (QoS lifespan): skipped, not lost.
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                continue;
            }
            if bgen == CHUNKED {
                let pin = match pin {
                    Some((g, p)) if g == slot => p,
                    _ => {
                        // First chunked sample of this store generation:
                        // open it, then re-read the entry pinned.
                        if let Err(err) = self.open_chunks(&mut st, slot) {
                            st.cursor = c + 1;
                            self.store_cursor(c + 1);
                            return Err(err);
                        }
                        continue;
                    }
                };
                let opened = if len > MAX_SAMPLE as u64 {
                    Err(self.corrupt(format!("len {len} exceeds the sample limit")))
                } else {
                    pin.open(BlobDesc::from_u64(desc))
                        .map_err(|source| TakeError::Chunked {
                            segment: self.ctl_name.clone(),
                            source,
                        })
                        .and_then(|b| {
                            if b.len() as u64 == len {
                                Ok(b)
                            } else {
                                Err(self
                                    .corrupt(format!("chunked len {} != entry len {len}", b.len())))
                            }
                        })
                };
                // SYNC POINT: SeqCst re-read of the stamp: an entry
                // overwritten meanwhile is a lost sample, not an error.
                let still = e.stamp.load(Ordering::SeqCst) == s1;
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                let blob = match opened {
                    Ok(b) if still => b,
                    Err(err) if still => return Err(err),
                    _ => {
                        *lost += 1;
                        continue;
                    }
                };
                drop(st);
                return Ok(Some(self.chunked_sample(blob, c, src_ts, pub_ts)));
            }
            drop(pin);
            let Some(sc) = self.slot_ctl(slot as usize) else {
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                return Err(self.corrupt(format!("slot index {slot} >= {}", self.lay.n_slots)));
            };
            let (w, bit) = self.bit();
            // SYNC POINT (Dekker S2): SeqCst set of our holder bit, then the
            // SeqCst re-read of the stamp (L2): pairs with the publisher's
            // SeqCst invalidation (S1) and holder check (L1). If the stamp
            // is still ours, the publisher will see our bit before reusing
            // the slot.
            sc.holders[w].fetch_or(bit, Ordering::SeqCst);
            // SYNC POINT (Dekker fence F2): pairs with the publisher's fence
            // F1 in `held` (see there).
            crate::sync::atomic::fence(Ordering::SeqCst);
            if e.stamp.load(Ordering::SeqCst) != s1 {
                // SYNC POINT: give the bit back (Release our nothing-read).
                sc.holders[w].fetch_and(!bit, Ordering::Release);
                *lost += 1;
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                continue;
            }
            let release = |sc: &SlotCtl| {
                // SYNC POINT: as above.
                sc.holders[w].fetch_and(!bit, Ordering::Release);
            };
            if len > MAX_SAMPLE as u64 {
                release(sc);
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                return Err(self.corrupt(format!("len {len} exceeds the sample limit")));
            }
            // Fits usize on 32-bit targets too (MAX_SAMPLE is 1 GiB).
            let len_us = len as usize;
            let (off, blob) = if bgen == 0 {
                if len > self.lay.slot_size {
                    release(sc);
                    st.cursor = c + 1;
                    self.store_cursor(c + 1);
                    return Err(
                        self.corrupt(format!("len {len} > slot size {}", self.lay.slot_size))
                    );
                }
                let off = self.data.payload_offset() + slot as usize * self.lay.slot_size as usize;
                if self.data.bytes(off, len_us).is_err() {
                    release(sc);
                    st.cursor = c + 1;
                    self.store_cursor(c + 1);
                    return Err(self.corrupt("inline slot outside data segment"));
                }
                (off, None)
            } else {
                let cached = st
                    .blobs
                    .get(&slot)
                    .filter(|b| b.0 == bgen)
                    .map(|b| b.1.clone());
                let r = match cached {
                    Some(r) => r,
                    None => {
                        let name = blob_name(&self.ctl_name, slot, bgen);
                        match Region::open(&name, self.backend.clone(), Access::ReadOnly) {
                            Ok(r) => {
                                let r = Arc::new(r);
                                st.blobs.insert(slot, (bgen, r.clone()));
                                r
                            }
                            Err(source) => {
                                release(sc);
                                st.cursor = c + 1;
                                self.store_cursor(c + 1);
                                return Err(TakeError::Blob {
                                    segment: self.ctl_name.clone(),
                                    blob: name,
                                    source,
                                });
                            }
                        }
                    }
                };
                let off = r.payload_offset();
                if r.bytes(off, len_us).is_err() {
                    release(sc);
                    st.cursor = c + 1;
                    self.store_cursor(c + 1);
                    return Err(self.corrupt(format!("len {len} exceeds blob")));
                }
                (off, Some(r))
            };
            // SYNC POINT (stream publish): Acquire pairs with the
            // publisher's Release store of the mark (`Progress::advance`,
            // `StreamingSample` drop) or, for an ordinary sample, with the
            // Release stamp that published `written = len`. Our holder bit
            // keeps the slot from being reused, so the mark is this
            // sample's. A mark above `len` (corrupt peer) counts as
            // complete: every byte we read is inside the validated slot.
            let written = sc.written.load(Ordering::Acquire);
            if written == WRITTEN_ABORTED {
                release(sc);
                *lost += 1;
                st.cursor = c + 1;
                self.store_cursor(c + 1);
                continue;
            }
            st.cursor = c + 1;
            self.store_cursor(c + 1);
            drop(st);
            if let Some(r) = self.reader() {
                // SYNC POINT: statistics only.
                r.taken.fetch_add(1, Ordering::Relaxed);
            }
            if self.reliable {
                if let Some(h) = self.hdr() {
                    // Wake a writer waiting for room (no syscall if none).
                    h.space.notify();
                }
            }
            return Ok(Some(Sample {
                att: self.clone(),
                slot,
                off,
                len: len_us,
                blob,
                chunked: None,
                streaming: AtomicBool::new(written < len),
                info: SampleInfo {
                    source_timestamp_ns: src_ts,
                    received_timestamp_ns: now_unix_ns() as i64,
                    published_timestamp_ns: pub_ts,
                    publisher_gid: self.gid,
                    sequence: c + 1,
                },
            }));
        }
    }

    fn open_chunks(&self, st: &mut AttState, gen: u32) -> Result<(), TakeError> {
        let name = store_name(&self.ctl_name, gen);
        let region =
            Region::open(&name, self.backend.clone(), Access::ReadWrite).map_err(|source| {
                TakeError::Blob {
                    segment: self.ctl_name.clone(),
                    blob: name.clone(),
                    source,
                }
            })?;
        let region = Arc::new(region);
        let chunked = |source| TakeError::Chunked {
            segment: self.ctl_name.clone(),
            source,
        };
        let store = BlobStore::open_in(&region, region.payload_offset()).map_err(chunked)?;
        st.chunks = Some((gen, SharedReader::new(store, self.verify).map_err(chunked)?));
        Ok(())
    }

    /// Wrap an opened chunked blob. Share rule: one subscriber holds at
    /// most half of a publisher's chunk store zero-copy; beyond that the
    /// sample is copied out at once and the pin released, so a reader
    /// that hoards samples cannot hold the whole store.
    fn chunked_sample(
        self: &Arc<Self>,
        blob: HeldBlob,
        c: u64,
        src_ts: i64,
        pub_ts: i64,
    ) -> Sample {
        let n = blob.chunk_count() as u32;
        let share = blob.store_chunk_capacity() / 2;
        // SYNC POINT: process-local counter of our own holdings.
        let held = self.held_chunks.load(Ordering::Relaxed);
        let len = blob.len();
        let part = if held == 0 || held.saturating_add(n) <= share {
            // SYNC POINT: as above.
            self.held_chunks.fetch_add(n, Ordering::Relaxed);
            ChunkedPart {
                blob: Some(blob),
                owned: OnceLock::new(),
                held: n,
            }
        } else {
            let mut v = Vec::new();
            blob.as_ref().reassemble_into(&mut v);
            drop(blob);
            let owned = OnceLock::new();
            let _ = owned.set(v);
            ChunkedPart {
                blob: None,
                owned,
                held: 0,
            }
        };
        if let Some(r) = self.reader() {
            // SYNC POINT: statistics only.
            r.taken.fetch_add(1, Ordering::Relaxed);
        }
        if self.reliable {
            if let Some(h) = self.hdr() {
                h.space.notify();
            }
        }
        Sample {
            att: self.clone(),
            slot: u32::MAX,
            off: 0,
            len,
            blob: None,
            chunked: Some(Box::new(part)),
            streaming: AtomicBool::new(false),
            info: SampleInfo {
                source_timestamp_ns: src_ts,
                received_timestamp_ns: now_unix_ns() as i64,
                published_timestamp_ns: pub_ts,
                publisher_gid: self.gid,
                sequence: c + 1,
            },
        }
    }
}

/// The chunked part of a [`Sample`].
struct ChunkedPart {
    /// Pinned, zero-copy chunks (None: delivered as an owned copy).
    blob: Option<HeldBlob>,
    /// Reassembled payload, built on the first `Deref` of a multi-chunk
    /// sample (or at take, beyond the share).
    owned: OnceLock<Vec<u8>>,
    /// Chunks counted against this subscriber's share.
    held: u32,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if self.abandoned.load(Ordering::Relaxed) {
            return;
        }
        if let Some(r) = self.reader() {
            r.slot.release(self.claim);
        }
        if let Some(h) = self.hdr() {
            h.space.notify();
        }
    }
}

/// A taken sample: read-only bytes in shared memory (zero copy). The slot
/// stays reserved for this reader until the sample is dropped.
pub struct Sample {
    att: Arc<Attached>,
    slot: u32,
    off: usize,
    len: usize,
    blob: Option<Arc<Region>>,
    chunked: Option<Box<ChunkedPart>>,
    /// Still being written by its publisher (streamed) when last looked.
    streaming: AtomicBool,
    info: SampleInfo,
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("len", &self.len)
            .field("info", &self.info)
            .finish()
    }
}

impl Sample {
    pub fn info(&self) -> &SampleInfo {
        &self.info
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every byte is written. Only samples from
    /// [`Subscriber::take_streaming`] can be incomplete.
    pub fn is_complete(&self) -> bool {
        // SYNC POINT: process-local cache of an Acquire-checked mark.
        !self.streaming.load(Ordering::Relaxed) || self.written_now().is_ok_and(|w| w >= self.len)
    }

    fn written_now(&self) -> Result<usize, StreamError> {
        let len = self.len as u64;
        let Some(sc) = self.att.slot_ctl(self.slot as usize) else {
            return Err(StreamError::Aborted { written: 0, len });
        };
        // SYNC POINT (stream publish): Acquire pairs with the publisher's
        // Release store of the mark; bytes below it are visible.
        let w = sc.written.load(Ordering::Acquire);
        if w == WRITTEN_ABORTED {
            return Err(StreamError::Aborted { written: 0, len });
        }
        if w >= len {
            // SYNC POINT: process-local cache (the Acquire above ordered
            // every byte).
            self.streaming.store(false, Ordering::Relaxed);
        }
        Ok(w.min(len) as usize)
    }

    /// Wait until at least `need` bytes (capped at `len()`) of a streamed
    /// sample are written; returns how many are. Bytes below the returned
    /// count are final. Spins briefly, then yields, then naps; gives up
    /// when the writer aborts, its process dies, or it makes no progress
    /// for [`STREAM_STALL_TIMEOUT`].
    pub fn wait_written(&self, need: usize) -> Result<usize, StreamError> {
        // SYNC POINT: process-local cache, see `written_now`.
        if !self.streaming.load(Ordering::Relaxed) {
            return Ok(self.len);
        }
        let need = need.min(self.len);
        let mut last = usize::MAX;
        let mut spins = 0u32;
        let mut since = Instant::now();
        let mut checked = since;
        loop {
            let w = self.written_now()?;
            if w >= need {
                return Ok(w);
            }
            if w != last {
                last = w;
                spins = 0;
                since = Instant::now();
            }
            spins += 1;
            if spins < 128 {
                std::hint::spin_loop();
                continue;
            }
            if spins < 1024 {
                std::thread::yield_now();
                continue;
            }
            std::thread::sleep(Duration::from_micros(50));
            let now = Instant::now();
            let (written, len) = (w as u64, self.len as u64);
            if now.duration_since(checked) > Duration::from_millis(10) {
                checked = now;
                if self.att.writer.is_some_and(|p| !p.is_alive()) {
                    // One last look: it may have finished just before dying.
                    let w = self.written_now()?;
                    if w >= need {
                        return Ok(w);
                    }
                    return Err(StreamError::WriterDied { written, len });
                }
            }
            let stalled = now.duration_since(since);
            if stalled > STREAM_STALL_TIMEOUT {
                return Err(StreamError::Stalled {
                    written,
                    len,
                    stalled_ms: stalled.as_millis() as u64,
                });
            }
        }
    }

    /// Wait until every byte is written (see [`Self::wait_written`]).
    pub fn wait_complete(&self) -> Result<(), StreamError> {
        self.wait_written(self.len).map(|_| ())
    }

    /// The whole sample's bytes, **including the part a streaming
    /// publisher has not written yet**: read only below what
    /// [`Self::wait_written`] returned (e.g. through a progress gate). For
    /// complete samples this is the same slice as `Deref`.
    pub fn raw_bytes(&self) -> &[u8] {
        if self.chunked.is_some() {
            return self;
        }
        let r = self.blob.as_deref().unwrap_or(&self.att.data);
        r.bytes(self.off, self.len).unwrap_or(&[])
    }

    /// Whether this sample travelled in chunks (larger than the
    /// publisher's `max_slot_size`).
    pub fn is_chunked(&self) -> bool {
        self.chunked.is_some()
    }

    /// The payload as zero-copy slices, in order: one slice for a
    /// contiguous sample, one per chunk for a chunked one (never copies).
    pub fn chunks(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self.chunked.as_deref() {
            Some(ChunkedPart { blob: Some(b), .. }) => Box::new(b.chunks()),
            Some(ChunkedPart { owned, .. }) => {
                Box::new(std::iter::once(owned.get().map_or(&[][..], |v| &v[..])))
            }
            None => Box::new(std::iter::once(&**self)),
        }
    }

    /// The payload as one slice without copying, if it is contiguous in
    /// shared memory (or was already reassembled).
    pub fn contiguous(&self) -> Option<&[u8]> {
        match self.chunked.as_deref() {
            None => Some(&**self),
            Some(p) => p
                .blob
                .as_ref()
                .and_then(|b| b.as_contiguous())
                .or_else(|| p.owned.get().map(|v| &v[..])),
        }
    }

    /// Copy the payload into `out`, which must be exactly `len()` bytes
    /// (one copy, chunk by chunk; no intermediate buffer).
    pub fn copy_to(&self, out: &mut [u8]) -> Result<(), BlobError> {
        crate::blob::store::gather(self.chunks(), self.len as u64, out)
    }
}

impl std::ops::Deref for Sample {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if let Some(p) = self.chunked.as_deref() {
            if let Some(c) = p.blob.as_ref().and_then(|b| b.as_contiguous()) {
                return c;
            }
            // Reassembled lazily, once, only when a caller needs one slice.
            return p.owned.get_or_init(|| {
                let mut v = Vec::new();
                if let Some(b) = &p.blob {
                    b.as_ref().reassemble_into(&mut v);
                }
                v
            });
        }
        // Only `take_streaming` hands out incomplete samples; its callers
        // wait through `wait_written` first. A sample whose writer gave up
        // reads as empty rather than exposing unwritten bytes.
        if self.wait_complete().is_err() {
            return &[];
        }
        let r = self.blob.as_deref().unwrap_or(&self.att.data);
        // Validated when taken; an empty slice can only appear if the
        // mapping shrank, which mappings do not.
        r.bytes(self.off, self.len).unwrap_or(&[])
    }
}

/// The publisher's process, from its segment name `<d>_pub_<pid>_<id>_ctl`.
fn writer_of(segment: &str) -> Option<ProcessIdentity> {
    let pid: u32 = segment.split('_').nth(2)?.parse().ok()?;
    ProcessIdentity::of_pid(pid)
}

impl Drop for Sample {
    fn drop(&mut self) {
        if self.att.abandoned.load(Ordering::Relaxed) {
            return;
        }
        if let Some(p) = self.chunked.take() {
            // SYNC POINT: process-local counter of our own holdings.
            self.att.held_chunks.fetch_sub(p.held, Ordering::Relaxed);
            // Unpins (when it was the last pin) before the notify.
            drop(p);
            if let Some(h) = self.att.hdr() {
                // Wake a publisher waiting for chunk store room.
                h.space.notify();
            }
            return;
        }
        if let Some(sc) = self.att.slot_ctl(self.slot as usize) {
            let (w, bit) = self.att.bit();
            // SYNC POINT: Release: our payload reads happen-before the
            // publisher's SeqCst (acquiring) load that sees the bit clear
            // and then rewrites the slot.
            sc.holders[w].fetch_and(!bit, Ordering::Release);
        }
    }
}

struct SubState {
    pubs: Vec<Arc<Attached>>,
    seen_version: u64,
    retry_at: Option<Instant>,
    rr: usize,
    lost: u64,
}

/// A subscriber on one topic. All methods take `&self`.
///
/// The state lives behind an `Arc` so the domain can attach it to new
/// publishers from inside `Domain::wait` (graph-change doorbell) without
/// waiting for the next `take`.
pub struct Subscriber {
    inner: Arc<SubInner>,
}

pub(crate) struct SubInner {
    // Field order is drop order: reader entries are released (st) before
    // the registry record (reg), so the graph bump of the latter finds the
    // publishers' reader counts already updated.
    st: Mutex<SubState>,
    domain: Arc<Domain>,
    reg: EndpointReg,
    spec: TopicSpec,
    abandoned: Arc<AtomicBool>,
    /// When this subscriber was created (unix ns): volatile samples
    /// published from then on are delivered, however late we attach.
    created_ns: u64,
    /// Verify checksums of chunked samples (`checksum` of the config).
    verify: bool,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("topic", &self.inner.spec.name)
            .finish()
    }
}

impl crate::registry::GraphHook for SubInner {
    fn graph_changed(&self) {
        if self.abandoned.load(Ordering::Relaxed) {
            return;
        }
        let mut st = self.lock();
        self.refresh(&mut st);
    }
}

impl Drop for SubInner {
    fn drop(&mut self) {
        if self.domain.is_abandoned() {
            self.abandoned.store(true, Ordering::Relaxed);
        }
    }
}

/// A publisher as seen by discovery.
struct Candidate {
    ep: (u32, u32),
    segment: String,
    gid: [u8; 16],
    qos: Qos,
    /// The publisher's process record (slot, gen), to ring on attach.
    process: (u32, u32),
}

impl Subscriber {
    pub(crate) fn create(
        domain: &Arc<Domain>,
        node: &NodeHandle,
        spec: TopicSpec,
    ) -> Result<Subscriber, CreateSubscriberError> {
        let inner = Arc::new(SubInner::create(domain, node, spec)?);
        let hook: Arc<dyn crate::registry::GraphHook> = inner.clone();
        domain.add_graph_hook(Arc::downgrade(&hook));
        Ok(Subscriber { inner })
    }

    pub fn gid(&self) -> [u8; 16] {
        self.inner.gid()
    }

    pub fn spec(&self) -> &TopicSpec {
        &self.inner.spec
    }

    /// Take the next sample (from any matched publisher), zero copy.
    pub fn take(&self) -> Result<Option<Sample>, TakeError> {
        self.inner.take(false)
    }

    /// Like [`Self::take`], but a streamed sample
    /// ([`crate::topic::Publisher::publish_streaming`]) comes back as soon
    /// as its descriptor is published: read it progressively with
    /// [`Sample::wait_written`] and [`Sample::raw_bytes`] (a copy that
    /// follows the writer), or call [`Sample::wait_complete`] first.
    pub fn take_streaming(&self) -> Result<Option<Sample>, TakeError> {
        self.inner.take(true)
    }

    /// Whether a `take` would return a sample now.
    pub fn has_data(&self) -> bool {
        self.inner.has_data()
    }

    /// Samples available to `take` now, without taking them (summed over
    /// matched publishers). An upper bound: samples whose lifespan expires
    /// or that the publisher overwrites meanwhile are skipped by `take`.
    pub fn unread(&self) -> usize {
        self.inner.unread()
    }

    /// Publishers currently matched (attached and still alive).
    pub fn matched_publishers(&self) -> usize {
        self.inner.matched_publishers()
    }

    /// Samples this subscriber never saw (overwritten or dropped before it
    /// took them, or skipped to honour its KeepLast depth).
    pub fn lost(&self) -> u64 {
        self.inner.lost()
    }

    /// Counters as stored in the registry.
    pub fn stats(&self) -> EndpointStats {
        self.inner.stats()
    }

    /// Drop mappings without cleanup (simulated crash): the registry record
    /// and reader entries stay until a reaper notices.
    pub fn abandon(self) {
        self.inner.abandon();
    }
}

impl SubInner {
    fn create(
        domain: &Arc<Domain>,
        node: &NodeHandle,
        mut spec: TopicSpec,
    ) -> Result<SubInner, CreateSubscriberError> {
        spec.kind = EndpointKind::Subscriber;
        let created_ns = now_unix_ns();
        let reg =
            domain.register_endpoint(node, &spec, EndpointKind::Subscriber, |_, _, _, _| Ok(()))?;
        let s = SubInner {
            domain: domain.clone(),
            reg,
            spec,
            st: Mutex::new(SubState {
                pubs: Vec::new(),
                seen_version: u64::MAX,
                retry_at: None,
                rr: 0,
                lost: 0,
            }),
            abandoned: Arc::new(AtomicBool::new(false)),
            created_ns,
            verify: crate::config::ConfigSet::load()
                .map(|c| c.context().checksum)
                .unwrap_or(cfg!(debug_assertions)),
        };
        s.refresh(&mut s.lock());
        Ok(s)
    }

    fn lock(&self) -> MutexGuard<'_, SubState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn gid(&self) -> [u8; 16] {
        self.reg.gid
    }

    fn candidates(&self) -> Vec<Candidate> {
        let pubs = self.domain.publishers();
        let zero = [0u8; 32];
        pubs.get(&self.spec.name)
            .map(|v| {
                v.iter()
                    .filter(|p| p.type_name == self.spec.type_name)
                    .filter(|p| {
                        p.type_hash == zero
                            || self.spec.type_hash == zero
                            || p.type_hash == self.spec.type_hash
                            // Another version of the type that the caller
                            // can migrate (asked once per graph change).
                            || self
                                .spec
                                .accept_foreign_hash
                                .as_ref()
                                .is_some_and(|f| f.accepts(&p.type_hash, &p.gid))
                    })
                    .map(|p| Candidate {
                        ep: p.ep,
                        segment: p.segment.clone(),
                        gid: p.gid,
                        qos: p.qos,
                        process: p.process,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn refresh(&self, st: &mut SubState) {
        let v = self.domain.graph_version();
        let retry = st.retry_at.is_some_and(|t| Instant::now() >= t);
        if v == st.seen_version && !retry {
            return;
        }
        st.seen_version = v;
        st.retry_at = None;
        let cands = self.candidates();
        for a in &st.pubs {
            if !cands.iter().any(|c| c.ep == a.ep) {
                a.gone.store(true, Ordering::Relaxed);
            }
        }
        for c in cands {
            if st.pubs.iter().any(|a| a.ep == c.ep) {
                continue;
            }
            if !qos_compatible(&c.qos, &self.spec.qos) {
                continue;
            }
            match self.attach(&c) {
                Ok(a) => {
                    st.pubs.push(Arc::new(a));
                    // Tell the publisher's process its match count changed.
                    self.domain.ring_process(c.process.0, c.process.1);
                }
                Err(_) => st.retry_at = Some(Instant::now() + Duration::from_millis(20)),
            }
        }
        self.update_counters(st);
    }

    fn update_counters(&self, st: &SubState) {
        let c = &self.reg.record().counters;
        let matched = st
            .pubs
            .iter()
            .filter(|a| !a.gone.load(Ordering::Relaxed))
            .count();
        // SYNC POINT: statistics only.
        c.matched.store(matched as u64, Ordering::Relaxed);
        c.lost.store(st.lost, Ordering::Relaxed);
    }

    fn attach(&self, c: &Candidate) -> Result<Attached, String> {
        let (ctl, data) =
            open_publisher(&c.segment, self.domain.backend()).map_err(|e| e.to_string())?;
        let h: &PubHeader = ctl
            .get(PubLayout::compute(ctl.payload_offset(), 1, 1, 64).header)
            .map_err(|e| e.to_string())?;
        // SYNC POINT: Acquire pairs with the publisher's Release of magic.
        if h.magic.load(Ordering::Acquire) != PUB_MAGIC {
            return Err("publisher header not ready".into());
        }
        // SYNC POINT: header fields published with the magic.
        let ring_cap = h.ring_cap.load(Ordering::Relaxed);
        let n_slots = h.n_slots.load(Ordering::Relaxed);
        let slot_size = h.slot_size.load(Ordering::Relaxed);
        let ok = h.version.load(Ordering::Relaxed) == PUB_VERSION
            && (1..=super::qos::MAX_DEPTH).contains(&ring_cap)
            && n_slots >= ring_cap
            && n_slots <= ring_cap + 64
            && (64..=MAX_SLOT_SIZE).contains(&slot_size)
            && slot_size.is_multiple_of(64)
            && h.max_readers.load(Ordering::Relaxed) == MAX_READERS as u32;
        if !ok {
            return Err("publisher header invalid".into());
        }
        let lay = PubLayout::compute(ctl.payload_offset(), ring_cap, n_slots, slot_size);
        if ctl.len() < lay.end || (data.payload_len() as u64) < n_slots as u64 * slot_size {
            return Err("publisher segments too small".into());
        }
        let me = self.domain.identity();
        let (ps, pg) = self.domain.process_slot();
        let depth = self.spec.qos.depth() as u64;
        let window = match self.spec.qos.history {
            History::KeepLast(_) => depth,
            History::KeepAll => u64::MAX,
        };
        let reliable = self.spec.qos.reliability == Reliability::Reliable
            && c.qos.reliability == Reliability::Reliable;
        for i in 0..MAX_READERS {
            let Ok(r) = ctl.get::<ReaderEntry>(lay.reader_off(i)) else {
                break;
            };
            let Some(claim) = r.slot.try_claim(me.pid, me.start_time) else {
                continue;
            };
            let head = h.head.load(Ordering::Acquire);
            let cursor = if self.spec.qos.durability == Durability::TransientLocal
                && c.qos.durability == Durability::TransientLocal
            {
                head.saturating_sub(window.min(ring_cap as u64))
            } else {
                // Volatile: everything published since this subscriber was
                // created (within our window) is ours, even if our process
                // attaches only later (a publisher that appeared while we
                // were not polling): as if matching had been immediate.
                catch_up_start(
                    &ctl,
                    &lay,
                    head,
                    window.min(ring_cap as u64),
                    self.created_ns,
                )
            };
            // SYNC POINT: content of our CLAIMING entry, published by the
            // Release in `publish`.
            r.cursor.store(cursor, Ordering::Relaxed);
            r.process_slot.store(ps, Ordering::Relaxed);
            r.process_gen.store(pg, Ordering::Relaxed);
            r.reliable.store(reliable as u32, Ordering::Relaxed);
            r.depth.store(depth as u32, Ordering::Relaxed);
            r.lost.store(0, Ordering::Relaxed);
            r.taken.store(0, Ordering::Relaxed);
            // A previous owner of this index may have died holding bits
            // that no reaper cleared yet: clear ours (we own the index now).
            let (w, bit) = (i / 64, 1u64 << (i % 64));
            for s in 0..n_slots as usize {
                if let Ok(sc) = ctl.get::<SlotCtl>(lay.slot_off(s)) {
                    // SYNC POINT: SeqCst like every holder-bit change.
                    sc.holders[w].fetch_and(!bit, Ordering::SeqCst);
                }
            }
            if !r.slot.publish(claim) {
                continue;
            }
            // SYNC POINT: AcqRel max; the publisher's Acquire load bounds its
            // scan of reader entries.
            h.reader_hwm.fetch_max(i as u32 + 1, Ordering::AcqRel);
            return Ok(Attached {
                ctl,
                data,
                lay,
                ctl_name: c.segment.clone(),
                reader_idx: i as u32,
                claim,
                gid: c.gid,
                ep: c.ep,
                window,
                reliable,
                lifespan_ns: c.qos.lifespan_ns,
                backend: self.domain.backend().clone(),
                state: Mutex::new(AttState {
                    cursor,
                    blobs: HashMap::new(),
                    chunks: None,
                }),
                gone: AtomicBool::new(false),
                abandoned: self.abandoned.clone(),
                verify: self.verify,
                held_chunks: AtomicU32::new(0),
                writer: writer_of(&c.segment),
            });
        }
        Err("publisher has no free reader entry".into())
    }

    /// Take the next sample (from any matched publisher), zero copy.
    /// `streaming`: a streamed sample may come back before its publisher
    /// finished writing it (else this waits for the rest).
    pub fn take(&self, streaming: bool) -> Result<Option<Sample>, TakeError> {
        let mut st = self.lock();
        self.refresh(&mut st);
        let n = st.pubs.len();
        let mut lost = 0u64;
        let mut result = Ok(None);
        let mut drained_gone = Vec::new();
        for k in 0..n {
            let i = (st.rr + k) % n;
            let a = st.pubs[i].clone();
            match a.try_take(&mut lost) {
                Ok(Some(s)) => {
                    st.rr = (i + 1) % n.max(1);
                    result = Ok(Some(s));
                    break;
                }
                Ok(None) => {
                    if a.gone.load(Ordering::Relaxed) {
                        drained_gone.push(i);
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for i in drained_gone.into_iter().rev() {
            st.pubs.remove(i);
        }
        st.lost += lost;
        let rec = self.reg.record();
        if let Ok(Some(s)) = &result {
            // SYNC POINT: statistics only.
            rec.counters.samples.fetch_add(1, Ordering::Relaxed);
            rec.counters
                .bytes
                .fetch_add(s.len() as u64, Ordering::Relaxed);
        }
        if lost > 0 {
            self.update_counters(&st);
        }
        drop(st);
        // The rest of a streamed sample is awaited outside our lock (a
        // graph change or `has_data` from another thread is not held up).
        match result {
            Ok(Some(s)) if !streaming && !s.is_complete() => match s.wait_complete() {
                Ok(()) => Ok(Some(s)),
                Err(source) => {
                    let (segment, sequence) = (s.att.ctl_name.clone(), s.info.sequence);
                    drop(s);
                    let mut st = self.lock();
                    st.lost += 1;
                    self.update_counters(&st);
                    Err(TakeError::Stream {
                        segment,
                        sequence,
                        source,
                    })
                }
            },
            r => r,
        }
    }

    /// Whether a `take` would return a sample now.
    pub fn has_data(&self) -> bool {
        let mut st = self.lock();
        self.refresh(&mut st);
        st.pubs.iter().any(|a| a.has_data())
    }

    /// Samples available to `take` now, without taking them (summed over
    /// matched publishers). An upper bound: samples whose lifespan expires
    /// or that the publisher overwrites meanwhile are skipped by `take`.
    pub fn unread(&self) -> usize {
        let mut st = self.lock();
        self.refresh(&mut st);
        st.pubs
            .iter()
            .map(|a| a.unread())
            .fold(0u64, u64::saturating_add)
            .try_into()
            .unwrap_or(usize::MAX)
    }

    /// Publishers currently matched (attached and still alive).
    pub fn matched_publishers(&self) -> usize {
        let mut st = self.lock();
        self.refresh(&mut st);
        st.pubs
            .iter()
            .filter(|a| !a.gone.load(Ordering::Relaxed))
            .count()
    }

    /// Samples this subscriber never saw (overwritten or dropped before it
    /// took them, or skipped to honour its KeepLast depth).
    pub fn lost(&self) -> u64 {
        self.lock().lost
    }

    /// Counters as stored in the registry.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.reg.record().counters;
        // SYNC POINT: statistics only.
        EndpointStats {
            samples: c.samples.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            pool_used: 0,
            pool_total: 0,
            matched: c.matched.load(Ordering::Relaxed),
            blocked: 0,
        }
    }

    /// Drop mappings without cleanup (simulated crash): the registry record
    /// and reader entries stay until a reaper notices.
    fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
        self.reg.set_abandoned();
        mark_abandoned(ep_key(
            self.domain.prefix(),
            self.domain.id(),
            self.reg.slot,
            self.reg.claim.gen,
        ));
        for a in &self.lock().pubs {
            mark_abandoned(reader_key(&a.ctl_name, a.reader_idx, a.claim.gen));
            if let Some((_, r)) = &a.lock().chunks {
                r.abandon();
            }
        }
    }
}
