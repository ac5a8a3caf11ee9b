//! Offset-based allocators (owner: memory layer).
//!
//! Everything here hands out *offsets* (or block indices), never pointers:
//! offsets mean the same thing in every process that maps a region.
//!
//! - [`BumpAllocator`]: carves a region range once, front to back (laying
//!   out a region's fixed structures).
//! - [`Pool`]: fixed-size blocks with a lock-free free list *in shared
//!   memory* (a Treiber stack of block indices with an ABA tag), a validated
//!   per-block state word (free / used + owner tag) so a bad or double free
//!   is an error, and [`Pool::reclaim_owner`] for blocks of a dead process.
//! - [`BufferPool`]: size classes of [`Pool`]s with 64-byte alignment,
//!   pre-allocation, bounded growth, allocation timeouts and statistics.
//!   Buffers cross processes as offsets and are returned by the receiver.
//!
//! Each pool has two backends: views into a [`crate::region::Region`]
//! (`create_in` / `open_in`), and process-local heap control words built with
//! `new`, which is what the loom model tests use (`--cfg loom`).
//!
//! The pools trust nothing they read from shared memory: indices, offsets and
//! state words are range-checked, and a corrupt free list degrades into
//! allocation failures (and leaked blocks), never into out-of-bounds access.

// Atomics here come only from `crate::sync` (the loom-swappable facade).
// clippy's `disallowed-types` resolves that re-export to its std definition
// and would flag every use; `alloc::tests::no_direct_std_atomics` enforces
// the rule for the memory layer's files instead.
#![allow(clippy::disallowed_types)]

mod buffer;
mod bump;
mod pool;

pub use buffer::{Buffer, BufferPool, BufferPoolConfig, BufferPoolStats, SizeClass};
pub use bump::BumpAllocator;
pub use pool::{BlockCtl, Pool, PoolAudit, PoolHeader, PoolStats, MAX_OWNER_TAG};

use std::time::Duration;

/// How long an allocation may wait for a block to be returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Fail at once if nothing is free.
    No,
    /// Retry (sleeping with backoff) until this much time has passed.
    Timeout(Duration),
}

/// Allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("out of space: {requested} bytes requested, {available} available")]
    OutOfSpace { requested: u64, available: u64 },
    #[error("alignment {0} is not a power of two (or above 4096)")]
    BadAlign(usize),
    #[error("{len} bytes is larger than the largest size class ({max})")]
    TooLarge { len: usize, max: usize },
    #[error("no free buffer of {len} bytes")]
    Exhausted { len: usize },
    #[error("no free buffer of {len} bytes after waiting {waited:?}")]
    Timeout { len: usize, waited: Duration },
}

/// A block or buffer handed back was not one that is currently lent out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreeError {
    #[error("block index {index} out of range (capacity {capacity})")]
    OutOfRange { index: u32, capacity: u32 },
    #[error("block {0} is not allocated (double free or never lent)")]
    NotAllocated(u32),
    #[error("block {index} belongs to owner {found}, not {expected}")]
    WrongOwner {
        index: u32,
        expected: u32,
        found: u32,
    },
    #[error("offset {0} is not the start of a block of this pool")]
    NotABlock(u64),
    #[error("length {len} does not fit the block ({block_size} bytes)")]
    BadLength { len: usize, block_size: usize },
}

/// A pool's shared-memory layout is invalid (or not initialized yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[cfg(not(loom))]
    #[error("out of region bounds: {0}")]
    Bounds(#[from] crate::region::BoundsError),
    #[error("no initialized pool at this offset (magic {0:#x})")]
    NotInitialized(u32),
    #[error("pool layout version {0} not supported")]
    Version(u32),
    #[error("invalid pool geometry: {0}")]
    Invalid(String),
    #[error("region is read-only")]
    ReadOnly,
}

pub(crate) fn align_up(v: u64, a: u64) -> Option<u64> {
    debug_assert!(a.is_power_of_two());
    Some(v.checked_add(a - 1)? & !(a - 1))
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// The memory layer's files take atomics only from `crate::sync`.
    #[test]
    fn no_direct_std_atomics() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut files = Vec::new();
        for dir in ["alloc", "region", "platform"] {
            for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let p = e.unwrap().path();
                // futex.rs belongs to another layer's owner.
                if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("futex.rs") {
                    files.push(p);
                }
            }
        }
        assert!(files.len() >= 8, "{files:?}");
        let needle = ["std::sync::", "atomic"].concat();
        let needle2 = ["core::sync::", "atomic"].concat();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                !text.contains(&needle) && !text.contains(&needle2),
                "{} uses atomics directly",
                f.display()
            );
        }
    }
}
