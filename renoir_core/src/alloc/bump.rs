//! A bump allocator over a range of offsets: each allocation takes the next
//! aligned bytes; nothing is freed individually. Used to lay out the fixed
//! structures of a region. The cursor is process-local (the region's creator
//! lays it out before publishing it); it is atomic only so that threads of
//! that process may share it.

use super::{align_up, AllocError};
use crate::sync::atomic::{AtomicU64, Ordering};

/// Largest alignment accepted (a page).
pub const MAX_ALIGN: usize = 4096;

pub struct BumpAllocator {
    start: u64,
    end: u64,
    cursor: AtomicU64,
}

impl BumpAllocator {
    /// Allocate from offsets `start..end`. Offsets are aligned as absolute
    /// offsets, which equals address alignment because regions are
    /// page-aligned.
    pub fn new(start: u64, end: u64) -> BumpAllocator {
        BumpAllocator {
            start,
            end: end.max(start),
            cursor: AtomicU64::new(start),
        }
    }

    /// The payload of a region.
    #[cfg(not(loom))]
    pub fn for_region(region: &crate::region::Region) -> BumpAllocator {
        BumpAllocator::new(region.payload_offset() as u64, region.len() as u64)
    }

    /// `size` bytes aligned to `align` (a power of two <= 4096).
    pub fn alloc(&self, size: u64, align: usize) -> Result<u64, AllocError> {
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(AllocError::BadAlign(align));
        }
        // Relaxed: the cursor only has to hand out disjoint ranges (RMW
        // atomicity); it publishes nothing.
        let mut cur = self.cursor.load(Ordering::Relaxed);
        loop {
            let fits = align_up(cur, align as u64)
                .and_then(|at| Some((at, at.checked_add(size)?)))
                .filter(|&(_, stop)| stop <= self.end);
            let Some((at, stop)) = fits else {
                return Err(AllocError::OutOfSpace {
                    requested: size,
                    available: self.end.saturating_sub(cur),
                });
            };
            match self
                .cursor
                .compare_exchange_weak(cur, stop, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(at),
                Err(now) => cur = now,
            }
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn end(&self) -> u64 {
        self.end
    }
    /// Bytes handed out so far (including alignment padding).
    pub fn used(&self) -> u64 {
        self.cursor.load(Ordering::Relaxed) - self.start
    }
    pub fn remaining(&self) -> u64 {
        self.end - self.cursor.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_bounds() {
        let b = BumpAllocator::new(100, 300);
        assert_eq!(b.alloc(10, 1).unwrap(), 100);
        assert_eq!(b.alloc(8, 64).unwrap(), 128);
        assert_eq!(b.used(), 36);
        assert_eq!(b.alloc(0, 8).unwrap(), 136);
        assert_eq!(b.alloc(164, 1).unwrap(), 136);
        assert_eq!(b.remaining(), 0);
        assert!(matches!(
            b.alloc(1, 1),
            Err(AllocError::OutOfSpace {
                requested: 1,
                available: 0
            })
        ));
        assert_eq!(b.alloc(1, 3), Err(AllocError::BadAlign(3)));
        assert_eq!(b.alloc(1, 8192), Err(AllocError::BadAlign(8192)));
        let b = BumpAllocator::new(0, u64::MAX);
        assert_eq!(b.alloc(u64::MAX - 10, 1).unwrap(), 0);
        assert!(b.alloc(100, 64).is_err()); // would overflow
    }

    #[test]
    fn threads_get_disjoint_ranges() {
        let b = std::sync::Arc::new(BumpAllocator::new(0, 64 * 4000));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| b.alloc(40, 64).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4000);
        assert!(b.alloc(1, 64).is_err());
        assert_eq!(b.remaining(), 24);
    }
}
