//! [`ShmSafe`]: the bound for every type that is placed in shared memory.
//!
//! A type may live in a segment that other processes map at other addresses
//! and that a hostile peer may scribble on. So it must:
//! - contain no pointers or references (only offsets relative to a segment),
//! - be `#[repr(C)]` with a layout that does not depend on the compiler,
//! - accept every bit pattern as a valid value (a peer can write any bytes;
//!   this is why there are no `bool`s or enums here, only integers and
//!   atomics that get validated when read),
//! - be valid when all-zero (a fresh mapping is zero-filled).
//!
//! The trait is `unsafe` to implement because the compiler checks none of it.

/// Marker for types that may be placed in (and read from) shared memory.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, contain no pointers, references,
/// `bool`s, enums or niches, and every bit pattern (including all zeros) must
/// be a valid value.
pub unsafe trait ShmSafe: Sized + Sync {}

macro_rules! impl_shm_safe {
    ($($t:ty),*) => { $(
        // SAFETY: plain integers: every bit pattern is valid, no pointers.
        unsafe impl ShmSafe for $t {}
    )* };
}
impl_shm_safe!(u8, u16, u32, u64, i8, i16, i32, i64, usize);

#[cfg(not(loom))]
mod atomics {
    use super::ShmSafe;
    use crate::sync::atomic::*;
    // SAFETY: std atomics have the size, alignment and bit validity of their
    // integer; every bit pattern is a valid value.
    unsafe impl ShmSafe for AtomicU8 {}
    // SAFETY: as above.
    unsafe impl ShmSafe for AtomicU16 {}
    // SAFETY: as above.
    unsafe impl ShmSafe for AtomicU32 {}
    // SAFETY: as above.
    unsafe impl ShmSafe for AtomicU64 {}
    // SAFETY: as above.
    unsafe impl ShmSafe for AtomicI32 {}
    // SAFETY: as above.
    unsafe impl ShmSafe for AtomicI64 {}
}

// SAFETY: arrays of ShmSafe elements are ShmSafe (no padding between elements
// of a repr(Rust) array, each element valid for every bit pattern).
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
