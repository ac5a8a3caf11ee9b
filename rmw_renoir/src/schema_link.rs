//! Schema evolution between versions of one message type on a topic
//! (docs/schema-evolution.md §12).
//!
//! Owns:
//! * the domain's schema registry in shared memory: every publisher and
//!   subscription with a type hash makes sure its process has published the
//!   type's schemas (root + nested, `LayoutSchemas::persistable`, as a
//!   `SchemaRegistry` blob; the root's version carries the RIHS01 hash) in
//!   region `<domain>_schema_<pid>_<hash16>`. One region per process and
//!   hash, shared by that process's endpoints and unlinked with the last
//!   of them; a crashed process's regions have a dead creator and are
//!   reclaimed by the next member joining the domain ([`sweep_dead`]),
//!   `renoir clean` and this process's exit hook ([`sweep_own`]);
//! * the verdict on a writer/reader pair of hashes ([`judge`]): both schemas
//!   loaded from shared memory (untrusted: bounds-checked, checksummed,
//!   validated), layouts rebuilt, `evolve(writer, reader)` run once per pair
//!   and cached for the process;
//! * a subscription's migration of samples from publishers of another,
//!   compatible version ([`Incoming`]).
//!
//! The region format (a length word, then the registry blob) and its
//! reading and writing belong to `renoir_core::schema::shm`.

use msg_support::schema::{
    evolve, layout_from_schema, migrate_cdr, schema_of, schema_of_type_support, version_of_hash,
    CdrMigration,
};
use msg_support::{MessageLayout, MessageTypeSupport};
use renoir_core::platform::shm;
use renoir_core::region::Region;
pub use renoir_core::schema::shm::{create_region, read_region, region_name, MAX_BLOB};
use renoir_core::schema::{Schema, SchemaRegistry};
use renoir_core::sync::atomic::{AtomicBool, Ordering};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Publishing our schemas

struct Published {
    _region: Region,
    users: usize,
}

/// (domain, type hash).
type TypeKey = (u32, [u8; 32]);
static PUBLISHED: Mutex<Option<HashMap<TypeKey, Published>>> = Mutex::new(None);

/// Keeps this process's schema region of one type alive (see the module
/// docs); the last one dropped unlinks it.
pub struct SchemaRef {
    key: TypeKey,
}

impl Drop for SchemaRef {
    fn drop(&mut self) {
        let mut g = lock(&PUBLISHED);
        if let Some(m) = g.as_mut() {
            if let Some(p) = m.get_mut(&self.key) {
                p.users -= 1;
                if p.users == 0 {
                    // Dropping the creator's handle unlinks the region.
                    m.remove(&self.key);
                }
            }
        }
    }
}

/// The registry blob describing `ts` (root + nested schemas).
pub fn blob_of(ts: &MessageTypeSupport) -> Result<Vec<u8>, String> {
    registry_blob(schema_of_type_support(ts).map_err(|e| e.to_string())?)
}

/// The registry blob describing `layout` at RIHS01 `hash` (for layouts
/// without a type support, e.g. in tests).
pub fn blob_of_layout(layout: &MessageLayout, hash: &[u8; 32]) -> Result<Vec<u8>, String> {
    let th = msg_support::TypeHash {
        version: 1,
        value: *hash,
    };
    registry_blob(schema_of(layout, version_of_hash(Some(&th))).map_err(|e| e.to_string())?)
}

fn registry_blob(schemas: msg_support::schema::LayoutSchemas) -> Result<Vec<u8>, String> {
    let mut reg = SchemaRegistry::new();
    schemas
        .persistable()
        .register_into(&mut reg)
        .map_err(|e| e.to_string())?;
    Ok(reg.to_blob())
}

/// Makes sure this process publishes the schemas of `ts` in `domain`.
/// `None` for a type without a hash, or when the schemas cannot be
/// described (logged: versions of that type then only match exactly).
pub fn publish(domain: u32, ts: &MessageTypeSupport) -> Option<SchemaRef> {
    let hash = ts.type_hash()?.value;
    if hash == [0; 32] {
        return None;
    }
    let key = (domain, hash);
    let mut g = lock(&PUBLISHED);
    let m = g.get_or_insert_with(HashMap::new);
    if let Some(p) = m.get_mut(&key) {
        p.users += 1;
        return Some(SchemaRef { key });
    }
    let made = blob_of(ts)
        .and_then(|b| create_region(&region_name(domain, std::process::id(), &hash), &b));
    match made {
        Ok(region) => {
            m.insert(
                key,
                Published {
                    _region: region,
                    users: 1,
                },
            );
            Some(SchemaRef { key })
        }
        Err(e) => {
            crate::log::warn(&format!(
                "cannot publish the schema of '{}' ({}): {e}; other versions of it will not be migrated",
                ts.type_name(),
                hex(&hash[..8])
            ));
            None
        }
    }
}

/// Unlink the schema regions of dead processes in `domain` (what a new
/// domain member reclaims).
pub fn sweep_dead(domain: u32) {
    let _ = renoir_core::region::clean(&shm::file_name(&format!("{domain}_schema")), false);
}

/// At exit: unlink this process's schema regions in `domain` (endpoints
/// rclpy never destroyed keep them referenced).
pub fn sweep_own(domain: u32) {
    if let Some(m) = lock(&PUBLISHED).as_mut() {
        m.retain(|k, _| k.0 != domain);
    }
    let stem = shm::file_name(&format!("{domain}_schema_{}_", std::process::id()));
    let Ok(rd) = std::fs::read_dir(shm::shm_dir()) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_str().is_some_and(|n| n.starts_with(&stem)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

// ---------------------------------------------------------------------------
// Loading a peer's schemas

/// A type's schemas as loaded from shared memory.
pub struct Loaded {
    pub registry: SchemaRegistry,
    pub root: Schema,
}

/// Decodes a registry blob and finds the schema of `type_name` whose
/// version carries `hash`. Untrusted input: every failure is an error.
pub fn decode(blob: &[u8], type_name: &str, hash: &[u8; 32]) -> Result<Loaded, String> {
    root_of(
        SchemaRegistry::from_blob(blob).map_err(|e| e.to_string())?,
        type_name,
        hash,
    )
}

fn root_of(registry: SchemaRegistry, type_name: &str, hash: &[u8; 32]) -> Result<Loaded, String> {
    let want = renoir_core::schema::shm::hash_build(hash);
    let root = registry
        .iter()
        .find(|s| s.name == type_name && s.version.build.as_str() == want)
        .cloned()
        .ok_or_else(|| {
            format!(
                "the schema registry blob has no '{type_name}' with hash {}",
                hex(&hash[..8])
            )
        })?;
    Ok(Loaded { registry, root })
}

/// The schemas of `type_name` at `hash` published by any process in
/// `domain` (the regions `renoir_core::schema::shm::list` finds).
pub fn load(domain: u32, type_name: &str, hash: &[u8; 32]) -> Result<Loaded, String> {
    let hash16 = hex(&hash[..8]);
    let mut last = format!("no process published the schema of '{type_name}' with hash {hash16}");
    for r in renoir_core::schema::shm::list(Some(domain)) {
        if r.hash16 != hash16 {
            continue;
        }
        match r.registry.and_then(|g| root_of(g, type_name, hash)) {
            Ok(l) => return Ok(l),
            Err(err) => last = format!("schema region {}: {err}", r.name),
        }
    }
    Err(last)
}

/// Every type version published in `domain` (one entry per type hash,
/// sorted by type name and version): the schema registry of the bus.
/// Regions that cannot be read are skipped.
pub fn bus(domain: u32) -> Vec<Loaded> {
    let mut out: Vec<Loaded> = Vec::new();
    for r in renoir_core::schema::shm::list(Some(domain)) {
        let Ok(registry) = r.registry else {
            continue;
        };
        // The root is the schema whose version carries a RIHS01 hash
        // (nested ones carry a fingerprint).
        let Some(root) = registry
            .iter()
            .find(|s| s.version.build.as_str().starts_with("rihs01."))
            .cloned()
        else {
            continue;
        };
        if out
            .iter()
            .any(|l| l.root.version == root.version && l.root.name == root.name)
        {
            continue;
        }
        out.push(Loaded { registry, root });
    }
    out.sort_by(|a, b| {
        (a.root.name.as_str(), &a.root.version).cmp(&(b.root.name.as_str(), &b.root.version))
    });
    out
}

// ---------------------------------------------------------------------------
// Verdicts

/// A writer -> reader migration ready to run.
pub struct Migration {
    pub plan: CdrMigration,
    /// The writer's layout, rebuilt from its schema (CDR-only).
    pub writer: Arc<MessageLayout>,
}

/// What a pair of versions (writer hash, reader hash) of a type allows.
pub struct Verdict {
    /// Present when samples can be migrated from writer to reader.
    pub migration: Option<Migration>,
    /// Why not (or what changes), one line each: the `Compatibility`
    /// reasons (they name the fields), a planning error, or why the
    /// schemas could not be loaded.
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn compatible(&self) -> bool {
        self.migration.is_some()
    }
}

type PairKey = (u32, [u8; 32], [u8; 32]);
static VERDICTS: Mutex<Option<HashMap<PairKey, Arc<Verdict>>>> = Mutex::new(None);

fn layout_of(l: &Loaded) -> Result<Arc<MessageLayout>, String> {
    layout_from_schema(&l.root, &l.registry).map_err(|e| e.to_string())
}

/// Judges samples of `type_name` written with hash `writer` for a reader
/// with hash `reader`, once per pair and process (a failure to load either
/// schema is not cached: the peer's region may appear later).
pub fn judge(domain: u32, type_name: &str, writer: &[u8; 32], reader: &[u8; 32]) -> Arc<Verdict> {
    let key = (domain, *writer, *reader);
    if let Some(v) = lock(&VERDICTS).as_ref().and_then(|m| m.get(&key)) {
        return v.clone();
    }
    let loaded = load(domain, type_name, writer)
        .and_then(|w| layout_of(&w))
        .and_then(|w| Ok((w, layout_of(&load(domain, type_name, reader)?)?)));
    let (w, r) = match loaded {
        Ok(x) => x,
        Err(e) => {
            return Arc::new(Verdict {
                migration: None,
                reasons: vec![e],
            })
        }
    };
    let v = match evolve(&w, &r) {
        Ok(ev) => {
            let mut reasons: Vec<String> = ev
                .compatibility
                .reasons
                .iter()
                .map(|r| r.message.clone())
                .collect();
            if let Some(e) = &ev.plan_error {
                reasons.push(e.to_string());
            }
            Verdict {
                migration: ev.plan.map(|plan| Migration { plan, writer: w }),
                reasons,
            }
        }
        Err(e) => Verdict {
            migration: None,
            reasons: vec![e.to_string()],
        },
    };
    let v = Arc::new(v);
    lock(&VERDICTS)
        .get_or_insert_with(HashMap::new)
        .insert(key, v.clone());
    v
}

/// Whether a pair of hashes can exchange samples: equal, either unknown
/// (zero), or the writer's version migrates to the reader's.
pub fn pair_ok(domain: u32, type_name: &str, writer: &[u8; 32], reader: &[u8; 32]) -> bool {
    let zero = [0u8; 32];
    *writer == zero
        || *reader == zero
        || writer == reader
        || judge(domain, type_name, writer, reader).compatible()
}

// ---------------------------------------------------------------------------
// A subscription's side

/// Per subscription: which attached publishers write another version of
/// the type (by gid), and migrating their samples.
pub struct Incoming {
    domain: u32,
    type_name: String,
    own_hash: [u8; 32],
    own: Arc<MessageTypeSupport>,
    /// Foreign publishers accepted by the core filter.
    foreign: Mutex<HashMap<[u8; 16], Arc<Verdict>>>,
    any_foreign: AtomicBool,
    /// Publishers whose sample failed to migrate (logged once each).
    failed: Mutex<std::collections::HashSet<[u8; 16]>>,
}

/// What to do with a taken sample.
pub enum Route {
    /// Same version: use the bytes as they are.
    Native,
    /// Migrated into the subscription's version.
    Migrated(Vec<u8>),
    /// Cannot be migrated: drop it.
    Drop,
}

impl Incoming {
    pub fn new(domain: u32, own: Arc<MessageTypeSupport>) -> Arc<Incoming> {
        Arc::new(Incoming {
            domain,
            type_name: own.type_name().to_string(),
            own_hash: own.type_hash().map(|h| h.value).unwrap_or([0; 32]),
            own,
            foreign: Mutex::new(HashMap::new()),
            any_foreign: AtomicBool::new(false),
            failed: Mutex::new(Default::default()),
        })
    }

    /// The core's `accept_foreign_hash` predicate: attach to publisher
    /// `gid` of version `hash` when its samples migrate to ours.
    pub fn accept(&self, hash: &[u8; 32], gid: &[u8; 16]) -> bool {
        if self.own_hash == [0; 32] {
            return false;
        }
        let v = judge(self.domain, &self.type_name, hash, &self.own_hash);
        if !v.compatible() {
            return false;
        }
        lock(&self.foreign).insert(*gid, v);
        // SYNC POINT: in-process flag only; the map above is read under its
        // mutex.
        self.any_foreign.store(true, Ordering::Release);
        true
    }

    /// Whether a publisher of another version was ever accepted.
    pub fn has_foreign(&self) -> bool {
        // SYNC POINT: pairs with the Release in `accept`.
        self.any_foreign.load(Ordering::Acquire)
    }

    /// Migrates `bytes` from publisher `gid` if it writes another version.
    pub fn route(&self, gid: &[u8; 16], bytes: &[u8]) -> Route {
        // Fast path for subscriptions that never met another version.
        if !self.has_foreign() {
            return Route::Native;
        }
        let Some(v) = lock(&self.foreign).get(gid).cloned() else {
            return Route::Native;
        };
        let Some(m) = &v.migration else {
            return Route::Drop;
        };
        match migrate_cdr(&m.plan, &m.writer, self.own.layout(), bytes) {
            Ok(out) => Route::Migrated(out),
            Err(e) => {
                if lock(&self.failed).insert(*gid) {
                    crate::log::warn(&format!(
                        "a sample of '{}' from publisher {} could not be migrated to this \
                         subscription's version and was dropped: {e}",
                        self.type_name,
                        hex(gid)
                    ));
                }
                Route::Drop
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rejects_garbage_and_wrong_hash() {
        assert!(decode(b"", "a/msg/B", &[1; 32]).is_err());
        assert!(decode(&[0xff; 64], "a/msg/B", &[1; 32]).is_err());
        let empty = SchemaRegistry::new().to_blob();
        let e = decode(&empty, "a/msg/B", &[1; 32]).err().unwrap();
        assert!(e.contains("no 'a/msg/B'"), "{e}");
    }
}
