//! The one door to atomics, fences and threads.
//!
//! Every lock-free protocol in renoir_core imports its atomics from here and
//! never from `std::sync::atomic` directly (clippy's `disallowed-types`
//! enforces it). Under `RUSTFLAGS="--cfg loom"` this module re-exports
//! loom's model-checked types instead, so the same protocol code is checked by
//! loom unchanged (the pattern crossbeam's `primitive` and tokio's `loom`
//! modules use).
//!
//! Shared-memory layouts are only ever built from the std types: an all-zero
//! `AtomicU32`/`AtomicU64` is a valid value, which is what a fresh shared
//! mapping contains. Loom's types are not plain memory, so under loom only the
//! heap backends (which construct values with `new`) are compiled and tested.

#[cfg(not(loom))]
pub mod atomic {
    #[allow(clippy::disallowed_types)]
    pub use std::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicU8,
        AtomicUsize, Ordering,
    };
}

#[cfg(loom)]
pub mod atomic {
    pub use loom::sync::atomic::{
        fence, AtomicBool, AtomicI32, AtomicI64, AtomicU16, AtomicU32, AtomicU64, AtomicU8,
        AtomicUsize, Ordering,
    };
}

/// Spin-wait hint and yield; loom needs to see a yield to make progress in
/// spin loops.
pub mod hint {
    #[inline]
    pub fn spin_loop() {
        #[cfg(loom)]
        loom::thread::yield_now();
        #[cfg(not(loom))]
        std::hint::spin_loop();
    }
}

#[cfg(loom)]
pub use loom::thread;
#[cfg(not(loom))]
pub use std::thread;

#[cfg(loom)]
pub use loom::sync::Arc;
#[cfg(not(loom))]
pub use std::sync::Arc;
