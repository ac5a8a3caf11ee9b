//! Syscall layer: shm, memfd, mmap, fallocate, futex, process identity.
//! Most of the crate's `unsafe` lives in these files, each block with a
//! `// SAFETY:` comment.
//!
//! - [`process`]: [`ProcessIdentity`] (pid + start time) and liveness.
//! - [`shm`]: segment directory/prefix, exclusive creation, `posix_fallocate`
//!   reservation, memfd, free-space queries.
//! - [`mem`]: mappings (memmap2) and page-aligned heap blocks.
//! - [`futex`]: non-private futex wait/wake.

pub mod futex;
pub mod mem;
pub mod process;
pub mod shm;

pub use process::ProcessIdentity;
pub use shm::page_size;
