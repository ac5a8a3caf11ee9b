//! The transport seam: the only module of rmw_renoir that knows which data
//! path carries samples.
//!
//! The types here mirror the renoir_core `registry`/`topic` contract
//! (docs/contracts.md): a per-process [`Domain`] with a doorbell, nodes,
//! publishers that loan a sample and publish it, subscribers that take
//! samples with [`SampleInfo`], and a [`Graph`] of live entries.
//!
//! This file holds the process-local (heap) backend: every endpoint of one
//! domain in this process sees the others. It is what unit tests run on and
//! what carries intra-process traffic; the shared-memory backend adapts
//! renoir_core behind the same names.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// History QoS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    KeepLast(u32),
    KeepAll,
}

/// Reliability QoS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reliability {
    BestEffort,
    Reliable,
}

/// Durability QoS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Volatile,
    TransientLocal,
}

/// Liveliness QoS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveliness {
    Automatic,
    ManualByTopic,
}

/// Endpoint QoS as the transport stores it (already resolved: no
/// "system default" / "best available" values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qos {
    pub history: History,
    pub reliability: Reliability,
    pub durability: Durability,
    pub deadline_ns: u64,
    pub lifespan_ns: u64,
    pub liveliness: Liveliness,
    pub liveliness_lease_ns: u64,
}

impl Default for Qos {
    fn default() -> Self {
        Qos {
            history: History::KeepLast(10),
            reliability: Reliability::Reliable,
            durability: Durability::Volatile,
            deadline_ns: 0,
            lifespan_ns: 0,
            liveliness: Liveliness::Automatic,
            liveliness_lease_ns: 0,
        }
    }
}

/// Publisher or subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    Publisher,
    Subscriber,
}

/// What an endpoint is: topic, type and QoS.
#[derive(Clone, Debug)]
pub struct TopicSpec {
    pub name: String,
    pub type_name: String,
    pub type_hash: [u8; 32],
    pub qos: Qos,
    pub kind: EndpointKind,
    /// Expected payload size (a sizing hint for pools).
    pub payload_hint: usize,
}

/// A live node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub namespace: String,
    pub enclave: String,
}

/// A live endpoint.
#[derive(Clone, Debug)]
pub struct EndpointInfo {
    pub node_name: String,
    pub node_namespace: String,
    pub topic: String,
    pub type_name: String,
    pub type_hash: [u8; 32],
    pub qos: Qos,
    pub kind: EndpointKind,
    pub gid: [u8; 16],
}

/// Snapshot of the live graph of a domain.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<NodeInfo>,
    pub endpoints: Vec<EndpointInfo>,
}

/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("domain id {0} is out of range")]
    BadDomain(u32),
    #[error("endpoint was closed")]
    Closed,
    #[error("publish failed: {0}")]
    Publish(String),
}

/// Metadata of a received sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleInfo {
    pub source_timestamp_ns: i64,
    pub received_timestamp_ns: i64,
    pub publisher_gid: [u8; 16],
    pub sequence: u64,
}

/// A received sample (read-only bytes).
pub struct Sample {
    data: Arc<[u8]>,
    info: SampleInfo,
}

impl Sample {
    pub fn info(&self) -> SampleInfo {
        self.info
    }
}

impl Deref for Sample {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

/// A loaned, writable sample of exactly the requested length.
pub struct SampleMut {
    buf: Vec<u8>,
}

impl Deref for SampleMut {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for SampleMut {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

/// Wall-clock time in nanoseconds since the epoch (the rmw time base).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

struct SubQueue {
    q: VecDeque<Sample>,
    lost: u64,
    depth: Option<usize>,
}

struct PubEntry {
    id: u64,
    node: u64,
    spec: TopicSpec,
    gid: [u8; 16],
    seq: u64,
    /// Transient-local history (last `depth` samples).
    history: VecDeque<Sample>,
}

struct SubEntry {
    id: u64,
    node: u64,
    spec: TopicSpec,
    gid: [u8; 16],
    queue: Arc<Mutex<SubQueue>>,
}

#[derive(Default)]
struct State {
    version: u64,
    next_id: u64,
    nodes: Vec<(u64, NodeInfo)>,
    pubs: Vec<PubEntry>,
    subs: Vec<SubEntry>,
}

/// One domain as seen by this process.
pub struct Domain {
    id: u32,
    state: Mutex<State>,
    bell: Mutex<u32>,
    bell_cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind;
    // keep going rather than poisoning every later rmw call.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static DOMAINS: Mutex<Vec<(u32, Weak<Domain>)>> = Mutex::new(Vec::new());

/// Whether a publisher's offered QoS satisfies a subscriber's request
/// (DDS request/offered rules for reliability and durability).
pub fn delivers(offered: &Qos, requested: &Qos) -> bool {
    !(offered.reliability == Reliability::BestEffort
        && requested.reliability == Reliability::Reliable)
        && !(offered.durability == Durability::Volatile
            && requested.durability == Durability::TransientLocal)
}

fn matches(p: &TopicSpec, s: &TopicSpec) -> bool {
    p.name == s.name && p.type_name == s.type_name && delivers(&p.qos, &s.qos)
}

fn depth_of(q: &Qos) -> Option<usize> {
    match q.history {
        History::KeepLast(n) => Some((n as usize).max(1)),
        History::KeepAll => None,
    }
}

fn push_bounded(q: &mut SubQueue, s: Sample) {
    if let Some(d) = q.depth {
        while q.q.len() >= d {
            q.q.pop_front();
            q.lost += 1;
        }
    }
    q.q.push_back(s);
}

impl Domain {
    /// Join (or reuse this process's handle on) a domain.
    pub fn join(domain_id: u32) -> Result<Arc<Domain>, TransportError> {
        if domain_id > 232 {
            return Err(TransportError::BadDomain(domain_id));
        }
        let mut all = lock(&DOMAINS);
        all.retain(|(_, w)| w.strong_count() > 0);
        if let Some(d) = all
            .iter()
            .find(|(id, _)| *id == domain_id)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(d);
        }
        let d = Arc::new(Domain {
            id: domain_id,
            state: Mutex::new(State::default()),
            bell: Mutex::new(0),
            bell_cv: Condvar::new(),
        });
        all.push((domain_id, Arc::downgrade(&d)));
        Ok(d)
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Current doorbell count: read before checking sources.
    pub fn doorbell_seq(&self) -> u32 {
        *lock(&self.bell)
    }

    /// Ring this process's doorbell (wakes every `wait` of this domain).
    pub fn ring(&self) {
        let mut b = lock(&self.bell);
        *b = b.wrapping_add(1);
        self.bell_cv.notify_all();
    }

    /// Sleep until the doorbell count differs from `seen` or `timeout`
    /// (None = forever) passes.
    pub fn wait(&self, seen: u32, timeout: Option<Duration>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut b = lock(&self.bell);
        while *b == seen {
            match deadline {
                None => b = self.bell_cv.wait(b).unwrap_or_else(|e| e.into_inner()),
                Some(dl) => {
                    let now = Instant::now();
                    if now >= dl {
                        return;
                    }
                    b = self
                        .bell_cv
                        .wait_timeout(b, dl - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    pub fn graph_version(&self) -> u64 {
        lock(&self.state).version
    }

    pub fn graph(&self) -> Graph {
        let st = lock(&self.state);
        let node = |id: u64| st.nodes.iter().find(|(i, _)| *i == id).map(|(_, n)| n);
        let mut g = Graph {
            nodes: st.nodes.iter().map(|(_, n)| n.clone()).collect(),
            endpoints: Vec::new(),
        };
        for (nid, spec, gid) in st
            .pubs
            .iter()
            .map(|p| (p.node, &p.spec, p.gid))
            .chain(st.subs.iter().map(|s| (s.node, &s.spec, s.gid)))
        {
            let (nn, ns) = node(nid)
                .map(|n| (n.name.clone(), n.namespace.clone()))
                .unwrap_or_default();
            g.endpoints.push(EndpointInfo {
                node_name: nn,
                node_namespace: ns,
                topic: spec.name.clone(),
                type_name: spec.type_name.clone(),
                type_hash: spec.type_hash,
                qos: spec.qos,
                kind: spec.kind,
                gid,
            });
        }
        g
    }

    fn bump(&self, st: &mut State) {
        st.version += 1;
    }

    fn new_gid(&self, st: &mut State) -> (u64, [u8; 16]) {
        st.next_id += 1;
        let id = st.next_id;
        let mut gid = [0u8; 16];
        gid[0..4].copy_from_slice(&std::process::id().to_le_bytes());
        gid[4..8].copy_from_slice(&self.id.to_le_bytes());
        gid[8..16].copy_from_slice(&id.to_le_bytes());
        (id, gid)
    }

    pub fn add_node(
        self: &Arc<Self>,
        name: &str,
        namespace: &str,
        enclave: &str,
    ) -> Result<NodeHandle, TransportError> {
        let mut st = lock(&self.state);
        let (id, _) = self.new_gid(&mut st);
        st.nodes.push((
            id,
            NodeInfo {
                name: name.into(),
                namespace: namespace.into(),
                enclave: enclave.into(),
            },
        ));
        self.bump(&mut st);
        drop(st);
        self.ring();
        Ok(NodeHandle {
            domain: self.clone(),
            id,
        })
    }

    pub fn create_publisher(
        self: &Arc<Self>,
        node: &NodeHandle,
        spec: TopicSpec,
    ) -> Result<Publisher, TransportError> {
        let mut st = lock(&self.state);
        let (id, gid) = self.new_gid(&mut st);
        st.pubs.push(PubEntry {
            id,
            node: node.id,
            spec,
            gid,
            seq: 0,
            history: VecDeque::new(),
        });
        self.bump(&mut st);
        drop(st);
        self.ring();
        Ok(Publisher {
            domain: self.clone(),
            id,
            gid,
        })
    }

    pub fn create_subscriber(
        self: &Arc<Self>,
        node: &NodeHandle,
        spec: TopicSpec,
    ) -> Result<Subscriber, TransportError> {
        let mut st = lock(&self.state);
        let (id, gid) = self.new_gid(&mut st);
        let queue = Arc::new(Mutex::new(SubQueue {
            q: VecDeque::new(),
            lost: 0,
            depth: depth_of(&spec.qos),
        }));
        // Late joiner: replay transient-local history of matching publishers.
        if spec.qos.durability == Durability::TransientLocal {
            let mut q = lock(&queue);
            for p in st.pubs.iter().filter(|p| matches(&p.spec, &spec)) {
                for s in &p.history {
                    push_bounded(
                        &mut q,
                        Sample {
                            data: s.data.clone(),
                            info: SampleInfo {
                                received_timestamp_ns: now_ns(),
                                ..s.info
                            },
                        },
                    );
                }
            }
        }
        st.subs.push(SubEntry {
            id,
            node: node.id,
            spec,
            gid,
            queue: queue.clone(),
        });
        self.bump(&mut st);
        drop(st);
        self.ring();
        Ok(Subscriber {
            domain: self.clone(),
            id,
            gid,
            queue,
        })
    }
}

/// A node's registration; dropping it removes the node.
pub struct NodeHandle {
    domain: Arc<Domain>,
    id: u64,
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        let mut st = lock(&self.domain.state);
        st.nodes.retain(|(i, _)| *i != self.id);
        self.domain.bump(&mut st);
        drop(st);
        self.domain.ring();
    }
}

/// A publisher; dropping it removes the endpoint.
pub struct Publisher {
    domain: Arc<Domain>,
    id: u64,
    gid: [u8; 16],
}

impl Publisher {
    pub fn gid(&self) -> [u8; 16] {
        self.gid
    }

    pub fn loan(&self, len: usize) -> Result<SampleMut, TransportError> {
        Ok(SampleMut { buf: vec![0; len] })
    }

    pub fn publish(&self, s: SampleMut, source_timestamp_ns: i64) -> Result<u64, TransportError> {
        self.publish_bytes(&s.buf, source_timestamp_ns)
    }

    pub fn publish_bytes(
        &self,
        bytes: &[u8],
        source_timestamp_ns: i64,
    ) -> Result<u64, TransportError> {
        let data: Arc<[u8]> = Arc::from(bytes);
        let mut guard = lock(&self.domain.state);
        let st = &mut *guard;
        let p = st
            .pubs
            .iter_mut()
            .find(|p| p.id == self.id)
            .ok_or(TransportError::Closed)?;
        p.seq += 1;
        let info = SampleInfo {
            source_timestamp_ns,
            received_timestamp_ns: 0,
            publisher_gid: self.gid,
            sequence: p.seq,
        };
        let seq = p.seq;
        if p.spec.qos.durability == Durability::TransientLocal {
            let d = depth_of(&p.spec.qos).unwrap_or(usize::MAX);
            while p.history.len() >= d {
                p.history.pop_front();
            }
            p.history.push_back(Sample {
                data: data.clone(),
                info,
            });
        }
        let spec = &p.spec;
        let now = now_ns();
        for s in st.subs.iter().filter(|s| matches(spec, &s.spec)) {
            push_bounded(
                &mut lock(&s.queue),
                Sample {
                    data: data.clone(),
                    info: SampleInfo {
                        received_timestamp_ns: now,
                        ..info
                    },
                },
            );
        }
        drop(guard);
        self.domain.ring();
        Ok(seq)
    }

    pub fn matched_subscribers(&self) -> usize {
        let st = lock(&self.domain.state);
        let Some(p) = st.pubs.iter().find(|p| p.id == self.id) else {
            return 0;
        };
        st.subs.iter().filter(|s| matches(&p.spec, &s.spec)).count()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut st = lock(&self.domain.state);
        st.pubs.retain(|p| p.id != self.id);
        self.domain.bump(&mut st);
        drop(st);
        self.domain.ring();
    }
}

/// A subscriber; dropping it removes the endpoint.
pub struct Subscriber {
    domain: Arc<Domain>,
    id: u64,
    gid: [u8; 16],
    queue: Arc<Mutex<SubQueue>>,
}

impl Subscriber {
    pub fn gid(&self) -> [u8; 16] {
        self.gid
    }

    pub fn take(&self) -> Result<Option<Sample>, TransportError> {
        Ok(lock(&self.queue).q.pop_front())
    }

    pub fn has_data(&self) -> bool {
        !lock(&self.queue).q.is_empty()
    }

    pub fn lost(&self) -> u64 {
        lock(&self.queue).lost
    }

    pub fn matched_publishers(&self) -> usize {
        let st = lock(&self.domain.state);
        let Some(s) = st.subs.iter().find(|s| s.id == self.id) else {
            return 0;
        };
        st.pubs.iter().filter(|p| matches(&p.spec, &s.spec)).count()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mut st = lock(&self.domain.state);
        st.subs.retain(|s| s.id != self.id);
        self.domain.bump(&mut st);
        drop(st);
        self.domain.ring();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: EndpointKind, qos: Qos) -> TopicSpec {
        TopicSpec {
            name: "/t".into(),
            type_name: "a/msg/B".into(),
            type_hash: [0; 32],
            qos,
            kind,
            payload_hint: 0,
        }
    }

    #[test]
    fn pub_sub_keep_last_and_transient_local() {
        let d = Domain::join(200).unwrap();
        let n = d.add_node("n", "/", "/").unwrap();
        let q = Qos {
            history: History::KeepLast(2),
            durability: Durability::TransientLocal,
            ..Qos::default()
        };
        let p = d
            .create_publisher(&n, spec(EndpointKind::Publisher, q))
            .unwrap();
        for i in 0..3u8 {
            p.publish_bytes(&[i], 5).unwrap();
        }
        let s = d
            .create_subscriber(&n, spec(EndpointKind::Subscriber, q))
            .unwrap();
        assert_eq!(p.matched_subscribers(), 1);
        assert_eq!(&*s.take().unwrap().unwrap(), &[1]);
        let x = s.take().unwrap().unwrap();
        assert_eq!(&*x, &[2]);
        assert_eq!(x.info().sequence, 3);
        assert_eq!(x.info().publisher_gid, p.gid());
        assert!(s.take().unwrap().is_none());
        assert_eq!(d.graph().endpoints.len(), 2);
    }
}
