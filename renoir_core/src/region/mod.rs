//! Named shared-memory regions with validated headers.
//!
//! This module owns a region's lifecycle (exclusive creation with memory
//! reserved up front, opening with validation, unlinking by its creator) and
//! every typed access into it: offsets handed to [`Region::get`],
//! [`Region::get_slice`], [`Region::bytes`] and [`Region::bytes_mut`] are
//! bounds- and alignment-checked against the payload area, so an offset read
//! from shared memory (untrusted) can at worst produce an error.
//!
//! Layout: `[header 128 B][metadata JSON][pad to 64][payload ...][pad to page]`
//! (see [`header`] and docs/memory.md).
//!
//! Backends:
//! - [`Backend::Shm`]: file `<RENOIR_SHM_DIR>/<RENOIR_SHM_PREFIX>_<name>`
//!   (default `/dev/shm/renoir_<name>`, the same file `shm_open` would use).
//! - [`Backend::Memfd`]: an anonymous `memfd`; there is no name in any
//!   directory. Other processes open it by the path
//!   [`Region::memfd_path`] returns, `/proc/<pid>/fd/<fd>`, passed to
//!   [`Region::open`] as the name, while the creator keeps it open. That
//!   requires ptrace-read access to the creator (same user, not dumpable-off).
//! - [`Backend::File`]`(dir)`: file `<dir>/<prefix>_<name>`, for hosts whose
//!   /dev/shm is too small; page cache makes it almost as fast.
//! - [`Backend::Heap`]: process-local memory with the same header and
//!   accessors, registered under its name so it can be "opened" again in the
//!   same process; for tests and Miri.
//!
//! Under `--cfg loom` this module is not compiled: its header word is a std
//! atomic placed in raw memory, which loom's types cannot be. Loom tests use
//! the heap constructors of the structures built on top (e.g. `alloc::Pool`).
#![cfg(not(loom))]
// Atomics here come only from `crate::sync` (the loom-swappable facade).
// clippy's `disallowed-types` resolves that re-export to its std definition
// and would flag every use; `alloc::tests::no_direct_std_atomics` enforces
// the rule for the memory layer's files instead.
#![allow(clippy::disallowed_types)]

pub mod header;
mod list;
pub mod metadata;

pub use header::{HeaderError, HeaderSnapshot, RegionHeader, HEADER_SIZE, PAYLOAD_ALIGN};
pub use list::{
    clean, clean_in, inspect, list, list_in, CleanReport, RegionInfo, RegionState, DEFAULT_GRACE,
};
pub use metadata::{Metadata, MetadataError};

use crate::platform::mem::{HeapBlock, Mapping};
use crate::platform::{shm, ProcessIdentity};
use crate::shm_safe::ShmSafe;
use crate::sync::atomic::{AtomicBool, Ordering};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a region's memory comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Shm,
    Memfd,
    /// A directory; the region is the file `<dir>/<prefix>_<name>`.
    File(PathBuf),
    Heap,
}

/// How an opener maps a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// PROT_READ: mutable access is refused, atomics may only be loaded.
    ReadOnly,
    ReadWrite,
}

/// Everything needed to create a region. Build with [`RegionConfig::new`]
/// and the builder methods, or a struct literal with `..Default::default()`.
#[derive(Clone, Debug)]
pub struct RegionConfig {
    /// Logical name; the file is `<prefix>_<name>`. `[A-Za-z0-9._-]`.
    pub name: String,
    /// Usable payload bytes requested; [`Region::payload_len`] is at least
    /// this (the total is rounded up to whole pages).
    pub size: usize,
    pub backend: Backend,
    /// File mode, 0o600 by default (same user only).
    pub mode: u32,
    pub description: String,
    /// Semantic version of the content layout.
    pub version: String,
    pub annotations: Vec<(String, String)>,
    /// The creator unlinks the region when its handle drops (default true).
    pub unlink_on_drop: bool,
    /// Sets [`header::FLAG_KEEP_WHEN_CREATOR_DIES`]: `clean` leaves it alone.
    pub keep_when_creator_dies: bool,
}

impl Default for RegionConfig {
    fn default() -> Self {
        RegionConfig {
            name: String::new(),
            size: 0,
            backend: Backend::Shm,
            mode: 0o600,
            description: String::new(),
            version: "0.0.0".into(),
            annotations: Vec::new(),
            unlink_on_drop: true,
            keep_when_creator_dies: false,
        }
    }
}

impl RegionConfig {
    pub fn new(name: impl Into<String>, size: usize) -> Self {
        RegionConfig {
            name: name.into(),
            size,
            ..Default::default()
        }
    }
    pub fn backend(mut self, b: Backend) -> Self {
        self.backend = b;
        self
    }
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.version = v.into();
        self
    }
    pub fn annotate(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.annotations.push((k.into(), v.into()));
        self
    }
    pub fn unlink_on_drop(mut self, yes: bool) -> Self {
        self.unlink_on_drop = yes;
        self
    }
    pub fn keep_when_creator_dies(mut self, yes: bool) -> Self {
        self.keep_when_creator_dies = yes;
        self
    }
}

/// Region creation failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("invalid region name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("invalid region config: {0}")]
    InvalidConfig(String),
    #[error("invalid metadata: {0}")]
    Metadata(#[from] MetadataError),
    #[error("region {0} already exists")]
    AlreadyExists(String),
    #[error("not enough shared memory in {dir}: {needed} bytes needed, {free} bytes free (enlarge the tmpfs, e.g. docker --shm-size, or use Backend::File)")]
    NoSpace {
        needed: u64,
        free: u64,
        dir: PathBuf,
    },
    #[error("region of {requested} bytes is too large for this system")]
    TooLarge { requested: u64 },
    #[error("{op} failed for region {name}: {source}")]
    Io {
        op: &'static str,
        name: String,
        source: io::Error,
    },
}

/// Opening a region failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid region name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("region {0} does not exist")]
    NotFound(String),
    #[error("permission denied for region {0}")]
    PermissionDenied(String),
    #[error("region {name} not initialized after {waited:?} (creator died or is slow)")]
    NotReady { name: String, waited: Duration },
    #[error("region {name}: {source}")]
    Header { name: String, source: HeaderError },
    #[error("{op} failed for region {name}: {source}")]
    Io {
        op: &'static str,
        name: String,
        source: io::Error,
    },
}

/// An offset/length that is outside the payload, misaligned, or a write to a
/// read-only mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    #[error("range {offset}+{len} outside payload {start}..{end}")]
    OutOfBounds {
        offset: usize,
        len: usize,
        start: usize,
        end: usize,
    },
    #[error("offset {offset} not aligned to {align}")]
    Misaligned { offset: usize, align: usize },
    #[error("region is mapped read-only")]
    ReadOnly,
}

/// How long [`Region::open`] waits for a creator to finish initializing.
pub const DEFAULT_OPEN_WAIT: Duration = Duration::from_millis(500);

/// Heap-backend "namespace": name -> memory, like files in /dev/shm.
static HEAP_REGIONS: Mutex<Option<HashMap<String, Arc<HeapBlock>>>> = Mutex::new(None);

fn heap_regions<R>(f: impl FnOnce(&mut HashMap<String, Arc<HeapBlock>>) -> R) -> R {
    let mut g = HEAP_REGIONS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

/// An owned mapping of a region. `Send + Sync`; share it with `Arc`.
pub struct Region {
    map: Mapping,
    name: String,
    file_name: String,
    backend: Backend,
    /// Shm/File: the file's path; Memfd: `/proc/<pid>/fd/<fd>` (creator) or
    /// the path it was opened by.
    path: Option<PathBuf>,
    /// Kept open: memfd lives as long as an fd does, and unlink compares
    /// inode numbers through it.
    file: Option<File>,
    heap: Option<Arc<HeapBlock>>,
    /// Validated copy of the header, taken once at create/open.
    hdr: HeaderSnapshot,
    access: Access,
    creator: bool,
    unlink_on_drop: AtomicBool,
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    debug_assert!(a.is_power_of_two());
    Some(v.checked_add(a - 1)? & !(a - 1))
}

fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn check_name(name: &str) -> Result<(), String> {
    shm::validate_name(name.trim_start_matches('/'))
}

/// The file path of region `name` for a file-based backend.
pub fn region_path(name: &str, backend: &Backend) -> Option<PathBuf> {
    match backend {
        Backend::Shm => Some(shm::shm_dir().join(shm::file_name(name))),
        Backend::File(dir) => Some(dir.join(shm::file_name(name))),
        Backend::Memfd | Backend::Heap => None,
    }
}

/// Remove region `name` (Shm/File: unlink the file; Heap: forget the name).
/// Returns whether something was removed. Mappings stay valid.
pub fn unlink(name: &str, backend: &Backend) -> io::Result<bool> {
    if let Err(reason) = check_name(name) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
    }
    match backend {
        Backend::Heap => Ok(heap_regions(|m| m.remove(&shm::file_name(name)).is_some())),
        Backend::Memfd => Ok(false),
        _ => {
            let path = region_path(name, backend).expect("file backend");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

impl Region {
    /// Create a region exclusively, reserve its memory, write metadata and
    /// header, and publish it (`ready` stored last, with Release).
    pub fn create(cfg: &RegionConfig) -> Result<Region, CreateError> {
        let name = cfg.name.trim_start_matches('/').to_string();
        check_name(&name).map_err(|reason| CreateError::InvalidName {
            name: cfg.name.clone(),
            reason,
        })?;
        if cfg.size == 0 {
            return Err(CreateError::InvalidConfig("size must be > 0".into()));
        }
        if cfg.mode & !0o777 != 0 || cfg.mode & 0o600 != 0o600 {
            return Err(CreateError::InvalidConfig(format!(
                "mode {:o} must be within 0o777 and include 0o600",
                cfg.mode
            )));
        }
        let meta = Metadata {
            description: cfg.description.clone(),
            version: cfg.version.clone(),
            annotations: cfg.annotations.clone(),
        }
        .encode()?;

        let too_large = CreateError::TooLarge {
            requested: cfg.size as u64,
        };
        let page = shm::page_size() as u64;
        let payload_offset = align_up((HEADER_SIZE + meta.len()) as u64, PAYLOAD_ALIGN as u64)
            .expect("small values");
        let total =
            match (payload_offset.checked_add(cfg.size as u64)).and_then(|t| align_up(t, page)) {
                Some(t) if t <= isize::MAX as u64 => t,
                _ => return Err(too_large),
            };
        let file_name = shm::file_name(&name);
        let io_err = |op: &'static str| {
            let file_name = file_name.clone();
            move |source: io::Error| CreateError::Io {
                op,
                name: file_name,
                source,
            }
        };

        let (map, file, heap, path) = match &cfg.backend {
            Backend::Heap => {
                let block = match HeapBlock::new(total as usize) {
                    Ok(b) => Arc::new(b),
                    Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                        return Err(CreateError::NoSpace {
                            needed: total,
                            free: 0,
                            dir: PathBuf::from("<heap>"),
                        })
                    }
                    Err(e) => return Err(io_err("heap allocation")(e)),
                };
                let inserted = heap_regions(|m| {
                    if m.contains_key(&file_name) {
                        false
                    } else {
                        m.insert(file_name.clone(), block.clone());
                        true
                    }
                });
                if !inserted {
                    return Err(CreateError::AlreadyExists(file_name));
                }
                (Mapping::heap(block.clone(), true), None, Some(block), None)
            }
            Backend::Memfd => {
                let f = shm::memfd(&file_name).map_err(io_err("memfd_create"))?;
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(cfg.mode))
                    .map_err(io_err("fchmod"))?;
                reserve(&f, total, Path::new("<memfd>"))?;
                let map = Mapping::map_file(&f, total as usize, true).map_err(io_err("mmap"))?;
                let path = shm::memfd_path(&f);
                (map, Some(f), None, Some(path))
            }
            backend @ (Backend::Shm | Backend::File(_)) => {
                let path = region_path(&name, backend).expect("file backend");
                let f = match shm::create_exclusive(&path, cfg.mode) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(CreateError::AlreadyExists(file_name))
                    }
                    Err(e) => return Err(io_err("create")(e)),
                };
                let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
                let mapped = reserve(&f, total, &dir).and_then(|()| {
                    Mapping::map_file(&f, total as usize, true).map_err(io_err("mmap"))
                });
                match mapped {
                    Ok(map) => (map, Some(f), None, Some(path)),
                    Err(e) => {
                        // Leave nothing behind on failure.
                        let _ = shm::unlink_if_same(&path, &f);
                        return Err(e);
                    }
                }
            }
        };

        let me = ProcessIdentity::current();
        let hdr = HeaderSnapshot {
            magic: header::MAGIC,
            layout_version: header::LAYOUT_VERSION,
            header_size: HEADER_SIZE as u32,
            total_size: total,
            creator_pid: me.pid,
            flags: if cfg.keep_when_creator_dies {
                header::FLAG_KEEP_WHEN_CREATOR_DIES
            } else {
                0
            },
            creator_start_time: me.start_time,
            created_unix_ns: now_unix_ns(),
            meta_offset: HEADER_SIZE as u64,
            meta_len: meta.len() as u64,
            payload_offset,
            ready: header::READY,
            creator_pid_ns: crate::platform::process::pid_namespace(),
        };
        debug_assert_eq!(hdr.validate(total), Ok(()));
        let base = map.as_ptr();
        // SAFETY: the mapping is `total` >= HEADER_SIZE + meta.len() bytes,
        // page-aligned and writable; we created it exclusively (O_EXCL /
        // fresh memfd / fresh heap block) and its ready word is still 0, so
        // no opener reads these bytes as valid yet.
        unsafe {
            header::write_header(base, &hdr);
            std::ptr::copy_nonoverlapping(meta.as_ptr(), base.add(HEADER_SIZE), meta.len());
            header::publish_ready(base);
        }
        Ok(Region {
            map,
            name,
            file_name,
            backend: cfg.backend.clone(),
            path,
            file,
            heap,
            hdr,
            access: Access::ReadWrite,
            creator: true,
            unlink_on_drop: AtomicBool::new(cfg.unlink_on_drop && cfg.backend != Backend::Memfd),
        })
    }

    /// Open an existing region, waiting up to [`DEFAULT_OPEN_WAIT`] for its
    /// creator to finish initializing it. For [`Backend::Memfd`], `name` is
    /// the `/proc/<pid>/fd/<fd>` path from [`Region::memfd_path`].
    pub fn open(name: &str, backend: Backend, access: Access) -> Result<Region, OpenError> {
        Self::open_timeout(name, backend, access, DEFAULT_OPEN_WAIT)
    }

    /// [`Region::open`] with an explicit wait for readiness.
    pub fn open_timeout(
        name: &str,
        backend: Backend,
        access: Access,
        wait: Duration,
    ) -> Result<Region, OpenError> {
        let writable = access == Access::ReadWrite;
        let (file_name, path, logical) = if backend == Backend::Memfd {
            if !name.starts_with("/proc/") {
                return Err(OpenError::InvalidName {
                    name: name.into(),
                    reason: "memfd regions are opened by /proc/<pid>/fd/<fd>".into(),
                });
            }
            (
                name.to_string(),
                Some(PathBuf::from(name)),
                name.to_string(),
            )
        } else {
            let logical = name.trim_start_matches('/').to_string();
            check_name(&logical).map_err(|reason| OpenError::InvalidName {
                name: name.into(),
                reason,
            })?;
            (
                shm::file_name(&logical),
                region_path(&logical, &backend),
                logical,
            )
        };
        let io_err = |op: &'static str, source: io::Error| match source.kind() {
            io::ErrorKind::NotFound => OpenError::NotFound(file_name.clone()),
            io::ErrorKind::PermissionDenied => OpenError::PermissionDenied(file_name.clone()),
            _ => OpenError::Io {
                op,
                name: file_name.clone(),
                source,
            },
        };
        let start = Instant::now();
        let not_ready = || OpenError::NotReady {
            name: file_name.clone(),
            waited: start.elapsed(),
        };
        let mut backoff = Backoff::default();

        let (map, file, heap) = if backend == Backend::Heap {
            let block = heap_regions(|m| m.get(&file_name).cloned())
                .ok_or_else(|| OpenError::NotFound(file_name.clone()))?;
            (Mapping::heap(block.clone(), writable), None, Some(block))
        } else {
            let path = path.clone().expect("file-based backend has a path");
            // Magic /proc/<pid>/fd links must be followed; named files not.
            let f = if backend == Backend::Memfd {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(writable)
                    .open(&path)
                    .map_err(|e| io_err("open", e))?
            } else {
                shm::open_existing(&path, writable).map_err(|e| io_err("open", e))?
            };
            // Right after O_EXCL the creator has not sized the file yet.
            let len = loop {
                let len = f.metadata().map_err(|e| io_err("fstat", e))?.len();
                if len >= HEADER_SIZE as u64 {
                    break len;
                }
                if start.elapsed() >= wait {
                    return Err(not_ready());
                }
                backoff.snooze();
            };
            if len > isize::MAX as u64 {
                return Err(OpenError::Header {
                    name: file_name.clone(),
                    source: HeaderError::Corrupt(format!("file size {len} too large")),
                });
            }
            let map =
                Mapping::map_file(&f, len as usize, writable).map_err(|e| io_err("mmap", e))?;
            (map, Some(f), None)
        };

        if map.len() < HEADER_SIZE {
            return Err(not_ready());
        }
        // SAFETY: the mapping is at least HEADER_SIZE bytes (checked just
        // above) and page-aligned; RegionHeader is ShmSafe.
        let live: &RegionHeader = unsafe { &*map.as_ptr().cast::<RegionHeader>() };
        while !live.is_ready() {
            if start.elapsed() >= wait {
                return Err(not_ready());
            }
            backoff.snooze();
        }
        let hdr = live.snapshot();
        hdr.validate(map.len() as u64)
            .map_err(|source| OpenError::Header {
                name: file_name.clone(),
                source,
            })?;
        Ok(Region {
            map,
            name: logical,
            file_name,
            backend,
            path,
            file,
            heap,
            hdr,
            access,
            creator: false,
            unlink_on_drop: AtomicBool::new(false),
        })
    }

    /// Total mapped bytes (header + metadata + payload + page padding).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a region has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Logical name (without the prefix), or the /proc path for an opened
    /// memfd.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// File name in the shm/file directory: `<prefix>_<name>`.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Shm/File: the file path; Memfd: the `/proc/<pid>/fd/<fd>` path.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// For a memfd region created by this process: the path other
    /// processes pass to [`Region::open`] with [`Backend::Memfd`].
    pub fn memfd_path(&self) -> Option<&Path> {
        if self.backend == Backend::Memfd {
            self.path.as_deref()
        } else {
            None
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// True for the handle returned by [`Region::create`].
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    /// The live header in shared memory (untrusted; see
    /// [`Region::header_snapshot`] for the validated copy).
    pub fn header(&self) -> &RegionHeader {
        // SAFETY: the mapping is at least HEADER_SIZE bytes and page-aligned
        // (validated at create/open); RegionHeader is ShmSafe, so any bytes
        // there are a valid value.
        unsafe { &*self.map.as_ptr().cast::<RegionHeader>() }
    }

    /// The header as validated when this handle was created/opened.
    pub fn header_snapshot(&self) -> &HeaderSnapshot {
        &self.hdr
    }

    /// The creator's identity (from the validated header copy).
    pub fn creator(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.hdr.creator_pid,
            start_time: self.hdr.creator_start_time,
        }
    }

    /// First byte free for the user (64-aligned). All accessor offsets are
    /// relative to the region start and must be `>= payload_offset()`.
    pub fn payload_offset(&self) -> usize {
        self.hdr.payload_offset as usize
    }

    /// Bytes from `payload_offset()` to the end.
    pub fn payload_len(&self) -> usize {
        self.len() - self.payload_offset()
    }

    /// Read and validate the metadata (it is re-read from shared memory).
    pub fn metadata(&self) -> Result<Metadata, MetadataError> {
        let off = self.hdr.meta_offset as usize;
        let len = self.hdr.meta_len as usize;
        // validate() guaranteed off+len <= payload_offset <= len().
        if !matches!(off.checked_add(len), Some(end) if end <= self.len()) {
            return Err(MetadataError::OutOfBounds {
                offset: off as u64,
                len: len as u64,
            });
        }
        let mut buf = vec![0u8; len];
        // SAFETY: off+len is within the mapping (checked above). Volatile
        // byte copy: another process may be writing these bytes.
        unsafe {
            let src = self.map.as_ptr().add(off);
            for (i, b) in buf.iter_mut().enumerate() {
                *b = src.add(i).read_volatile();
            }
        }
        Metadata::decode(&buf)
    }

    fn check_range(&self, offset: usize, len: usize, align: usize) -> Result<(), BoundsError> {
        let start = self.payload_offset();
        let end = self.len();
        let oob = BoundsError::OutOfBounds {
            offset,
            len,
            start,
            end,
        };
        let Some(stop) = offset.checked_add(len) else {
            return Err(oob);
        };
        if offset < start || stop > end {
            return Err(oob);
        }
        // The base is page-aligned, so offset alignment == address alignment.
        // `align` is a type's alignment: a power of two.
        if offset & (align - 1) != 0 {
            return Err(BoundsError::Misaligned { offset, align });
        }
        Ok(())
    }

    /// A reference to a `T` at `offset` (bounds + alignment checked).
    /// On a read-only mapping only *load* atomics inside `T`.
    pub fn get<T: ShmSafe>(&self, offset: usize) -> Result<&T, BoundsError> {
        self.check_range(offset, std::mem::size_of::<T>(), std::mem::align_of::<T>())?;
        // SAFETY: range and alignment checked against the live mapping;
        // T: ShmSafe so every bit pattern there is a valid T, and T's shared
        // mutation can only happen through its atomics (interior mutability).
        Ok(unsafe { &*self.map.as_ptr().add(offset).cast::<T>() })
    }

    /// A slice of `count` `T`s starting at `offset` (bounds + alignment
    /// checked).
    pub fn get_slice<T: ShmSafe>(&self, offset: usize, count: usize) -> Result<&[T], BoundsError> {
        let Some(len) = count.checked_mul(std::mem::size_of::<T>()) else {
            return Err(BoundsError::OutOfBounds {
                offset,
                len: usize::MAX,
                start: self.payload_offset(),
                end: self.len(),
            });
        };
        self.check_range(offset, len, std::mem::align_of::<T>())?;
        // SAFETY: as for `get`, for `count` consecutive elements.
        Ok(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset).cast::<T>(), count) })
    }

    /// Read view of `len` bytes at `offset`. The bytes may be changed by
    /// other processes while viewed: validate what you read, copy what you
    /// must keep stable.
    pub fn bytes(&self, offset: usize, len: usize) -> Result<&[u8], BoundsError> {
        self.check_range(offset, len, 1)?;
        // SAFETY: range checked against the live mapping; u8 has no invalid
        // values.
        Ok(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) })
    }

    /// Mutable view of `len` bytes at `offset`.
    ///
    /// # Safety
    /// The caller must own that range exclusively for the lifetime of the
    /// slice (e.g. a block or slot it was lent by an allocator): no other
    /// reference in this or any process may access it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn bytes_mut(&self, offset: usize, len: usize) -> Result<&mut [u8], BoundsError> {
        if !self.map.writable() {
            return Err(BoundsError::ReadOnly);
        }
        self.check_range(offset, len, 1)?;
        // SAFETY: range checked, mapping writable; exclusivity is the
        // caller's obligation per this function's contract.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.map.as_ptr().add(offset), len) })
    }

    /// Base address of the mapping, for code that builds its own checked
    /// views (e.g. `alloc`). Differs between processes: never store it in
    /// shared memory.
    pub fn base_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Whether this handle may write (mapped read-write).
    pub fn writable(&self) -> bool {
        self.map.writable()
    }

    /// Whether dropping the creator's handle unlinks the region. Ignored
    /// for handles that did not create the region.
    pub fn unlink_on_drop(&self, yes: bool) {
        // Relaxed: only read by Drop of this same handle (happens-after via
        // ownership).
        self.unlink_on_drop.store(yes, Ordering::Relaxed);
    }

    /// Release this handle's fd and mapping *without* any cleanup (no
    /// unlink): exactly what a crash leaves behind. For crash tests.
    pub fn abandon(self) {
        self.unlink_on_drop.store(false, Ordering::Relaxed);
        drop(self);
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if !self.creator || !self.unlink_on_drop.load(Ordering::Relaxed) {
            return;
        }
        match (&self.backend, &self.file, &self.path) {
            (Backend::Heap, _, _) => {
                if let Some(block) = &self.heap {
                    heap_regions(|m| {
                        if m.get(&self.file_name)
                            .is_some_and(|b| Arc::ptr_eq(b, block))
                        {
                            m.remove(&self.file_name);
                        }
                    });
                }
            }
            (Backend::Shm | Backend::File(_), Some(f), Some(path)) => {
                // Only if the name still refers to our file.
                let _ = shm::unlink_if_same(path, f);
            }
            _ => {}
        }
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field("len", &self.len())
            .field("payload_offset", &self.payload_offset())
            .field("access", &self.access)
            .field("creator", &self.creator)
            .finish()
    }
}

fn reserve(f: &File, total: u64, dir: &Path) -> Result<(), CreateError> {
    shm::reserve(f, total).map_err(|e| match e {
        shm::ReserveError::NoSpace { needed, free } => CreateError::NoSpace {
            needed,
            free,
            dir: dir.to_path_buf(),
        },
        shm::ReserveError::TooLarge { needed } => CreateError::TooLarge { requested: needed },
        shm::ReserveError::Io(source) => CreateError::Io {
            op: "posix_fallocate",
            name: dir.display().to_string(),
            source,
        },
    })
}

/// Short sleeps growing from 50 µs to 5 ms while waiting for a creator.
#[derive(Default)]
struct Backoff {
    step: u32,
}

impl Backoff {
    fn snooze(&mut self) {
        let us = (50u64 << self.step.min(7)).min(5_000);
        self.step += 1;
        std::thread::sleep(Duration::from_micros(us));
    }
}

#[cfg(test)]
mod tests;
