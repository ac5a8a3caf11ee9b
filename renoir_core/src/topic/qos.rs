//! QoS, topic specs, endpoint kinds and the compatibility rules.

/// History policy of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    KeepLast(u32),
    KeepAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    BestEffort,
    Reliable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Volatile,
    TransientLocal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveliness {
    Automatic,
    ManualByTopic,
}

/// Quality of service of one endpoint (the ROS 2 subset that matters here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// ROS 2's default: reliable, volatile, keep last 10.
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

impl Qos {
    pub fn best_effort(depth: u32) -> Qos {
        Qos {
            history: History::KeepLast(depth),
            reliability: Reliability::BestEffort,
            ..Qos::default()
        }
    }
    pub fn reliable(depth: u32) -> Qos {
        Qos {
            history: History::KeepLast(depth),
            ..Qos::default()
        }
    }
    pub fn keep_all_reliable() -> Qos {
        Qos {
            history: History::KeepAll,
            ..Qos::default()
        }
    }
    pub fn transient_local(depth: u32) -> Qos {
        Qos {
            history: History::KeepLast(depth),
            durability: Durability::TransientLocal,
            ..Qos::default()
        }
    }

    /// The ring depth this QoS asks for (KeepAll: [`KEEP_ALL_DEPTH`]).
    pub fn depth(&self) -> u32 {
        match self.history {
            History::KeepLast(n) => n.clamp(1, MAX_DEPTH),
            History::KeepAll => KEEP_ALL_DEPTH,
        }
    }

    pub(crate) fn encode(&self) -> [u32; 5] {
        [
            match self.history {
                History::KeepLast(_) => 0,
                History::KeepAll => 1,
            },
            match self.history {
                History::KeepLast(n) => n,
                History::KeepAll => 0,
            },
            (self.reliability == Reliability::Reliable) as u32,
            (self.durability == Durability::TransientLocal) as u32,
            (self.liveliness == Liveliness::ManualByTopic) as u32,
        ]
    }

    /// Decode from shared-memory words; any value is accepted (garbage maps
    /// to some valid QoS, never a panic).
    pub(crate) fn decode(w: [u32; 5], deadline: u64, lifespan: u64, lease: u64) -> Qos {
        Qos {
            history: if w[0] == 1 {
                History::KeepAll
            } else {
                History::KeepLast(w[1])
            },
            reliability: if w[2] == 1 {
                Reliability::Reliable
            } else {
                Reliability::BestEffort
            },
            durability: if w[3] == 1 {
                Durability::TransientLocal
            } else {
                Durability::Volatile
            },
            liveliness: if w[4] == 1 {
                Liveliness::ManualByTopic
            } else {
                Liveliness::Automatic
            },
            deadline_ns: deadline,
            lifespan_ns: lifespan,
            liveliness_lease_ns: lease,
        }
    }
}

/// KeepAll publishers keep (and reliable KeepAll readers may lag by) this
/// many samples before the writer blocks.
pub const KEEP_ALL_DEPTH: u32 = 64;
/// Upper bound for any ring depth.
pub const MAX_DEPTH: u32 = 4096;

/// Whether a publisher offering `offered` can serve a subscriber that
/// requests `requested` (DDS request-vs-offered rules for reliability and
/// durability; deadline: offered must be no longer than requested, 0 =
/// infinite).
pub fn qos_compatible(offered: &Qos, requested: &Qos) -> bool {
    if requested.reliability == Reliability::Reliable
        && offered.reliability == Reliability::BestEffort
    {
        return false;
    }
    if requested.durability == Durability::TransientLocal
        && offered.durability == Durability::Volatile
    {
        return false;
    }
    let inf = |d: u64| if d == 0 { u64::MAX } else { d };
    if inf(offered.deadline_ns) > inf(requested.deadline_ns) {
        return false;
    }
    if offered.liveliness == Liveliness::Automatic
        && requested.liveliness == Liveliness::ManualByTopic
    {
        return false;
    }
    true
}

/// What an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    Publisher,
    Subscriber,
    /// Service server / client, as announced by the rmw layer (their data
    /// travels on two topics, see docs/contracts.md).
    Service,
    Client,
}

impl EndpointKind {
    pub(crate) fn code(self) -> u32 {
        match self {
            EndpointKind::Publisher => 1,
            EndpointKind::Subscriber => 2,
            EndpointKind::Service => 3,
            EndpointKind::Client => 4,
        }
    }
    pub(crate) fn from_code(c: u32) -> Option<EndpointKind> {
        Some(match c {
            1 => EndpointKind::Publisher,
            2 => EndpointKind::Subscriber,
            3 => EndpointKind::Service,
            4 => EndpointKind::Client,
            _ => return None,
        })
    }
}

/// Everything that describes an endpoint when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub type_name: String,
    pub type_hash: [u8; 32],
    pub qos: Qos,
    pub kind: EndpointKind,
    /// Expected payload size in bytes (0: unknown). Sizes the publisher's
    /// inline slots; larger samples get dedicated blob segments.
    pub payload_hint: usize,
    /// Subscriber only: also attach to publishers of the same type name
    /// whose (known, non-zero) type hash differs from `type_hash` when this
    /// says yes for their hash (schema evolution: the caller migrates their
    /// samples). `None`: only equal hashes match. The subscriber still
    /// registers its own `type_hash`.
    pub accept_foreign_hash: Option<HashFilter>,
}

/// A predicate on a publisher's type hash and gid (see
/// [`TopicSpec::accept_foreign_hash`]; the gid tells the caller whose
/// samples need migrating: `SampleInfo::publisher_gid` carries it). Called
/// while the subscriber looks for publishers to attach to (on graph
/// changes, also for publishers already attached); it must not block long
/// and must not call back into that subscriber.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct HashFilter(pub std::sync::Arc<dyn Fn(&[u8; 32], &[u8; 16]) -> bool + Send + Sync>);

impl HashFilter {
    pub fn new(f: impl Fn(&[u8; 32], &[u8; 16]) -> bool + Send + Sync + 'static) -> HashFilter {
        HashFilter(std::sync::Arc::new(f))
    }
    /// Whether publisher `gid` with type hash `hash` may be attached to.
    pub fn accepts(&self, hash: &[u8; 32], gid: &[u8; 16]) -> bool {
        (self.0)(hash, gid)
    }
}

impl std::fmt::Debug for HashFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashFilter(..)")
    }
}

/// Two filters are equal when they are the same closure.
impl PartialEq for HashFilter {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for HashFilter {}

impl TopicSpec {
    pub fn new(name: impl Into<String>, type_name: impl Into<String>, qos: Qos) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            type_name: type_name.into(),
            type_hash: [0; 32],
            qos,
            kind: EndpointKind::Publisher,
            payload_hint: 0,
            accept_foreign_hash: None,
        }
    }
    pub fn hint(mut self, bytes: usize) -> TopicSpec {
        self.payload_hint = bytes;
        self
    }
}
