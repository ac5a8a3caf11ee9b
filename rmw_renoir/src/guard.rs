//! Guard conditions (user-triggered and the per-node graph guard condition).

use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::init::{self, Context};
use crate::subscription::lock;
use crate::sys::*;
use crate::transport::Domain;
use std::sync::{Arc, Mutex};

/// A guard condition. A graph guard condition is also ready whenever the
/// domain's graph version moved since it was last reported.
pub struct GuardCondition {
    triggered: Mutex<bool>,
    domain: Arc<Domain>,
    graph_seen: Option<Mutex<u64>>,
}

impl GuardCondition {
    pub fn new(domain: Arc<Domain>) -> Self {
        GuardCondition {
            triggered: Mutex::new(false),
            domain,
            graph_seen: None,
        }
    }

    pub fn new_graph(domain: Arc<Domain>) -> Self {
        let v = domain.graph_version();
        GuardCondition {
            triggered: Mutex::new(false),
            domain,
            graph_seen: Some(Mutex::new(v)),
        }
    }

    pub fn is_graph(&self) -> bool {
        self.graph_seen.is_some()
    }

    /// Trigger: set the flag, then ring this process's doorbell so a
    /// blocked rmw_wait (in any thread) re-checks.
    pub fn trigger(&self) {
        *lock(&self.triggered) = true;
        self.domain.ring();
    }

    /// Ready (and consume the trigger)?
    pub fn take_ready(&self) -> bool {
        let mut ready = std::mem::take(&mut *lock(&self.triggered));
        if let Some(seen) = &self.graph_seen {
            let v = self.domain.graph_version();
            if std::mem::replace(&mut *lock(seen), v) != v {
                ready = true;
            }
        }
        ready
    }
}

/// Allocate an rmw_guard_condition_t around a GuardCondition.
pub fn alloc(gc: GuardCondition, context: *mut rmw_context_t) -> *mut rmw_guard_condition_t {
    Box::into_raw(Box::new(rmw_guard_condition_t {
        implementation_identifier: IDENTIFIER.as_ptr(),
        data: ffi::boxed(gc),
        context,
    }))
}

/// Free an rmw_guard_condition_t made by [`alloc`].
///
/// # Safety
/// `p` must come from [`alloc`] and not be used afterwards.
pub unsafe fn free(p: *mut rmw_guard_condition_t) {
    if p.is_null() {
        return;
    }
    // SAFETY: allocated by `alloc` with Box::into_raw.
    let b = unsafe { Box::from_raw(p) };
    // SAFETY: `data` was boxed by `alloc`.
    drop(unsafe { ffi::unbox::<GuardCondition>(b.data) });
}

/// # Safety
/// `p` must be null or a valid rmw_guard_condition_t.
pub unsafe fn get<'a>(p: *const rmw_guard_condition_t) -> RResult<&'a GuardCondition> {
    // SAFETY: forwarded contract.
    let g = unsafe { ffi::r(p, "guard condition") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(g.implementation_identifier, "guard condition") }?;
    // SAFETY: data boxed by `alloc`.
    unsafe { ffi::data::<GuardCondition>(g.data, "guard condition data") }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_guard_condition(
    context: *mut rmw_context_t,
) -> *mut rmw_guard_condition_t {
    ffi::ptr(|| {
        // SAFETY: valid context per rmw contract.
        let ctx: &Arc<Context> = unsafe { init::context(context) }?;
        if ctx.is_shut_down() {
            return Err(RmwError::error("context is shut down"));
        }
        Ok(alloc(GuardCondition::new(ctx.domain.clone()), context))
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_guard_condition(gc: *mut rmw_guard_condition_t) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointer and identifier.
        unsafe { get(gc) }?;
        // SAFETY: created by rmw_create_guard_condition; rcl destroys once.
        unsafe { free(gc) };
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_trigger_guard_condition(
    gc: *const rmw_guard_condition_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid guard condition per rmw contract.
        unsafe { get(gc) }?.trigger();
        Ok(())
    })
}
