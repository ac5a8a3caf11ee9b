//! Services: a request subscriber on `rq<name>Request` and a reply publisher
//! on `rr<name>Reply` (wire format and endpoint creation in [`crate::rpc`]).

use crate::ffi::{self, RResult, IDENTIFIER};
use crate::node;
use crate::qos;
use crate::rpc::{self, send, split};
use crate::subscription::{lock, set_callback, Callback};
use crate::sys::*;
use crate::transport::{self, Held, Qos};
use crate::typesupport::SrvType;
use crate::wait::Waitable;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex};

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
        // SAFETY: forwarded (rmw contract).
        let o = unsafe {
            rpc::open(
                node,
                type_support,
                service_name,
                qos_profile,
                "qos_profile",
                rpc::Side::Service,
            )
        }?;
        let s = Box::new(Service {
            name: o.name,
            ty: o.ty,
            requests: o.subscriber,
            replies: o.publisher,
            req_qos: o.sub_qos,
            rep_qos: o.pub_qos,
            on_new_request: Mutex::new(None),
            domain: o.domain,
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
            let Ok(parts) = split(&sample) else {
                continue; // corrupt request: drop it, keep serving
            };
            // SAFETY: rcl passes an initialized request message.
            unsafe { rpc::deliver(&s.ty.request, &sample, parts, h, ros_request) }?;
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
