//! Take-side cost of a 1920x1080 rgb8 `sensor_msgs/Image` (6.2 MB) through
//! the rmw C API in one process, C type support: `rmw_take` into a fresh
//! message (what rclpy does), into a reused message, and a loaned take +
//! return (zero copy of the pixels). Also the publish (one serialization
//! into the shared-memory slot).
//!
//! ```sh
//! eval "$(scripts/ros_env.sh)"; export LD_LIBRARY_PATH=$RENOIR_ROS_LIBS:$LD_LIBRARY_PATH
//! cargo run --release -p rmw_renoir --example loan_vs_copy
//! ```

use rmw_renoir::sys::*;
use rmw_renoir::{init, loan, node, publisher, subscription};
use std::ffi::{c_char, c_void, CString};
use std::time::{Duration, Instant};

const OK: rmw_ret_t = RMW_RET_OK as rmw_ret_t;

#[repr(C)]
struct RStr {
    data: *const c_char,
    size: usize,
    capacity: usize,
}

#[repr(C)]
struct Image {
    sec: i32,
    nanosec: u32,
    frame_id: RStr,
    height: u32,
    width: u32,
    encoding: RStr,
    is_bigendian: u8,
    step: u32,
    data: (*mut u8, usize, usize),
}

fn rstr(s: &CString) -> RStr {
    RStr {
        data: s.as_ptr(),
        size: s.as_bytes().len(),
        capacity: s.as_bytes().len() + 1,
    }
}

fn image_ts() -> *const rosidl_message_type_support_t {
    // SAFETY: dlopen/dlsym of the sensor_msgs C type support; stays loaded.
    unsafe {
        let l = libc::dlopen(
            c"libsensor_msgs__rosidl_typesupport_c.so".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_GLOBAL,
        );
        assert!(
            !l.is_null(),
            "sensor_msgs type support not on LD_LIBRARY_PATH"
        );
        let f = libc::dlsym(
            l,
            c"rosidl_typesupport_c__get_message_type_support_handle__sensor_msgs__msg__Image"
                .as_ptr(),
        );
        assert!(!f.is_null());
        let f: extern "C" fn() -> *const rosidl_message_type_support_t = std::mem::transmute(f);
        f()
    }
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<28} p50 {:>10.1?}  p90 {:>10.1?}  min {:>10.1?}",
        v[v.len() / 2],
        v[v.len() * 9 / 10],
        v[0]
    );
}

fn main() {
    let prefix = format!("loanvscopy{}", std::process::id());
    std::env::set_var("RENOIR_SHM_PREFIX", &prefix);
    let t = image_ts();
    // SAFETY: a valid handle.
    let ts = unsafe { msg_support::MessageTypeSupport::resolve(t.cast()) }.unwrap();
    assert_eq!(
        ts.layout()
            .fields
            .iter()
            .find(|f| f.name == "data")
            .unwrap()
            .offset,
        std::mem::offset_of!(Image, data)
    );
    let frame = CString::new("camera").unwrap();
    let enc = CString::new("rgb8").unwrap();
    let mut px: Vec<u8> = (0..1920 * 1080 * 3).map(|k: usize| k as u8).collect();
    let img = Image {
        sec: 1,
        nanosec: 2,
        frame_id: rstr(&frame),
        height: 1080,
        width: 1920,
        encoding: rstr(&enc),
        is_bigendian: 0,
        step: 5760,
        data: (px.as_mut_ptr(), px.len(), px.len()),
    };
    let rounds = 100;
    let (mut publish, mut fresh, mut reused, mut loaned) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // SAFETY: the rmw API used as rcl uses it; messages initialized with the
    // type's init function.
    unsafe {
        let mut opts = rmw_get_zero_initialized_init_options();
        assert_eq!(
            init::rmw_init_options_init(&mut opts, rcutils_get_default_allocator()),
            OK
        );
        opts.domain_id = 42;
        let mut ctx = rmw_get_zero_initialized_context();
        assert_eq!(init::rmw_init(&opts, &mut ctx), OK);
        let n = node::rmw_create_node(&mut ctx, c"measure".as_ptr(), c"/".as_ptr());
        let q = rmw_qos_profile_t {
            history: RMW_QOS_POLICY_HISTORY_KEEP_LAST,
            depth: 4,
            reliability: RMW_QOS_POLICY_RELIABILITY_RELIABLE,
            durability: RMW_QOS_POLICY_DURABILITY_VOLATILE,
            ..Default::default()
        };
        let so = rmw_get_default_subscription_options();
        let po = rmw_get_default_publisher_options();
        let s = subscription::rmw_create_subscription(n, t, c"/image".as_ptr(), &q, &so);
        let p = publisher::rmw_create_publisher(n, t, c"/image".as_ptr(), &q, &po);
        assert!(!s.is_null() && !p.is_null());
        let layout = std::alloc::Layout::from_size_align(ts.size_of(), 16).unwrap();
        let reuse = std::alloc::alloc_zeroed(layout) as *mut c_void;
        ts.init_message(reuse);
        for i in 0..rounds * 3 {
            let t0 = Instant::now();
            let rc = publisher::rmw_publish(p, (&img as *const Image).cast(), std::ptr::null_mut());
            assert_eq!(rc, OK);
            publish.push(t0.elapsed());
            let mut taken = false;
            let t0 = Instant::now();
            match i % 3 {
                0 => {
                    let m = std::alloc::alloc_zeroed(layout) as *mut c_void;
                    ts.init_message(m);
                    let rc = subscription::rmw_take(s, m, &mut taken, std::ptr::null_mut());
                    assert_eq!(rc, OK);
                    ts.fini_message(m);
                    std::alloc::dealloc(m.cast(), layout);
                    fresh.push(t0.elapsed());
                }
                1 => {
                    let rc = subscription::rmw_take(s, reuse, &mut taken, std::ptr::null_mut());
                    assert_eq!(rc, OK);
                    reused.push(t0.elapsed());
                }
                _ => {
                    let mut m: *mut c_void = std::ptr::null_mut();
                    let rc =
                        loan::rmw_take_loaned_message(s, &mut m, &mut taken, std::ptr::null_mut());
                    assert_eq!(rc, OK);
                    assert_eq!((*(m as *const Image)).data.1, px.len());
                    assert_eq!(loan::rmw_return_loaned_message_from_subscription(s, m), OK);
                    loaned.push(t0.elapsed());
                }
            }
            assert!(taken);
        }
        ts.fini_message(reuse);
        std::alloc::dealloc(reuse.cast(), layout);
        assert_eq!(publisher::rmw_destroy_publisher(n, p), OK);
        assert_eq!(subscription::rmw_destroy_subscription(n, s), OK);
        assert_eq!(node::rmw_destroy_node(n), OK);
        assert_eq!(init::rmw_shutdown(&mut ctx), OK);
        assert_eq!(init::rmw_context_fini(&mut ctx), OK);
        assert_eq!(init::rmw_init_options_fini(&mut opts), OK);
    }
    println!(
        "sensor_msgs/Image 1920x1080 rgb8 ({} bytes), {rounds} rounds each",
        px.len()
    );
    report("publish", publish);
    report("rmw_take, fresh message", fresh);
    report("rmw_take, reused message", reused);
    report("loaned take + return", loaned);
}
