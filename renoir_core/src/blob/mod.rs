//! Large payloads: blobs cut into chunks, reclaimed by epochs.
//!
//! - [`header`]: the blob header (magic, version, content type, length,
//!   checksum) and its validation.
//! - [`epoch`]: per-reader watermarks in shared memory; the retire / pin
//!   protocol (also compiled under loom, over the heap backend).
//! - [`store`]: the chunked blob store in a region: a pool of chunk-table
//!   blocks, a pool of chunks, reader slots; [`BlobWriter`] and
//!   [`BlobReader`].
//!
//! Byte layouts, the memory-ordering argument, configuration and the plan
//! for plugging this into `topic` are in `docs/large-payloads.md`.

pub mod epoch;
pub mod header;
#[cfg(not(loom))]
mod shm_io;
#[cfg(not(loom))]
pub mod store;

pub use header::{BlobHeader, Checksum, ContentType};
#[cfg(not(loom))]
pub use store::{
    BlobDesc, BlobReader, BlobRef, BlobStore, BlobWriter, ChunkStrategy, HeldBlob, PinToken,
    ReadGuard, ReclaimPolicy, ReclaimStats, SharedReader, StoreConfig, StoreSummary,
};

/// Everything that can go wrong with a blob; never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("blob header truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("bad blob magic {0:#x}")]
    BadMagic(u32),
    #[error("unsupported blob version {0}")]
    BadVersion(u16),
    #[error("unknown blob flags {0:#x}")]
    BadFlags(u32),
    #[error("unknown content type {0}")]
    BadContentType(u16),
    #[error("bad chunk length {chunk_len} (max {max})")]
    BadChunkLen { chunk_len: u32, max: u32 },
    #[error("inconsistent length: {total_len} bytes in {chunk_count} chunks of {chunk_len}")]
    BadLength {
        total_len: u64,
        chunk_len: u32,
        chunk_count: u32,
    },
    #[error("chunk index {0} is not a lent chunk of this store")]
    BadChunkIndex(u32),
    #[error("descriptor names table block {0}, which is not a lent block")]
    BadTable(u32),
    #[error("stale descriptor: expected seq {expected}, header has {found}")]
    Stale { expected: u32, found: u32 },
    #[error("checksum mismatch: header {expected:#010x}, payload {actual:#010x}")]
    ChecksumMismatch { expected: u32, actual: u32 },
    #[error("payload of {len} bytes needs more than {max_chunks} chunks")]
    TooLarge { len: u64, max_chunks: u32 },
    #[error("no free {what} for a {len}-byte blob (reader back-pressure)")]
    Exhausted { what: &'static str, len: u64 },
    #[error("all {0} reader slots are taken")]
    NoReaderSlot(u32),
    #[error("destination holds {have} bytes, blob has {need}")]
    LengthMismatch { need: u64, have: usize },
    #[error("invalid blob store layout: {0}")]
    Layout(String),
    #[error("region access failed: {0}")]
    Bounds(String),
}
