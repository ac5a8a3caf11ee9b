//! The region header: the first [`HEADER_SIZE`] bytes of every region.
//!
//! Layout (native endian = little endian on every supported target; see
//! docs/memory.md for who writes and reads each field):
//!
//! | off | size | field              |
//! |-----|------|--------------------|
//! | 0   | 8    | magic `RENOIRRG`   |
//! | 8   | 4    | layout version     |
//! | 12  | 4    | header size (128)  |
//! | 16  | 8    | total size         |
//! | 24  | 4    | creator pid        |
//! | 28  | 4    | flags              |
//! | 32  | 8    | creator start time |
//! | 40  | 8    | created (unix ns)  |
//! | 48  | 8    | metadata offset    |
//! | 56  | 8    | metadata length    |
//! | 64  | 8    | payload offset     |
//! | 72  | 4    | ready (atomic)     |
//! | 76  | 4    | reserved (zero)    |
//! | 80  | 8    | creator pid ns     |
//! | 88  | 40   | reserved (zero)    |
//!
//! The creator writes every field, then stores [`READY`] into `ready` with
//! Release; openers load `ready` with Acquire before reading anything else.
//! After that the header is immutable, but it is still untrusted: openers
//! copy it once ([`HeaderSnapshot`]) and validate the copy, and never re-read
//! the live fields for decisions.

// Atomics here come only from `crate::sync` (the loom-swappable facade).
// clippy's `disallowed-types` resolves that re-export to its std definition
// and would flag every use; `alloc::tests::no_direct_std_atomics` enforces
// the rule for the memory layer's files instead.
#![allow(clippy::disallowed_types)]

use crate::platform::ProcessIdentity;
use crate::shm_safe::ShmSafe;
use crate::sync::atomic::{AtomicU32, Ordering};
use std::mem::offset_of;

/// `b"RENOIRRG"` read as a native u64.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"RENOIRRG");
/// Bumped on every incompatible change of the header or metadata encoding.
pub const LAYOUT_VERSION: u32 = 1;
/// Bytes of the header; metadata starts right after it.
pub const HEADER_SIZE: usize = 128;
/// Value of the `ready` word once the creator has finished initializing.
/// Not `1`, so that a stray small integer is not mistaken for readiness.
pub const READY: u32 = 0x5245_4459; // "REDY"
/// Payload (and metadata end) alignment.
pub const PAYLOAD_ALIGN: usize = 64;

/// Header flag: the region outlives its creator on purpose (e.g. a registry
/// segment shared by every process of a domain); `clean` skips it.
pub const FLAG_KEEP_WHEN_CREATOR_DIES: u32 = 1;
/// All flags this version knows.
pub const KNOWN_FLAGS: u32 = FLAG_KEEP_WHEN_CREATOR_DIES;

/// The header as it lies in shared memory. Read it through
/// [`RegionHeader::snapshot`] or the typed accessors; every accessor does a
/// volatile read, since another process may write these bytes.
#[repr(C)]
pub struct RegionHeader {
    magic: u64,
    layout_version: u32,
    header_size: u32,
    total_size: u64,
    creator_pid: u32,
    flags: u32,
    creator_start_time: u64,
    created_unix_ns: u64,
    meta_offset: u64,
    meta_len: u64,
    payload_offset: u64,
    /// 0 while initializing, [`READY`] after. SYNC POINT: the creator's
    /// Release store publishes every other header field and the metadata;
    /// openers pair it with an Acquire load before reading them.
    ready: AtomicU32,
    _reserved0: u32,
    /// Inode of the creator's pid namespace (0 = unknown): liveness is only
    /// judged by processes in the same namespace.
    creator_pid_ns: u64,
    _reserved: [u64; 5],
}

// SAFETY: repr(C), only integers and an AtomicU32, no padding holes that
// matter (all fields are naturally aligned and the total is 128), every bit
// pattern valid.
unsafe impl ShmSafe for RegionHeader {}

const _: () = {
    assert!(std::mem::size_of::<RegionHeader>() == HEADER_SIZE);
    assert!(offset_of!(RegionHeader, magic) == 0);
    assert!(offset_of!(RegionHeader, layout_version) == 8);
    assert!(offset_of!(RegionHeader, header_size) == 12);
    assert!(offset_of!(RegionHeader, total_size) == 16);
    assert!(offset_of!(RegionHeader, creator_pid) == 24);
    assert!(offset_of!(RegionHeader, flags) == 28);
    assert!(offset_of!(RegionHeader, creator_start_time) == 32);
    assert!(offset_of!(RegionHeader, created_unix_ns) == 40);
    assert!(offset_of!(RegionHeader, meta_offset) == 48);
    assert!(offset_of!(RegionHeader, meta_len) == 56);
    assert!(offset_of!(RegionHeader, payload_offset) == 64);
    assert!(offset_of!(RegionHeader, ready) == 72);
    assert!(offset_of!(RegionHeader, creator_pid_ns) == 80);
};

/// A plain copy of the header fields, taken once and then validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HeaderSnapshot {
    pub magic: u64,
    pub layout_version: u32,
    pub header_size: u32,
    pub total_size: u64,
    pub creator_pid: u32,
    pub flags: u32,
    pub creator_start_time: u64,
    pub created_unix_ns: u64,
    pub meta_offset: u64,
    pub meta_len: u64,
    pub payload_offset: u64,
    pub ready: u32,
    pub creator_pid_ns: u64,
}

impl HeaderSnapshot {
    /// Decode a header from raw bytes (e.g. read with `pread` by `ls`).
    /// Returns `None` if fewer than [`HEADER_SIZE`] bytes are given.
    pub fn from_bytes(b: &[u8]) -> Option<HeaderSnapshot> {
        if b.len() < HEADER_SIZE {
            return None;
        }
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        Some(HeaderSnapshot {
            magic: u64_at(0),
            layout_version: u32_at(8),
            header_size: u32_at(12),
            total_size: u64_at(16),
            creator_pid: u32_at(24),
            flags: u32_at(28),
            creator_start_time: u64_at(32),
            created_unix_ns: u64_at(40),
            meta_offset: u64_at(48),
            meta_len: u64_at(56),
            payload_offset: u64_at(64),
            ready: u32_at(72),
            creator_pid_ns: u64_at(80),
        })
    }

    /// The creator, if the header names one (pid 0 means "not written").
    pub fn creator(&self) -> Option<ProcessIdentity> {
        (self.creator_pid != 0).then_some(ProcessIdentity {
            pid: self.creator_pid,
            start_time: self.creator_start_time,
        })
    }

    /// Check every field against `actual_len` (the mapped/file size).
    /// Does not look at `ready` (callers decide whether to wait for it).
    pub fn validate(&self, actual_len: u64) -> Result<(), HeaderError> {
        if self.magic != MAGIC {
            return Err(HeaderError::BadMagic { found: self.magic });
        }
        if self.layout_version != LAYOUT_VERSION {
            return Err(HeaderError::VersionMismatch {
                found: self.layout_version,
                expected: LAYOUT_VERSION,
            });
        }
        if self.header_size as usize != HEADER_SIZE {
            return Err(HeaderError::Corrupt(format!(
                "header size {} != {HEADER_SIZE}",
                self.header_size
            )));
        }
        if self.total_size != actual_len {
            return Err(HeaderError::SizeMismatch {
                header: self.total_size,
                actual: actual_len,
            });
        }
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(HeaderError::Corrupt(format!(
                "unknown flags {:#x}",
                self.flags
            )));
        }
        if self.meta_offset != HEADER_SIZE as u64 {
            return Err(HeaderError::Corrupt(format!(
                "metadata offset {} != {HEADER_SIZE}",
                self.meta_offset
            )));
        }
        if self.meta_len > super::metadata::MAX_METADATA_LEN as u64 {
            return Err(HeaderError::Corrupt(format!(
                "metadata length {} too large",
                self.meta_len
            )));
        }
        let meta_end = self.meta_offset + self.meta_len; // both bounded above: no overflow
        if self.payload_offset < meta_end
            || self.payload_offset & (PAYLOAD_ALIGN as u64 - 1) != 0
            || self.payload_offset > self.total_size
        {
            return Err(HeaderError::Corrupt(format!(
                "payload offset {} invalid (metadata ends at {meta_end}, size {})",
                self.payload_offset, self.total_size
            )));
        }
        Ok(())
    }
}

/// What is wrong with a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("bad magic {found:#018x}: not a renoir region")]
    BadMagic { found: u64 },
    #[error("layout version {found}, this build understands {expected}")]
    VersionMismatch { found: u32, expected: u32 },
    #[error("header says {header} bytes, file has {actual}")]
    SizeMismatch { header: u64, actual: u64 },
    #[error("corrupt header: {0}")]
    Corrupt(String),
}

macro_rules! vread {
    ($self:ident . $f:ident) => {
        // SAFETY: `self` is a valid reference to a mapped header; the field
        // is aligned (repr(C), checked by the const asserts). Volatile
        // because another process may write it at any time.
        unsafe { std::ptr::addr_of!($self.$f).read_volatile() }
    };
}

impl RegionHeader {
    /// Copy every field (volatile reads).
    pub fn snapshot(&self) -> HeaderSnapshot {
        HeaderSnapshot {
            magic: vread!(self.magic),
            layout_version: vread!(self.layout_version),
            header_size: vread!(self.header_size),
            total_size: vread!(self.total_size),
            creator_pid: vread!(self.creator_pid),
            flags: vread!(self.flags),
            creator_start_time: vread!(self.creator_start_time),
            created_unix_ns: vread!(self.created_unix_ns),
            meta_offset: vread!(self.meta_offset),
            meta_len: vread!(self.meta_len),
            payload_offset: vread!(self.payload_offset),
            ready: self.ready.load(Ordering::Relaxed),
            creator_pid_ns: vread!(self.creator_pid_ns),
        }
    }

    /// Acquire-load of the ready word. SYNC POINT: pairs with the creator's
    /// Release store in [`write_header`]; after it returns true every header
    /// field and the metadata are visible.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) == READY
    }

    pub fn magic(&self) -> u64 {
        vread!(self.magic)
    }
    pub fn layout_version(&self) -> u32 {
        vread!(self.layout_version)
    }
    pub fn total_size(&self) -> u64 {
        vread!(self.total_size)
    }
    pub fn flags(&self) -> u32 {
        vread!(self.flags)
    }
    pub fn created_unix_ns(&self) -> u64 {
        vread!(self.created_unix_ns)
    }
    pub fn payload_offset(&self) -> u64 {
        vread!(self.payload_offset)
    }
    /// The creator as written in the header (untrusted, may be pid 0).
    pub fn creator(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: vread!(self.creator_pid),
            start_time: vread!(self.creator_start_time),
        }
    }
}

/// Initialize a header in fresh (zeroed) memory and publish it.
///
/// # Safety
/// `base` must point to at least [`HEADER_SIZE`] writable bytes, aligned to
/// 8, that no other thread or process writes concurrently (the region was
/// just created exclusively and its `ready` word is still 0).
pub(crate) unsafe fn write_header(base: *mut u8, h: &HeaderSnapshot) {
    let hdr = base.cast::<RegionHeader>();
    // SAFETY: per the function contract, `hdr` is valid, aligned and ours.
    // Identity first, so that even a creator that dies before `ready` leaves
    // enough for `clean` to know whom the region belonged to.
    unsafe {
        std::ptr::addr_of_mut!((*hdr).creator_pid).write_volatile(h.creator_pid);
        std::ptr::addr_of_mut!((*hdr).creator_start_time).write_volatile(h.creator_start_time);
        std::ptr::addr_of_mut!((*hdr).creator_pid_ns).write_volatile(h.creator_pid_ns);
        std::ptr::addr_of_mut!((*hdr).created_unix_ns).write_volatile(h.created_unix_ns);
        std::ptr::addr_of_mut!((*hdr).flags).write_volatile(h.flags);
        std::ptr::addr_of_mut!((*hdr).magic).write_volatile(h.magic);
        std::ptr::addr_of_mut!((*hdr).layout_version).write_volatile(h.layout_version);
        std::ptr::addr_of_mut!((*hdr).header_size).write_volatile(h.header_size);
        std::ptr::addr_of_mut!((*hdr).total_size).write_volatile(h.total_size);
        std::ptr::addr_of_mut!((*hdr).meta_offset).write_volatile(h.meta_offset);
        std::ptr::addr_of_mut!((*hdr).meta_len).write_volatile(h.meta_len);
        std::ptr::addr_of_mut!((*hdr).payload_offset).write_volatile(h.payload_offset);
    }
}

/// Store [`READY`]: the last write of region creation.
///
/// # Safety
/// `base` must point to a mapped, 8-aligned header.
pub(crate) unsafe fn publish_ready(base: *mut u8) {
    // SAFETY: per the contract the header is mapped and aligned; the ready
    // word is an AtomicU32 and is only accessed atomically.
    let hdr = unsafe { &*base.cast::<RegionHeader>() };
    // SYNC POINT: Release publishes the header fields and metadata written
    // before it; pairs with the Acquire in `RegionHeader::is_ready`.
    hdr.ready.store(READY, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> HeaderSnapshot {
        HeaderSnapshot {
            magic: MAGIC,
            layout_version: LAYOUT_VERSION,
            header_size: HEADER_SIZE as u32,
            total_size: 8192,
            creator_pid: 1,
            flags: 0,
            creator_start_time: 2,
            created_unix_ns: 3,
            meta_offset: HEADER_SIZE as u64,
            meta_len: 10,
            payload_offset: 192,
            ready: READY,
            creator_pid_ns: 4,
        }
    }

    #[test]
    fn good_header_validates() {
        assert_eq!(good().validate(8192), Ok(()));
    }

    #[test]
    fn each_bad_field_is_caught() {
        let mut h = good();
        h.magic ^= 1;
        assert!(matches!(
            h.validate(8192),
            Err(HeaderError::BadMagic { .. })
        ));
        let mut h = good();
        h.layout_version = 99;
        assert!(matches!(
            h.validate(8192),
            Err(HeaderError::VersionMismatch { found: 99, .. })
        ));
        assert!(matches!(
            good().validate(4096),
            Err(HeaderError::SizeMismatch {
                header: 8192,
                actual: 4096
            })
        ));
        for f in [
            |h: &mut HeaderSnapshot| h.meta_len = u64::MAX,
            |h: &mut HeaderSnapshot| h.meta_offset = 0,
            |h: &mut HeaderSnapshot| h.payload_offset = 100,
            |h: &mut HeaderSnapshot| h.payload_offset = 193,
            |h: &mut HeaderSnapshot| h.payload_offset = 1 << 40,
            |h: &mut HeaderSnapshot| h.header_size = 64,
            |h: &mut HeaderSnapshot| h.flags = 0x8000,
        ] {
            let mut h = good();
            f(&mut h);
            assert!(
                matches!(h.validate(8192), Err(HeaderError::Corrupt(_))),
                "{h:?}"
            );
        }
    }

    #[test]
    fn from_bytes_roundtrip_and_short_input() {
        assert_eq!(HeaderSnapshot::from_bytes(&[0u8; 127]), None);
        let mut buf = vec![0u8; HEADER_SIZE];
        let mut aligned = [0u64; HEADER_SIZE / 8];
        // SAFETY: `aligned` is HEADER_SIZE bytes, 8-aligned, owned here.
        unsafe { write_header(aligned.as_mut_ptr().cast(), &good()) };
        for (i, w) in aligned.iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        let mut expect = good();
        expect.ready = 0; // write_header does not publish
        assert_eq!(HeaderSnapshot::from_bytes(&buf), Some(expect));
    }
}
