//! CDR byte-compatibility with rmw_fastrtps_cpp's rmw_serialize /
//! rmw_deserialize, for the C and C++ in-memory representations.
//!
//! Needs the ROS 2 Jazzy libraries (`eval "$(scripts/ros_env.sh)"`; the paths
//! found at build time are also baked in).

mod common;

use common::*;
use msg_support::{Flavor, MessageTypeSupport};

const SEEDS: u64 = 24;

/// For one flavor: our deserialize + rmw_serialize, rmw_deserialize + our
/// serialize, our deserialize + our serialize must all reproduce `bytes`.
fn roundtrip(
    ts: &std::sync::Arc<MessageTypeSupport>,
    handle: *const std::ffi::c_void,
    bytes: &[u8],
    what: &str,
) {
    let mut m1 = Msg::new(ts);
    m1.de(bytes)
        .unwrap_or_else(|e| panic!("{what}: our deserialize failed: {e}"));
    let ours = m1.ser();
    assert!(
        ours == bytes,
        "{what}: ours(de(bytes)) != bytes: {}",
        diff(&ours, bytes)
    );
    // SAFETY: m1 is a valid message for this handle.
    let theirs = unsafe { rmw_serialize(m1.ptr(), handle) };
    if let Err(d) = same_as_fastrtps(bytes, &theirs) {
        panic!("{what}: rmw_serialize(our de(bytes)) != bytes: {d}");
    }

    let m2 = Msg::new(ts);
    // SAFETY: m2 is a valid message for this handle.
    let rc = unsafe { rmw_deserialize(bytes, handle, m2.ptr()) };
    assert_eq!(rc, 0, "{what}: rmw_deserialize failed");
    let ours2 = m2.ser();
    assert!(
        ours2 == bytes,
        "{what}: ours(rmw_deserialize(bytes)) != bytes: {}",
        diff(&ours2, bytes)
    );
}

fn check_type(pkg: &str, name: &str) {
    let hc = c_handle(pkg, name);
    let hcpp = cpp_handle(pkg, name);
    let tc = resolve(hc);
    let tcpp = resolve(hcpp);
    assert_eq!(tc.flavor(), Flavor::C);
    assert_eq!(tcpp.flavor(), Flavor::Cpp);
    assert_eq!(tc.type_name(), format!("{pkg}/msg/{name}"));
    assert_eq!(tcpp.type_name(), format!("{pkg}/msg/{name}"));

    // Default-initialized messages: identical to rmw_serialize.
    for (ts, h, flavor) in [(&tc, hc, "C"), (&tcpp, hcpp, "C++")] {
        let m = Msg::new(ts);
        let ours = m.ser();
        // SAFETY: valid message for the handle.
        let theirs = unsafe { rmw_serialize(m.ptr(), h) };
        if let Err(d) = same_as_fastrtps(&ours, &theirs) {
            panic!("{pkg}/{name} ({flavor}) default message: {d}");
        }
    }

    // Random valid CDR (all sequences empty once, then random contents).
    for seed in 0..SEEDS {
        let bytes = Gen::cdr(tc.layout(), seed * 7919 + 17, seed == 0);
        roundtrip(&tc, hc, &bytes, &format!("{pkg}/{name} C seed {seed}"));
        roundtrip(
            &tcpp,
            hcpp,
            &bytes,
            &format!("{pkg}/{name} C++ seed {seed}"),
        );
    }

    // Longer sequences, and deserializing into a message that already holds
    // other contents (sequences grow and shrink, strings are replaced).
    for ts in [&tc, &tcpp] {
        let mut m = Msg::new(ts);
        for seed in 0..8u64 {
            let mut g = Gen::new(seed * 104_729 + 3);
            g.max_seq = if seed % 2 == 0 { 300 } else { 2 };
            g.message(ts.layout());
            let mut bytes = vec![0, 1, 0, 0];
            bytes.extend_from_slice(&g.out);
            m.de(&bytes).unwrap();
            let ours = m.ser();
            assert!(
                ours == bytes,
                "{pkg}/{name} {:?} reuse seed {seed}: {}",
                ts.flavor(),
                diff(&ours, &bytes)
            );
            let h = if ts.flavor() == Flavor::C { hc } else { hcpp };
            // SAFETY: valid message for the handle.
            let theirs = unsafe { rmw_serialize_cap(m.ptr(), h, bytes.len() + 4096) };
            if let Err(d) = same_as_fastrtps(&bytes, &theirs) {
                panic!("{pkg}/{name} {:?} reuse seed {seed}: {d}", ts.flavor());
            }
        }
    }
}

#[test]
fn byte_identical_to_rmw_fastrtps_all_types() {
    for (pkg, name) in TYPES {
        check_type(pkg, name);
    }
}

#[test]
fn resolve_reports_names_and_hashes() {
    let ts = resolve(c_handle("sensor_msgs", "Image"));
    assert_eq!(ts.type_name(), "sensor_msgs/msg/Image");
    assert_eq!(ts.dds_type_name(), "sensor_msgs::msg::dds_::Image_");
    let h = ts.type_hash().expect("Jazzy provides type hashes");
    let s = h.to_rihs_string();
    assert!(s.starts_with("RIHS01_") && s.len() == 7 + 64, "{s}");
    // The same type through the C++ dispatcher and the introspection handle.
    let tcpp = resolve(cpp_handle("sensor_msgs", "Image"));
    assert_eq!(tcpp.type_hash(), Some(h));
    let ti = resolve(introspection_c_handle("sensor_msgs", "Image"));
    assert_eq!(ti.type_name(), "sensor_msgs/msg/Image");
    assert_eq!(ti.type_hash(), Some(h));
    // Cached per handle.
    assert!(std::sync::Arc::ptr_eq(
        &ts,
        &resolve(c_handle("sensor_msgs", "Image"))
    ));
    // Layout facts.
    let l = ts.layout();
    let names: Vec<&str> = l.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "header",
            "height",
            "width",
            "encoding",
            "is_bigendian",
            "step",
            "data"
        ]
    );
    // Null handle.
    // SAFETY: null is allowed.
    assert!(unsafe { MessageTypeSupport::resolve(std::ptr::null()) }.is_err());
}

#[test]
fn services_resolve_and_roundtrip() {
    for h in [
        c_service_handle("test_msgs", "BasicTypes"),
        cpp_service_handle("test_msgs", "BasicTypes"),
    ] {
        // SAFETY: valid service handle.
        let s = unsafe { msg_support::ServiceTypeSupport::resolve(h) }.expect("resolve service");
        assert_eq!(s.type_name, "test_msgs/srv/BasicTypes");
        assert_eq!(s.request.type_name(), "test_msgs/srv/BasicTypes_Request");
        assert_eq!(s.response.type_name(), "test_msgs/srv/BasicTypes_Response");
        assert!(s.type_hash.is_some());
        for ts in [&s.request, &s.response] {
            let bytes = Gen::cdr(ts.layout(), 99, false);
            let mut m = Msg::new(ts);
            m.de(&bytes).unwrap();
            assert_eq!(m.ser(), bytes);
        }
    }
}

#[test]
fn full_hd_image_byte_identical() {
    let bytes = image_cdr(1920, 1080);
    assert!(bytes.len() > 6_220_800);
    for h in [
        c_handle("sensor_msgs", "Image"),
        cpp_handle("sensor_msgs", "Image"),
    ] {
        let ts = resolve(h);
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        assert!(m.ser() == bytes);
        // SAFETY: valid message for the handle.
        let theirs = unsafe { rmw_serialize_cap(m.ptr(), h, bytes.len() + 64) };
        same_as_fastrtps(&bytes, &theirs).unwrap();
        // Deserializing again into the same message (same size: no reallocation) still matches.
        m.de(&bytes).unwrap();
        assert!(m.ser() == bytes);
    }
}

#[test]
fn concurrent_resolve_and_serialize() {
    let handles: Vec<usize> = TYPES
        .iter()
        .flat_map(|(p, n)| [c_handle(p, n) as usize, cpp_handle(p, n) as usize])
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let handles = handles.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for (i, &h) in handles.iter().enumerate() {
                    let ts = resolve(h as *const std::ffi::c_void);
                    let bytes = Gen::cdr(ts.layout(), (i * 31 + t) as u64, false);
                    let mut m = Msg::new(&ts);
                    m.de(&bytes).unwrap();
                    assert_eq!(m.ser(), bytes);
                    out.push(std::sync::Arc::as_ptr(&ts) as usize);
                }
                out
            })
        })
        .collect();
    let results: Vec<Vec<usize>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // Every thread got the same cached type support per handle.
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn plain_layouts_detected() {
    let pose_array = resolve(c_handle("geometry_msgs", "PoseArray"));
    let poses = &pose_array.layout().fields[1];
    assert_eq!(poses.name, "poses");
    match &poses.ty {
        msg_support::FieldType::Message(pose) => {
            assert_eq!(pose.type_name(), "geometry_msgs/msg/Pose");
            assert_eq!(pose.size_of, 56);
            assert_eq!(pose.plain_align, Some(8));
        }
        other => panic!("{other:?}"),
    }
    for h in [
        c_handle("geometry_msgs", "Pose"),
        cpp_handle("geometry_msgs", "Pose"),
    ] {
        assert_eq!(resolve(h).layout().plain_align, Some(8));
    }
    assert_eq!(
        resolve(c_handle("test_msgs", "BasicTypes"))
            .layout()
            .plain_align,
        None
    );
    assert_eq!(
        resolve(c_handle("sensor_msgs", "Image"))
            .layout()
            .plain_align,
        None
    );
    assert_eq!(
        resolve(c_handle("test_msgs", "Empty")).layout().plain_align,
        Some(1)
    );
}
