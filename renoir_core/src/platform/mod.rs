//! Syscall layer: shm, memfd, mmap, fallocate, futex, process identity.
//! Most of the crate's `unsafe` lives in these files, each block with a
//! `// SAFETY:` comment.

pub mod futex;
