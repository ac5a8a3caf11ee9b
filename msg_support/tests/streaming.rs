//! Streamed samples: `deserialize_gated` reads an input its producer is
//! still writing (never asking past the input, bulk arrays in pieces as
//! the gate allows), `serialize_streaming` reports final prefixes in
//! order. Real rosidl type supports from the installed ROS 2.

mod common;

use common::*;
use msg_support::cdr::PROGRESS_PIECE;
use msg_support::DeserializeError;
use std::cell::RefCell;

#[test]
fn gated_read_follows_the_gate_in_pieces() {
    gated_image(resolve(c_handle("sensor_msgs", "Image")));
}

/// rclcpp's representation: `std::vector` filled piece by piece.
#[test]
fn gated_read_fills_cpp_vectors_in_pieces() {
    gated_image(resolve(cpp_handle("sensor_msgs", "Image")));
}

fn gated_image(ts: std::sync::Arc<msg_support::MessageTypeSupport>) {
    let bytes = image_cdr(640, 480); // 921,600 data bytes
    let step = 100 << 10;
    let asked = RefCell::new(Vec::new());
    let gate = |need: usize| -> Result<usize, String> {
        asked.borrow_mut().push(need);
        // Reveal in 100 KiB steps, never more than asked rounded up.
        Ok((need.div_ceil(step) * step).min(bytes.len()))
    };
    for reuse in [false, true] {
        asked.borrow_mut().clear();
        let m = Msg::new(&ts);
        if reuse {
            // Same size already: the in-place path.
            // SAFETY: a valid, initialized message of this type.
            unsafe { ts.deserialize(&bytes, m.ptr()) }.unwrap();
        }
        // SAFETY: as above.
        unsafe { ts.deserialize_gated(&bytes, m.ptr(), &gate) }.unwrap();
        assert!(m.ser() == bytes, "message differs (reuse {reuse})");
        let a = asked.borrow();
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "asked backwards: {a:?}");
        assert!(a.iter().all(|&n| n <= bytes.len()), "asked past the input");
        // The 900 KB array was waited for piece by piece, not at once.
        assert!(
            a.len() >= 921_600 / PROGRESS_PIECE,
            "only {} gate calls: {a:?}",
            a.len()
        );
    }
}

#[test]
fn a_gate_that_gives_up_is_an_incomplete_error() {
    let ts = resolve(c_handle("sensor_msgs", "Image"));
    let bytes = image_cdr(640, 480);
    let stop = 300 << 10;
    let gate = |need: usize| -> Result<usize, String> {
        if need > stop {
            Err("writer died".into())
        } else {
            Ok(stop)
        }
    };
    let m = Msg::new(&ts);
    // SAFETY: a valid, initialized message of this type.
    let e = unsafe { ts.deserialize_gated(&bytes, m.ptr(), &gate) }.unwrap_err();
    match e {
        DeserializeError::Incomplete { offset, reason } => {
            assert!(offset <= stop, "offset {offset}");
            assert_eq!(reason, "writer died");
        }
        e => panic!("{e:?}"),
    }
    // The message is still valid (finalized by Msg's drop) and reusable.
    let mut m = m;
    m.de(&bytes).unwrap();
    assert!(m.ser() == bytes);
    // A gate that answers less than asked is refused, not trusted.
    let liar = |_need: usize| -> Result<usize, String> { Ok(2) };
    let m2 = Msg::new(&ts);
    // SAFETY: as above.
    let e = unsafe { ts.deserialize_gated(&bytes, m2.ptr(), &liar) }.unwrap_err();
    assert!(matches!(e, DeserializeError::Incomplete { .. }), "{e:?}");
}

#[test]
fn streaming_serialize_reports_final_prefixes_in_order() {
    {
        let (pkg, name) = ("sensor_msgs", "Image");
        let ts = resolve(c_handle(pkg, name));
        let mut m = Msg::new(&ts);
        m.de(&image_cdr(1280, 720)).unwrap();
        let expect = m.ser();
        let mut out = vec![0u8; expect.len()];
        let mut marks = Vec::new();
        // SAFETY: a valid, initialized message of this type.
        let n =
            unsafe { ts.serialize_streaming(m.ptr(), &mut out, &mut |k| marks.push(k)) }.unwrap();
        assert_eq!(n, expect.len());
        assert!(out == expect, "{pkg}/{name}: bytes differ");
        assert!(marks.windows(2).all(|w| w[0] < w[1]), "{marks:?}");
        assert!(marks.iter().all(|&k| k <= n));
        assert!(
            marks.len() >= (1280 * 720 * 3) / PROGRESS_PIECE,
            "{marks:?}"
        );
        // The last mark is the end of the data array (the tail of an Image).
        assert_eq!(*marks.last().unwrap(), n);
    }
}

/// Every field kind through a gate that reveals odd amounts (not multiples
/// of any element size): the result equals an ungated read.
#[test]
fn random_messages_read_the_same_through_an_odd_gate() {
    for (pkg, name, cpp) in [
        ("sensor_msgs", "LaserScan", false),
        ("sensor_msgs", "PointCloud2", false),
        ("test_msgs", "Arrays", false),
        ("test_msgs", "UnboundedSequences", false),
        ("sensor_msgs", "LaserScan", true),
        ("test_msgs", "UnboundedSequences", true),
    ] {
        let ts = resolve(if cpp {
            cpp_handle(pkg, name)
        } else {
            c_handle(pkg, name)
        });
        let mut checked = 0;
        for seed in 0..20u64 {
            let bytes = Gen::cdr(ts.layout(), seed, seed % 5 == 0);
            let mut plain = Msg::new(&ts);
            if plain.de(&bytes).is_err() {
                continue;
            }
            let step = 13 + seed as usize * 7;
            let gate = |need: usize| -> Result<usize, String> {
                Ok((need.div_ceil(step) * step).min(bytes.len()))
            };
            let m = Msg::new(&ts);
            // SAFETY: a valid, initialized message of this type.
            unsafe { ts.deserialize_gated(&bytes, m.ptr(), &gate) }
                .unwrap_or_else(|e| panic!("{pkg}/{name} seed {seed}: {e}"));
            assert!(m.ser() == plain.ser(), "{pkg}/{name} seed {seed}");
            checked += 1;
        }
        assert!(checked >= 10, "{pkg}/{name}: only {checked} seeds decoded");
    }
}
