//! The blob header: what sits at the start of a blob's chunk-table block.
//!
//! Byte layout (64 bytes, little-endian, `#[repr(C)]`):
//!
//! | off | size | field |
//! |---:|---:|---|
//! | 0 | 4 | `magic` = `b"RNBL"` |
//! | 4 | 2 | `version` = 1 |
//! | 6 | 2 | `content_type` (see [`ContentType`]) |
//! | 8 | 4 | `flags` (bit 0: `checksum` is valid; other bits must be 0) |
//! | 12 | 4 | `chunk_count` |
//! | 16 | 8 | `total_len` (payload bytes) |
//! | 24 | 4 | `chunk_len` (bytes per chunk; the last chunk holds the rest) |
//! | 28 | 4 | `checksum` (CRC-32C-compatible CRC-32 / IEEE via crc32fast) |
//! | 32 | 4 | `seq` (writer's sequence, checked against the descriptor) |
//! | 36 | 4 | `custom_type` (user id when `content_type` is `Custom`) |
//! | 40 | 24 | reserved, zero |
//!
//! followed by `chunk_count` little-endian `u32` chunk indices.
//!
//! A reader never trusts these bytes: it copies them out of shared memory
//! once ([`BlobHeader::parse`]) and validates the copy.

use super::BlobError;

/// Size of the encoded header.
pub const HEADER_LEN: usize = 64;
/// `b"RNBL"` as a little-endian u32.
pub const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"RNBL");
/// Layout version.
pub const BLOB_VERSION: u16 = 1;
/// Flag: `checksum` holds the payload's CRC-32.
pub const FLAG_CHECKSUM: u32 = 1;

/// What the payload is. Detected on read from the header's `content_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    Raw,
    Image,
    PointCloud,
    LaserScan,
    /// Application-defined id (stored in `custom_type`).
    Custom(u32),
}

impl ContentType {
    /// (content_type, custom_type) as stored.
    pub fn to_wire(self) -> (u16, u32) {
        match self {
            ContentType::Raw => (0, 0),
            ContentType::Image => (1, 0),
            ContentType::PointCloud => (2, 0),
            ContentType::LaserScan => (3, 0),
            ContentType::Custom(id) => (0xFFFF, id),
        }
    }

    /// Decode; unknown values are an error (never a panic).
    pub fn from_wire(ct: u16, custom: u32) -> Result<ContentType, BlobError> {
        Ok(match ct {
            0 => ContentType::Raw,
            1 => ContentType::Image,
            2 => ContentType::PointCloud,
            3 => ContentType::LaserScan,
            0xFFFF => ContentType::Custom(custom),
            other => return Err(BlobError::BadContentType(other)),
        })
    }
}

/// The header, as plain integers. `#[repr(C)]` documents the byte layout;
/// it is encoded and decoded explicitly, never cast from shared memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlobHeader {
    pub magic: u32,
    pub version: u16,
    pub content_type: u16,
    pub flags: u32,
    pub chunk_count: u32,
    pub total_len: u64,
    pub chunk_len: u32,
    pub checksum: u32,
    pub seq: u32,
    pub custom_type: u32,
    pub reserved: [u8; 24],
}

// SAFETY: repr(C), integers and a byte array only: no pointers, no niches,
// every bit pattern (including zero) valid. 64 bytes, no padding (checked by
// the const assertion below).
unsafe impl crate::ShmSafe for BlobHeader {}
const _: () = assert!(std::mem::size_of::<BlobHeader>() == HEADER_LEN);

/// Limits a reader applies to an untrusted header.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest chunk the store's blocks can hold.
    pub max_chunk_len: u32,
    /// Largest number of chunk indices a table block can hold.
    pub max_chunks: u32,
}

impl BlobHeader {
    /// A header for `total_len` bytes cut into `chunk_len`-byte chunks.
    pub fn new(ct: ContentType, total_len: u64, chunk_len: u32, seq: u32) -> BlobHeader {
        let (content_type, custom_type) = ct.to_wire();
        BlobHeader {
            magic: BLOB_MAGIC,
            version: BLOB_VERSION,
            content_type,
            flags: 0,
            chunk_count: chunk_count(total_len, chunk_len).unwrap_or(0),
            total_len,
            chunk_len,
            checksum: 0,
            seq,
            custom_type,
            reserved: [0; 24],
        }
    }

    /// Encode into the first [`HEADER_LEN`] bytes of `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<(), BlobError> {
        let have = out.len();
        let out = out.get_mut(..HEADER_LEN).ok_or(BlobError::Truncated {
            need: HEADER_LEN,
            have,
        })?;
        out[0..4].copy_from_slice(&self.magic.to_le_bytes());
        out[4..6].copy_from_slice(&self.version.to_le_bytes());
        out[6..8].copy_from_slice(&self.content_type.to_le_bytes());
        out[8..12].copy_from_slice(&self.flags.to_le_bytes());
        out[12..16].copy_from_slice(&self.chunk_count.to_le_bytes());
        out[16..24].copy_from_slice(&self.total_len.to_le_bytes());
        out[24..28].copy_from_slice(&self.chunk_len.to_le_bytes());
        out[28..32].copy_from_slice(&self.checksum.to_le_bytes());
        out[32..36].copy_from_slice(&self.seq.to_le_bytes());
        out[36..40].copy_from_slice(&self.custom_type.to_le_bytes());
        out[40..64].copy_from_slice(&self.reserved);
        Ok(())
    }

    /// Copy a header out of (untrusted) bytes and validate it against
    /// `limits`. Never panics.
    pub fn parse(bytes: &[u8], limits: Limits) -> Result<BlobHeader, BlobError> {
        let b = bytes.get(..HEADER_LEN).ok_or(BlobError::Truncated {
            need: HEADER_LEN,
            have: bytes.len(),
        })?;
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let mut total = [0u8; 8];
        total.copy_from_slice(&b[16..24]);
        let mut reserved = [0u8; 24];
        reserved.copy_from_slice(&b[40..64]);
        let h = BlobHeader {
            magic: u32_at(0),
            version: u16_at(4),
            content_type: u16_at(6),
            flags: u32_at(8),
            chunk_count: u32_at(12),
            total_len: u64::from_le_bytes(total),
            chunk_len: u32_at(24),
            checksum: u32_at(28),
            seq: u32_at(32),
            custom_type: u32_at(36),
            reserved,
        };
        h.validate(limits)?;
        Ok(h)
    }

    /// Structural checks: magic, version, flags, content type, and that
    /// length, chunk length and chunk count agree and fit the store.
    pub fn validate(&self, limits: Limits) -> Result<(), BlobError> {
        if self.magic != BLOB_MAGIC {
            return Err(BlobError::BadMagic(self.magic));
        }
        if self.version != BLOB_VERSION {
            return Err(BlobError::BadVersion(self.version));
        }
        if self.flags & !FLAG_CHECKSUM != 0 {
            return Err(BlobError::BadFlags(self.flags));
        }
        ContentType::from_wire(self.content_type, self.custom_type)?;
        if self.chunk_len == 0 || self.chunk_len > limits.max_chunk_len {
            return Err(BlobError::BadChunkLen {
                chunk_len: self.chunk_len,
                max: limits.max_chunk_len,
            });
        }
        let want = chunk_count(self.total_len, self.chunk_len);
        if want != Some(self.chunk_count) || self.chunk_count > limits.max_chunks {
            return Err(BlobError::BadLength {
                total_len: self.total_len,
                chunk_len: self.chunk_len,
                chunk_count: self.chunk_count,
            });
        }
        Ok(())
    }

    /// The content type (already validated by `parse`).
    pub fn content(&self) -> Result<ContentType, BlobError> {
        ContentType::from_wire(self.content_type, self.custom_type)
    }

    /// Length of chunk `i` (the last one holds the remainder).
    pub fn chunk_len_of(&self, i: u32) -> usize {
        let start = u64::from(i) * u64::from(self.chunk_len);
        let rest = self.total_len.saturating_sub(start);
        rest.min(u64::from(self.chunk_len)) as usize
    }
}

/// Chunks needed for `total` bytes in `chunk_len`-byte chunks (0 for an
/// empty payload). `None` if it does not fit a u32 or `chunk_len` is 0.
pub fn chunk_count(total: u64, chunk_len: u32) -> Option<u32> {
    if chunk_len == 0 {
        return None;
    }
    u32::try_from(total.div_ceil(u64::from(chunk_len))).ok()
}

/// The payload checksum (CRC-32 via `crc32fast`, SIMD-accelerated on x86_64
/// and aarch64). Feed it chunk by chunk.
#[derive(Default, Clone)]
pub struct Checksum(crc32fast::Hasher);

impl Checksum {
    pub fn new() -> Self {
        Checksum(crc32fast::Hasher::new())
    }
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes)
    }
    pub fn finish(self) -> u32 {
        self.0.finalize()
    }
    /// One-shot checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> u32 {
        crc32fast::hash(bytes)
    }
}
