//! What clients and services share: the wire format of a service sample
//! (a 24-byte header in front of the CDR payload: the client's gid, 16
//! bytes, and the request's sequence number, i64 LE), the topic names of
//! both directions, creating the endpoint pair, and moving a sample into a
//! ROS message. [`crate::client`] and [`crate::service`] own only their
//! direction-specific state (sequence numbers, pending replies, request
//! announcements).

use crate::ffi::{self, RResult, RmwError};
use crate::node::{self, Node};
use crate::publisher::create_endpoint;
use crate::sys::*;
use crate::transport::{self, EndpointKind, Held, Qos};
use crate::typesupport::{MsgType, SrvType};
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

/// Bytes of the request-id header in front of every service payload.
pub const HEADER: usize = 24;

/// Minimum ring depth of a client's request publisher.
pub const MIN_REQUEST_DEPTH: u32 = 64;

fn classify_request(topic: &str) -> bool {
    topic.starts_with("rq") && topic.ends_with("Request")
}

fn request_topic(service: &str) -> String {
    format!("rq{service}Request")
}

fn reply_topic(service: &str) -> String {
    format!("rr{service}Reply")
}

/// Split a service sample into (client gid, sequence, CDR payload).
pub fn split(s: &[u8]) -> RResult<([u8; 16], i64, &[u8])> {
    if s.len() < HEADER {
        return Err(RmwError::error("service sample shorter than its header"));
    }
    let mut gid = [0u8; 16];
    gid.copy_from_slice(&s[..16]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&s[16..24]);
    Ok((gid, i64::from_le_bytes(seq), &s[HEADER..]))
}

/// Serialize `msg` behind a request-id header straight into a loan and publish it.
///
/// # Safety
/// `msg` must be a valid message of type `ty`.
pub unsafe fn send(
    p: &transport::Publisher,
    ty: &MsgType,
    gid: &[u8; 16],
    seq: i64,
    msg: *const c_void,
) -> RResult<()> {
    // SAFETY: forwarded.
    let n = unsafe { ty.serialized_size(msg) }?;
    let mut slot = p.loan(HEADER + n)?;
    slot[..16].copy_from_slice(gid);
    slot[16..24].copy_from_slice(&seq.to_le_bytes());
    // SAFETY: forwarded; the slot has exactly n bytes after the header.
    unsafe { ty.serialize(msg, &mut slot[HEADER..]) }?;
    p.publish(slot, transport::now_ns())?;
    Ok(())
}

/// Fill a service info from a sample.
fn fill_info(info: &mut rmw_service_info_t, s: &Held, gid: [u8; 16], seq: i64) {
    let si = s.info();
    info.source_timestamp = si.source_timestamp_ns;
    info.received_timestamp = si.received_timestamp_ns;
    info.request_id.writer_guid = gid;
    info.request_id.sequence_number = seq;
}

/// Create the (publisher topic, subscriber topic) pair of a service or client.
fn endpoints(
    n: &Node,
    pub_topic: &str,
    pub_ty: &MsgType,
    sub_topic: &str,
    sub_ty: &MsgType,
    profile: &rmw_qos_profile_t,
) -> RResult<(transport::Publisher, Arc<transport::Subscriber>, Qos, Qos)> {
    let (mut pq, mut pspec) = create_endpoint(
        n,
        pub_topic,
        pub_ty.type_name(),
        pub_ty.type_hash(),
        profile,
        EndpointKind::Publisher,
    )?;
    // A client's requests wait in its own publisher ring until the server
    // takes them: give that ring room for a burst of outstanding requests
    // (a busy server would otherwise lose requests silently, and their
    // clients would wait forever). Replies keep the requested depth: every
    // client sees every reply of the service, and a client that does not
    // spin must not hold the server back.
    // Requests: exactly MIN_REQUEST_DEPTH. Replies: at most that (rcl asks
    // depth 1000 for parameter services; no client has 1000 requests out).
    if let transport::History::KeepLast(d) = pq.history {
        let depth = if classify_request(pub_topic) {
            MIN_REQUEST_DEPTH
        } else {
            d.min(MIN_REQUEST_DEPTH)
        };
        pq.history = transport::History::KeepLast(depth);
        pspec.qos = pq;
        pspec.payload_hint = crate::publisher::payload_hint(&pq);
    }
    let (sq, sspec) = create_endpoint(
        n,
        sub_topic,
        sub_ty.type_name(),
        sub_ty.type_hash(),
        profile,
        EndpointKind::Subscriber,
    )?;
    let p = n.ctx.domain.create_publisher(&n.handle, pspec)?;
    crate::attach::attach_local(&n.ctx.domain, pub_topic);
    let s = Arc::new(n.ctx.domain.create_subscriber(&n.handle, sspec)?);
    let _ = s.matched_publishers();
    crate::attach::register(&n.ctx.domain, &s);
    Ok((p, s, pq, sq))
}

/// Which end of a service an endpoint pair is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Publishes requests, subscribes to replies.
    Client,
    /// Publishes replies, subscribes to requests.
    Service,
}

/// The endpoints of one side of a service, as `open` creates them.
pub struct Opened {
    pub name: CString,
    pub ty: SrvType,
    pub publisher: transport::Publisher,
    pub subscriber: Arc<transport::Subscriber>,
    pub pub_qos: Qos,
    pub sub_qos: Qos,
    pub domain: Arc<transport::Domain>,
}

/// The common part of `rmw_create_client` and `rmw_create_service`: check
/// the arguments, resolve the service type and create the endpoint pair of
/// `side`. `qos_arg` names the QoS argument in error messages.
///
/// # Safety
/// Pointers as in the rmw contract of those functions (nulls are rejected).
pub unsafe fn open(
    node: *const rmw_node_t,
    type_support: *const rosidl_service_type_support_t,
    service_name: *const c_char,
    qos_profile: *const rmw_qos_profile_t,
    qos_arg: &str,
    side: Side,
) -> RResult<Opened> {
    // SAFETY: valid pointers per rmw contract (nulls rejected).
    let n = unsafe { node::get(node) }?;
    // SAFETY: as above.
    let name = unsafe { ffi::cstr(service_name, "service_name") }?;
    // SAFETY: as above.
    let profile = unsafe { ffi::r(qos_profile, qos_arg) }?;
    if name.is_empty() {
        return Err(RmwError::invalid("service_name is empty"));
    }
    if !profile.avoid_ros_namespace_conventions {
        crate::publisher::validate_topic(name)?;
    }
    // SAFETY: rcl passes a valid service type support.
    let ty = unsafe { SrvType::resolve(type_support) }?;
    let (pub_topic, sub_topic) = match side {
        Side::Client => (request_topic(name), reply_topic(name)),
        Side::Service => (reply_topic(name), request_topic(name)),
    };
    let (pub_ty, sub_ty) = match side {
        Side::Client => (&ty.request, &ty.response),
        Side::Service => (&ty.response, &ty.request),
    };
    let (publisher, subscriber, pub_qos, sub_qos) =
        endpoints(n, &pub_topic, pub_ty, &sub_topic, sub_ty, profile)?;
    Ok(Opened {
        name: CString::new(name).unwrap_or_default(),
        ty,
        publisher,
        subscriber,
        pub_qos,
        sub_qos,
        domain: n.ctx.domain.clone(),
    })
}

/// Deserialize the payload of a split sample into `msg` (of type `ty`) and
/// fill `info` from the sample's header and timestamps.
///
/// # Safety
/// `msg` must be an initialized message of type `ty`.
pub unsafe fn deliver(
    ty: &MsgType,
    sample: &Held,
    (gid, seq, body): ([u8; 16], i64, &[u8]),
    info: &mut rmw_service_info_t,
    msg: *mut c_void,
) -> RResult<()> {
    // SAFETY: forwarded.
    unsafe { ty.deserialize(body, msg) }?;
    fill_info(info, sample, gid, seq);
    Ok(())
}
