//! Byte layout of a publisher's segments (see docs/data-path.md).
//!
//! Control segment `<d>_pub_<pid>_<id>_ctl` (mapped read-write by the
//! publisher and its readers):
//! `[PubHeader][ReaderEntry; MAX_READERS][RingEntry; ring_cap][SlotCtl; n_slots]`.
//! Data segment `<d>_pub_<pid>_<id>_data` (read-write for the publisher,
//! **read-only** for readers): `n_slots` inline slots of `slot_size` bytes.
//! Blob segments `<d>_pub_<pid>_<id>_b<slot>g<gen>` (read-only for readers):
//! one per slot whose sample exceeds `slot_size`.
//! Chunk store `<d>_pub_<pid>_<id>_bstore<gen>` (read-write for readers: their
//! watermark slots live there): created on the first sample larger than
//! the publisher's `max_slot_size`, a [`crate::blob::BlobStore`].

#![allow(clippy::disallowed_types)]

use crate::notify::Event;
use crate::registry::slot::SlotWord;
use crate::sync::atomic::{AtomicU32, AtomicU64};
use crate::ShmSafe;

pub const PUB_MAGIC: u64 = u64::from_le_bytes(*b"RNRPUB01");
pub const PUB_VERSION: u32 = 2;
/// Readers per publisher (two 64-bit holder words per slot).
pub const MAX_READERS: usize = 128;
/// Extra slots beyond the ring depth (loans in flight, samples held).
pub const EXTRA_SLOTS: u32 = 8;
/// Largest inline slot.
pub const MAX_SLOT_SIZE: u64 = 64 << 20;
/// Largest sample (blob).
pub const MAX_SAMPLE: usize = 1 << 30;
/// `SlotCtl::written` of a streamed sample whose writer gave up.
pub const WRITTEN_ABORTED: u64 = u64::MAX;
/// `RingEntry::blob_gen` of a chunked sample.
pub const CHUNKED: u32 = u32::MAX;
/// Default inline slot size.
pub const DEFAULT_SLOT_SIZE: u64 = 4096;
/// Largest data segment sized from a hint (else inline slots shrink to
/// [`DEFAULT_SLOT_SIZE`]).
pub const MAX_DATA_SEGMENT: u64 = 32 << 20;
/// Hints above this (or above the configured `large_threshold`, if lower)
/// give small inline slots; large samples go to per-slot large-sample
/// segments (keeps the data segment small).
pub const INLINE_HINT_MAX: usize = 256 << 10;

#[repr(C)]
#[derive(Debug)]
pub struct PubHeader {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub ring_cap: AtomicU32,
    pub n_slots: AtomicU32,
    pub max_readers: AtomicU32,
    pub slot_size: AtomicU64,
    /// Next sequence index to publish (sample `q` has public sequence q+1).
    pub head: AtomicU64,
    /// Highest reader index ever claimed + 1 (bounds the publisher's scan).
    pub reader_hwm: AtomicU32,
    pub durability: AtomicU32,
    pub reliable: AtomicU32,
    pub keep_all: AtomicU32,
    /// Notified by reliable readers after each take (writer waits on it).
    pub space: Event,
    pub gid: [AtomicU64; 2],
    pub _reserved: [AtomicU64; 8],
}
// SAFETY: repr(C) of ShmSafe fields only; every bit pattern valid.
unsafe impl ShmSafe for PubHeader {}

#[repr(C)]
#[derive(Debug)]
pub struct ReaderEntry {
    pub slot: SlotWord,
    /// Next sequence index this reader will take (written by the reader).
    pub cursor: AtomicU64,
    pub process_slot: AtomicU32,
    pub process_gen: AtomicU32,
    pub reliable: AtomicU32,
    pub depth: AtomicU32,
    pub lost: AtomicU64,
    pub taken: AtomicU64,
    pub _reserved: [AtomicU64; 2],
}
// SAFETY: as above.
unsafe impl ShmSafe for ReaderEntry {}

#[repr(C)]
#[derive(Debug)]
pub struct RingEntry {
    /// Seqlock stamp: q+1 when the entry describes sample q, 0 while being
    /// (re)written or after being dropped.
    pub stamp: AtomicU64,
    pub slot: AtomicU32,
    /// 0: inline slot; [`CHUNKED`]: a chunked sample in the publisher's
    /// chunk store generation `slot` (`desc` names it); else the blob
    /// generation of `slot`.
    pub blob_gen: AtomicU32,
    pub len: AtomicU64,
    pub src_ts: AtomicU64,
    pub pub_ts: AtomicU64,
    /// `BlobDesc::to_u64` when `blob_gen == CHUNKED`, else 0.
    pub desc: AtomicU64,
    pub _reserved: [AtomicU64; 2],
}
// SAFETY: as above.
unsafe impl ShmSafe for RingEntry {}

#[repr(C)]
#[derive(Debug)]
pub struct SlotCtl {
    /// Bit r set while reader entry r holds this slot (a Sample alive).
    pub holders: [AtomicU64; 2],
    pub blob_gen: AtomicU32,
    pub _pad: AtomicU32,
    pub blob_cap: AtomicU64,
    /// Bytes of the slot's current sample written so far: the sample's
    /// length for an ordinary publish, rising from 0 for a streamed one
    /// (published before it is written; `Publisher::publish_streaming`),
    /// [`WRITTEN_ABORTED`] when its writer gave up.
    pub written: AtomicU64,
    pub _reserved: [AtomicU64; 3],
}
// SAFETY: as above.
unsafe impl ShmSafe for SlotCtl {}

/// Offsets in the control segment, computed from validated counts.
#[derive(Debug, Clone, Copy)]
pub struct PubLayout {
    pub header: usize,
    pub readers: usize,
    pub ring: usize,
    pub slots: usize,
    pub end: usize,
    pub ring_cap: u32,
    pub n_slots: u32,
    pub slot_size: u64,
}

fn align64(v: usize) -> usize {
    (v + 63) & !63
}

impl PubLayout {
    pub fn compute(p: usize, ring_cap: u32, n_slots: u32, slot_size: u64) -> PubLayout {
        let header = align64(p);
        let readers = align64(header + std::mem::size_of::<PubHeader>());
        let ring = align64(readers + MAX_READERS * std::mem::size_of::<ReaderEntry>());
        let slots = align64(ring + ring_cap as usize * std::mem::size_of::<RingEntry>());
        let end = align64(slots + n_slots as usize * std::mem::size_of::<SlotCtl>());
        PubLayout {
            header,
            readers,
            ring,
            slots,
            end,
            ring_cap,
            n_slots,
            slot_size,
        }
    }
    pub fn ctl_payload_size(ring_cap: u32, n_slots: u32) -> usize {
        Self::compute(0, ring_cap, n_slots, 0).end + 64
    }
    pub fn reader_off(&self, i: usize) -> usize {
        self.readers + i * std::mem::size_of::<ReaderEntry>()
    }
    pub fn ring_off(&self, i: usize) -> usize {
        self.ring + i * std::mem::size_of::<RingEntry>()
    }
    pub fn slot_off(&self, i: usize) -> usize {
        self.slots + i * std::mem::size_of::<SlotCtl>()
    }
}

/// Logical names of a publisher's segments.
pub fn ctl_name(domain: u32, pid: u32, id: u64) -> String {
    format!("{domain}_pub_{pid}_{id}_ctl")
}
pub fn data_name(ctl: &str) -> String {
    format!("{}_data", ctl.trim_end_matches("_ctl"))
}
pub fn blob_name(ctl: &str, slot: u32, gen: u32) -> String {
    format!("{}_b{slot}g{gen}", ctl.trim_end_matches("_ctl"))
}
/// Chunk store generation `gen` (a larger one replaces it when a sample
/// does not fit; the ring entry's `slot` names the generation).
pub fn store_name(ctl: &str, gen: u32) -> String {
    format!("{}_bstore{gen}", ctl.trim_end_matches("_ctl"))
}
