//! Loaned messages.
//!
//! Owns the message buffers rmw_renoir lends out and, for subscription
//! loans, the shared-memory samples they borrow from.
//!
//! * Publishers (`rmw_borrow_loaned_message`): fixed-size plain types only
//!   (`can_loan_messages` true only for them). The loan is a 16-byte aligned
//!   buffer initialized with the type's init function; publishing it
//!   serializes into a shared-memory slot as `rmw_publish` does.
//! * Subscriptions (`rmw_take_loaned_message`): every type with the C
//!   introspection type support (`can_loan_messages` true exactly for them).
//!   The message struct is allocated and initialized here and the sample is
//!   deserialized into it, except that sequences of primitives of at least
//!   [`LOAN_MIN_BYTES`] whose bytes are aligned in the sample are not copied:
//!   their `data` points into the read-only shared-memory sample
//!   (`MessageTypeSupport::deserialize_borrowing`). The loan then keeps the
//!   sample (and so the publisher's slot) until it is returned; on return
//!   the borrowed sequences are detached (null, 0, 0) before the type's fini
//!   runs, so nothing frees shared memory. A loan that borrowed nothing
//!   releases its sample at once. C++ types (std::vector cannot point into
//!   shared memory) are not loaned: rclcpp then takes through `rmw_take`.

use crate::ffi::{self, RResult, RmwError};
use crate::publisher;
use crate::subscription::{self, lock};
use crate::sys::*;
use crate::transport::Held;
use crate::typesupport::MsgType;
use msg_support::{Borrowed, Flavor};
use std::alloc::Layout;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Mutex;

/// Primitive sequences shorter than this are copied into the loan (an
/// allocation of a few bytes costs less than pinning a publisher slot).
pub const LOAN_MIN_BYTES: usize = 64;

/// One outstanding loan.
#[derive(Default)]
struct Loan {
    /// Sequences of the message pointing into `sample`.
    borrowed: Borrowed,
    /// The shared-memory sample the borrowed sequences point into.
    sample: Option<Held>,
}

/// Outstanding loans of one endpoint, by message address.
#[derive(Default)]
pub struct Loans {
    live: Mutex<HashMap<usize, Loan>>,
}

fn layout_of(ty: &MsgType) -> RResult<Layout> {
    Layout::from_size_align(ty.ts.size_of().max(1), 16)
        .map_err(|_| RmwError::error("bad message size"))
}

/// Allocate and initialize a message of `ty` (not yet registered).
fn alloc_message(ty: &MsgType) -> RResult<*mut c_void> {
    let l = layout_of(ty)?;
    // SAFETY: non-zero size, valid alignment.
    let p = unsafe { std::alloc::alloc_zeroed(l) };
    if p.is_null() {
        return Err(RmwError::bad_alloc("cannot allocate a loaned message"));
    }
    // SAFETY: `p` has size_of bytes, 16-byte aligned (init_message contract).
    unsafe { ty.ts.init_message(p.cast()) };
    Ok(p.cast())
}

/// Finalize and free a message from [`alloc_message`], after detaching
/// what it borrowed; then drop the sample it borrowed from.
///
/// # Safety
/// `p` came from `alloc_message(ty)`, `loan` is its bookkeeping, and
/// nobody uses `p` afterwards.
unsafe fn free_message(ty: &MsgType, p: *mut c_void, mut loan: Loan) {
    // SAFETY: the borrowed sequences belong to the live message at `p`.
    unsafe { loan.borrowed.detach() };
    // SAFETY: initialized by alloc_message; nothing in it points into shm now.
    unsafe { ty.ts.fini_message(p) };
    if let Ok(l) = layout_of(ty) {
        // SAFETY: allocated in alloc_message with the same layout.
        unsafe { std::alloc::dealloc(p.cast(), l) };
    }
    // The slot is released only now, after the message stopped pointing at it.
    drop(loan.sample.take());
}

impl Loans {
    /// Allocate and initialize a message of `ty` for a publisher loan.
    pub fn borrow(&self, ty: &MsgType) -> RResult<*mut c_void> {
        if !ty.is_fixed_size() {
            return Err(RmwError::unsupported(format!(
                "publisher loans are offered only for fixed-size plain types, not {}",
                ty.type_name()
            )));
        }
        let p = alloc_message(ty)?;
        lock(&self.live).insert(p as usize, Loan::default());
        Ok(p)
    }

    pub fn is_live(&self, p: *mut c_void) -> bool {
        lock(&self.live).contains_key(&(p as usize))
    }

    /// Finalize and free a loan of this endpoint (returned by the user).
    /// Safe: `p` is only dereferenced after it was found among this
    /// endpoint's live loans.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn give_back(&self, ty: &MsgType, p: *mut c_void) -> RResult<()> {
        let Some(loan) = lock(&self.live).remove(&(p as usize)) else {
            return Err(RmwError::invalid("not a message loaned by this endpoint"));
        };
        // SAFETY: a live loan of this endpoint, not used after its return.
        unsafe { free_message(ty, p, loan) };
        Ok(())
    }

    /// Release every loan still out (the endpoint is being destroyed: rcl
    /// should have returned them; a loan used after this is a user error).
    pub fn release_all(&self, ty: &MsgType) {
        let all: Vec<(usize, Loan)> = lock(&self.live).drain().collect();
        for (p, loan) in all {
            // SAFETY: live loans of this endpoint; the endpoint ends here.
            unsafe { free_message(ty, p as *mut c_void, loan) };
        }
    }

    /// Number of loans out (tests, diagnostics).
    pub fn outstanding(&self) -> usize {
        lock(&self.live).len()
    }
}

/// Whether subscriptions of `ty` offer loaned takes (C introspection types).
pub fn subscription_can_loan(ty: &MsgType) -> bool {
    ty.ts.flavor() == Flavor::C
}

/// Take one sample as a loan: a fresh message whose large primitive
/// sequences point into the sample (see the module docs).
///
/// # Safety
/// `info`, when given, is valid for writes.
unsafe fn take_loan(
    s: &subscription::Subscription,
    info: Option<&mut rmw_message_info_t>,
) -> RResult<Option<*mut c_void>> {
    let Some(held) = s.next_sample()? else {
        return Ok(None);
    };
    let m = alloc_message(&s.ty)?;
    // SAFETY: `m` is a freshly initialized message of the subscription's
    // type; `held` is kept alive with the loan until the sequences are
    // detached; the user contract forbids writing through the loan.
    let r = unsafe { s.ty.ts.deserialize_borrowing(&held, m, LOAN_MIN_BYTES) };
    let borrowed = match r {
        Ok(b) => b,
        Err(e) => {
            // SAFETY: nothing borrowed on error; `m` is not handed out.
            unsafe { free_message(&s.ty, m, Loan::default()) };
            return Err(RmwError::error(format!("deserialize: {e}")));
        }
    };
    s.took(held.info(), info);
    // Keep the sample only while something points into it.
    let sample = (!borrowed.is_empty()).then_some(held);
    lock(&s.loans.live).insert(m as usize, Loan { borrowed, sample });
    Ok(Some(m))
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
        if !p.loans.is_live(ros_message) {
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
    if !subscription_can_loan(&s.ty) {
        return Err(RmwError::unsupported(format!(
            "loaned takes are offered only for C introspection type supports, not the C++ {}",
            s.ty.type_name()
        )));
    }
    // SAFETY: `info` is valid for writes.
    if let Some(m) = unsafe { take_loan(s, info) }? {
        *out = m;
        *t = true;
    }
    Ok(())
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
