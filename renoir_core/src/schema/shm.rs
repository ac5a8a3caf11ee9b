//! The domain's schema registry in shared memory: what this module owns.
//!
//! Every process that has endpoints of a message type publishes that type's
//! schemas (root and nested, as a [`SchemaRegistry`] blob) in a region
//! `<domain>_schema_<pid>_<hash16>`, where `hash16` is the first 8 bytes of
//! the type hash in hex; the root schema's version carries the full hash in
//! its build metadata (`rihs01.<hex>`). Any process, and `renoir schema ls`,
//! can list the type versions on the bus and load a peer's schemas.
//!
//! Region payload: `len: u64` (little-endian atomic word, 0 until the blob
//! is written), then `len` bytes of registry blob. The writer stores the
//! word with Release after the blob; readers load it with Acquire. Readers
//! treat everything as untrusted: the length is bounded, the blob is
//! checksummed and validated by [`SchemaRegistry::from_blob`].
//!
//! Lifetime: the creating process unlinks its regions when it no longer
//! has endpoints of the type, or at exit; a crashed creator's regions are
//! reclaimed by [`crate::region::clean`] (dead creator) like any region.

use crate::platform::shm;
use crate::region::{Access, Backend, CreateError, Region, RegionConfig};
use crate::schema::{Schema, SchemaRegistry};
use crate::sync::atomic::{AtomicU64, Ordering};

/// Largest registry blob accepted from a region (the blob format's own
/// limit is 16 MiB; a message type's schemas are a few KiB).
pub const MAX_BLOB: usize = 4 << 20;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Logical region name of `pid`'s schemas for `hash` in `domain`.
pub fn region_name(domain: u32, pid: u32, hash: &[u8; 32]) -> String {
    format!("{domain}_schema_{pid}_{}", hex(&hash[..8]))
}

/// The build metadata that marks the root schema of type hash `hash`.
pub fn hash_build(hash: &[u8; 32]) -> String {
    format!("rihs01.{}", hex(hash))
}

/// Writes `blob` into a fresh region `name` (the length word last). A
/// region of that name is ours by name (it carries our pid): one left by
/// an earlier process that had this pid and died is replaced.
pub fn create_region(name: &str, blob: &[u8]) -> Result<Region, String> {
    let cfg = RegionConfig::new(name, 8 + blob.len())
        .description("renoir: schemas of a message type (registry blob)")
        .version("1.0.0");
    let region = match Region::create(&cfg) {
        Ok(r) => r,
        Err(CreateError::AlreadyExists(_)) => {
            let _ = crate::region::unlink(name, &Backend::Shm);
            Region::create(&cfg).map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let off = region.payload_offset();
    // SAFETY: we created the region just now and no reader looks at the
    // blob range before the length word below is non-zero, so this range
    // is ours alone while the slice lives.
    let dst = unsafe { region.bytes_mut(off + 8, blob.len()) }.map_err(|e| e.to_string())?;
    dst.copy_from_slice(blob);
    let word: &AtomicU64 = region.get(off).map_err(|e| e.to_string())?;
    // SYNC POINT: publish the blob; pairs with the Acquire in `read_region`.
    word.store(blob.len() as u64, Ordering::Release);
    Ok(region)
}

/// Copies the blob out of a schema region (bounds-checked).
pub fn read_region(region: &Region) -> Result<Vec<u8>, String> {
    let off = region.payload_offset();
    let word: &AtomicU64 = region.get(off).map_err(|e| e.to_string())?;
    // SYNC POINT: pairs with the Release store in `create_region`.
    let len = word.load(Ordering::Acquire);
    if len == 0 {
        return Err("schema not written yet".into());
    }
    if len > MAX_BLOB as u64 {
        return Err(format!(
            "schema blob of {len} bytes is larger than {MAX_BLOB}"
        ));
    }
    let bytes = region
        .bytes(off + 8, len as usize)
        .map_err(|e| e.to_string())?;
    Ok(bytes.to_vec())
}

/// One schema region found on the bus.
#[derive(Debug)]
pub struct BusRegion {
    pub domain: u32,
    /// Logical region name (without the shm prefix).
    pub name: String,
    /// The publishing process (from the name) and whether it still runs
    /// (from the region header's creator identity).
    pub pid: u32,
    pub alive: bool,
    /// First 8 bytes of the type hash, hex.
    pub hash16: String,
    /// The registry, or why it could not be read.
    pub registry: Result<SchemaRegistry, String>,
}

impl BusRegion {
    /// The root schema (the type this region was published for).
    pub fn root(&self) -> Option<&Schema> {
        let want = format!("rihs01.{}", self.hash16);
        self.registry
            .as_ref()
            .ok()?
            .iter()
            .find(|s| s.version.build.as_str().starts_with(&want))
    }
}

/// Every schema region under our prefix, in `domain` or in every domain,
/// sorted by domain and name. Regions that cannot be opened or decoded are
/// listed with the error.
pub fn list(domain: Option<u32>) -> Vec<BusRegion> {
    let stem = shm::file_name("");
    let Ok(rd) = std::fs::read_dir(shm::shm_dir()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(file) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(logical) = file.strip_prefix(&stem) else {
            continue;
        };
        // <domain>_schema_<pid>_<hash16>
        let parts: Vec<&str> = logical.split('_').collect();
        let [d, "schema", pid, hash16] = parts[..] else {
            continue;
        };
        let (Ok(d), Ok(pid)) = (d.parse::<u32>(), pid.parse::<u32>()) else {
            continue;
        };
        if domain.is_some_and(|want| want != d) {
            continue;
        }
        let opened = Region::open(logical, Backend::Shm, Access::ReadOnly);
        let alive = opened.as_ref().is_ok_and(|r| r.creator().is_alive());
        let registry = opened
            .map_err(|e| e.to_string())
            .and_then(|r| read_region(&r))
            .and_then(|b| SchemaRegistry::from_blob(&b).map_err(|e| e.to_string()));
        out.push(BusRegion {
            domain: d,
            name: logical.to_string(),
            pid,
            alive,
            hash16: hash16.to_string(),
            registry,
        });
    }
    out.sort_by(|a, b| (a.domain, &a.name).cmp(&(b.domain, &b.name)));
    out
}
