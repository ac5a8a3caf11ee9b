//! CDR of a 1920x1080 rgb8 sensor_msgs/Image (6.2 MB) vs a plain memcpy of the
//! same bytes, and vs rmw_fastrtps_cpp's rmw_serialize (same run, same machine).
//!
//! `eval "$(scripts/ros_env.sh)"; CARGO_TARGET_DIR=/work/tgt/msg cargo bench -p msg_support --bench cdr`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn image(c: &mut Criterion) {
    let bytes = image_cdr(1920, 1080);
    let n = bytes.len();
    let mut g = c.benchmark_group("image_1920x1080_rgb8");
    g.throughput(Throughput::Bytes(n as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    let src = bytes.clone();
    let mut dst = vec![0u8; n];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });

    for (flavor, h) in [
        ("c", c_handle("sensor_msgs", "Image")),
        ("cpp", cpp_handle("sensor_msgs", "Image")),
    ] {
        let ts = resolve(h);
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        let mut out = vec![0u8; n];
        g.bench_function(format!("serialized_size_{flavor}"), |b| {
            // SAFETY: valid message.
            b.iter(|| black_box(unsafe { ts.serialized_size(m.ptr()) }.unwrap()))
        });
        g.bench_function(format!("serialize_{flavor}"), |b| {
            b.iter(|| {
                // SAFETY: valid message; exact-size buffer.
                let k = unsafe { ts.serialized_size(m.ptr()) }.unwrap();
                // SAFETY: as above.
                black_box(unsafe { ts.serialize(m.ptr(), &mut out[..k]) }.unwrap())
            })
        });
        g.bench_function(format!("deserialize_{flavor}"), |b| {
            b.iter(|| m.de(black_box(&bytes)).unwrap())
        });
        g.bench_function(format!("deserialize_{flavor}_fresh_message"), |b| {
            b.iter(|| {
                let mut fresh = Msg::new(&ts);
                fresh.de(black_box(&bytes)).unwrap();
                fresh
            })
        });
        let mut rb = RmwBuf::new(n + 64);
        g.bench_function(format!("rmw_fastrtps_serialize_{flavor}"), |b| {
            // SAFETY: valid message for the handle.
            b.iter(|| black_box(unsafe { rb.serialize(m.ptr(), h) }.len()))
        });
    }
    g.finish();
}

/// geometry_msgs/PoseArray with 10000 poses (560 KB): sequence of a plain
/// nested message (one memcpy when aligned).
fn pose_array(c: &mut Criterion) {
    let n_poses = 10_000u32;
    let mut bytes = vec![0u8, 1, 0, 0];
    let mut body = Vec::new();
    body.extend_from_slice(&5i32.to_le_bytes());
    body.extend_from_slice(&6u32.to_le_bytes());
    let frame = b"map\0";
    body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    body.extend_from_slice(frame);
    body.extend_from_slice(&n_poses.to_le_bytes()); // at 16: 4-aligned
    while body.len() % 8 != 0 {
        body.push(0);
    }
    for i in 0..n_poses * 7 {
        body.extend_from_slice(&(i as f64 * 0.5).to_le_bytes());
    }
    bytes.extend_from_slice(&body);
    let n = bytes.len();
    let mut g = c.benchmark_group("pose_array_10000");
    g.throughput(Throughput::Bytes(n as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (flavor, h) in [
        ("c", c_handle("geometry_msgs", "PoseArray")),
        ("cpp", cpp_handle("geometry_msgs", "PoseArray")),
    ] {
        let ts = resolve(h);
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        assert!(m.ser() == bytes);
        let mut out = vec![0u8; n];
        g.bench_function(format!("serialize_{flavor}"), |b| {
            b.iter(|| {
                // SAFETY: valid message; exact-size buffer.
                let k = unsafe { ts.serialized_size(m.ptr()) }.unwrap();
                // SAFETY: as above.
                black_box(unsafe { ts.serialize(m.ptr(), &mut out[..k]) }.unwrap())
            })
        });
        g.bench_function(format!("deserialize_{flavor}"), |b| {
            b.iter(|| m.de(black_box(&bytes)).unwrap())
        });
        let mut rb = RmwBuf::new(n + 64);
        g.bench_function(format!("rmw_fastrtps_serialize_{flavor}"), |b| {
            // SAFETY: valid message for the handle.
            b.iter(|| black_box(unsafe { rb.serialize(m.ptr(), h) }.len()))
        });
    }
    g.finish();
}

criterion_group!(benches, image, pose_array);
criterion_main!(benches);
