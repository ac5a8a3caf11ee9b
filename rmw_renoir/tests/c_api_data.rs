//! The data path through the C API in one process: publish, take with info,
//! take_sequence, serialize / deserialize, serialized take, loans, with
//! std_msgs/msg/Int32 (a plain struct: one int32).

use rmw_renoir::sys::*;
use rmw_renoir::{init, loan, node, publisher, serialize, subscription};
use std::ffi::c_void;

const OK: rmw_ret_t = RMW_RET_OK as rmw_ret_t;

/// The rosidl_typesupport_c handle of std_msgs/msg/Int32 (dlopen'ed by name
/// from the loader path, as rcl does).
fn int32_ts() -> *const rosidl_message_type_support_t {
    // SAFETY: dlopen/dlsym of a known library and symbol; the library stays loaded.
    unsafe {
        let lib = libc::dlopen(
            c"libstd_msgs__rosidl_typesupport_c.so".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_GLOBAL,
        );
        assert!(
            !lib.is_null(),
            "std_msgs type support not on the loader path"
        );
        let f = libc::dlsym(
            lib,
            c"rosidl_typesupport_c__get_message_type_support_handle__std_msgs__msg__Int32".as_ptr(),
        );
        assert!(!f.is_null());
        let f: extern "C" fn() -> *const rosidl_message_type_support_t = std::mem::transmute(f);
        f()
    }
}

#[test]
fn publish_take_serialize_loan_int32() {
    set_prefix();
    let ts = int32_ts();
    // SAFETY: the rmw API used as rcl uses it; all pointers come from rmw.
    unsafe {
        let mut opts = rmw_get_zero_initialized_init_options();
        assert_eq!(
            init::rmw_init_options_init(&mut opts, rcutils_get_default_allocator()),
            OK
        );
        opts.domain_id = 79;
        let mut ctx = rmw_get_zero_initialized_context();
        assert_eq!(init::rmw_init(&opts, &mut ctx), OK);
        let n = node::rmw_create_node(&mut ctx, c"data".as_ptr(), c"/".as_ptr());
        assert!(!n.is_null());
        let mut qos = rmw_qos_profile_t {
            history: RMW_QOS_POLICY_HISTORY_KEEP_LAST,
            depth: 10,
            reliability: RMW_QOS_POLICY_RELIABILITY_RELIABLE,
            durability: RMW_QOS_POLICY_DURABILITY_VOLATILE,
            ..Default::default()
        };
        qos.deadline = rmw_time_t { sec: 0, nsec: 0 };
        let popts = rmw_get_default_publisher_options();
        let sopts = rmw_get_default_subscription_options();
        let s = subscription::rmw_create_subscription(n, ts, c"/ints".as_ptr(), &qos, &sopts);
        let p = publisher::rmw_create_publisher(n, ts, c"/ints".as_ptr(), &qos, &popts);
        assert!(!p.is_null() && !s.is_null());
        assert!((*p).can_loan_messages, "Int32 is a plain type");

        for v in [7i32, 8, 9] {
            assert_eq!(
                publisher::rmw_publish(p, (&v as *const i32).cast(), std::ptr::null_mut()),
                OK
            );
        }
        // take_with_info
        let mut out = 0i32;
        let mut taken = false;
        let mut info: rmw_message_info_t = std::mem::zeroed();
        assert_eq!(
            subscription::rmw_take_with_info(
                s,
                (&mut out as *mut i32).cast(),
                &mut taken,
                &mut info,
                std::ptr::null_mut()
            ),
            OK
        );
        assert!(taken);
        assert_eq!(out, 7);
        assert_eq!(info.publication_sequence_number, 1);
        assert!(info.source_timestamp > 0 && info.received_timestamp >= info.source_timestamp);
        let mut gid: rmw_gid_t = std::mem::zeroed();
        assert_eq!(publisher::rmw_get_gid_for_publisher(p, &mut gid), OK);
        assert_eq!(gid.data, info.publisher_gid.data);

        // take_sequence of the two left
        let mut vals = [0i32; 4];
        let mut ptrs: Vec<*mut c_void> = vals.iter_mut().map(|v| (v as *mut i32).cast()).collect();
        let mut infos: [rmw_message_info_t; 4] = std::mem::zeroed();
        let mut ms = rmw_message_sequence_t {
            data: ptrs.as_mut_ptr(),
            size: 0,
            capacity: 4,
            allocator: std::ptr::null_mut(),
        };
        let mut is = rmw_message_info_sequence_t {
            data: infos.as_mut_ptr(),
            size: 0,
            capacity: 4,
            allocator: std::ptr::null_mut(),
        };
        let mut count = 0usize;
        assert_eq!(
            subscription::rmw_take_sequence(
                s,
                4,
                &mut ms,
                &mut is,
                &mut count,
                std::ptr::null_mut()
            ),
            OK
        );
        assert_eq!(count, 2);
        assert_eq!(&vals[..2], &[8, 9]);
        assert_eq!(infos[1].publication_sequence_number, 3);

        // rmw_serialize: CDR little-endian header + the int32
        let mut ser = rcutils_get_zero_initialized_uint8_array();
        let alloc = rcutils_get_default_allocator();
        assert_eq!(rcutils_uint8_array_init(&mut ser, 0, &alloc), 0);
        let v = 0x01020304i32;
        assert_eq!(
            serialize::rmw_serialize((&v as *const i32).cast(), ts, &mut ser),
            OK
        );
        assert_eq!(
            std::slice::from_raw_parts(ser.buffer, ser.buffer_length),
            &[0, 1, 0, 0, 4, 3, 2, 1]
        );
        let mut back = 0i32;
        assert_eq!(
            serialize::rmw_deserialize(&ser, ts, (&mut back as *mut i32).cast()),
            OK
        );
        assert_eq!(back, v);

        // serialized publish, serialized take
        assert_eq!(
            publisher::rmw_publish_serialized_message(p, &ser, std::ptr::null_mut()),
            OK
        );
        let mut got = rcutils_get_zero_initialized_uint8_array();
        assert_eq!(rcutils_uint8_array_init(&mut got, 0, &alloc), 0);
        assert_eq!(
            subscription::rmw_take_serialized_message(
                s,
                &mut got,
                &mut taken,
                std::ptr::null_mut()
            ),
            OK
        );
        assert!(taken);
        assert_eq!(
            std::slice::from_raw_parts(got.buffer, got.buffer_length),
            &[0, 1, 0, 0, 4, 3, 2, 1]
        );

        // loans
        let mut m: *mut c_void = std::ptr::null_mut();
        assert_eq!(loan::rmw_borrow_loaned_message(p, ts, &mut m), OK);
        *m.cast::<i32>() = 42;
        assert_eq!(
            loan::rmw_publish_loaned_message(p, m, std::ptr::null_mut()),
            OK
        );
        let mut lm: *mut c_void = std::ptr::null_mut();
        assert_eq!(
            loan::rmw_take_loaned_message(s, &mut lm, &mut taken, std::ptr::null_mut()),
            OK
        );
        assert!(taken);
        assert_eq!(*lm.cast::<i32>(), 42);
        assert_eq!(loan::rmw_return_loaned_message_from_subscription(s, lm), OK);
        // Nothing left to take.
        assert_eq!(
            subscription::rmw_take(
                s,
                (&mut out as *mut i32).cast(),
                &mut taken,
                std::ptr::null_mut()
            ),
            OK
        );
        assert!(!taken);

        rcutils_uint8_array_fini(&mut ser);
        rcutils_uint8_array_fini(&mut got);
        assert_eq!(publisher::rmw_destroy_publisher(n, p), OK);
        assert_eq!(subscription::rmw_destroy_subscription(n, s), OK);
        assert_eq!(node::rmw_destroy_node(n), OK);
        assert_eq!(init::rmw_shutdown(&mut ctx), OK);
        assert_eq!(init::rmw_context_fini(&mut ctx), OK);
        assert_eq!(init::rmw_init_options_fini(&mut opts), OK);
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
            format!("{base}data{}", std::process::id()),
        );
    });
}
