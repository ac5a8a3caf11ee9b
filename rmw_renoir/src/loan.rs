//! Loaned messages for fixed-size plain types (no strings, no sequences):
//! `can_loan_messages` is true only for those. A loan is a message buffer
//! owned by rmw_renoir (16-byte aligned, initialized with the type's init
//! function); publishing a loan serializes it into a shared-memory slot, as
//! rmw_publish does (for a plain type that is one copy), and a loaned take
//! deserializes the sample into a fresh loan.

use crate::ffi::{self, RResult, RmwError};
use crate::publisher;
use crate::subscription::{self, lock};
use crate::sys::*;
use crate::typesupport::MsgType;
use std::alloc::Layout;
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::Mutex;

/// Outstanding loans of one endpoint (addresses). Loans never returned
/// leak their memory when the endpoint goes (rcl returns every loan first).
#[derive(Default)]
pub struct Loans {
    live: Mutex<HashSet<usize>>,
}

fn layout_of(ty: &MsgType) -> RResult<Layout> {
    Layout::from_size_align(ty.ts.size_of().max(1), 16)
        .map_err(|_| RmwError::error("bad message size"))
}

impl Loans {
    /// Allocate and initialize a message of `ty`.
    pub fn borrow(&self, ty: &MsgType) -> RResult<*mut c_void> {
        if !ty.is_fixed_size() {
            return Err(RmwError::unsupported(format!(
                "loans are offered only for fixed-size plain types, not {}",
                ty.type_name()
            )));
        }
        let l = layout_of(ty)?;
        // SAFETY: non-zero size, valid alignment.
        let p = unsafe { std::alloc::alloc_zeroed(l) };
        if p.is_null() {
            return Err(RmwError::bad_alloc("cannot allocate a loaned message"));
        }
        // SAFETY: `p` has size_of bytes, 16-byte aligned (init_message contract).
        unsafe { ty.ts.init_message(p.cast()) };
        lock(&self.live).insert(p as usize);
        Ok(p.cast())
    }

    /// Finalize and free a loan made by [`Loans::borrow`]. Safe: `p` is only
    /// dereferenced after it was found among this endpoint's live loans.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn give_back(&self, ty: &MsgType, p: *mut c_void) -> RResult<()> {
        if !lock(&self.live).remove(&(p as usize)) {
            return Err(RmwError::invalid("not a message loaned by this endpoint"));
        }
        // SAFETY: `p` was initialized by `borrow` and is not used afterwards.
        unsafe { ty.ts.fini_message(p) };
        // SAFETY: allocated in `borrow` with the same layout.
        unsafe { std::alloc::dealloc(p.cast(), layout_of(ty)?) };
        Ok(())
    }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_borrow_loaned_message(
    publisher: *const rmw_publisher_t,
    type_support: *const rosidl_message_type_support_t,
    ros_message: *mut *mut c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid pointers per rmw contract (nulls rejected).
        let p = unsafe { publisher::get(publisher) }?;
        ffi::nn(type_support, "type_support")?;
        // SAFETY: as above.
        let out = unsafe { ffi::m(ros_message, "ros_message") }?;
        if !out.is_null() {
            return Err(RmwError::invalid(
                "ros_message must point to a null pointer",
            ));
        }
        *out = p.loans.borrow(&p.ty)?;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_return_loaned_message_from_publisher(
    publisher: *const rmw_publisher_t,
    loaned_message: *mut c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid publisher per rmw contract.
        let p = unsafe { publisher::get(publisher) }?;
        ffi::nn(loaned_message, "loaned_message")?;
        p.loans.give_back(&p.ty, loaned_message)
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_publish_loaned_message(
    publisher: *const rmw_publisher_t,
    ros_message: *mut c_void,
    _allocation: *mut rmw_publisher_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid publisher per rmw contract.
        let p = unsafe { publisher::get(publisher) }?;
        ffi::nn(ros_message, "ros_message")?;
        if !lock(&p.loans.live).contains(&(ros_message as usize)) {
            return Err(RmwError::invalid("not a message loaned by this publisher"));
        }
        // SAFETY: a live loan holds an initialized message of the type.
        let r = unsafe { p.publish(ros_message) };
        // The loan ends with the publish (rcl contract), even on error.
        p.loans.give_back(&p.ty, ros_message)?;
        r
    })
}

/// # Safety
/// Pointers valid per the rmw take-loaned contract.
unsafe fn take_loaned(
    subscription: *const rmw_subscription_t,
    loaned_message: *mut *mut c_void,
    taken: *mut bool,
    info: Option<*mut rmw_message_info_t>,
) -> RResult<()> {
    // SAFETY: valid pointers per rmw contract (nulls rejected).
    let s = unsafe { subscription::get(subscription) }?;
    // SAFETY: as above.
    let out = unsafe { ffi::m(loaned_message, "loaned_message") }?;
    // SAFETY: as above.
    let t = unsafe { ffi::m(taken, "taken") }?;
    let info = match info {
        // SAFETY: as above.
        Some(i) => Some(unsafe { ffi::m(i, "message_info") }?),
        None => None,
    };
    *t = false;
    if !s.ty.is_fixed_size() {
        return Err(RmwError::unsupported(
            "loans are offered only for fixed-size plain types",
        ));
    }
    let m = s.loans.borrow(&s.ty)?;
    // SAFETY: `m` is an initialized message of the subscription's type.
    match unsafe { s.take(m, info) } {
        Ok(true) => {
            *out = m;
            *t = true;
            Ok(())
        }
        other => {
            s.loans.give_back(&s.ty, m)?;
            other.map(|_| ())
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_loaned_message(
    subscription: *const rmw_subscription_t,
    loaned_message: *mut *mut c_void,
    taken: *mut bool,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    // SAFETY: forwarded rmw contract.
    ffi::ret(|| unsafe { take_loaned(subscription, loaned_message, taken, None) })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_take_loaned_message_with_info(
    subscription: *const rmw_subscription_t,
    loaned_message: *mut *mut c_void,
    taken: *mut bool,
    message_info: *mut rmw_message_info_t,
    _allocation: *mut rmw_subscription_allocation_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        ffi::nn(message_info, "message_info")?;
        // SAFETY: forwarded rmw contract.
        unsafe { take_loaned(subscription, loaned_message, taken, Some(message_info)) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_return_loaned_message_from_subscription(
    subscription: *const rmw_subscription_t,
    loaned_message: *mut c_void,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid subscription per rmw contract.
        let s = unsafe { subscription::get(subscription) }?;
        ffi::nn(loaned_message, "loaned_message")?;
        s.loans.give_back(&s.ty, loaned_message)
    })
}
