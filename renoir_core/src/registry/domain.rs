//! [`Domain`]: this process's membership in one domain's registry.

// Atomics here come only from `crate::sync`; clippy's disallowed-types
// resolves that re-export to std and would flag every use (same note as
// in `ring`).
#![allow(clippy::disallowed_types)]

use super::layout::*;
use super::slot::{Claim, SlotWord, Word, CLAIMING, FREE, LIVE, RECLAIMING};
use crate::notify::Doorbell;
use crate::platform::{shm, ProcessIdentity};
use crate::region::{self, Access, Backend, Region, RegionConfig};
use crate::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use crate::topic::qos::{EndpointKind, Qos, TopicSpec};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often `graph()` / `wait()` look for dead members on their own.
pub const REAP_INTERVAL: Duration = Duration::from_millis(500);

/// Joining a domain failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("cannot create registry: {0}")]
    Create(#[from] region::CreateError),
    #[error("cannot open registry: {0}")]
    Open(#[from] region::OpenError),
    #[error("registry {name} has an incompatible layout: {reason}")]
    Incompatible { name: String, reason: String },
    #[error("registry {0} is full: no free process slot")]
    Full(String),
    #[error("registry {0} never became usable (creator died or is too slow)")]
    NotReady(String),
}

/// Adding a node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("registry is full: no free node slot")]
    Full,
    #[error("domain handle was abandoned")]
    Abandoned,
}

/// Registering an endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("registry is full: no free endpoint slot")]
    Full,
    #[error("node handle belongs to another domain")]
    WrongDomain,
}

/// A live node in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub namespace: String,
    pub enclave: String,
    pub pid: u32,
    /// Registry slot (stable while the node lives).
    pub slot: u32,
}

/// Per-endpoint counters as read from the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Publisher: published; subscriber: taken.
    pub samples: u64,
    pub bytes: u64,
    pub lost: u64,
    pub pool_used: u64,
    pub pool_total: u64,
    pub matched: u64,
    pub blocked: u64,
}

/// A live endpoint in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointInfo {
    pub kind: EndpointKind,
    pub topic_name: String,
    pub type_name: String,
    pub type_hash: [u8; 32],
    pub qos: Qos,
    pub gid: [u8; 16],
    pub node_name: String,
    pub node_namespace: String,
    pub pid: u32,
    /// Publisher: logical name of its control segment.
    pub segment: String,
    pub stats: EndpointStats,
    /// Registry slot and generation (identify this incarnation).
    pub slot: u32,
    pub gen: u32,
    /// Endpoint liveliness heartbeat (unix ns; 0 = never): creation, every
    /// publish, `Publisher::assert_liveliness`.
    pub last_heartbeat_ns: u64,
    /// Heartbeat of the owning process (unix ns; 0 = unknown): refreshed by
    /// `Domain::wait` at least every [`REAP_INTERVAL`] while it is called.
    pub process_heartbeat_ns: u64,
}

impl EndpointInfo {
    /// Whether this endpoint asserted liveliness within `lease` before
    /// `now_ns` (unix ns), following its QoS liveliness kind:
    /// `ManualByTopic` counts only the endpoint's own heartbeat;
    /// `Automatic` also the owning process's heartbeat. A `lease` of zero
    /// or `Duration::MAX` means infinite (always alive while in the graph).
    /// Graph snapshots may be cached for up to [`REAP_INTERVAL`]: use
    /// leases well above that, or a fresh graph.
    pub fn is_alive_within(&self, lease: Duration, now_ns: u64) -> bool {
        if lease.is_zero() || lease == Duration::MAX {
            return true;
        }
        let last = match self.qos.liveliness {
            crate::topic::Liveliness::ManualByTopic => self.last_heartbeat_ns,
            crate::topic::Liveliness::Automatic => {
                self.last_heartbeat_ns.max(self.process_heartbeat_ns)
            }
        };
        let lease_ns = u64::try_from(lease.as_nanos()).unwrap_or(u64::MAX);
        now_ns.saturating_sub(last) <= lease_ns
    }
}

/// A snapshot of the live graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub version: u64,
    pub nodes: Vec<NodeInfo>,
    pub endpoints: Vec<EndpointInfo>,
}

/// (prefix, domain, process slot, process gen) of every Domain alive in
/// this process. Records owned by our own pid whose process slot is not in
/// here belong to an abandoned Domain (a simulated crash) and are dead.
type LiveKey = (String, u32, u32, u32);
static LOCAL_LIVE: Mutex<Option<HashSet<LiveKey>>> = Mutex::new(None);
/// One Domain per (prefix, domain id) per process.
type DomainCache = HashMap<(String, u32), Weak<Domain>>;
static DOMAINS: Mutex<Option<DomainCache>> = Mutex::new(None);

/// Keys of handles abandoned in this process (simulated crashes of a single
/// endpoint while its process lives on): records with these keys are dead.
static ABANDONED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

pub(crate) fn mark_abandoned(key: String) {
    let mut g = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashSet::new).insert(key);
}

pub(crate) fn is_abandoned_key(key: &str) -> bool {
    let g = ABANDONED.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref().is_some_and(|s| s.contains(key))
}

/// Local key of an endpoint record incarnation.
pub(crate) fn ep_key(prefix: &str, domain: u32, slot: u32, gen: u32) -> String {
    format!("ep/{prefix}/{domain}/{slot}/{gen}")
}

fn local_live<R>(f: impl FnOnce(&mut HashSet<LiveKey>) -> R) -> R {
    let mut g = LOCAL_LIVE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashSet::new))
}

pub(crate) fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Whether a pid exists and is not a zombie (no start time known).
pub(crate) fn pid_exists(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    if pid == std::process::id() {
        return true;
    }
    ProcessIdentity::of_pid(pid).is_some_and(|id| id.is_alive())
}

/// Liveness oracle with a per-pass cache.
pub(crate) struct Liveness {
    prefix: String,
    domain: u32,
    me: ProcessIdentity,
    cache: HashMap<(u32, u64), bool>,
    /// Pids of members in another pid namespace: never judged dead by us.
    foreign: HashSet<u32>,
}

impl Liveness {
    pub(crate) fn new(prefix: &str, domain: u32) -> Liveness {
        Liveness {
            prefix: prefix.to_string(),
            domain,
            me: ProcessIdentity::current(),
            cache: HashMap::new(),
            foreign: HashSet::new(),
        }
    }

    /// Like `new`, also learning from the process table which members live
    /// in another pid namespace (containers sharing /dev/shm but not pids):
    /// their pids mean nothing here, so they are never judged dead.
    pub(crate) fn with_registry(
        prefix: &str,
        domain: u32,
        region: &Region,
        lay: &RegLayout,
    ) -> Liveness {
        let mut l = Liveness::new(prefix, domain);
        let my_ns = crate::platform::process::pid_namespace();
        for i in 0..MAX_PROCESSES {
            let r = proc_rec(region, lay, i);
            let w = r.slot.load();
            if w.state() == FREE {
                continue;
            }
            // SYNC POINT: written before LIVE (Release); a stale value can
            // only make us more conservative (treat a pid as alive).
            let ns = r.pid_ns.load(Ordering::Relaxed);
            if ns != 0 && my_ns != 0 && ns != my_ns {
                l.foreign.insert(w.pid());
            }
        }
        l
    }

    /// Owner identity `(pid, start)` (start 0 = unknown), owning process
    /// record `(proc_slot, proc_gen)` (`None` for the process record itself
    /// judged by identity only).
    pub(crate) fn alive(
        &mut self,
        pid: u32,
        start: u64,
        proc_rec: Option<(u32, u32)>,
        local_key: Option<&str>,
    ) -> bool {
        if pid == self.me.pid && (start == 0 || start == self.me.start_time) {
            if local_key.is_some_and(is_abandoned_key) {
                return false;
            }
            return match proc_rec {
                Some((s, g)) => {
                    local_live(|l| l.contains(&(self.prefix.clone(), self.domain, s, g)))
                }
                None => true,
            };
        }
        if self.foreign.contains(&pid) {
            return true;
        }
        *self.cache.entry((pid, start)).or_insert_with(|| {
            if start == 0 {
                pid_exists(pid)
            } else {
                ProcessIdentity {
                    pid,
                    start_time: start,
                }
                .is_alive()
            }
        })
    }
}

/// Something of this process that reacts to graph changes (a subscriber
/// attaching to new publishers), run from [`Domain::wait`].
pub(crate) trait GraphHook: Send + Sync {
    fn graph_changed(&self);
}

/// This process's membership in one domain. Get it with [`Domain::join`];
/// it is shared (`Arc`) by everything created from it.
pub struct Domain {
    id: u32,
    prefix: String,
    name: String,
    backend: Backend,
    region: Region,
    lay: RegLayout,
    me: ProcessIdentity,
    proc_slot: u32,
    proc_claim: Claim,
    abandoned: AtomicBool,
    last_reap: Mutex<Instant>,
    /// Live publishers by topic, rebuilt once per graph version (every
    /// subscriber of this process discovers from it instead of scanning).
    pub_cache: Mutex<PubCache>,
    graph_cache: Mutex<Option<(u64, Instant, Graph)>>,
    /// Endpoints to tell about graph changes seen in `wait` (subscribers
    /// attach to new publishers), with the graph version last handled.
    graph_hooks: Mutex<(u64, Vec<Weak<dyn GraphHook>>)>,
}

/// A live publisher as listed for discovery.
#[derive(Debug, Clone)]
pub(crate) struct PubRef {
    /// Registry slot and generation of its endpoint record.
    pub ep: (u32, u32),
    pub type_name: String,
    pub type_hash: [u8; 32],
    pub segment: String,
    pub gid: [u8; 16],
    pub qos: Qos,
    /// Its process record (slot, gen).
    pub process: (u32, u32),
}

#[derive(Default)]
pub(crate) struct PubCache {
    version: Option<u64>,
    by_topic: Arc<HashMap<String, Vec<PubRef>>>,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("id", &self.id)
            .field("registry", &self.name)
            .field("process_slot", &self.proc_slot)
            .finish()
    }
}

fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim().chars().take(64).collect())
        .unwrap_or_default()
}

impl Domain {
    /// Join domain `domain_id` (one shared handle per process and domain).
    /// Uses the segment prefix from `RENOIR_SHM_PREFIX` (default `renoir`).
    pub fn join(domain_id: u32) -> Result<Arc<Domain>, JoinError> {
        Domain::join_with(domain_id, Backend::Shm)
    }

    /// [`join`](Domain::join) with segments on another backend:
    /// `Backend::Heap` keeps everything process-local (same code paths,
    /// for tests and Miri), `Backend::File(dir)` for hosts whose /dev/shm
    /// is too small.
    pub fn join_with(domain_id: u32, backend: Backend) -> Result<Arc<Domain>, JoinError> {
        let prefix = match &backend {
            Backend::Shm => shm::prefix(),
            other => format!("{}@{other:?}", shm::prefix()),
        };
        let mut cache = DOMAINS.lock().unwrap_or_else(|e| e.into_inner());
        let cache = cache.get_or_insert_with(HashMap::new);
        let key = (prefix.clone(), domain_id);
        if let Some(d) = cache.get(&key).and_then(Weak::upgrade) {
            return Ok(d);
        }
        let d = Arc::new(Domain::join_new(domain_id, prefix, backend)?);
        cache.insert(key, Arc::downgrade(&d));
        Ok(d)
    }

    fn join_new(domain_id: u32, prefix: String, backend: Backend) -> Result<Domain, JoinError> {
        let name = format!("{domain_id}_registry");
        let size = RegLayout::payload_size();
        let mut last_err: Option<JoinError> = None;
        let mut closed_seen = 0u32;
        for attempt in 0..100u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(2 + attempt as u64));
            }
            let cfg = RegionConfig::new(name.clone(), size)
                .backend(backend.clone())
                .description("renoir registry")
                .version("1.0.0")
                .unlink_on_drop(false)
                .keep_when_creator_dies(true);
            let (region, created) = match Region::create(&cfg) {
                Ok(r) => (r, true),
                Err(region::CreateError::AlreadyExists(_)) => {
                    match Region::open(&name, backend.clone(), Access::ReadWrite) {
                        Ok(r) => (r, false),
                        Err(region::OpenError::NotFound(_)) => continue,
                        Err(region::OpenError::NotReady { .. }) => {
                            // The creator died before finishing (or is very
                            // slow): remove it if old enough, then retry.
                            remove_if_stale(&name, &backend, Duration::from_secs(2));
                            last_err = Some(JoinError::NotReady(name.clone()));
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            let lay = RegLayout::compute(region.payload_offset());
            if region.len() < lay.end {
                return Err(JoinError::Incompatible {
                    name,
                    reason: format!("size {} < {}", region.len(), lay.end),
                });
            }
            let hdr: &RegHeader = region
                .get(lay.header)
                .map_err(|e| JoinError::Incompatible {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
            if created {
                hdr.version.store(REG_VERSION, Ordering::Relaxed);
                hdr.domain_id.store(domain_id, Ordering::Relaxed);
                hdr.n_processes
                    .store(MAX_PROCESSES as u32, Ordering::Relaxed);
                hdr.n_nodes.store(MAX_NODES as u32, Ordering::Relaxed);
                hdr.n_endpoints
                    .store(MAX_ENDPOINTS as u32, Ordering::Relaxed);
                hdr.off_processes
                    .store(lay.processes as u64, Ordering::Relaxed);
                hdr.off_nodes.store(lay.nodes as u64, Ordering::Relaxed);
                hdr.off_endpoints
                    .store(lay.endpoints as u64, Ordering::Relaxed);
                // SYNC POINT: Release publishes the fields above to joiners'
                // Acquire load of the magic.
                hdr.magic.store(REG_MAGIC, Ordering::Release);
            } else {
                let t0 = Instant::now();
                // SYNC POINT: Acquire pairs with the creator's Release store.
                while hdr.magic.load(Ordering::Acquire) != REG_MAGIC {
                    if t0.elapsed() > Duration::from_secs(2) {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                // SYNC POINT: as above.
                if hdr.magic.load(Ordering::Acquire) != REG_MAGIC {
                    if !region.creator().is_alive() {
                        remove_if_stale(&name, &backend, Duration::ZERO);
                    }
                    last_err = Some(JoinError::NotReady(name.clone()));
                    continue;
                }
                let ok = hdr.version.load(Ordering::Relaxed) == REG_VERSION
                    && hdr.n_processes.load(Ordering::Relaxed) == MAX_PROCESSES as u32
                    && hdr.n_nodes.load(Ordering::Relaxed) == MAX_NODES as u32
                    && hdr.n_endpoints.load(Ordering::Relaxed) == MAX_ENDPOINTS as u32
                    && hdr.off_processes.load(Ordering::Relaxed) == lay.processes as u64
                    && hdr.off_nodes.load(Ordering::Relaxed) == lay.nodes as u64
                    && hdr.off_endpoints.load(Ordering::Relaxed) == lay.endpoints as u64;
                if !ok {
                    return Err(JoinError::Incompatible {
                        name,
                        reason: "table sizes/offsets differ (other renoir version?)".into(),
                    });
                }
            }
            let me = ProcessIdentity::current();
            // Reap before claiming: a crashed predecessor may hold slots.
            reap_tables(&region, &lay, &prefix, domain_id, &name);
            let mut claimed = None;
            for i in 0..MAX_PROCESSES {
                let rec = proc_rec(&region, &lay, i);
                if let Some(c) = rec.slot.try_claim(me.pid, me.start_time) {
                    claimed = Some((i as u32, c));
                    break;
                }
            }
            let Some((slot, claim)) = claimed else {
                return Err(JoinError::Full(name));
            };
            let rec = proc_rec(&region, &lay, slot as usize);
            // SYNC POINT: content of our CLAIMING record, published by
            // `publish` (Release).
            rec.heartbeat_ns.store(now_unix_ns(), Ordering::Relaxed);
            rec.joined_unix_ns.store(now_unix_ns(), Ordering::Relaxed);
            let _ = rec.name.set(&process_name());
            rec.pid_ns
                .store(crate::platform::process::pid_namespace(), Ordering::Relaxed);
            local_live(|l| l.insert((prefix.clone(), domain_id, slot, claim.gen)));
            if !rec.slot.publish(claim) {
                local_live(|l| l.remove(&(prefix.clone(), domain_id, slot, claim.gen)));
                continue;
            }
            // SYNC POINT: SeqCst fence between our claim (above) and the
            // load of `closed` (below); pairs with the fence in `try_close`
            // between its store of `closed` and its scan for members
            // (Dekker: either we see closed, or it sees our claim).
            fence(Ordering::SeqCst);
            if hdr.closed.load(Ordering::Relaxed) != 0 {
                rec.slot.release(claim);
                local_live(|l| l.remove(&(prefix.clone(), domain_id, slot, claim.gen)));
                closed_seen += 1;
                // A leaver that set `closed` unlinks the file a moment later;
                // if it died in between, the flag would stay forever: after
                // ~50 ms of retries, finish its job (see docs/data-path.md).
                if closed_seen > 10 && !any_member(&region, &lay) {
                    unlink_region(&region);
                }
                continue;
            }
            let d = Domain {
                id: domain_id,
                prefix,
                name,
                backend,
                region,
                lay,
                me,
                proc_slot: slot,
                proc_claim: claim,
                abandoned: AtomicBool::new(false),
                last_reap: Mutex::new(Instant::now()),
                pub_cache: Mutex::new(PubCache::default()),
                graph_cache: Mutex::new(None),
                graph_hooks: Mutex::new((0, Vec::new())),
            };
            d.bump_graph();
            return Ok(d);
        }
        Err(last_err.unwrap_or(JoinError::NotReady(name)))
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Scope of this membership: the segment prefix (tagged with the
    /// backend unless it is `Shm`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where this domain's segments live.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Logical name of the registry segment.
    pub fn registry_name(&self) -> &str {
        &self.name
    }

    pub fn identity(&self) -> ProcessIdentity {
        self.me
    }

    /// Live publisher records by topic name, as of the current graph
    /// version (one registry scan per version per process).
    pub(crate) fn publishers(&self) -> Arc<HashMap<String, Vec<PubRef>>> {
        let v = self.graph_version();
        let mut c = self.pub_cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.version == Some(v) {
            return c.by_topic.clone();
        }
        let mut map: HashMap<String, Vec<PubRef>> = HashMap::new();
        for i in 0..MAX_ENDPOINTS {
            let r = ep_rec(&self.region, &self.lay, i);
            let w = r.slot.load();
            // SYNC POINT: content after Acquire of LIVE; read_endpoint
            // re-checks the word (seqlock).
            if !w.is_live() || r.kind.load(Ordering::Relaxed) != EndpointKind::Publisher.code() {
                continue;
            }
            let process = (
                r.process_slot.load(Ordering::Relaxed),
                r.process_gen.load(Ordering::Relaxed),
            );
            let Some(info) = read_endpoint(r, i as u32, w) else {
                continue;
            };
            map.entry(info.topic_name).or_default().push(PubRef {
                ep: (i as u32, w.gen()),
                type_name: info.type_name,
                type_hash: info.type_hash,
                segment: info.segment,
                gid: info.gid,
                qos: info.qos,
                process,
            });
        }
        c.version = Some(v);
        c.by_topic = Arc::new(map);
        c.by_topic.clone()
    }

    /// A liveness oracle for records of this domain (pid namespaces known).
    pub(crate) fn liveness(&self) -> Liveness {
        Liveness::with_registry(&self.prefix, self.id, &self.region, &self.lay)
    }

    /// Our slot in the process table and its generation.
    pub fn process_slot(&self) -> (u32, u32) {
        (self.proc_slot, self.proc_claim.gen)
    }

    pub(crate) fn header(&self) -> &RegHeader {
        self.region
            .get(self.lay.header)
            .expect("registry layout validated at join")
    }

    pub(crate) fn process(&self, i: usize) -> Option<&ProcessRecord> {
        (i < MAX_PROCESSES).then(|| proc_rec(&self.region, &self.lay, i))
    }

    pub(crate) fn node(&self, i: usize) -> Option<&NodeRecord> {
        (i < MAX_NODES).then(|| node_rec(&self.region, &self.lay, i))
    }

    fn my_doorbell(&self) -> &Doorbell {
        &proc_rec(&self.region, &self.lay, self.proc_slot as usize).doorbell
    }

    /// Ring count of this process's doorbell. Read it *before* checking
    /// your sources, then [`wait`](Domain::wait) with it.
    pub fn doorbell_seq(&self) -> u32 {
        self.my_doorbell().seq()
    }

    /// Ring this process's own doorbell (e.g. a guard condition).
    pub fn ring(&self) {
        self.my_doorbell().ring();
    }

    /// Ring the doorbell of process slot `slot` if its generation is still
    /// `gen` (else the process left; nothing to do).
    pub(crate) fn ring_process(&self, slot: u32, gen: u32) {
        if let Some(rec) = self.process(slot as usize) {
            let w = rec.slot.load();
            if w.gen() == gen && w.is_live() {
                rec.doorbell.ring();
            }
        }
    }

    /// Sleep until this process's doorbell is rung after `seen` (any data or
    /// graph change for us) or the timeout passes; returns the ring count
    /// now. Checks for dead members every [`REAP_INTERVAL`] while waiting,
    /// and on entry if the last check is older than that, so callers that
    /// only ever wait briefly (or with a zero timeout) still reap: the
    /// check is rate-limited by time (one clock read and an uncontended
    /// lock when it is not due).
    pub fn wait(&self, seen: u32, timeout: Option<Duration>) -> u32 {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let bell = self.my_doorbell();
        self.maybe_reap();
        if self.heartbeat_stale() {
            self.heartbeat();
        }
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let chunk = match left {
                Some(l) => l.min(REAP_INTERVAL),
                None => REAP_INTERVAL,
            };
            let now = bell.wait(seen, Some(chunk));
            if now != seen || left.is_some_and(|l| l <= chunk) {
                self.run_graph_hooks();
                return now;
            }
            self.heartbeat();
            self.maybe_reap();
        }
    }

    pub(crate) fn add_graph_hook(&self, h: Weak<dyn GraphHook>) {
        let mut g = self.graph_hooks.lock().unwrap_or_else(|e| e.into_inner());
        g.1.retain(|w| w.strong_count() > 0);
        g.1.push(h);
    }

    /// If the graph changed since the last call, let every live hook react
    /// (subscribers attach to new publishers, so publishers see them matched
    /// without waiting for a `take`). One atomic load when nothing changed.
    /// Hooks run without our lock held.
    fn run_graph_hooks(&self) {
        let v = self.graph_version();
        let hooks: Vec<Arc<dyn GraphHook>> = {
            let mut g = self.graph_hooks.lock().unwrap_or_else(|e| e.into_inner());
            if g.0 == v {
                return;
            }
            g.0 = v;
            g.1.retain(|w| w.strong_count() > 0);
            g.1.iter().filter_map(Weak::upgrade).collect()
        };
        for h in &hooks {
            h.graph_changed();
        }
    }

    /// Whether our process heartbeat is older than [`REAP_INTERVAL`].
    fn heartbeat_stale(&self) -> bool {
        // SYNC POINT: informational only (renoir ls); no ordering.
        let last = proc_rec(&self.region, &self.lay, self.proc_slot as usize)
            .heartbeat_ns
            .load(Ordering::Relaxed);
        now_unix_ns().saturating_sub(last) > REAP_INTERVAL.as_nanos() as u64
    }

    fn heartbeat(&self) {
        // SYNC POINT: informational only (renoir ls); no ordering.
        proc_rec(&self.region, &self.lay, self.proc_slot as usize)
            .heartbeat_ns
            .store(now_unix_ns(), Ordering::Relaxed);
    }

    /// Current graph version (bumped on every change).
    pub fn graph_version(&self) -> u64 {
        // SYNC POINT: Acquire pairs with the SeqCst bump in `bump_graph`,
        // which follows the record's LIVE/FREE transition.
        self.header().graph_version.load(Ordering::Acquire)
    }

    /// Futex event notified on each graph change (for graph watchers).
    pub fn graph_event(&self) -> &crate::notify::Event {
        &self.header().graph_event
    }

    /// Bump the graph version and ring every member's doorbell.
    pub(crate) fn bump_graph(&self) {
        bump_graph_in(&self.region, &self.lay);
    }

    /// Reap now if the last reap is older than [`REAP_INTERVAL`].
    pub fn maybe_reap(&self) -> usize {
        {
            let mut last = self.last_reap.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < REAP_INTERVAL {
                return 0;
            }
            *last = Instant::now();
        }
        self.reap()
    }

    /// Release every record (and segment) whose owner is dead. Returns how
    /// many records were reclaimed (the graph version is bumped if any).
    pub fn reap(&self) -> usize {
        reap_tables(&self.region, &self.lay, &self.prefix, self.id, &self.name)
    }

    /// Re-read `info`'s liveliness heartbeats from the registry now (graph
    /// snapshots may be cached). Returns false, leaving `info` unchanged,
    /// if that endpoint incarnation (slot + generation) is gone.
    pub fn refresh_heartbeats(&self, info: &mut EndpointInfo) -> bool {
        if info.slot as usize >= MAX_ENDPOINTS {
            return false;
        }
        let r = ep_rec(&self.region, &self.lay, info.slot as usize);
        let w = r.slot.load();
        if !w.is_live() || w.gen() != info.gen {
            return false;
        }
        // SYNC POINT: content after the Acquire of LIVE; validated by the
        // reload below (seqlock).
        let hb = r.counters.heartbeat_ns.load(Ordering::Relaxed);
        let ps = r.process_slot.load(Ordering::Relaxed);
        let pg = r.process_gen.load(Ordering::Relaxed);
        if r.slot.reload() != w {
            return false;
        }
        let mut phb = 0;
        if (ps as usize) < MAX_PROCESSES {
            let p = proc_rec(&self.region, &self.lay, ps as usize);
            let pw = p.slot.load();
            // SYNC POINT: informational heartbeat of the owning process.
            let v = p.heartbeat_ns.load(Ordering::Relaxed);
            if pw.is_live() && pw.gen() == pg {
                phb = v;
            }
        }
        info.last_heartbeat_ns = hb;
        info.process_heartbeat_ns = phb;
        true
    }

    /// Snapshot of live nodes and endpoints.
    ///
    /// Cached per graph version for up to [`REAP_INTERVAL`] (after that the
    /// owners' liveness is checked again), so frequent graph queries cost a
    /// clone, not a registry scan.
    pub fn graph(&self) -> Graph {
        self.maybe_reap();
        let v = self.graph_version();
        {
            let c = self.graph_cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cv, at, g)) = &*c {
                if *cv == v && at.elapsed() < REAP_INTERVAL {
                    return g.clone();
                }
            }
        }
        let (mut g, saw_dead) = read_graph(&self.region, &self.lay, &self.prefix, self.id);
        // Whoever notices a dead owner reaps it, so the graph we return and
        // the registry (and everybody's graph version) agree.
        if saw_dead && self.reap() > 0 {
            g.version = self.graph_version();
        }
        let mut c = self.graph_cache.lock().unwrap_or_else(|e| e.into_inner());
        *c = Some((g.version, Instant::now(), g.clone()));
        g
    }

    /// Add a node (removed when the handle drops).
    pub fn add_node(
        self: &Arc<Self>,
        name: &str,
        namespace: &str,
        enclave: &str,
    ) -> Result<NodeHandle, NodeError> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Err(NodeError::Abandoned);
        }
        for (field, v) in [
            ("name", name),
            ("namespace", namespace),
            ("enclave", enclave),
        ] {
            if v.len() > ShmStr::<32>::CAP || v.contains('\0') {
                return Err(NodeError::Invalid {
                    field,
                    reason: format!("must be at most {} bytes without NUL", ShmStr::<32>::CAP),
                });
            }
        }
        for i in 0..MAX_NODES {
            let r = node_rec(&self.region, &self.lay, i);
            let Some(c) = r.slot.try_claim(self.me.pid, self.me.start_time) else {
                continue;
            };
            // SYNC POINT: content of a CLAIMING record, published by
            // `publish` (Release).
            r.process_slot.store(self.proc_slot, Ordering::Relaxed);
            r.process_gen.store(self.proc_claim.gen, Ordering::Relaxed);
            let ok = r.name.set(name).is_ok()
                && r.namespace.set(namespace).is_ok()
                && r.enclave.set(enclave).is_ok();
            if !ok || !r.slot.publish(c) {
                r.slot.release(c);
                continue;
            }
            self.bump_graph();
            return Ok(NodeHandle {
                domain: self.clone(),
                slot: i as u32,
                claim: c,
                name: name.to_string(),
                namespace: namespace.to_string(),
            });
        }
        Err(NodeError::Full)
    }

    /// Claim and fill an endpoint record (LIVE on return).
    pub(crate) fn register_endpoint(
        self: &Arc<Self>,
        node: &NodeHandle,
        spec: &TopicSpec,
        kind: EndpointKind,
        mut fill: impl FnMut(u64, u32, u32, &EndpointRecord) -> Result<(), RegisterError>,
    ) -> Result<EndpointReg, RegisterError> {
        if !Arc::ptr_eq(&node.domain, self) {
            return Err(RegisterError::WrongDomain);
        }
        for (field, v) in [("topic name", &spec.name), ("type name", &spec.type_name)] {
            if v.is_empty() || v.len() > ShmStr::<32>::CAP || v.contains('\0') {
                return Err(RegisterError::Invalid {
                    field,
                    reason: format!("must be 1..={} bytes without NUL", ShmStr::<32>::CAP),
                });
            }
        }
        // SYNC POINT: unique-id counter; no ordering needed.
        let id = self.header().next_id.fetch_add(1, Ordering::Relaxed);
        for i in 0..MAX_ENDPOINTS {
            let r = ep_rec(&self.region, &self.lay, i);
            let Some(c) = r.slot.try_claim(self.me.pid, self.me.start_time) else {
                continue;
            };
            // SYNC POINT: content of a CLAIMING record, published by
            // `publish` (Release).
            r.kind.store(kind.code(), Ordering::Relaxed);
            r.node_slot.store(node.slot, Ordering::Relaxed);
            r.node_gen.store(node.claim.gen, Ordering::Relaxed);
            r.process_slot.store(self.proc_slot, Ordering::Relaxed);
            r.process_gen.store(self.proc_claim.gen, Ordering::Relaxed);
            let mut gid = [0u8; 16];
            gid[0..4].copy_from_slice(&self.me.pid.to_le_bytes());
            gid[4..8].copy_from_slice(&(self.me.start_time as u32).to_le_bytes());
            gid[8..12].copy_from_slice(&(i as u32).to_le_bytes());
            gid[12..16].copy_from_slice(&c.gen.to_le_bytes());
            bytes_to_u64s(&r.gid, &gid);
            bytes_to_u64s(&r.type_hash, &spec.type_hash);
            let q = spec.qos.encode();
            r.history.store(q[0], Ordering::Relaxed);
            r.depth.store(q[1], Ordering::Relaxed);
            r.reliability.store(q[2], Ordering::Relaxed);
            r.durability.store(q[3], Ordering::Relaxed);
            r.liveliness.store(q[4], Ordering::Relaxed);
            r.deadline_ns.store(spec.qos.deadline_ns, Ordering::Relaxed);
            r.lifespan_ns.store(spec.qos.lifespan_ns, Ordering::Relaxed);
            r.lease_ns
                .store(spec.qos.liveliness_lease_ns, Ordering::Relaxed);
            r.id.store(id, Ordering::Relaxed);
            for c in [
                &r.counters.samples,
                &r.counters.bytes,
                &r.counters.lost,
                &r.counters.pool_used,
                &r.counters.pool_total,
                &r.counters.matched,
                &r.counters.blocked,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            // SYNC POINT: published by the Release store of LIVE.
            r.counters
                .heartbeat_ns
                .store(now_unix_ns(), Ordering::Relaxed);
            let filled = r.topic.set(&spec.name).is_ok()
                && r.type_name.set(&spec.type_name).is_ok()
                && r.segment.set("").is_ok();
            if !filled {
                r.slot.release(c);
                return Err(RegisterError::Invalid {
                    field: "topic",
                    reason: "cannot store".into(),
                });
            }
            if let Err(e) = fill(id, i as u32, c.gen, r) {
                r.slot.release(c);
                return Err(e);
            }
            if !r.slot.publish(c) {
                // Only a reaper that judged us dead can take a claim away.
                return Err(RegisterError::Full);
            }
            self.bump_graph();
            return Ok(EndpointReg {
                domain: self.clone(),
                slot: i as u32,
                claim: c,
                gid,
                abandoned: AtomicBool::new(false),
            });
        }
        Err(RegisterError::Full)
    }

    /// Release this process's fds and mappings *without* cleanup: the
    /// registry keeps our records as a crash would leave them (they are
    /// reaped by the next `reap`, since no live Domain owns them).
    /// Handles created from this domain (nodes, publishers, subscribers)
    /// also skip their cleanup from now on.
    pub fn abandon(self: Arc<Self>) {
        self.abandoned.store(true, Ordering::Relaxed);
        local_live(|l| {
            l.remove(&(
                self.prefix.clone(),
                self.id,
                self.proc_slot,
                self.proc_claim.gen,
            ))
        });
        let mut cache = DOMAINS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_mut() {
            let key = (self.prefix.clone(), self.id);
            if c.get(&key)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self)))
            {
                c.remove(&key);
            }
        }
    }

    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// Try to unlink the registry if no process is a member any more.
    fn try_close(&self) {
        let hdr = self.header();
        // Dead members must not keep the registry alive.
        reap_tables(&self.region, &self.lay, &self.prefix, self.id, &self.name);
        if any_member(&self.region, &self.lay) {
            return;
        }
        // SYNC POINT: SeqCst CAS + fence, then scan: pairs with the joiner's
        // fence between its claim and its load of `closed` (Dekker).
        if hdr
            .closed
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        fence(Ordering::SeqCst);
        if any_member(&self.region, &self.lay) {
            // SYNC POINT: a joiner raced us; it either saw `closed` (and
            // retries, finding the registry open again) or we saw it.
            hdr.closed.store(0, Ordering::SeqCst);
            return;
        }
        // Reap everything left (all owners are gone), then unlink.
        reap_tables(&self.region, &self.lay, &self.prefix, self.id, &self.name);
        unlink_region(&self.region);
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        if self.abandoned.load(Ordering::Relaxed) {
            return;
        }
        local_live(|l| {
            l.remove(&(
                self.prefix.clone(),
                self.id,
                self.proc_slot,
                self.proc_claim.gen,
            ))
        });
        let rec = proc_rec(&self.region, &self.lay, self.proc_slot as usize);
        rec.slot.release(self.proc_claim);
        self.bump_graph();
        self.try_close();
    }
}

/// A node in the graph; dropping it removes it.
pub struct NodeHandle {
    domain: Arc<Domain>,
    slot: u32,
    claim: Claim,
    name: String,
    namespace: String,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("slot", &self.slot)
            .finish()
    }
}

impl NodeHandle {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        if self.domain.is_abandoned() {
            return;
        }
        if let Some(r) = self.domain.node(self.slot as usize) {
            r.slot.release(self.claim);
        }
        self.domain.bump_graph();
    }
}

/// A claimed endpoint record; released on drop.
pub(crate) struct EndpointReg {
    pub domain: Arc<Domain>,
    pub slot: u32,
    pub claim: Claim,
    pub gid: [u8; 16],
    abandoned: AtomicBool,
}

impl EndpointReg {
    /// Skip the release on drop (simulated crash).
    pub fn set_abandoned(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    pub fn record(&self) -> &EndpointRecord {
        ep_rec(&self.domain.region, &self.domain.lay, self.slot as usize)
    }
}

impl Drop for EndpointReg {
    fn drop(&mut self) {
        if self.domain.is_abandoned() || self.abandoned.load(Ordering::Relaxed) {
            return;
        }
        self.record().slot.release(self.claim);
        self.domain.bump_graph();
    }
}

fn proc_rec<'a>(r: &'a Region, lay: &RegLayout, i: usize) -> &'a ProcessRecord {
    r.get(lay.processes + i * std::mem::size_of::<ProcessRecord>())
        .expect("registry layout validated at join")
}
fn node_rec<'a>(r: &'a Region, lay: &RegLayout, i: usize) -> &'a NodeRecord {
    r.get(lay.nodes + i * std::mem::size_of::<NodeRecord>())
        .expect("registry layout validated at join")
}
fn ep_rec<'a>(r: &'a Region, lay: &RegLayout, i: usize) -> &'a EndpointRecord {
    r.get(lay.endpoints + i * std::mem::size_of::<EndpointRecord>())
        .expect("registry layout validated at join")
}

fn any_member(region: &Region, lay: &RegLayout) -> bool {
    (0..MAX_PROCESSES).any(|i| proc_rec(region, lay, i).slot.load().state() != FREE)
}

fn bump_graph_in(region: &Region, lay: &RegLayout) {
    let Ok(hdr) = region.get::<RegHeader>(lay.header) else {
        return;
    };
    // SYNC POINT: SeqCst RMW after the record transition that changed the
    // graph; readers' Acquire load of the version then see the record.
    hdr.graph_version.fetch_add(1, Ordering::SeqCst);
    hdr.graph_event.notify();
    for i in 0..MAX_PROCESSES {
        let r = proc_rec(region, lay, i);
        if r.slot.load().is_live() {
            r.doorbell.ring();
        }
    }
}

/// Read an endpoint record (seqlock-validated). `None` if it changed
/// meanwhile or holds invalid data.
pub(crate) fn read_endpoint(r: &EndpointRecord, slot: u32, w: Word) -> Option<EndpointInfo> {
    // SYNC POINT: content after the caller's Acquire load of LIVE; the
    // reload at the end rejects torn snapshots.
    let kind = EndpointKind::from_code(r.kind.load(Ordering::Relaxed))?;
    let topic_name = r.topic.get().ok()?;
    let type_name = r.type_name.get().ok()?;
    let segment = r.segment.get().ok()?;
    let gid: [u8; 16] = u64s_to_bytes(&r.gid);
    let type_hash: [u8; 32] = u64s_to_bytes(&r.type_hash);
    let q = [
        r.history.load(Ordering::Relaxed),
        r.depth.load(Ordering::Relaxed),
        r.reliability.load(Ordering::Relaxed),
        r.durability.load(Ordering::Relaxed),
        r.liveliness.load(Ordering::Relaxed),
    ];
    let qos = Qos::decode(
        q,
        r.deadline_ns.load(Ordering::Relaxed),
        r.lifespan_ns.load(Ordering::Relaxed),
        r.lease_ns.load(Ordering::Relaxed),
    );
    let c = &r.counters;
    let stats = EndpointStats {
        samples: c.samples.load(Ordering::Relaxed),
        bytes: c.bytes.load(Ordering::Relaxed),
        lost: c.lost.load(Ordering::Relaxed),
        pool_used: c.pool_used.load(Ordering::Relaxed),
        pool_total: c.pool_total.load(Ordering::Relaxed),
        matched: c.matched.load(Ordering::Relaxed),
        blocked: c.blocked.load(Ordering::Relaxed),
    };
    // SYNC POINT: informational (liveliness); a stale value only makes the
    // endpoint look older.
    let last_heartbeat_ns = c.heartbeat_ns.load(Ordering::Relaxed);
    if r.slot.reload() != w {
        return None;
    }
    Some(EndpointInfo {
        kind,
        topic_name,
        type_name,
        type_hash,
        qos,
        gid,
        node_name: String::new(),
        node_namespace: String::new(),
        pid: w.pid(),
        segment,
        stats,
        slot,
        gen: w.gen(),
        last_heartbeat_ns,
        process_heartbeat_ns: 0,
    })
}

/// Read the live graph from a registry mapping; also says whether dead
/// owners were seen (the caller may reap).
fn read_graph(region: &Region, lay: &RegLayout, prefix: &str, domain: u32) -> (Graph, bool) {
    let mut live = Liveness::with_registry(prefix, domain, region, lay);
    let mut saw_dead = false;
    let Ok(hdr) = region.get::<RegHeader>(lay.header) else {
        return (Graph::default(), false);
    };
    // SYNC POINT: Acquire pairs with the SeqCst bump in `bump_graph_in`.
    let version = hdr.graph_version.load(Ordering::Acquire);
    let mut nodes = Vec::new();
    let mut node_by_slot: HashMap<(u32, u32), (String, String)> = HashMap::new();
    for i in 0..MAX_NODES {
        let r = node_rec(region, lay, i);
        let w = r.slot.load();
        if !w.is_live() {
            continue;
        }
        let start = r.slot.owner_start();
        // SYNC POINT: content after Acquire of LIVE; validated by reload.
        let ps = r.process_slot.load(Ordering::Relaxed);
        let pg = r.process_gen.load(Ordering::Relaxed);
        let (Ok(name), Ok(ns), Ok(enclave)) = (r.name.get(), r.namespace.get(), r.enclave.get())
        else {
            continue;
        };
        if r.slot.reload() != w {
            continue;
        }
        if !live.alive(w.pid(), start, Some((ps, pg)), None) {
            saw_dead = true;
            continue;
        }
        node_by_slot.insert((i as u32, w.gen()), (name.clone(), ns.clone()));
        nodes.push(NodeInfo {
            name,
            namespace: ns,
            enclave,
            pid: w.pid(),
            slot: i as u32,
        });
    }
    let mut endpoints = Vec::new();
    for i in 0..MAX_ENDPOINTS {
        let r = ep_rec(region, lay, i);
        let w = r.slot.load();
        if !w.is_live() {
            continue;
        }
        let Some(info) = read_endpoint(r, i as u32, w) else {
            continue;
        };
        // SYNC POINT: as above.
        let ps = r.process_slot.load(Ordering::Relaxed);
        let pg = r.process_gen.load(Ordering::Relaxed);
        let ns = r.node_slot.load(Ordering::Relaxed);
        let ng = r.node_gen.load(Ordering::Relaxed);
        let key = ep_key(prefix, domain, i as u32, w.gen());
        if !live.alive(w.pid(), r.slot.owner_start(), Some((ps, pg)), Some(&key)) {
            saw_dead = true;
            continue;
        }
        let mut info = info;
        if (ps as usize) < MAX_PROCESSES {
            let p = proc_rec(region, lay, ps as usize);
            let pw = p.slot.load();
            // SYNC POINT: informational; checked against the generation the
            // endpoint recorded so another process's heartbeat is not used.
            let hb = p.heartbeat_ns.load(Ordering::Relaxed);
            if pw.is_live() && pw.gen() == pg {
                info.process_heartbeat_ns = hb;
            }
        }
        if let Some((n, nsp)) = node_by_slot.get(&(ns, ng)) {
            info.node_name = n.clone();
            info.node_namespace = nsp.clone();
        }
        endpoints.push(info);
    }
    (
        Graph {
            version,
            nodes,
            endpoints,
        },
        saw_dead,
    )
}

/// Read-only look at the graph of `domain` (for `renoir ls`): opens the
/// registry without joining, reaps nothing. `None` if there is no usable
/// registry.
pub fn inspect(domain: u32) -> Option<Graph> {
    let name = format!("{domain}_registry");
    let region = Region::open(&name, Backend::Shm, Access::ReadOnly).ok()?;
    let lay = RegLayout::compute(region.payload_offset());
    if region.len() < lay.end {
        return None;
    }
    let hdr = region.get::<RegHeader>(lay.header).ok()?;
    // SYNC POINT: Acquire pairs with the creator's Release of the magic.
    if hdr.magic.load(Ordering::Acquire) != REG_MAGIC {
        return None;
    }
    Some(read_graph(&region, &lay, &shm::prefix(), domain).0)
}

/// Owner judgement for one record: `Some(word)` if it should be reclaimed.
fn dead_word(
    live: &mut Liveness,
    s: &SlotWord,
    proc_of: impl FnOnce() -> (Option<(u32, u32)>, Option<String>),
) -> Option<Word> {
    let w = s.load();
    match w.state() {
        FREE => None,
        CLAIMING => (!live.alive(w.pid(), s.owner_start(), None, None)).then_some(w),
        LIVE => {
            let start = s.owner_start();
            let pr = proc_of();
            let (pr, key) = pr;
            (s.reload() == w && !live.alive(w.pid(), start, pr, key.as_deref())).then_some(w)
        }
        RECLAIMING => (w.pid() != std::process::id() && !pid_exists(w.pid())).then_some(w),
        _ => None,
    }
}

/// Unlink every segment belonging to publisher control segment `seg`
/// (logical name): the control and data segments and its blobs.
pub(crate) fn unlink_publisher_segments(seg: &str, backend: &Backend) {
    if seg.is_empty() || shm::validate_name(seg).is_err() {
        return;
    }
    let dir = match backend {
        Backend::Shm => shm::shm_dir(),
        Backend::File(d) => d.clone(),
        Backend::Heap | Backend::Memfd => {
            // No directory to list: the control and data segments by name
            // (blobs of a crashed heap publisher stay until the process
            // exits; heap regions are process-local anyway).
            let _ = region::unlink(seg, backend);
            let _ = region::unlink(&crate::topic::layout::data_name(seg), backend);
            return;
        }
    };
    let file_prefix = shm::file_name(seg);
    let base = file_prefix.trim_end_matches("_ctl").to_string();
    let Ok(dir) = std::fs::read_dir(dir) else {
        return;
    };
    for e in dir.flatten() {
        let n = e.file_name();
        let Some(n) = n.to_str() else { continue };
        if n == file_prefix || n == format!("{base}_data") || n.starts_with(&format!("{base}_b")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Reap dead owners' records in all three tables; returns how many were
/// reclaimed and bumps the graph version if any.
pub(crate) fn reap_tables(
    region: &Region,
    lay: &RegLayout,
    prefix: &str,
    domain: u32,
    _name: &str,
) -> usize {
    let me = std::process::id();
    let mut live = Liveness::with_registry(prefix, domain, region, lay);
    let mut n = 0;
    for i in 0..MAX_ENDPOINTS {
        let r = ep_rec(region, lay, i);
        let Some(w) = dead_word(&mut live, &r.slot, || {
            // SYNC POINT: content read between the two loads in dead_word.
            (
                Some((
                    r.process_slot.load(Ordering::Relaxed),
                    r.process_gen.load(Ordering::Relaxed),
                )),
                Some(ep_key(prefix, domain, i as u32, r.slot.load().gen())),
            )
        }) else {
            continue;
        };
        let Some(c) = r.slot.begin_reclaim(w, me) else {
            continue;
        };
        if r.kind.load(Ordering::Relaxed) == EndpointKind::Publisher.code() {
            if let Ok(seg) = r.segment.get() {
                unlink_publisher_segments(&seg, region.backend());
            }
        }
        r.slot.finish_reclaim(c);
        n += 1;
    }
    for i in 0..MAX_NODES {
        let r = node_rec(region, lay, i);
        let Some(w) = dead_word(&mut live, &r.slot, || {
            // SYNC POINT: as above.
            (
                Some((
                    r.process_slot.load(Ordering::Relaxed),
                    r.process_gen.load(Ordering::Relaxed),
                )),
                None,
            )
        }) else {
            continue;
        };
        if let Some(c) = r.slot.begin_reclaim(w, me) {
            r.slot.finish_reclaim(c);
            n += 1;
        }
    }
    for i in 0..MAX_PROCESSES {
        let r = proc_rec(region, lay, i);
        let w = r.slot.load();
        let Some(w) = dead_word(&mut live, &r.slot, || (Some((i as u32, w.gen())), None)) else {
            continue;
        };
        if let Some(c) = r.slot.begin_reclaim(w, me) {
            r.slot.finish_reclaim(c);
            n += 1;
        }
    }
    if n > 0 {
        bump_graph_in(region, lay);
    }
    n
}

/// Unlink a region by whatever its backend calls a name.
fn unlink_region(region: &Region) {
    match region.path() {
        Some(p) => {
            let _ = std::fs::remove_file(p);
        }
        None => {
            let _ = region::unlink(region.name(), region.backend());
        }
    }
}

/// Remove a registry file that never became ready, if older than `age`.
fn remove_if_stale(name: &str, backend: &Backend, age: Duration) {
    let Some(path) = region::region_path(name, backend) else {
        return;
    };
    if let Ok(m) = std::fs::metadata(&path) {
        let old = m
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|e| e >= age);
        if old {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Open the registry of `domain` (if it exists) and reap dead members; if
/// no member is left, unlink it. For `renoir clean`. Returns (records
/// reclaimed, registry removed).
pub fn clean_domain(domain: u32) -> (usize, bool) {
    let name = format!("{domain}_registry");
    let Ok(region) = Region::open(&name, Backend::Shm, Access::ReadWrite) else {
        return (0, false);
    };
    let lay = RegLayout::compute(region.payload_offset());
    if region.len() < lay.end {
        return (0, false);
    }
    let Ok(hdr) = region.get::<RegHeader>(lay.header) else {
        return (0, false);
    };
    // SYNC POINT: Acquire pairs with the creator's Release of the magic.
    if hdr.magic.load(Ordering::Acquire) != REG_MAGIC {
        return (0, false);
    }
    let n = reap_tables(&region, &lay, &shm::prefix(), domain, &name);
    if any_member(&region, &lay) {
        return (n, false);
    }
    // SYNC POINT: same closing protocol as `Domain::try_close`.
    if hdr
        .closed
        .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
        .is_err()
    {
        return (n, false);
    }
    fence(Ordering::SeqCst);
    if any_member(&region, &lay) {
        hdr.closed.store(0, Ordering::SeqCst);
        return (n, false);
    }
    let removed = region
        .path()
        .is_some_and(|p| std::fs::remove_file(p).is_ok());
    (n, removed)
}

/// Keep the unused-import lint quiet for items only some cfgs use.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<Domain>();
    f::<NodeHandle>();
    let _ = AtomicU64::new(0);
}
