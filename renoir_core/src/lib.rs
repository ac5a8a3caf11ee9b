//! renoir_core: a ROS-free shared-memory transport.
//!
//! Layers, bottom to top (each module doc says what it owns):
//! - [`sync`]: the atomics facade (std, or loom under `--cfg loom`).
//! - [`platform`]: every syscall (shm_open, memfd, mmap, fallocate, futex,
//!   process start times). Most of the crate's `unsafe` lives here.
//! - [`region`]: named shared-memory segments with a validated header and
//!   metadata; shm / memfd / file / heap backends.
//! - [`alloc`]: offset-based bump and pool allocators and buffer pools.
//! - [`ring`]: lock-free SPSC, SPMC broadcast, MPMC and sequenced rings.
//! - [`notify`]: cross-process wakeups (futex events, per-process doorbell).
//! - [`registry`]: the per-domain, daemonless registry of processes and
//!   endpoints (the graph).
//! - [`topic`]: publishers and subscribers with QoS — where a sample goes
//!   when you publish.
//! - [`cleanup`]: detection of dead owners and reclamation.
//! - [`wire`]: CDR layouts of a few ROS sensor messages, for native
//!   producers that write frames in place.
//!
//! See `docs/design.md` for the byte layout of every shared structure.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod shm_safe;
pub mod sync;

pub use shm_safe::ShmSafe;

pub mod alloc;
pub mod blob;
pub mod cleanup;
#[cfg(not(loom))]
pub mod config;
pub mod notify;
pub mod platform;
pub mod region;
pub mod registry;
pub mod ring;
pub mod schema;
pub mod topic;
pub mod wire;
