//! QoS: resolving rmw profiles (system default, best available) into the
//! transport's [`Qos`], the actual-QoS view back, and the compatibility check.

use crate::ffi::{self, RResult, RmwError};
use crate::sys::*;
use crate::transport::{
    Durability, EndpointInfo, EndpointKind, History, Liveliness, Qos, Reliability,
};
use std::ffi::c_char;

/// `RMW_DURATION_INFINITE` = {9223372036 s, 854775807 ns}.
const INF_SEC: u64 = 9_223_372_036;
const INF_NSEC: u64 = 854_775_807;
/// `RMW_DURATION_UNSPECIFIED` (used by the *_BEST_AVAILABLE constants).
const UNSPEC_NSEC: u64 = 854_775_806;

fn is_infinite(t: &rmw_time_t) -> bool {
    (t.sec == 0 && t.nsec == 0) || (t.sec == INF_SEC && t.nsec == INF_NSEC)
}

fn is_best_available(t: &rmw_time_t) -> bool {
    t.sec == INF_SEC && t.nsec == UNSPEC_NSEC
}

/// rmw time -> ns, 0 meaning infinite.
pub fn time_ns(t: &rmw_time_t) -> u64 {
    if is_infinite(t) || is_best_available(t) {
        0
    } else {
        t.sec.saturating_mul(1_000_000_000).saturating_add(t.nsec)
    }
}

/// ns (0 = infinite) -> rmw time.
pub fn ns_time(ns: u64) -> rmw_time_t {
    if ns == 0 {
        rmw_time_t {
            sec: INF_SEC,
            nsec: INF_NSEC,
        }
    } else {
        rmw_time_t {
            sec: ns / 1_000_000_000,
            nsec: ns % 1_000_000_000,
        }
    }
}

/// Resolve a requested profile for an endpoint of `kind` on `topic`;
/// "best available" subscription policies look at the publishers already in
/// `peers` (as rmw_dds_common does).
pub fn resolve(p: &rmw_qos_profile_t, kind: EndpointKind, peers: &[EndpointInfo]) -> RResult<Qos> {
    let pubs: Vec<&EndpointInfo> = peers
        .iter()
        .filter(|e| e.kind == EndpointKind::Publisher)
        .collect();
    let all_pubs = |f: &dyn Fn(&Qos) -> bool| !pubs.is_empty() && pubs.iter().all(|e| f(&e.qos));
    let history = match p.history {
        RMW_QOS_POLICY_HISTORY_KEEP_ALL => History::KeepAll,
        RMW_QOS_POLICY_HISTORY_KEEP_LAST
        | RMW_QOS_POLICY_HISTORY_SYSTEM_DEFAULT
        | RMW_QOS_POLICY_HISTORY_UNKNOWN => {
            let d = if p.depth == 0 { 10 } else { p.depth };
            History::KeepLast(u32::try_from(d).unwrap_or(u32::MAX))
        }
        h => return Err(RmwError::invalid(format!("unknown history policy {h}"))),
    };
    let reliability = match p.reliability {
        RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT => Reliability::BestEffort,
        RMW_QOS_POLICY_RELIABILITY_RELIABLE
        | RMW_QOS_POLICY_RELIABILITY_SYSTEM_DEFAULT
        | RMW_QOS_POLICY_RELIABILITY_UNKNOWN => Reliability::Reliable,
        RMW_QOS_POLICY_RELIABILITY_BEST_AVAILABLE => match kind {
            EndpointKind::Publisher | EndpointKind::Service | EndpointKind::Client => {
                Reliability::Reliable
            }
            EndpointKind::Subscriber => {
                if all_pubs(&|q| q.reliability == Reliability::Reliable) {
                    Reliability::Reliable
                } else {
                    Reliability::BestEffort
                }
            }
        },
        r => return Err(RmwError::invalid(format!("unknown reliability policy {r}"))),
    };
    let durability = match p.durability {
        RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL => Durability::TransientLocal,
        RMW_QOS_POLICY_DURABILITY_VOLATILE
        | RMW_QOS_POLICY_DURABILITY_SYSTEM_DEFAULT
        | RMW_QOS_POLICY_DURABILITY_UNKNOWN => Durability::Volatile,
        RMW_QOS_POLICY_DURABILITY_BEST_AVAILABLE => match kind {
            EndpointKind::Publisher | EndpointKind::Service | EndpointKind::Client => {
                Durability::TransientLocal
            }
            EndpointKind::Subscriber => {
                if all_pubs(&|q| q.durability == Durability::TransientLocal) {
                    Durability::TransientLocal
                } else {
                    Durability::Volatile
                }
            }
        },
        d => return Err(RmwError::invalid(format!("unknown durability policy {d}"))),
    };
    let liveliness = match p.liveliness {
        RMW_QOS_POLICY_LIVELINESS_MANUAL_BY_TOPIC => Liveliness::ManualByTopic,
        _ => Liveliness::Automatic,
    };
    Ok(Qos {
        history,
        reliability,
        durability,
        deadline_ns: time_ns(&p.deadline),
        lifespan_ns: time_ns(&p.lifespan),
        liveliness,
        liveliness_lease_ns: time_ns(&p.liveliness_lease_duration),
    })
}

/// The rmw view of a resolved QoS.
pub fn to_profile(q: &Qos) -> rmw_qos_profile_t {
    let (history, depth) = match q.history {
        History::KeepLast(n) => (RMW_QOS_POLICY_HISTORY_KEEP_LAST, n as usize),
        History::KeepAll => (RMW_QOS_POLICY_HISTORY_KEEP_ALL, 0),
    };
    rmw_qos_profile_t {
        history,
        depth,
        reliability: match q.reliability {
            Reliability::BestEffort => RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT,
            Reliability::Reliable => RMW_QOS_POLICY_RELIABILITY_RELIABLE,
        },
        durability: match q.durability {
            Durability::Volatile => RMW_QOS_POLICY_DURABILITY_VOLATILE,
            Durability::TransientLocal => RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL,
        },
        deadline: ns_time(q.deadline_ns),
        lifespan: ns_time(q.lifespan_ns),
        liveliness: match q.liveliness {
            Liveliness::Automatic => RMW_QOS_POLICY_LIVELINESS_AUTOMATIC,
            Liveliness::ManualByTopic => RMW_QOS_POLICY_LIVELINESS_MANUAL_BY_TOPIC,
        },
        liveliness_lease_duration: ns_time(q.liveliness_lease_ns),
        avoid_ros_namespace_conventions: false,
    }
}

/// Which policy of a (publisher, subscriber) pair is incompatible.
pub fn incompatible_policy(offered: &Qos, requested: &Qos) -> Option<rmw_qos_policy_kind_t> {
    if offered.reliability == Reliability::BestEffort
        && requested.reliability == Reliability::Reliable
    {
        return Some(RMW_QOS_POLICY_RELIABILITY);
    }
    if offered.durability == Durability::Volatile
        && requested.durability == Durability::TransientLocal
    {
        return Some(RMW_QOS_POLICY_DURABILITY);
    }
    let longer = |o: u64, r: u64| r != 0 && (o == 0 || o > r);
    if longer(offered.deadline_ns, requested.deadline_ns) {
        return Some(RMW_QOS_POLICY_DEADLINE);
    }
    if offered.liveliness == Liveliness::Automatic
        && requested.liveliness == Liveliness::ManualByTopic
    {
        return Some(RMW_QOS_POLICY_LIVELINESS);
    }
    if longer(offered.liveliness_lease_ns, requested.liveliness_lease_ns) {
        return Some(RMW_QOS_POLICY_LIVELINESS);
    }
    None
}

/// The rmw_qos_profile_check_compatible logic: (compatibility, reason).
pub fn check_compatible(
    p: &rmw_qos_profile_t,
    s: &rmw_qos_profile_t,
) -> (rmw_qos_compatibility_type_t, String) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let unknown_rel = |r| {
        matches!(
            r,
            RMW_QOS_POLICY_RELIABILITY_SYSTEM_DEFAULT
                | RMW_QOS_POLICY_RELIABILITY_UNKNOWN
                | RMW_QOS_POLICY_RELIABILITY_BEST_AVAILABLE
        )
    };
    let unknown_dur = |d| {
        matches!(
            d,
            RMW_QOS_POLICY_DURABILITY_SYSTEM_DEFAULT
                | RMW_QOS_POLICY_DURABILITY_UNKNOWN
                | RMW_QOS_POLICY_DURABILITY_BEST_AVAILABLE
        )
    };
    if p.reliability == RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT
        && s.reliability == RMW_QOS_POLICY_RELIABILITY_RELIABLE
    {
        errors.push("ERROR: Best effort publisher and reliable subscription;");
    } else if unknown_rel(p.reliability) && s.reliability == RMW_QOS_POLICY_RELIABILITY_RELIABLE
        || p.reliability == RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT && unknown_rel(s.reliability)
    {
        warnings.push(
            "WARNING: Publisher reliability is unknown and subscription reliability may not match;",
        );
    }
    if p.durability == RMW_QOS_POLICY_DURABILITY_VOLATILE
        && s.durability == RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
    {
        errors.push("ERROR: Volatile publisher and transient local subscription;");
    } else if unknown_dur(p.durability) && s.durability == RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
        || p.durability == RMW_QOS_POLICY_DURABILITY_VOLATILE && unknown_dur(s.durability)
    {
        warnings.push(
            "WARNING: Publisher durability is unknown and subscription durability may not match;",
        );
    }
    let (pd, sd) = (time_ns(&p.deadline), time_ns(&s.deadline));
    if sd != 0 && (pd == 0 || pd > sd) {
        errors.push("ERROR: Subscription deadline is less than publisher deadline;");
    }
    if p.liveliness == RMW_QOS_POLICY_LIVELINESS_AUTOMATIC
        && s.liveliness == RMW_QOS_POLICY_LIVELINESS_MANUAL_BY_TOPIC
    {
        errors.push(
            "ERROR: Publisher's liveliness is automatic and subscription's is manual by topic;",
        );
    }
    let (pl, sl) = (
        time_ns(&p.liveliness_lease_duration),
        time_ns(&s.liveliness_lease_duration),
    );
    if sl != 0 && (pl == 0 || pl > sl) {
        errors.push("ERROR: Subscription liveliness lease duration is less than publisher;");
    }
    if !errors.is_empty() {
        (RMW_QOS_COMPATIBILITY_ERROR, errors.join(" "))
    } else if !warnings.is_empty() {
        (RMW_QOS_COMPATIBILITY_WARNING, warnings.join(" "))
    } else {
        (RMW_QOS_COMPATIBILITY_OK, String::new())
    }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_qos_profile_check_compatible(
    publisher_profile: rmw_qos_profile_t,
    subscription_profile: rmw_qos_profile_t,
    compatibility: *mut rmw_qos_compatibility_type_t,
    reason: *mut c_char,
    reason_size: usize,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: caller passes a valid out pointer (null rejected).
        let c = unsafe { ffi::m(compatibility, "compatibility") }?;
        if reason.is_null() && reason_size != 0 {
            return Err(RmwError::invalid("reason is null but reason_size is not 0"));
        }
        let (k, msg) = check_compatible(&publisher_profile, &subscription_profile);
        *c = k;
        if !reason.is_null() && reason_size > 0 {
            let n = msg.len().min(reason_size - 1);
            // SAFETY: `reason` holds `reason_size` bytes (caller contract);
            // we write n + 1 <= reason_size bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), reason.cast::<u8>(), n);
                *reason.add(n) = 0;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof(rel: u32, dur: u32) -> rmw_qos_profile_t {
        rmw_qos_profile_t {
            history: RMW_QOS_POLICY_HISTORY_KEEP_LAST,
            depth: 5,
            reliability: rel,
            durability: dur,
            ..Default::default()
        }
    }

    #[test]
    fn compat_rules() {
        let be = prof(
            RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT,
            RMW_QOS_POLICY_DURABILITY_VOLATILE,
        );
        let rel = prof(
            RMW_QOS_POLICY_RELIABILITY_RELIABLE,
            RMW_QOS_POLICY_DURABILITY_VOLATILE,
        );
        let tl = prof(
            RMW_QOS_POLICY_RELIABILITY_RELIABLE,
            RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL,
        );
        assert_eq!(check_compatible(&be, &rel).0, RMW_QOS_COMPATIBILITY_ERROR);
        assert_eq!(check_compatible(&rel, &be).0, RMW_QOS_COMPATIBILITY_OK);
        assert_eq!(check_compatible(&rel, &tl).0, RMW_QOS_COMPATIBILITY_ERROR);
        assert_eq!(check_compatible(&tl, &rel).0, RMW_QOS_COMPATIBILITY_OK);
        let mut dl = rel;
        dl.deadline = rmw_time_t { sec: 1, nsec: 0 };
        assert_eq!(check_compatible(&rel, &dl).0, RMW_QOS_COMPATIBILITY_ERROR);
        assert_eq!(check_compatible(&dl, &rel).0, RMW_QOS_COMPATIBILITY_OK);
    }

    #[test]
    fn roundtrip_profile() {
        let p = prof(
            RMW_QOS_POLICY_RELIABILITY_RELIABLE,
            RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL,
        );
        let q = resolve(&p, EndpointKind::Publisher, &[]).unwrap();
        let back = to_profile(&q);
        assert_eq!(back.depth, 5);
        assert_eq!(back.durability, RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL);
        assert!(is_infinite(&back.deadline));
    }
}
