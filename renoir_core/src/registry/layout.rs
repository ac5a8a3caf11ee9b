//! Byte layout of the registry segment (see docs/data-path.md for the table
//! with offsets, writers and readers).
//!
//! Every record is `repr(C)`, made only of atomics, valid when all-zero and
//! for every bit pattern (ShmSafe). Strings are stored as a length word plus
//! 64-bit words holding the bytes; they are validated (length bound, UTF-8,
//! no NUL) on every read.

// Atomics come only from `crate::sync` (loom-swappable); clippy's
// disallowed-types resolves the re-export to std and would flag each use.
#![allow(clippy::disallowed_types)]

use super::slot::SlotWord;
use crate::notify::{Doorbell, Event};
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::ShmSafe;

pub const REG_MAGIC: u64 = u64::from_le_bytes(*b"RNRREG01");
pub const REG_VERSION: u32 = 1;

pub const MAX_PROCESSES: usize = 256;
pub const MAX_NODES: usize = 1024;
pub const MAX_ENDPOINTS: usize = 4096;

/// A bounded string of at most `W * 8` bytes.
#[repr(C)]
#[derive(Debug)]
pub struct ShmStr<const W: usize> {
    len: AtomicU32,
    _pad: AtomicU32,
    words: [AtomicU64; W],
}

// SAFETY: repr(C) of atomics only; every bit pattern is a valid value
// (the length is validated on read).
unsafe impl<const W: usize> ShmSafe for ShmStr<W> {}

/// Why a string read from shared memory was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StrError {
    #[error("string length {0} exceeds its field")]
    TooLong(usize),
    #[error("string is not UTF-8")]
    NotUtf8,
    #[error("string contains NUL")]
    Nul,
}

impl<const W: usize> ShmStr<W> {
    pub const CAP: usize = W * 8;

    /// Store `s` (caller owns the record: CLAIMING). Fails if too long or
    /// contains NUL.
    pub fn set(&self, s: &str) -> Result<(), StrError> {
        let b = s.as_bytes();
        if b.len() > Self::CAP {
            return Err(StrError::TooLong(b.len()));
        }
        if b.contains(&0) {
            return Err(StrError::Nul);
        }
        for (i, w) in self.words.iter().enumerate() {
            let mut chunk = [0u8; 8];
            let start = (i * 8).min(b.len());
            let end = (i * 8 + 8).min(b.len());
            chunk[..end - start].copy_from_slice(&b[start..end]);
            // SYNC POINT: content of a CLAIMING record, published by the
            // slot's Release store of LIVE.
            w.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
        }
        // SYNC POINT: as above.
        self.len.store(b.len() as u32, Ordering::Relaxed);
        Ok(())
    }

    /// Read and validate.
    pub fn get(&self) -> Result<String, StrError> {
        // SYNC POINT: content read between two loads of the slot word (the
        // caller validates the snapshot with `SlotWord::reload`).
        let len = self.len.load(Ordering::Relaxed) as usize;
        if len > Self::CAP {
            return Err(StrError::TooLong(len));
        }
        let mut out = Vec::with_capacity(len);
        for w in self.words.iter() {
            if out.len() >= len {
                break;
            }
            // SYNC POINT: as above.
            let v = w.load(Ordering::Relaxed).to_le_bytes();
            let take = (len - out.len()).min(8);
            out.extend_from_slice(&v[..take]);
        }
        if out.contains(&0) {
            return Err(StrError::Nul);
        }
        String::from_utf8(out).map_err(|_| StrError::NotUtf8)
    }
}

/// Header at the start of the registry payload.
#[repr(C)]
#[derive(Debug)]
pub struct RegHeader {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub domain_id: AtomicU32,
    pub n_processes: AtomicU32,
    pub n_nodes: AtomicU32,
    pub n_endpoints: AtomicU32,
    /// 1 once the last member decided to unlink the registry; joiners that
    /// see it start over (see `Domain::join`).
    pub closed: AtomicU32,
    /// Offsets (from the region start) of the three tables.
    pub off_processes: AtomicU64,
    pub off_nodes: AtomicU64,
    pub off_endpoints: AtomicU64,
    /// Bumped on every graph change.
    pub graph_version: AtomicU64,
    /// Notified on every graph change (futex word for graph watchers).
    pub graph_event: Event,
    /// Monotonic counter for unique endpoint ids (segment names).
    pub next_id: AtomicU64,
    pub _reserved: [AtomicU64; 16],
}
// SAFETY: repr(C) of atomics and Event (ShmSafe); all bit patterns valid.
unsafe impl ShmSafe for RegHeader {}

/// One process that joined the domain.
#[repr(C)]
#[derive(Debug)]
pub struct ProcessRecord {
    pub slot: SlotWord,
    /// Rung on data and graph changes for this process.
    pub doorbell: Doorbell,
    pub heartbeat_ns: AtomicU64,
    pub joined_unix_ns: AtomicU64,
    pub name: ShmStr<8>,
    /// Inode of the owner's pid namespace: pids (and liveness checks) only
    /// mean something within one namespace.
    pub pid_ns: AtomicU64,
    pub _reserved: [AtomicU64; 1],
}
// SAFETY: repr(C) of ShmSafe fields only.
unsafe impl ShmSafe for ProcessRecord {}

#[repr(C)]
#[derive(Debug)]
pub struct NodeRecord {
    pub slot: SlotWord,
    pub process_slot: AtomicU32,
    pub process_gen: AtomicU32,
    pub name: ShmStr<32>,
    pub namespace: ShmStr<32>,
    pub enclave: ShmStr<32>,
}
// SAFETY: repr(C) of ShmSafe fields only.
unsafe impl ShmSafe for NodeRecord {}

/// Per-endpoint counters (readable by `renoir ls`).
#[repr(C)]
#[derive(Debug)]
pub struct Counters {
    /// Samples published (publisher) / taken (subscriber).
    pub samples: AtomicU64,
    /// Bytes published / taken.
    pub bytes: AtomicU64,
    /// Samples lost (subscriber: overwritten before taken; publisher:
    /// sum of what its readers lost is in its segment).
    pub lost: AtomicU64,
    /// Publisher: slots in use (loaned, in ring or held); pool size below.
    pub pool_used: AtomicU64,
    pub pool_total: AtomicU64,
    /// Matched peers (subscribers for a publisher, publishers for a
    /// subscriber), as last computed by the owner.
    pub matched: AtomicU64,
    /// Publisher: times publish had to wait for a reliable reader.
    pub blocked: AtomicU64,
    /// Liveliness heartbeat of this endpoint (unix ns): set at creation, on
    /// every publish and on `Publisher::assert_liveliness`. Was reserved
    /// (always 0) before, so older writers read as "no heartbeat".
    pub heartbeat_ns: AtomicU64,
}
// SAFETY: repr(C) of atomics.
unsafe impl ShmSafe for Counters {}

#[repr(C)]
#[derive(Debug)]
pub struct EndpointRecord {
    pub slot: SlotWord,
    pub kind: AtomicU32,
    pub node_slot: AtomicU32,
    pub node_gen: AtomicU32,
    pub process_slot: AtomicU32,
    pub process_gen: AtomicU32,
    pub _pad: AtomicU32,
    pub gid: [AtomicU64; 2],
    pub type_hash: [AtomicU64; 4],
    pub history: AtomicU32,
    pub depth: AtomicU32,
    pub reliability: AtomicU32,
    pub durability: AtomicU32,
    pub liveliness: AtomicU32,
    pub _pad2: AtomicU32,
    pub deadline_ns: AtomicU64,
    pub lifespan_ns: AtomicU64,
    pub lease_ns: AtomicU64,
    /// Unique id (also in the publisher segment names).
    pub id: AtomicU64,
    pub topic: ShmStr<32>,
    pub type_name: ShmStr<32>,
    /// Publisher: logical name of the control segment (data segment and
    /// blobs derive from it). Empty for subscribers.
    pub segment: ShmStr<8>,
    pub counters: Counters,
}
// SAFETY: repr(C) of ShmSafe fields only.
unsafe impl ShmSafe for EndpointRecord {}

/// Offsets of everything in a registry of the standard size, relative to
/// the region's payload offset `p`.
#[derive(Debug, Clone, Copy)]
pub struct RegLayout {
    pub header: usize,
    pub processes: usize,
    pub nodes: usize,
    pub endpoints: usize,
    pub end: usize,
}

fn align64(v: usize) -> usize {
    (v + 63) & !63
}

impl RegLayout {
    pub fn compute(p: usize) -> RegLayout {
        let header = align64(p);
        let processes = align64(header + std::mem::size_of::<RegHeader>());
        let nodes = align64(processes + MAX_PROCESSES * std::mem::size_of::<ProcessRecord>());
        let endpoints = align64(nodes + MAX_NODES * std::mem::size_of::<NodeRecord>());
        let end = align64(endpoints + MAX_ENDPOINTS * std::mem::size_of::<EndpointRecord>());
        RegLayout {
            header,
            processes,
            nodes,
            endpoints,
            end,
        }
    }
    /// Payload bytes needed (from `p`).
    pub fn payload_size() -> usize {
        // Layout with p = 0 plus the worst-case alignment slack.
        Self::compute(0).end + 64
    }
}

pub fn u64s_to_bytes<const N: usize, const B: usize>(w: &[AtomicU64; N]) -> [u8; B] {
    let mut out = [0u8; B];
    for (i, a) in w.iter().enumerate() {
        // SYNC POINT: record content, validated by the caller's seqlock
        // re-check.
        let v = a.load(Ordering::Relaxed).to_le_bytes();
        out[i * 8..i * 8 + 8].copy_from_slice(&v);
    }
    out
}

pub fn bytes_to_u64s<const N: usize>(w: &[AtomicU64; N], b: &[u8]) {
    for (i, a) in w.iter().enumerate() {
        let mut c = [0u8; 8];
        c.copy_from_slice(&b[i * 8..i * 8 + 8]);
        // SYNC POINT: content of a CLAIMING record, published by the slot's
        // Release store of LIVE.
        a.store(u64::from_le_bytes(c), Ordering::Relaxed);
    }
}
