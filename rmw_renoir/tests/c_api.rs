//! The C API driven directly (as rcl would): init, nodes, guard conditions
//! and wait sets, in one process.

use rmw_renoir::sys::*;
use rmw_renoir::{guard, init, node, wait};
use std::ffi::CStr;
use std::time::{Duration, Instant};

const OK: rmw_ret_t = RMW_RET_OK as rmw_ret_t;
const TIMEOUT: rmw_ret_t = RMW_RET_TIMEOUT as rmw_ret_t;

struct Ctx(rmw_context_t);

fn setup(domain: usize) -> Ctx {
    set_prefix();
    // SAFETY (whole fn): the rmw init sequence on zero-initialized structs.
    unsafe {
        let mut opts = rmw_get_zero_initialized_init_options();
        assert_eq!(
            init::rmw_init_options_init(&mut opts, rcutils_get_default_allocator()),
            OK
        );
        opts.domain_id = domain;
        let mut ctx = rmw_get_zero_initialized_context();
        assert_eq!(init::rmw_init(&opts, &mut ctx), OK);
        assert_eq!(init::rmw_init_options_fini(&mut opts), OK);
        assert_eq!(ctx.actual_domain_id, domain);
        Ctx(ctx)
    }
}

fn teardown(mut c: Ctx) {
    // SAFETY: a context made by `setup`.
    unsafe {
        assert_eq!(init::rmw_shutdown(&mut c.0), OK);
        assert_eq!(init::rmw_context_fini(&mut c.0), OK);
    }
}

struct SendPtr(*const rmw_guard_condition_t);
// SAFETY: rmw guard conditions may be triggered from any thread.
unsafe impl Send for SendPtr {}

#[test]
fn guard_condition_from_another_thread_wakes_wait() {
    let mut c = setup(77);
    // SAFETY: the rmw API used as rcl uses it; pointers come from rmw_create_*.
    unsafe {
        let gc = guard::rmw_create_guard_condition(&mut c.0);
        assert!(!gc.is_null());
        let ws = wait::rmw_create_wait_set(&mut c.0, 1);
        assert!(!ws.is_null());

        // Timeout: nothing triggered.
        let mut slot = [(*gc).data];
        let mut gcs = rmw_guard_conditions_t {
            guard_condition_count: 1,
            guard_conditions: slot.as_mut_ptr(),
        };
        let t = rmw_time_t {
            sec: 0,
            nsec: 100_000_000,
        };
        let t0 = Instant::now();
        let rc = wait::rmw_wait(
            std::ptr::null_mut(),
            &mut gcs,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            ws,
            &t,
        );
        let took = t0.elapsed();
        assert_eq!(rc, TIMEOUT);
        assert!(
            took >= Duration::from_millis(99) && took < Duration::from_millis(150),
            "{took:?}"
        );
        assert!(slot[0].is_null(), "not-ready entries are nulled");

        // Zero timeout returns at once.
        let mut slot = [(*gc).data];
        let mut gcs = rmw_guard_conditions_t {
            guard_condition_count: 1,
            guard_conditions: slot.as_mut_ptr(),
        };
        let zero = rmw_time_t { sec: 0, nsec: 0 };
        let t0 = Instant::now();
        let rc = wait::rmw_wait(
            std::ptr::null_mut(),
            &mut gcs,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            ws,
            &zero,
        );
        assert_eq!(rc, TIMEOUT);
        assert!(t0.elapsed() < Duration::from_millis(20));

        // Triggered from another thread while we block forever (null timeout).
        let p = SendPtr(gc);
        let th = std::thread::spawn(move || {
            let p = p;
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(guard::rmw_trigger_guard_condition(p.0), OK);
        });
        let mut slot = [(*gc).data];
        let mut gcs = rmw_guard_conditions_t {
            guard_condition_count: 1,
            guard_conditions: slot.as_mut_ptr(),
        };
        let t0 = Instant::now();
        let rc = wait::rmw_wait(
            std::ptr::null_mut(),
            &mut gcs,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            ws,
            std::ptr::null(),
        );
        assert_eq!(rc, OK);
        assert!(!slot[0].is_null());
        assert!(t0.elapsed() < Duration::from_secs(2));
        th.join().unwrap();

        assert_eq!(wait::rmw_destroy_wait_set(ws), OK);
        assert_eq!(guard::rmw_destroy_guard_condition(gc), OK);
    }
    teardown(c);
}

#[test]
fn nodes_and_graph_guard_condition() {
    let mut c = setup(78);
    // SAFETY: the rmw API used as rcl uses it.
    unsafe {
        let n = node::rmw_create_node(&mut c.0, c"alpha".as_ptr(), c"/ns".as_ptr());
        assert!(!n.is_null());
        assert_eq!(CStr::from_ptr((*n).name).to_str().unwrap(), "alpha");
        // Invalid names are refused with an error message.
        let bad = node::rmw_create_node(&mut c.0, c"no spaces".as_ptr(), c"/ns".as_ptr());
        assert!(bad.is_null());
        assert!(rcutils_error_is_set());
        rcutils_reset_error();

        let ggc = node::rmw_node_get_graph_guard_condition(n);
        let ws = wait::rmw_create_wait_set(&mut c.0, 1);
        // A second node changes the graph: the graph guard condition fires.
        let n2 = node::rmw_create_node(&mut c.0, c"beta".as_ptr(), c"/".as_ptr());
        let mut slot = [(*ggc).data];
        let mut gcs = rmw_guard_conditions_t {
            guard_condition_count: 1,
            guard_conditions: slot.as_mut_ptr(),
        };
        let t = rmw_time_t { sec: 1, nsec: 0 };
        let rc = wait::rmw_wait(
            std::ptr::null_mut(),
            &mut gcs,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            ws,
            &t,
        );
        assert_eq!(rc, OK);
        assert!(!slot[0].is_null());

        let mut names = rcutils_get_zero_initialized_string_array();
        let mut nss = rcutils_get_zero_initialized_string_array();
        assert_eq!(
            rmw_renoir::graph::rmw_get_node_names(n, &mut names, &mut nss),
            OK
        );
        let got: Vec<String> = (0..names.size)
            .map(|i| {
                CStr::from_ptr(*names.data.add(i))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert!(
            got.contains(&"alpha".to_string()) && got.contains(&"beta".to_string()),
            "{got:?}"
        );
        rcutils_string_array_fini(&mut names);
        rcutils_string_array_fini(&mut nss);

        assert_eq!(wait::rmw_destroy_wait_set(ws), OK);
        assert_eq!(node::rmw_destroy_node(n2), OK);
        assert_eq!(node::rmw_destroy_node(n), OK);
    }
    teardown(c);
}

#[test]
fn wrong_implementation_is_refused() {
    // SAFETY: a fake node with another identifier.
    unsafe {
        let mut n: rmw_node_t = std::mem::zeroed();
        n.implementation_identifier = c"rmw_other".as_ptr();
        assert_eq!(
            node::rmw_destroy_node(&mut n),
            RMW_RET_INCORRECT_RMW_IMPLEMENTATION as rmw_ret_t
        );
        rcutils_reset_error();
        assert_eq!(
            node::rmw_destroy_node(std::ptr::null_mut()),
            RMW_RET_INVALID_ARGUMENT as rmw_ret_t
        );
        rcutils_reset_error();
    }
}

/// Our segments go under the outer prefix (scripts/test.sh sets one and
/// checks for leaks), made unique per test process.
fn set_prefix() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let base = std::env::var("RENOIR_SHM_PREFIX").unwrap_or_else(|_| "rmw".into());
        std::env::set_var(
            "RENOIR_SHM_PREFIX",
            format!("{base}capi{}", std::process::id()),
        );
    });
}
