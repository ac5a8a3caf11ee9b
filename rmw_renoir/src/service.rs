//! Services: a request subscriber on `rq<name>Request` and a reply publisher
//! on `rr<name>Reply`. Every request and reply carries a 24-byte header in
//! front of its CDR payload: the client's gid (16 bytes) and the request's
//! sequence number (i64 LE).

use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::node::{self, Node};
use crate::publisher::create_endpoint;
use crate::qos;
use crate::subscription::{lock, set_callback, Callback};
use crate::sys::*;
use crate::transport::{self, EndpointKind, Held, Qos};
use crate::typesupport::{MsgType, SrvType};
use crate::wait::Waitable;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex};

pub const HEADER: usize = 24;

/// Minimum ring depth of a client's request publisher.
pub const MIN_REQUEST_DEPTH: u32 = 64;

fn classify_request(topic: &str) -> bool {
    topic.starts_with("rq") && topic.ends_with("Request")
}

pub fn request_topic(service: &str) -> String {
    format!("rq{service}Request")
}

pub fn reply_topic(service: &str) -> String {
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
pub fn fill_info(info: &mut rmw_service_info_t, s: &Held, gid: [u8; 16], seq: i64) {
    let si = s.info();
    info.source_timestamp = si.source_timestamp_ns;
    info.received_timestamp = si.received_timestamp_ns;
    info.request_id.writer_guid = gid;
    info.request_id.sequence_number = seq;
}

/// Create the (publisher topic, subscriber topic) pair of a service or client.
pub fn endpoints(
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

/// What `rmw_service_t.data` points to.
pub struct Service {
    pub name: CString,
    pub ty: SrvType,
    pub requests: Arc<transport::Subscriber>,
    pub replies: transport::Publisher,
    pub req_qos: Qos,
    pub rep_qos: Qos,
    pub on_new_request: Mutex<Option<Callback>>,
    pub domain: std::sync::Arc<crate::transport::Domain>,
    /// What `on_new_request` was told about (from `Subscriber::unread()`).
    announced: crate::listener::Announced,
}

impl Waitable for Service {
    fn is_ready(&self) -> bool {
        self.requests.has_data()
    }
}

impl crate::listener::Listened for Service {
    fn notify(&self) {
        let Some(cb) = *lock(&self.on_new_request) else {
            return;
        };
        // Count, do not copy: requests stay in shared memory until taken.
        let n = self.announced.announce(|| self.requests.unread());
        if n > 0 {
            cb.call(n);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        crate::listener::unregister(self as *const Self as *const ());
    }
}

impl Service {
    fn next(&self) -> RResult<Option<Held>> {
        if lock(&self.on_new_request).is_some() {
            // Everything taken must have been announced to the callback.
            crate::listener::Listened::notify(self);
        }
        let mut announced = self.announced.lock();
        match self.requests.take()? {
            Some(s) => {
                *announced = announced.saturating_sub(1);
                Ok(Some(Held::Shm(s)))
            }
            None => {
                *announced = 0;
                Ok(None)
            }
        }
    }
}

/// # Safety
/// `p` must be null or a valid rmw_service_t.
pub unsafe fn get<'a>(p: *const rmw_service_t) -> RResult<&'a Service> {
    // SAFETY: forwarded.
    let x = unsafe { ffi::r(p, "service") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(x.implementation_identifier, "service") }?;
    // SAFETY: boxed by rmw_create_service.
    unsafe { ffi::data::<Service>(x.data, "service data") }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_service(
    node: *const rmw_node_t,
    type_support: *const rosidl_service_type_support_t,
    service_name: *const c_char,
    qos_profile: *const rmw_qos_profile_t,
) -> *mut rmw_service_t {
    ffi::ptr(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let n = unsafe { node::get(node) }?;
        // SAFETY: as above.
        let name = unsafe { ffi::cstr(service_name, "service_name") }?;
        // SAFETY: as above.
        let profile = unsafe { ffi::r(qos_profile, "qos_profile") }?;
        if name.is_empty() {
            return Err(RmwError::invalid("service_name is empty"));
        }
        if !profile.avoid_ros_namespace_conventions {
            crate::publisher::validate_topic(name)?;
        }
        // SAFETY: rcl passes a valid service type support.
        let ty = unsafe { SrvType::resolve(type_support) }?;
        let (replies, requests, rep_qos, req_qos) = endpoints(
            n,
            &reply_topic(name),
            &ty.response,
            &request_topic(name),
            &ty.request,
            profile,
        )?;
        let s = Box::new(Service {
            name: CString::new(name).unwrap_or_default(),
            ty,
            requests,
            replies,
            req_qos,
            rep_qos,
            on_new_request: Mutex::new(None),
            domain: n.ctx.domain.clone(),
            announced: Default::default(),
        });
        let np = s.name.as_ptr();
        Ok(Box::into_raw(Box::new(rmw_service_t {
            implementation_identifier: IDENTIFIER.as_ptr(),
            data: Box::into_raw(s).cast(),
            service_name: np,
        })))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_service(
    node: *mut rmw_node_t,
    service: *mut rmw_service_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointers + identifiers.
        unsafe { node::get(node) }?;
        // SAFETY: as above.
        unsafe { get(service) }?;
        // SAFETY: allocated by rmw_create_service; destroyed once.
        let b = unsafe { Box::from_raw(service) };
        // SAFETY: boxed Service.
        drop(unsafe { ffi::unbox::<Service>(b.data) });
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_request(
    service: *const rmw_service_t,
    request_header: *mut rmw_service_info_t,
    ros_request: *mut c_void,
    taken: *mut bool,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let s = unsafe { get(service) }?;
        // SAFETY: as above.
        let h = unsafe { ffi::m(request_header, "request_header") }?;
        // SAFETY: as above.
        let t = unsafe { ffi::m(taken, "taken") }?;
        ffi::nn(ros_request, "ros_request")?;
        *t = false;
        while let Some(sample) = s.next()? {
            let Ok((gid, seq, body)) = split(&sample) else {
                continue; // corrupt request: drop it, keep serving
            };
            // SAFETY: rcl passes an initialized request message.
            unsafe { s.ty.request.deserialize(body, ros_request) }?;
            fill_info(h, &sample, gid, seq);
            *t = true;
            break;
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_send_response(
    service: *const rmw_service_t,
    request_header: *mut rmw_request_id_t,
    ros_response: *mut c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let s = unsafe { get(service) }?;
        // SAFETY: as above.
        let h = unsafe { ffi::r(request_header, "request_header") }?;
        ffi::nn(ros_response, "ros_response")?;
        // SAFETY: rcl passes a response message of the service's type.
        unsafe {
            send(
                &s.replies,
                &s.ty.response,
                &h.writer_guid,
                h.sequence_number,
                ros_response,
            )
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_service_request_subscription_get_actual_qos(
    service: *const rmw_service_t,
    qos: *mut rmw_qos_profile_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let s = unsafe { get(service) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(qos, "qos") }? = qos::to_profile(&s.req_qos);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_service_response_publisher_get_actual_qos(
    service: *const rmw_service_t,
    qos: *mut rmw_qos_profile_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let s = unsafe { get(service) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(qos, "qos") }? = qos::to_profile(&s.rep_qos);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_service_set_on_new_request_callback(
    service: *const rmw_service_t,
    callback: rmw_event_callback_t,
    user_data: *const c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid service per rmw contract.
        let s = unsafe { get(service) }?;
        s.announced.reset();
        set_callback(&s.on_new_request, callback, user_data, 0);
        if callback.is_some() {
            // Announces what arrived before the callback was set.
            crate::listener::Listened::notify(s);
            crate::listener::register(&s.domain, s);
        } else {
            crate::listener::unregister(s as *const Service as *const ());
        }
        Ok(())
    })
}
