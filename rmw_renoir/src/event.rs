//! Events (matched, incompatible QoS, incompatible type, message lost,
//! liveliness changed), computed from the graph and the transport's
//! counters and reported as changes since the last take.

use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::publisher;
use crate::qos::incompatible_policy;
use crate::subscription::{self, lock, Callback};
use crate::sys::*;
use crate::transport::{
    delivers, now_ns, Domain, EndpointInfo, EndpointKind, Liveliness, Subscriber, TopicSpec,
};
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    matched_total: u64,
    matched_current: u64,
    qos_total: u64,
    type_total: u64,
    lost_total: u64,
    deadline_total: u64,
    /// Subscription: matched publishers alive / not alive (liveliness).
    alive: u64,
    not_alive: u64,
    /// Publisher: times its own liveliness lease expired unasserted.
    liveliness_lost_total: u64,
}

#[derive(Default)]
struct EvState {
    version_seen: Option<u64>,
    now: Counts,
    last_policy: rmw_qos_policy_kind_t,
    matched: HashSet<[u8; 16]>,
    qos_bad: HashSet<[u8; 16]>,
    type_bad: HashSet<[u8; 16]>,
    /// Subscription: matched publishers (heartbeats re-read on every check).
    matched_pubs: Vec<EndpointInfo>,
    /// Per event type: the counts reported by the last take.
    reported: [Counts; RMW_EVENT_INVALID as usize],
}

/// Event bookkeeping of one publisher or subscription.
pub struct EndpointEvents {
    domain: Arc<Domain>,
    spec: TopicSpec,
    gid: [u8; 16],
    state: Mutex<EvState>,
    pub callbacks: Mutex<[Option<Callback>; RMW_EVENT_INVALID as usize]>,
    /// The subscriber whose lost-sample counter feeds MESSAGE_LOST.
    pub lost_source: Mutex<Option<Arc<Subscriber>>>,
    /// Deadline QoS (None = infinite) and the last publish / sample seen.
    deadline: Option<Duration>,
    last_activity: Mutex<Instant>,
    /// Per event type: the counts last announced to a callback.
    notified: Mutex<[Counts; RMW_EVENT_INVALID as usize]>,
    /// Publisher with MANUAL_BY_TOPIC and a finite lease: the lease, the
    /// last assertion (publish or assert_liveliness) and whether the
    /// current lapse was already counted.
    own_lease: Option<Duration>,
    last_assert: Mutex<(Instant, bool)>,
}

/// Automatic liveliness is carried by the process heartbeat, which the core
/// refreshes only every 500 ms: shorter leases are judged against this.
const AUTOMATIC_LEASE_FLOOR: Duration = Duration::from_millis(1500);

fn lease_of(q: &crate::transport::Qos) -> Option<Duration> {
    let n = q.liveliness_lease_ns;
    (n != 0 && n < i64::MAX as u64).then(|| Duration::from_nanos(n))
}

impl crate::listener::Listened for EndpointEvents {
    fn notify(&self) {
        let cbs = *lock(&self.callbacks);
        self.refresh();
        let now = lock(&self.state).now;
        let mut notified = lock(&self.notified);
        for (kind, cb) in cbs.iter().enumerate() {
            let Some(cb) = cb else { continue };
            let k = kind as rmw_event_type_t;
            if Self::relevant(k, &now) != Self::relevant(k, &notified[kind]) {
                notified[kind] = now;
                cb.call(1);
            }
        }
    }
}

impl Drop for EndpointEvents {
    fn drop(&mut self) {
        crate::listener::unregister(self as *const Self as *const ());
    }
}

impl EndpointEvents {
    pub fn new(domain: Arc<Domain>, spec: TopicSpec, gid: [u8; 16]) -> Arc<Self> {
        let deadline =
            (spec.qos.deadline_ns != 0).then(|| Duration::from_nanos(spec.qos.deadline_ns));
        let own_lease = if spec.kind == EndpointKind::Publisher
            && spec.qos.liveliness == Liveliness::ManualByTopic
        {
            lease_of(&spec.qos)
        } else {
            None
        };
        Arc::new(EndpointEvents {
            domain,
            spec,
            gid,
            state: Mutex::new(EvState::default()),
            callbacks: Mutex::new([None; RMW_EVENT_INVALID as usize]),
            lost_source: Mutex::new(None),
            notified: Mutex::new([Counts::default(); RMW_EVENT_INVALID as usize]),
            deadline,
            last_activity: Mutex::new(Instant::now()),
            own_lease,
            last_assert: Mutex::new((Instant::now(), false)),
        })
    }

    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Recompute graph-derived counts when the graph changed.
    /// A publish (publisher) or a received sample (subscription) happened.
    pub fn touch(&self) {
        self.asserted();
        if self.deadline.is_some() {
            *lock(&self.last_activity) = Instant::now();
        }
    }

    /// The publisher asserted its liveliness (explicitly or by publishing).
    pub fn asserted(&self) {
        if self.own_lease.is_some() {
            *lock(&self.last_assert) = (Instant::now(), false);
        }
    }

    /// Count a lapse of the publisher's own lease (once per lapse).
    fn check_own_lease(&self) -> u64 {
        let Some(l) = self.own_lease else { return 0 };
        let mut la = lock(&self.last_assert);
        if !la.1 && la.0.elapsed() > l {
            la.1 = true;
            return 1;
        }
        0
    }

    /// When a liveliness state may change next: the publisher's own lease
    /// expiry, or the earliest lease expiry of a matched publisher alive now.
    pub fn next_liveliness_deadline(&self) -> Option<Instant> {
        if let Some(l) = self.own_lease {
            let la = lock(&self.last_assert);
            return (!la.1).then(|| la.0 + l);
        }
        let st = lock(&self.state);
        let now = now_ns() as u64;
        let inst = Instant::now();
        st.matched_pubs
            .iter()
            .filter_map(|e| {
                let lease = self.effective_lease(e)?;
                let last = self.last_heartbeat(e);
                let end = last.saturating_add(lease.as_nanos() as u64);
                (end >= now).then(|| inst + Duration::from_nanos(end - now))
            })
            .min()
    }

    fn effective_lease(&self, e: &EndpointInfo) -> Option<Duration> {
        let l = lease_of(&e.qos)?;
        Some(match e.qos.liveliness {
            Liveliness::ManualByTopic => l,
            Liveliness::Automatic => l.max(AUTOMATIC_LEASE_FLOOR),
        })
    }

    fn last_heartbeat(&self, e: &EndpointInfo) -> u64 {
        match e.qos.liveliness {
            Liveliness::ManualByTopic => e.last_heartbeat_ns,
            Liveliness::Automatic => e.last_heartbeat_ns.max(e.process_heartbeat_ns),
        }
    }

    /// Re-read matched publishers' heartbeats and recount alive / not alive.
    fn refresh_liveliness(&self, st: &mut EvState) {
        if self.spec.kind == EndpointKind::Publisher {
            return;
        }
        let now = now_ns() as u64;
        let (mut alive, mut not_alive) = (0, 0);
        let mut pubs = std::mem::take(&mut st.matched_pubs);
        for e in pubs.iter_mut() {
            let Some(lease) = self.effective_lease(e) else {
                alive += 1;
                continue;
            };
            if !self.domain.refresh_heartbeats(e) {
                continue; // gone: leaves the graph (and the counts) shortly
            }
            if e.is_alive_within(lease, now) {
                alive += 1;
            } else {
                not_alive += 1;
            }
        }
        st.matched_pubs = pubs;
        st.now.alive = alive;
        st.now.not_alive = not_alive;
    }

    /// When the current deadline period ends (None without a deadline).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline.map(|d| *lock(&self.last_activity) + d)
    }

    /// Count whole deadline periods that passed without activity.
    fn check_deadline(&self) -> u64 {
        let Some(d) = self.deadline else {
            return 0;
        };
        let mut last = lock(&self.last_activity);
        let now = Instant::now();
        let mut missed = 0;
        while now.duration_since(*last) >= d && missed < 1_000_000 {
            *last += d;
            missed += 1;
        }
        missed
    }

    fn refresh(&self) {
        let lost = lock(&self.lost_source).as_ref().map_or(0, |s| s.lost());
        let missed = self.check_deadline();
        let lapsed = self.check_own_lease();
        let mut st = lock(&self.state);
        st.now.lost_total = lost;
        st.now.deadline_total += missed;
        st.now.liveliness_lost_total += lapsed;
        let v = self.domain.graph_version();
        if st.version_seen == Some(v) {
            self.refresh_liveliness(&mut st);
            return;
        }
        st.version_seen = Some(v);
        let g = self.domain.graph();
        let mut current = 0u64;
        let mut pubs = Vec::new();
        for e in g.endpoints.iter().filter(|e| {
            e.topic_name == self.spec.name && e.kind != self.spec.kind && e.gid != self.gid
        }) {
            let (offered, requested) = match self.spec.kind {
                EndpointKind::Publisher => (&self.spec.qos, &e.qos),
                _ => (&e.qos, &self.spec.qos),
            };
            // Another version of the type: compatible when the writer's
            // samples migrate to the reader's version (schema_link).
            let breaking = if e.type_name == self.spec.type_name
                && different_hashes(&e.type_hash, &self.spec.type_hash)
            {
                let (w, r) = match self.spec.kind {
                    EndpointKind::Publisher => (&self.spec.type_hash, &e.type_hash),
                    _ => (&e.type_hash, &self.spec.type_hash),
                };
                let v = crate::schema_link::judge(self.domain.id(), &e.type_name, w, r);
                (!v.compatible()).then_some(v)
            } else {
                None
            };
            if e.type_name != self.spec.type_name || breaking.is_some() {
                if st.type_bad.insert(e.gid) {
                    st.now.type_total += 1;
                    if let Some(v) = &breaking {
                        crate::log::warn(&format!(
                            "topic '{}': {} {}/{} has type hash {} but this {} has {}: \
                             the two versions of '{}' are not compatible, no samples flow \
                             between them: {}",
                            self.spec.name,
                            kind_word(e.kind),
                            e.node_namespace.trim_end_matches('/'),
                            e.node_name,
                            hex8(&e.type_hash),
                            kind_word(self.spec.kind),
                            hex8(&self.spec.type_hash),
                            self.spec.type_name,
                            v.reasons.join("; "),
                        ));
                    }
                }
            } else if let Some(p) = incompatible_policy(offered, requested) {
                if st.qos_bad.insert(e.gid) {
                    st.now.qos_total += 1;
                    st.last_policy = p;
                }
            } else if delivers(offered, requested) {
                current += 1;
                if e.kind == EndpointKind::Publisher {
                    pubs.push(e.clone());
                }
                if st.matched.insert(e.gid) {
                    st.now.matched_total += 1;
                }
            }
        }
        st.now.matched_current = current;
        st.matched_pubs = pubs;
        self.refresh_liveliness(&mut st);
    }

    fn relevant(kind: rmw_event_type_t, c: &Counts) -> (u64, u64) {
        match kind {
            RMW_EVENT_SUBSCRIPTION_MATCHED | RMW_EVENT_PUBLICATION_MATCHED => {
                (c.matched_total, c.matched_current)
            }
            RMW_EVENT_LIVELINESS_CHANGED => (c.alive, c.not_alive),
            RMW_EVENT_LIVELINESS_LOST => (c.liveliness_lost_total, 0),
            RMW_EVENT_REQUESTED_QOS_INCOMPATIBLE | RMW_EVENT_OFFERED_QOS_INCOMPATIBLE => {
                (c.qos_total, 0)
            }
            RMW_EVENT_SUBSCRIPTION_INCOMPATIBLE_TYPE | RMW_EVENT_PUBLISHER_INCOMPATIBLE_TYPE => {
                (c.type_total, 0)
            }
            RMW_EVENT_MESSAGE_LOST => (c.lost_total, 0),
            RMW_EVENT_REQUESTED_DEADLINE_MISSED | RMW_EVENT_OFFERED_DEADLINE_MISSED => {
                (c.deadline_total, 0)
            }
            _ => (0, 0),
        }
    }

    pub fn ready(&self, kind: rmw_event_type_t) -> bool {
        self.refresh();
        let st = lock(&self.state);
        let Some(rep) = st.reported.get(kind as usize) else {
            return false;
        };
        Self::relevant(kind, &st.now) != Self::relevant(kind, rep)
    }

    /// Fill the status struct of `kind` and mark it reported.
    ///
    /// # Safety
    /// `info` must point to the status struct matching `kind`.
    pub unsafe fn take(&self, kind: rmw_event_type_t, info: *mut c_void) -> RResult<()> {
        self.refresh();
        let mut st = lock(&self.state);
        let now = st.now;
        let rep = *st
            .reported
            .get(kind as usize)
            .ok_or_else(|| RmwError::invalid("bad event type"))?;
        let d = |a: u64, b: u64| a.saturating_sub(b);
        // SAFETY (each arm): the caller passes the struct for this event type.
        unsafe {
            match kind {
                RMW_EVENT_SUBSCRIPTION_MATCHED | RMW_EVENT_PUBLICATION_MATCHED => {
                    let o = &mut *info.cast::<rmw_matched_status_t>();
                    o.total_count = now.matched_total as usize;
                    o.total_count_change = d(now.matched_total, rep.matched_total) as usize;
                    o.current_count = now.matched_current as usize;
                    o.current_count_change =
                        now.matched_current as i32 - rep.matched_current as i32;
                }
                RMW_EVENT_LIVELINESS_CHANGED => {
                    let o = &mut *info.cast::<rmw_liveliness_changed_status_t>();
                    o.alive_count = now.alive as i32;
                    o.not_alive_count = now.not_alive as i32;
                    o.alive_count_change = now.alive as i32 - rep.alive as i32;
                    o.not_alive_count_change = now.not_alive as i32 - rep.not_alive as i32;
                }
                RMW_EVENT_LIVELINESS_LOST => {
                    let o = &mut *info.cast::<rmw_liveliness_lost_status_t>();
                    o.total_count = now.liveliness_lost_total as i32;
                    o.total_count_change =
                        d(now.liveliness_lost_total, rep.liveliness_lost_total) as i32;
                }
                RMW_EVENT_REQUESTED_QOS_INCOMPATIBLE | RMW_EVENT_OFFERED_QOS_INCOMPATIBLE => {
                    let o = &mut *info.cast::<rmw_qos_incompatible_event_status_t>();
                    o.total_count = now.qos_total as i32;
                    o.total_count_change = d(now.qos_total, rep.qos_total) as i32;
                    o.last_policy_kind = st.last_policy;
                }
                RMW_EVENT_SUBSCRIPTION_INCOMPATIBLE_TYPE
                | RMW_EVENT_PUBLISHER_INCOMPATIBLE_TYPE => {
                    let o = &mut *info.cast::<rmw_incompatible_type_status_t>();
                    o.total_count = now.type_total as i32;
                    o.total_count_change = d(now.type_total, rep.type_total) as i32;
                }
                RMW_EVENT_REQUESTED_DEADLINE_MISSED => {
                    let o = &mut *info.cast::<rmw_requested_deadline_missed_status_t>();
                    o.total_count = now.deadline_total as i32;
                    o.total_count_change = d(now.deadline_total, rep.deadline_total) as i32;
                }
                RMW_EVENT_OFFERED_DEADLINE_MISSED => {
                    let o = &mut *info.cast::<rmw_offered_deadline_missed_status_t>();
                    o.total_count = now.deadline_total as i32;
                    o.total_count_change = d(now.deadline_total, rep.deadline_total) as i32;
                }
                RMW_EVENT_MESSAGE_LOST => {
                    let o = &mut *info.cast::<rmw_message_lost_status_t>();
                    o.total_count = now.lost_total as usize;
                    o.total_count_change = d(now.lost_total, rep.lost_total) as usize;
                }
                _ => {
                    return Err(RmwError::unsupported(
                        "event type not supported by rmw_renoir",
                    ))
                }
            }
        }
        st.reported[kind as usize] = now;
        Ok(())
    }
}

pub fn supported(kind: rmw_event_type_t) -> bool {
    matches!(
        kind,
        RMW_EVENT_SUBSCRIPTION_MATCHED
            | RMW_EVENT_PUBLICATION_MATCHED
            | RMW_EVENT_REQUESTED_QOS_INCOMPATIBLE
            | RMW_EVENT_OFFERED_QOS_INCOMPATIBLE
            | RMW_EVENT_SUBSCRIPTION_INCOMPATIBLE_TYPE
            | RMW_EVENT_PUBLISHER_INCOMPATIBLE_TYPE
            | RMW_EVENT_MESSAGE_LOST
            | RMW_EVENT_LIVELINESS_CHANGED
            | RMW_EVENT_LIVELINESS_LOST
            | RMW_EVENT_REQUESTED_DEADLINE_MISSED
            | RMW_EVENT_OFFERED_DEADLINE_MISSED
    )
}

/// The next deadline of the endpoint behind an rmw_event_t, if it is a
/// deadline event (rmw_wait sleeps no longer than that).
///
/// # Safety
/// As [`event_ready`].
pub unsafe fn event_deadline(p: *const rmw_event_t) -> Option<Instant> {
    // SAFETY: caller contract.
    match unsafe { get(p) } {
        Ok((e, RMW_EVENT_REQUESTED_DEADLINE_MISSED | RMW_EVENT_OFFERED_DEADLINE_MISSED)) => {
            e.next_deadline()
        }
        Ok((e, RMW_EVENT_LIVELINESS_CHANGED | RMW_EVENT_LIVELINESS_LOST)) => {
            e.next_liveliness_deadline()
        }
        _ => None,
    }
}

fn for_publisher(kind: rmw_event_type_t) -> bool {
    matches!(
        kind,
        RMW_EVENT_PUBLICATION_MATCHED
            | RMW_EVENT_OFFERED_QOS_INCOMPATIBLE
            | RMW_EVENT_PUBLISHER_INCOMPATIBLE_TYPE
            | RMW_EVENT_LIVELINESS_LOST
            | RMW_EVENT_OFFERED_DEADLINE_MISSED
    )
}

/// Readiness of an rmw_event_t passed to rmw_wait.
///
/// # Safety
/// `p` must be a valid rmw_event_t of ours whose endpoint is alive.
pub unsafe fn event_ready(p: *const rmw_event_t) -> bool {
    // SAFETY: caller contract.
    match unsafe { get(p) } {
        Ok((e, kind)) => e.ready(kind),
        Err(_) => false,
    }
}

/// The endpoint events behind an rmw_event_t (its `data` borrows the
/// endpoint's `EndpointEvents`; librmw's rmw_event_fini only zeroes the
/// struct, so events own nothing).
///
/// # Safety
/// `p` must be null or a valid rmw_event_t whose endpoint is alive.
unsafe fn get<'a>(p: *const rmw_event_t) -> RResult<(&'a EndpointEvents, rmw_event_type_t)> {
    // SAFETY: forwarded.
    let x = unsafe { ffi::r(p, "event") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(x.implementation_identifier, "event") }?;
    ffi::nn(x.data, "event data")?;
    // SAFETY: set by *_event_init to the endpoint's EndpointEvents, which
    // lives as long as the endpoint (rcl finalizes events first).
    Ok((unsafe { &*x.data.cast::<EndpointEvents>() }, x.event_type))
}

fn init(ev: &mut rmw_event_t, kind: rmw_event_type_t, target: &Arc<EndpointEvents>) -> RResult<()> {
    if !supported(kind) {
        return Err(RmwError::unsupported(format!(
            "event type {kind} is not supported by rmw_renoir"
        )));
    }
    ev.implementation_identifier = IDENTIFIER.as_ptr();
    ev.event_type = kind;
    ev.data = Arc::as_ptr(target) as *mut c_void;
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publisher_event_init(
    rmw_event: *mut rmw_event_t,
    publisher: *const rmw_publisher_t,
    event_type: rmw_event_type_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let ev = unsafe { ffi::m(rmw_event, "rmw_event") }?;
        // SAFETY: as above.
        let p = unsafe { publisher::get(publisher) }?;
        if !ev.implementation_identifier.is_null() {
            return Err(RmwError::invalid("event is not zero initialized"));
        }
        if !for_publisher(event_type) {
            return Err(RmwError::invalid("not a publisher event type"));
        }
        init(ev, event_type, &p.events)
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_subscription_event_init(
    rmw_event: *mut rmw_event_t,
    subscription: *const rmw_subscription_t,
    event_type: rmw_event_type_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let ev = unsafe { ffi::m(rmw_event, "rmw_event") }?;
        // SAFETY: as above.
        let s = unsafe { subscription::get(subscription) }?;
        if !ev.implementation_identifier.is_null() {
            return Err(RmwError::invalid("event is not zero initialized"));
        }
        if for_publisher(event_type) || event_type >= RMW_EVENT_INVALID {
            return Err(RmwError::invalid("not a subscription event type"));
        }
        init(ev, event_type, &s.events)
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_event(
    event_handle: *const rmw_event_t,
    event_info: *mut c_void,
    taken: *mut bool,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let (ee, kind) = unsafe { get(event_handle) }?;
        // SAFETY: as above.
        let t = unsafe { ffi::m(taken, "taken") }?;
        ffi::nn(event_info, "event_info")?;
        *t = false;
        // SAFETY: info matches the event type (rcl contract).
        unsafe { ee.take(kind, event_info) }?;
        *t = true;
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn rmw_event_type_is_supported(rmw_event_type: rmw_event_type_t) -> bool {
    supported(rmw_event_type)
}

#[no_mangle]
pub unsafe extern "C" fn rmw_event_set_callback(
    rmw_event: *mut rmw_event_t,
    callback: rmw_event_callback_t,
    user_data: *const c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid event per rmw contract.
        let (ee, kind) = unsafe { get(rmw_event) }?;
        let unread = usize::from(ee.ready(kind));
        let c = callback.map(|f| Callback { f, user_data });
        *lock(&ee.callbacks)
            .get_mut(kind as usize)
            .ok_or_else(|| RmwError::invalid("bad event type"))? = c;
        if let (Some(c), true) = (c, unread > 0) {
            c.call(unread);
        }
        if c.is_some() {
            lock(&ee.notified)[kind as usize] = lock(&ee.state).now;
            crate::listener::register(ee.domain(), ee);
        }
        Ok(())
    })
}

/// Two known type hashes (RIHS01) that differ: another version of the type,
/// matched only when it migrates (schema_link). A zero hash means
/// "unknown" and matches anything.
fn different_hashes(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let zero = [0u8; 32];
    *a != zero && *b != zero && a != b
}

fn kind_word(k: EndpointKind) -> &'static str {
    match k {
        EndpointKind::Publisher => "publisher",
        _ => "subscription",
    }
}

/// The first 8 bytes of a hash in hex (enough to tell versions apart).
fn hex8(h: &[u8; 32]) -> String {
    h[..8].iter().map(|b| format!("{b:02x}")).collect()
}
