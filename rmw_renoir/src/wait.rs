//! Wait sets: rmw_wait blocks on this process's doorbell for the context's
//! domain; every source (samples, requests, replies, guard conditions,
//! events, graph changes) rings it after making itself ready, and rmw_wait
//! reads the doorbell count *before* checking the sources, so no wakeup is
//! lost and nothing spins.

use crate::ffi::{self, RResult, RmwError, IDENTIFIER};
use crate::guard::GuardCondition;
use crate::init::{self, Context};
use crate::sys::*;
use std::ffi::c_void;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Something rmw_wait can report ready.
pub trait Waitable {
    fn is_ready(&self) -> bool;
}

/// What `rmw_wait_set_t.data` points to.
pub struct WaitSet {
    pub ctx: Arc<Context>,
}

/// While graph guard conditions are attached, re-check at least this often
/// (peer death is detected by liveness sweeps, not by a ring).
const GRAPH_POLL: Duration = Duration::from_millis(100);

/// # Safety
/// `ptr` must be null or point to `n` writable slots.
unsafe fn slots<'a>(ptr: *mut *mut c_void, n: usize) -> &'a mut [*mut c_void] {
    if ptr.is_null() || n == 0 {
        &mut []
    } else {
        // SAFETY: caller guarantees n slots.
        unsafe { std::slice::from_raw_parts_mut(ptr, n) }
    }
}

/// The sources of one rmw_wait call.
pub struct Sources<'a> {
    pub subs: &'a mut [*mut c_void],
    pub gcs: &'a mut [*mut c_void],
    pub srvs: &'a mut [*mut c_void],
    pub clients: &'a mut [*mut c_void],
    pub events: &'a mut [*mut c_void],
}

/// Check every source once; returns whether any is ready. When `commit`,
/// null out the ones that are not ready.
///
/// # Safety
/// Every non-null slot must point to the matching live object.
unsafe fn poll(
    s: &mut Sources<'_>,
    readiness: &mut Vec<bool>,
    next_deadline: &mut Option<Instant>,
) -> (bool, bool) {
    readiness.clear();
    *next_deadline = None;
    let mut any_graph = false;
    for p in s.subs.iter() {
        // SAFETY: rcl stores each subscription's `data` (our boxed
        // Subscription) in the array; null slots are skipped.
        readiness.push(
            !p.is_null() && unsafe { &*p.cast::<crate::subscription::Subscription>() }.is_ready(),
        );
    }
    for p in s.gcs.iter() {
        let r = if p.is_null() {
            false
        } else {
            // SAFETY: a guard condition's `data` (our boxed GuardCondition).
            let g = unsafe { &*p.cast::<GuardCondition>() };
            any_graph |= g.is_graph();
            g.take_ready()
        };
        readiness.push(r);
    }
    for p in s.srvs.iter() {
        // SAFETY: a service's `data` (our boxed Service); nulls skipped.
        readiness.push(!p.is_null() && unsafe { &*p.cast::<crate::service::Service>() }.is_ready());
    }
    for p in s.clients.iter() {
        // SAFETY: a client's `data` (our boxed Client); nulls skipped.
        readiness.push(!p.is_null() && unsafe { &*p.cast::<crate::client::Client>() }.is_ready());
    }
    for p in s.events.iter() {
        // SAFETY: events are passed as the rmw_event_t itself (made by our
        // *_event_init; its endpoint outlives it); nulls skipped.
        readiness
            .push(!p.is_null() && unsafe { crate::event::event_ready(p.cast::<rmw_event_t>()) });
        if !p.is_null() {
            // SAFETY: as above.
            if let Some(d) = unsafe { crate::event::event_deadline(p.cast::<rmw_event_t>()) } {
                *next_deadline = Some(next_deadline.map_or(d, |n| n.min(d)));
            }
        }
    }
    (readiness.iter().any(|r| *r), any_graph)
}

fn commit(s: &mut Sources<'_>, readiness: &[bool]) {
    let mut it = readiness.iter();
    for arr in [
        &mut *s.subs,
        &mut *s.gcs,
        &mut *s.srvs,
        &mut *s.clients,
        &mut *s.events,
    ] {
        for p in arr.iter_mut() {
            if !it.next().copied().unwrap_or(false) {
                *p = std::ptr::null_mut();
            }
        }
    }
}

/// The wait loop.
///
/// # Safety
/// As [`poll`].
pub unsafe fn wait(ctx: &Context, mut s: Sources<'_>, timeout: Option<Duration>) -> RResult<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut readiness = Vec::new();
    let mut next_deadline = None;
    loop {
        let seen = ctx.domain.doorbell_seq();
        // SAFETY: forwarded contract.
        let (any, graph) = unsafe { poll(&mut s, &mut readiness, &mut next_deadline) };
        if any {
            commit(&mut s, &readiness);
            return Ok(());
        }
        let remaining = match deadline {
            None => None,
            Some(dl) => {
                let now = Instant::now();
                if now >= dl {
                    commit(&mut s, &readiness);
                    return Err(RmwError::timeout());
                }
                Some(dl - now)
            }
        };
        // Wake when a deadline period of an attached deadline event ends.
        let remaining = match next_deadline {
            Some(nd) => {
                let until =
                    nd.saturating_duration_since(Instant::now()) + Duration::from_micros(200);
                Some(remaining.map_or(until, |r| r.min(until)))
            }
            None => remaining,
        };
        let slice = if graph {
            // Dead peers are found by the core's reaper (pid + start time);
            // run it (rate-limited inside) so a SIGKILLed node leaves the
            // graph and fires graph guard conditions without anyone asking.
            ctx.domain.maybe_reap();
            Some(remaining.map_or(GRAPH_POLL, |r| r.min(GRAPH_POLL)))
        } else {
            remaining
        };
        ctx.domain.wait(seen, slice);
    }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_create_wait_set(
    context: *mut rmw_context_t,
    _max_conditions: usize,
) -> *mut rmw_wait_set_t {
    ffi::ptr(|| {
        // SAFETY: valid context per rmw contract.
        let ctx = unsafe { init::context(context) }?.clone();
        Ok(Box::into_raw(Box::new(rmw_wait_set_t {
            implementation_identifier: IDENTIFIER.as_ptr(),
            guard_conditions: std::ptr::null_mut(),
            data: ffi::boxed(WaitSet { ctx }),
        })))
    })
}

/// # Safety
/// `p` must be null or a valid rmw_wait_set_t.
unsafe fn get<'a>(p: *const rmw_wait_set_t) -> RResult<&'a WaitSet> {
    // SAFETY: forwarded.
    let w = unsafe { ffi::r(p, "wait set") }?;
    // SAFETY: identifier null or C string.
    unsafe { ffi::check_id(w.implementation_identifier, "wait set") }?;
    // SAFETY: boxed by rmw_create_wait_set.
    unsafe { ffi::data::<WaitSet>(w.data, "wait set data") }
}

#[no_mangle]
pub unsafe extern "C" fn rmw_destroy_wait_set(wait_set: *mut rmw_wait_set_t) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: validates pointer + identifier.
        unsafe { get(wait_set) }?;
        // SAFETY: allocated by rmw_create_wait_set; destroyed once.
        let b = unsafe { Box::from_raw(wait_set) };
        // SAFETY: boxed WaitSet.
        drop(unsafe { ffi::unbox::<WaitSet>(b.data) });
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn rmw_wait(
    subscriptions: *mut rmw_subscriptions_t,
    guard_conditions: *mut rmw_guard_conditions_t,
    services: *mut rmw_services_t,
    clients: *mut rmw_clients_t,
    events: *mut rmw_events_t,
    wait_set: *mut rmw_wait_set_t,
    wait_timeout: *const rmw_time_t,
) -> rmw_ret_t {
    ffi::ret(|| {
        // SAFETY: valid wait set per rmw contract.
        let ws = unsafe { get(wait_set) }?;
        let timeout = if wait_timeout.is_null() {
            None
        } else {
            // SAFETY: non-null rmw_time_t from the caller.
            let t = unsafe { &*wait_timeout };
            Some(Duration::new(t.sec, 0).saturating_add(Duration::from_nanos(t.nsec)))
        };
        // SAFETY: each array struct is null or valid with `count` slots.
        let s = unsafe {
            Sources {
                subs: match subscriptions.as_ref() {
                    Some(a) => slots(a.subscribers, a.subscriber_count),
                    None => &mut [],
                },
                gcs: match guard_conditions.as_ref() {
                    Some(a) => slots(a.guard_conditions, a.guard_condition_count),
                    None => &mut [],
                },
                srvs: match services.as_ref() {
                    Some(a) => slots(a.services, a.service_count),
                    None => &mut [],
                },
                clients: match clients.as_ref() {
                    Some(a) => slots(a.clients, a.client_count),
                    None => &mut [],
                },
                events: match events.as_ref() {
                    Some(a) => slots(a.events, a.event_count),
                    None => &mut [],
                },
            }
        };
        // SAFETY: slots hold live entity data pointers (rcl contract).
        unsafe { wait(&ws.ctx, s, timeout) }
    })
}
