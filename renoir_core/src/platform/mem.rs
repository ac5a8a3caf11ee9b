//! Memory a region lives in: a shared file mapping (memmap2) or a
//! page-aligned, zeroed heap block (the process-local backend used by tests,
//! loom and Miri). Both are exposed as a base pointer plus a length; all
//! typed access goes through `region`, which bounds- and alignment-checks it.

use std::alloc::Layout;
use std::fs::File;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;

/// Alignment of heap blocks: a page, like an mmap.
pub const HEAP_ALIGN: usize = 4096;

/// A zeroed, page-aligned heap allocation shared (via `Arc`) by every
/// `Region` of the heap backend that opened it.
pub struct HeapBlock {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: HeapBlock is a plain owned allocation; concurrent access to its
// bytes is mediated by the same rules as a shared mapping (atomics for shared
// words, exclusive ownership of loaned ranges), exactly as for `Mapping`.
unsafe impl Send for HeapBlock {}
// SAFETY: see `Send` above.
unsafe impl Sync for HeapBlock {}

impl HeapBlock {
    /// Allocate `len` zeroed bytes (len > 0).
    pub fn new(len: usize) -> io::Result<HeapBlock> {
        let layout = Layout::from_size_align(len.max(1), HEAP_ALIGN)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "size too large"))?;
        // SAFETY: the layout has non-zero size (len.max(1)).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "heap allocation failed"))?;
        Ok(HeapBlock { ptr, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for HeapBlock {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len.max(1), HEAP_ALIGN)
            .expect("layout was valid at allocation");
        // SAFETY: ptr was returned by alloc_zeroed with this same layout and
        // is freed exactly once (HeapBlock is not Clone; Drop runs once).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
    }
}

enum Inner {
    ReadOnly(#[allow(dead_code)] memmap2::Mmap),
    ReadWrite(#[allow(dead_code)] memmap2::MmapMut),
    Heap(#[allow(dead_code)] Arc<HeapBlock>),
}

/// A mapping: base pointer + length, kept alive by what owns the memory.
pub struct Mapping {
    _inner: Inner,
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is just memory shared with other processes anyway;
// every access through it is either an atomic, a read of untrusted bytes that
// is validated, or a write to a range the caller owns (see region docs).
unsafe impl Send for Mapping {}
// SAFETY: see `Send` above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map `len` bytes of `file` shared (MAP_SHARED), read-only
    /// (PROT_READ) or read-write.
    pub fn map_file(file: &File, len: usize, writable: bool) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        let mut opts = memmap2::MmapOptions::new();
        opts.len(len);
        if writable {
            // SAFETY: memmap2 requires that nobody else modifies the file in
            // a way that breaks Rust's aliasing rules for the returned slice.
            // We never create a `&[u8]`/`&mut [u8]` over the whole mapping
            // from it: all access goes through raw pointers, atomics, or
            // short-lived slices over ranges that region/alloc validate and
            // whose ownership protocol (loans, ready flag) rules out
            // concurrent writes. The file is not truncated while mapped: only
            // its creator sizes it, once, before the header becomes ready.
            let mut m = unsafe { opts.map_mut(file)? };
            let ptr = NonNull::new(m.as_mut_ptr()).expect("mmap returns non-null");
            Ok(Mapping {
                _inner: Inner::ReadWrite(m),
                ptr,
                len,
                writable: true,
            })
        } else {
            // SAFETY: as for the writable case; additionally the pages are
            // PROT_READ, and `writable: false` keeps region from handing out
            // mutable access to them.
            let m = unsafe { opts.map(file)? };
            let ptr = NonNull::new(m.as_ptr() as *mut u8).expect("mmap returns non-null");
            Ok(Mapping {
                _inner: Inner::ReadOnly(m),
                ptr,
                len,
                writable: false,
            })
        }
    }

    /// A view of a heap block. `writable: false` makes the region refuse
    /// mutable access (the memory itself stays writable).
    pub fn heap(block: Arc<HeapBlock>, writable: bool) -> Mapping {
        let ptr = block.ptr;
        let len = block.len;
        Mapping {
            _inner: Inner::Heap(block),
            ptr,
            len,
            writable,
        }
    }

    /// Base address. Writes through it are only allowed if `writable()`.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn writable(&self) -> bool {
        self.writable
    }
}
