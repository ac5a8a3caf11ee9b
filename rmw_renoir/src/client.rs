//! Clients: publish requests on `rq<name>Request` with (own gid, sequence),
//! take replies from `rr<name>Reply` addressed to this client's gid (wire
//! format and endpoint creation in [`crate::rpc`]).

use crate::ffi::{self, RResult, IDENTIFIER};
use crate::node;
use crate::qos;
use crate::rpc::{self, send, split};
use crate::subscription::{lock, set_callback, Callback};
use crate::sys::*;
use crate::transport::{self, Held, Qos};
use crate::typesupport::SrvType;
use crate::wait::Waitable;
use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CString};
use std::sync::Mutex;

/// What `rmw_client_t.data` points to.
pub struct Client {
    pub name: CString,
    pub ty: SrvType,
    pub requests: transport::Publisher,
    pub replies: std::sync::Arc<transport::Subscriber>,
    pub req_qos: Qos,
    pub rep_qos: Qos,
    next_seq: Mutex<i64>,
    /// Replies addressed to this client, pulled off the shared reply topic.
    pending: Mutex<VecDeque<Held>>,
    pub on_new_response: Mutex<Option<Callback>>,
    pub domain: std::sync::Arc<crate::transport::Domain>,
}

impl Client {
    pub fn gid(&self) -> [u8; 16] {
        self.requests.gid()
    }

    /// Move replies for this client into `pending`, drop the others;
    /// returns how many were added.
    fn pump(&self) -> usize {
        let me = self.gid();
        let mut n = 0;
        while let Ok(Some(s)) = self.replies.take() {
            if matches!(split(&s), Ok((g, _, _)) if g == me) {
                lock(&self.pending).push_back(Held::owned(s));
                n += 1;
            }
        }
        n
    }

    pub fn is_server_available(&self) -> bool {
        self.requests.matched_subscribers() > 0 && self.replies.matched_publishers() > 0
    }
}

impl crate::listener::Listened for Client {
    fn notify(&self) {
        let Some(cb) = *lock(&self.on_new_response) else {
            return;
        };
        let n = self.pump();
        if n > 0 {
            cb.call(n);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        crate::listener::unregister(self as *const Self as *const ());
    }
}

impl Waitable for Client {
    fn is_ready(&self) -> bool {
        self.pump();
        !lock(&self.pending).is_empty()
    }
}

/// # Safety
/// `p` must be null or a valid rmw_client_t.
pub unsafe fn get<'a>(p: *const rmw_client_t) -> RResult<&'a Client> {
    // SAFETY: forwarded.
    let x = unsafe { ffi::r(p, "client") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(x.implementation_identifier, "client") }?;
    // SAFETY: boxed by rmw_create_client.
    unsafe { ffi::data::<Client>(x.data, "client data") }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_client(
    node: *const rmw_node_t,
    type_support: *const rosidl_service_type_support_t,
    service_name: *const c_char,
    qos_policies: *const rmw_qos_profile_t,
) -> *mut rmw_client_t {
    ffi::ptr(|| {
        // SAFETY: forwarded (rmw contract).
        let o = unsafe {
            rpc::open(
                node,
                type_support,
                service_name,
                qos_policies,
                "qos_policies",
                rpc::Side::Client,
            )
        }?;
        let c = Box::new(Client {
            name: o.name,
            ty: o.ty,
            requests: o.publisher,
            replies: o.subscriber,
            req_qos: o.pub_qos,
            rep_qos: o.sub_qos,
            next_seq: Mutex::new(1),
            pending: Mutex::new(VecDeque::new()),
            on_new_response: Mutex::new(None),
            domain: o.domain,
        });
        let np = c.name.as_ptr();
        Ok(Box::into_raw(Box::new(rmw_client_t {
            implementation_identifier: IDENTIFIER.as_ptr(),
            data: Box::into_raw(c).cast(),
            service_name: np,
        })))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_client(
    node: *mut rmw_node_t,
    client: *mut rmw_client_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointers + identifiers.
        unsafe { node::get(node) }?;
        // SAFETY: as above.
        unsafe { get(client) }?;
        // SAFETY: allocated by rmw_create_client; destroyed once.
        let b = unsafe { Box::from_raw(client) };
        // SAFETY: boxed Client.
        drop(unsafe { ffi::unbox::<Client>(b.data) });
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_send_request(
    client: *const rmw_client_t,
    ros_request: *const c_void,
    sequence_id: *mut i64,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let c = unsafe { get(client) }?;
        // SAFETY: as above.
        let sid = unsafe { ffi::m(sequence_id, "sequence_id") }?;
        ffi::nn(ros_request, "ros_request")?;
        let seq = {
            let mut n = lock(&c.next_seq);
            *n += 1;
            *n - 1
        };
        // SAFETY: rcl passes a request message of the client's type.
        unsafe { send(&c.requests, &c.ty.request, &c.gid(), seq, ros_request) }?;
        *sid = seq;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_response(
    client: *const rmw_client_t,
    request_header: *mut rmw_service_info_t,
    ros_response: *mut c_void,
    taken: *mut bool,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let c = unsafe { get(client) }?;
        // SAFETY: as above.
        let h = unsafe { ffi::m(request_header, "request_header") }?;
        // SAFETY: as above.
        let t = unsafe { ffi::m(taken, "taken") }?;
        ffi::nn(ros_response, "ros_response")?;
        *t = false;
        c.pump();
        let s = lock(&c.pending).pop_front();
        if let Some(s) = s {
            let parts = split(&s)?;
            // SAFETY: rcl passes an initialized response message.
            unsafe { rpc::deliver(&c.ty.response, &s, parts, h, ros_response) }?;
            *t = true;
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_client_request_publisher_get_actual_qos(
    client: *const rmw_client_t,
    qos: *mut rmw_qos_profile_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let c = unsafe { get(client) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(qos, "qos") }? = qos::to_profile(&c.req_qos);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_client_response_subscription_get_actual_qos(
    client: *const rmw_client_t,
    qos: *mut rmw_qos_profile_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let c = unsafe { get(client) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(qos, "qos") }? = qos::to_profile(&c.rep_qos);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_get_gid_for_client(
    client: *const rmw_client_t,
    gid: *mut rmw_gid_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        let c = unsafe { get(client) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(gid, "gid") }? = ffi::gid(c.gid());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_service_server_is_available(
    node: *const rmw_node_t,
    client: *const rmw_client_t,
    is_available: *mut bool,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract.
        unsafe { node::get(node) }?;
        // SAFETY: as above.
        let c = unsafe { get(client) }?;
        // SAFETY: as above.
        *unsafe { ffi::m(is_available, "is_available") }? = c.is_server_available();
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_client_set_on_new_response_callback(
    client: *const rmw_client_t,
    callback: rmw_event_callback_t,
    user_data: *const c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid client per rmw contract.
        let c = unsafe { get(client) }?;
        set_callback(
            &c.on_new_response,
            callback,
            user_data,
            usize::from(c.is_ready()),
        );
        if callback.is_some() {
            crate::listener::register(&c.domain, c);
        } else {
            crate::listener::unregister(c as *const Client as *const ());
        }
        Ok(())
    })
}
