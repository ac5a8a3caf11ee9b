//! Untrusted input: malformed CDR must produce errors (never panics, never
//! out-of-bounds reads) and leave the message usable; random bytes and
//! mutated valid messages are fuzzed with proptest.

mod common;

use std::sync::Arc;

use common::*;
use msg_support::{DeserializeError, MessageTypeSupport};
use proptest::prelude::*;

fn both(pkg: &str, name: &str) -> [Arc<MessageTypeSupport>; 2] {
    [resolve(c_handle(pkg, name)), resolve(cpp_handle(pkg, name))]
}

#[test]
fn known_bytes_std_msgs_string() {
    let bytes = [0u8, 1, 0, 0, 6, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 0];
    for ts in both("std_msgs", "String") {
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        assert_eq!(m.ser(), bytes);
        // Trailing bytes after a complete message are ignored (as Fast-CDR does).
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[1, 2, 3]);
        m.de(&longer).unwrap();
        assert_eq!(m.ser(), bytes);
    }
}

#[test]
fn empty_message_is_one_dummy_byte() {
    for ts in both("test_msgs", "Empty") {
        let m = Msg::new(&ts);
        assert_eq!(m.ser(), [0, 1, 0, 0, 0]);
    }
}

#[test]
fn string_errors() {
    for ts in both("std_msgs", "String") {
        let mut m = Msg::new(&ts);
        // Not NUL-terminated.
        let e = m.de(&[0, 1, 0, 0, 2, 0, 0, 0, b'h', b'x']).unwrap_err();
        assert!(
            matches!(e, DeserializeError::StringNotTerminated { .. }),
            "{e:?}"
        );
        // Length past the end.
        let e = m
            .de(&[0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, b'h', 0])
            .unwrap_err();
        assert!(matches!(e, DeserializeError::Truncated { .. }), "{e:?}");
        // Header problems.
        assert_eq!(m.de(&[0, 1]).unwrap_err(), DeserializeError::NoHeader);
        assert!(matches!(
            m.de(&[0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err(),
            DeserializeError::UnsupportedEncapsulation(0)
        ));
        // Zero length is accepted as an empty string (Fast-CDR does the same).
        m.de(&[0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(m.ser(), [0, 1, 0, 0, 1, 0, 0, 0, 0]);
        // Still usable after errors.
        m.de(&[0, 1, 0, 0, 3, 0, 0, 0, b'o', b'k', 0]).unwrap();
        assert_eq!(m.ser(), [0, 1, 0, 0, 3, 0, 0, 0, b'o', b'k', 0]);
    }
}

#[test]
fn bad_bool_rejected() {
    for ts in both("test_msgs", "BasicTypes") {
        let mut bytes = Gen::cdr(ts.layout(), 5, false);
        assert_eq!(ts.layout().fields[0].name, "bool_value");
        bytes[4] = 2;
        let mut m = Msg::new(&ts);
        let e = m.de(&bytes).unwrap_err();
        assert!(
            matches!(
                e,
                DeserializeError::InvalidBool {
                    offset: 0,
                    value: 2
                }
            ),
            "{e:?}"
        );
    }
    // A bool inside a primitive array (memcpy path).
    for ts in both("test_msgs", "Arrays") {
        let mut bytes = Gen::cdr(ts.layout(), 5, false);
        assert_eq!(ts.layout().fields[0].name, "bool_values");
        bytes[5] = 7;
        let mut m = Msg::new(&ts);
        let e = m.de(&bytes).unwrap_err();
        assert!(
            matches!(
                e,
                DeserializeError::InvalidBool {
                    offset: 1,
                    value: 7
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn bounded_sequence_over_bound_rejected() {
    for ts in both("test_msgs", "BoundedSequences") {
        let f = &ts.layout().fields[0];
        assert_eq!(f.name, "bool_values");
        let bytes = [0u8, 1, 0, 0, 4, 0, 0, 0, 1, 1, 1, 1];
        let mut m = Msg::new(&ts);
        let e = m.de(&bytes).unwrap_err();
        assert!(
            matches!(
                e,
                DeserializeError::BoundExceeded {
                    len: 4,
                    bound: 3,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn huge_sequence_length_does_not_allocate() {
    for ts in both("test_msgs", "UnboundedSequences") {
        let bytes = [0u8, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f, 1, 0, 1];
        let mut m = Msg::new(&ts);
        let e = m.de(&bytes).unwrap_err();
        assert!(matches!(e, DeserializeError::Truncated { .. }), "{e:?}");
    }
}

#[test]
fn every_strict_prefix_fails() {
    for (pkg, name) in TYPES {
        for ts in both(pkg, name) {
            for seed in 1..4 {
                let bytes = Gen::cdr(ts.layout(), seed, false);
                let mut m = Msg::new(&ts);
                m.de(&bytes).unwrap();
                for cut in 0..bytes.len() {
                    assert!(
                        m.de(&bytes[..cut]).is_err(),
                        "{pkg}/{name}: prefix {cut} of {} accepted",
                        bytes.len()
                    );
                }
                // The message is still valid and usable.
                m.de(&bytes).unwrap();
                assert_eq!(m.ser(), bytes);
            }
        }
    }
}

/// Deserializing arbitrary input never panics; when it succeeds the message
/// is valid (serializes, and that round-trips).
fn fuzz_one(ts: &Arc<MessageTypeSupport>, input: &[u8]) {
    let mut m = Msg::new(ts);
    let de = m.de(input);
    let v = ts.validate(input);
    assert_eq!(
        de.is_ok(),
        v.is_ok(),
        "validate and deserialize disagree: {de:?} vs {v:?}"
    );
    if de.is_ok() {
        let out = m.ser();
        let mut m2 = Msg::new(ts);
        m2.de(&out).unwrap();
        assert_eq!(m2.ser(), out);
    }
}

fn all_ts() -> Vec<Arc<MessageTypeSupport>> {
    TYPES.iter().flat_map(|(p, n)| both(p, n)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), which in 0usize..30) {
        let tss = all_ts();
        let ts = &tss[which % tss.len()];
        let mut input = vec![0u8, 1, 0, 0];
        input.extend_from_slice(&body);
        fuzz_one(ts, &input);
        fuzz_one(ts, &body);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        seed in 1u64..1000,
        which in 0usize..30,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let tss = all_ts();
        let ts = &tss[which % tss.len()];
        let mut bytes = Gen::cdr(ts.layout(), seed, false);
        for (pos, val) in flips {
            let n = bytes.len();
            bytes[pos % n] = val;
        }
        let keep = 4 + cut % (bytes.len() - 3);
        fuzz_one(ts, &bytes[..keep]);
        fuzz_one(ts, &bytes);
    }
}

#[test]
fn validate_and_locate_image_data() {
    let bytes = image_cdr(64, 48);
    for ts in both("sensor_msgs", "Image") {
        assert_eq!(ts.validate(&bytes).unwrap(), bytes.len());
        let r = ts.primitive_field_range(&bytes, "data").unwrap().unwrap();
        assert_eq!(r.len(), 64 * 48 * 3);
        assert_eq!(r.end, bytes.len());
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        assert_eq!(
            ts.primitive_field_range(&bytes, "height")
                .unwrap()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(ts.primitive_field_range(&bytes, "encoding").unwrap(), None);
        assert_eq!(ts.primitive_field_range(&bytes, "nope").unwrap(), None);
        assert!(ts.validate(&bytes[..bytes.len() - 1]).is_err());
    }
    for (pkg, name) in TYPES {
        for ts in both(pkg, name) {
            for seed in 1..4 {
                let b = Gen::cdr(ts.layout(), seed, false);
                assert_eq!(ts.validate(&b).unwrap(), b.len(), "{pkg}/{name}");
            }
        }
    }
}

#[test]
fn embedded_nul_in_string_matches_fastrtps() {
    // rmw_fastrtps (C and C++) serializes strings up to their first NUL.
    let bytes = [0u8, 1, 0, 0, 6, 0, 0, 0, b'a', b'b', 0, b'c', b'd', 0];
    let expect = [0u8, 1, 0, 0, 3, 0, 0, 0, b'a', b'b', 0];
    for h in [
        c_handle("std_msgs", "String"),
        cpp_handle("std_msgs", "String"),
    ] {
        let ts = resolve(h);
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        assert_eq!(m.ser(), expect);
        // SAFETY: valid message for the handle.
        let theirs = unsafe { rmw_serialize(m.ptr(), h) };
        same_as_fastrtps(&expect, &theirs).unwrap();
    }
}

#[test]
fn wstring_with_zero_unit_matches_fastrtps() {
    for h in [
        c_handle("test_msgs", "WStrings"),
        cpp_handle("test_msgs", "WStrings"),
    ] {
        let ts = resolve(h);
        assert_eq!(ts.layout().fields[0].name, "wstring_value");
        let default = Msg::new(&ts).ser();
        assert_eq!(&default[4..8], &[0, 0, 0, 0]);
        let mut bytes = vec![0u8, 1, 0, 0, 2, 0, 0, 0, b'a', 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&default[8..]);
        let mut m = Msg::new(&ts);
        m.de(&bytes).unwrap();
        let ours = m.ser();
        // SAFETY: valid message for the handle.
        let theirs = unsafe { rmw_serialize(m.ptr(), h) };
        same_as_fastrtps(&ours, &theirs).unwrap();
    }
}
