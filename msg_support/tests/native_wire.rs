//! `renoir_core::wire::sensor_msgs` (native producers writing sensor
//! messages in place) against the real type support: the bytes a native
//! loan produces must be exactly what msg_support serializes for the same
//! message (C and C++ representations) and what rmw_fastrtps_cpp's
//! `rmw_serialize` produces, the fields must land where the ROS type has
//! them, and the registered type name / RIHS01 hash must be the type
//! support's.

mod common;

use common::*;
use renoir_core::wire::sensor_msgs::{
    Header, Image, LaserScan, PointCloud2, PointField, WireType, XYZI,
};
use std::ffi::c_void;

/// Our bytes through msg_support (deserialize + serialize) and through
/// rmw_fastrtps_cpp (rmw_serialize of what we deserialized), both flavors.
fn same_as_type_support(name: &str, bytes: &[u8]) {
    for h in [
        c_handle("sensor_msgs", name),
        cpp_handle("sensor_msgs", name),
    ] {
        let ts = resolve(h);
        let mut m = Msg::new(&ts);
        m.de(bytes)
            .unwrap_or_else(|e| panic!("{name}: not a valid message: {e}"));
        let ours = m.ser();
        assert!(ours == bytes, "{name}: {}", diff(&ours, bytes));
        // SAFETY: m is a valid message for the handle.
        let theirs = unsafe { rmw_serialize_cap(m.ptr(), h, bytes.len() + 64) };
        same_as_fastrtps(bytes, &theirs).unwrap_or_else(|d| panic!("{name}: {d}"));
    }
}

/// Field `f` of a C message as `T` (through the introspection offsets).
fn c_field<T: Copy>(m: &Msg, f: &str) -> T {
    let fld =
        m.ts.layout()
            .fields
            .iter()
            .find(|x| x.name == f)
            .unwrap_or_else(|| panic!("no field {f}"));
    // SAFETY: test-only read of a primitive field (or a C sequence's size
    // word, see c_seq_len) of an initialized C message at its
    // introspection offset; T matches the field's type.
    unsafe { std::ptr::read_unaligned((m.ptr() as *const u8).add(fld.offset) as *const T) }
}

/// Element count of a C sequence field (`{data, size, capacity}`).
fn c_seq_len(m: &Msg, f: &str) -> usize {
    let fld = m.ts.layout().fields.iter().find(|x| x.name == f).unwrap();
    // SAFETY: as c_field: the size word follows the data pointer.
    unsafe {
        std::ptr::read_unaligned(
            (m.ptr() as *const u8).add(fld.offset + std::mem::size_of::<*const c_void>())
                as *const usize,
        )
    }
}

fn c_msg(name: &str, bytes: &[u8]) -> Msg {
    let mut m = Msg::new(&resolve(c_handle("sensor_msgs", name)));
    m.de(bytes).unwrap();
    m
}

fn hdr(frame_id: &str) -> Header<'_> {
    Header {
        sec: 1_700_000_000,
        nanosec: 123_456_789,
        frame_id,
    }
}

fn image_bytes(img: &Image<'_>, fill: impl Fn(usize) -> u8) -> Vec<u8> {
    let mut b = vec![0xEEu8; img.serialized_size().unwrap()];
    let data = img.write(&mut b).unwrap();
    for (i, x) in b[data].iter_mut().enumerate() {
        *x = fill(i);
    }
    b
}

#[test]
fn image_matches_the_type_support() {
    // The independent hand-built CDR of the compatibility suite.
    let img = Image::rgb8(hdr("camera_optical"), 1920, 1080);
    let ours = image_bytes(&img, |i| (i * 7 + i / 4096) as u8);
    assert!(ours == image_cdr(1920, 1080));
    same_as_type_support("Image", &ours);
    // Every padding case: frame id and encoding lengths 0..8, odd sizes.
    for k in 0..8 {
        let fid = "abcdefgh"[..k].to_string();
        let enc = ["mono8", "16UC1", "bgra8", "", "y", "rgb16"][k % 6];
        let img = Image {
            header: hdr(&fid),
            height: 3 + k as u32,
            width: 5,
            encoding: enc,
            is_bigendian: (k % 2) as u8,
            step: 7 + k as u32,
        };
        let b = image_bytes(&img, |i| i as u8);
        same_as_type_support("Image", &b);
        let m = c_msg("Image", &b);
        assert_eq!(c_field::<u32>(&m, "height"), img.height);
        assert_eq!(c_field::<u32>(&m, "width"), 5);
        assert_eq!(c_field::<u8>(&m, "is_bigendian"), img.is_bigendian);
        assert_eq!(c_field::<u32>(&m, "step"), img.step);
        assert_eq!(c_seq_len(&m, "data"), img.data_len());
    }
}

#[test]
fn point_cloud2_matches_the_type_support() {
    for (n, fields) in [
        (100_000u32, &XYZI[..]),
        (0, &XYZI[..]),
        (7, &XYZI[..1]),
        (3, &[][..]),
    ] {
        for fid in ["", "lidar", "velodyne"] {
            let mut pc = PointCloud2::xyzi(hdr(fid), n);
            pc.fields = fields;
            pc.is_dense = n % 2 == 0;
            let mut b = vec![0xEEu8; pc.serialized_size().unwrap()];
            let data = pc.write(&mut b).unwrap();
            assert_eq!(data.len(), n as usize * 16);
            for (i, x) in b[data].iter_mut().enumerate() {
                *x = (i * 13) as u8;
            }
            same_as_type_support("PointCloud2", &b);
            let m = c_msg("PointCloud2", &b);
            assert_eq!(c_field::<u32>(&m, "width"), n);
            assert_eq!(c_field::<u32>(&m, "point_step"), 16);
            assert_eq!(c_field::<u32>(&m, "row_step"), n * 16);
            assert_eq!(c_field::<bool>(&m, "is_dense"), n % 2 == 0);
            assert_eq!(c_seq_len(&m, "fields"), fields.len());
            assert_eq!(c_seq_len(&m, "data"), n as usize * 16);
        }
    }
    // Non-XYZI fields with every name length.
    let names = ["", "r", "rg", "rgb", "ring", "t_ns", "normal", "curvatu"];
    let fields: Vec<PointField> = names
        .iter()
        .enumerate()
        .map(|(i, nm)| PointField {
            name: nm,
            offset: i as u32,
            datatype: (i % 8) as u8 + 1,
            count: 1 + i as u32,
        })
        .collect();
    let pc = PointCloud2 {
        header: hdr("x"),
        height: 2,
        width: 3,
        fields: &fields,
        is_bigendian: true,
        point_step: 5,
        row_step: 15,
        is_dense: false,
    };
    let mut b = vec![0xEEu8; pc.serialized_size().unwrap()];
    let data = pc.write(&mut b).unwrap();
    b[data].fill(1);
    same_as_type_support("PointCloud2", &b);
}

#[test]
fn laser_scan_matches_the_type_support() {
    for (nr, ni) in [(1440usize, 0usize), (1440, 1440), (0, 0), (0, 3), (5, 2)] {
        for fid in ["", "laser", "base_scan"] {
            let scan = LaserScan {
                header: hdr(fid),
                angle_min: -2.5,
                angle_max: 2.5,
                angle_increment: 0.004_363,
                time_increment: 1e-5,
                scan_time: 0.1,
                range_min: 0.12,
                range_max: 30.5,
                ranges: nr,
                intensities: ni,
            };
            let mut b = vec![0xEEu8; scan.serialized_size().unwrap()];
            let [r, i] = scan.write(&mut b).unwrap();
            assert_eq!((r.len(), i.len()), (nr * 4, ni * 4));
            for (k, c) in b[r].chunks_exact_mut(4).enumerate() {
                c.copy_from_slice(&(k as f32 * 0.25).to_le_bytes());
            }
            for (k, c) in b[i].chunks_exact_mut(4).enumerate() {
                c.copy_from_slice(&(100.0 + k as f32).to_le_bytes());
            }
            same_as_type_support("LaserScan", &b);
            let m = c_msg("LaserScan", &b);
            assert_eq!(c_field::<f32>(&m, "range_max"), 30.5);
            assert_eq!(c_field::<f32>(&m, "angle_min"), -2.5);
            assert_eq!(c_seq_len(&m, "ranges"), nr);
            assert_eq!(c_seq_len(&m, "intensities"), ni);
        }
    }
}

#[test]
fn registered_names_and_hashes_are_the_type_supports() {
    for (name, tn, th) in [
        ("Image", Image::TYPE_NAME, Image::TYPE_HASH),
        (
            "PointCloud2",
            PointCloud2::TYPE_NAME,
            PointCloud2::TYPE_HASH,
        ),
        ("LaserScan", LaserScan::TYPE_NAME, LaserScan::TYPE_HASH),
    ] {
        let ts = resolve(c_handle("sensor_msgs", name));
        // What rmw_renoir registers (rmw_renoir/src/typesupport.rs).
        assert_eq!(ts.type_name(), tn);
        assert_eq!(ts.type_hash().expect("hash").value, th, "{name}");
    }
}

#[test]
fn strings_with_nul_are_rejected() {
    let img = Image::rgb8(hdr("a\0b"), 2, 2);
    assert!(img.serialized_size().is_err());
}
