//! `deserialize_borrowing` (loaned takes): C primitive sequences point into
//! the input when long enough and aligned, everything else is copied; the
//! message reads back exactly the input; after `detach` the type's fini
//! frees nothing of the input; on error nothing stays borrowed.

mod common;

use common::*;
use msg_support::{Flavor, MessageTypeSupport};
use std::sync::Arc;

/// The C `{data, size, capacity}` of a sequence field.
#[repr(C)]
struct RawSeq {
    data: *const u8,
    size: usize,
    capacity: usize,
}

fn seq_field(ts: &MessageTypeSupport, m: &Msg, name: &str) -> *const RawSeq {
    let f = ts.layout().fields.iter().find(|f| f.name == name).unwrap();
    // SAFETY: offset of a field inside the message struct.
    unsafe { (m.ptr() as *const u8).add(f.offset) as *const RawSeq }
}

/// `bytes` copied to `shift` bytes past an 8-byte aligned address.
fn at_offset(bytes: &[u8], shift: usize) -> (Vec<u64>, usize) {
    let mut store = vec![0u64; (bytes.len() + shift).div_ceil(8) + 1];
    // SAFETY: the u64 storage has room for shift + len bytes.
    let dst = unsafe {
        std::slice::from_raw_parts_mut((store.as_mut_ptr() as *mut u8).add(shift), bytes.len())
    };
    dst.copy_from_slice(bytes);
    (store, shift)
}

fn view(store: &[u64], shift: usize, len: usize) -> &[u8] {
    // SAFETY: within the storage (see at_offset).
    unsafe { std::slice::from_raw_parts((store.as_ptr() as *const u8).add(shift), len) }
}

#[test]
fn image_data_points_into_the_input() {
    let ts = resolve(c_handle("sensor_msgs", "Image"));
    let bytes = image_cdr(64, 48);
    let (store, shift) = at_offset(&bytes, 0);
    let input = view(&store, shift, bytes.len());
    let m = Msg::new(&ts);
    // SAFETY: fresh message; `input` outlives it until detach.
    let mut b = unsafe { ts.deserialize_borrowing(input, m.ptr(), 64) }.unwrap();
    assert_eq!(b.len(), 1, "only `data` is a primitive sequence");
    let d = seq_field(&ts, &m, "data");
    // SAFETY: a live C sequence field.
    let (ptr, size, cap) = unsafe { ((*d).data, (*d).size, (*d).capacity) };
    assert_eq!((size, cap), (64 * 48 * 3, 64 * 48 * 3));
    let range = input.as_ptr_range();
    assert!(range.contains(&ptr), "data not in the input");
    assert_eq!(ptr as usize + size, range.end as usize, "data is the tail");
    // What the message holds reads back as the input.
    assert!(m.ser() == bytes);
    // SAFETY: the message is alive.
    unsafe { b.detach() };
    assert!(b.is_empty());
    // SAFETY: as above.
    unsafe {
        assert!((*d).data.is_null() && (*d).size == 0 && (*d).capacity == 0);
    }
    drop(m); // fini: must not free `input`'s bytes (the allocator would abort)
             // Below the threshold: copied.
    let m = Msg::new(&ts);
    // SAFETY: fresh message.
    let b = unsafe { ts.deserialize_borrowing(input, m.ptr(), 64 * 48 * 3 + 1) }.unwrap();
    assert!(b.is_empty());
    // SAFETY: a live C sequence field.
    assert!(!range.contains(&unsafe { (*seq_field(&ts, &m, "data")).data }));
    assert!(m.ser() == bytes);
}

#[test]
fn every_type_reads_back_at_every_input_alignment() {
    for (pkg, name) in [
        ("test_msgs", "UnboundedSequences"),
        ("test_msgs", "BoundedSequences"),
        ("test_msgs", "MultiNested"),
        ("test_msgs", "Arrays"),
        ("sensor_msgs", "PointCloud2"),
        ("sensor_msgs", "LaserScan"),
    ] {
        let ts: Arc<MessageTypeSupport> = resolve(c_handle(pkg, name));
        assert_eq!(ts.flavor(), Flavor::C);
        let mut borrowed_any = 0;
        for seed in 0..3u64 {
            let mut g = Gen::new(seed * 7_919 + 11);
            g.max_seq = 300;
            g.message(ts.layout());
            let mut bytes = vec![0, 1, 0, 0];
            bytes.extend_from_slice(&g.out);
            for shift in [0, 1, 2, 4] {
                let (store, sh) = at_offset(&bytes, shift);
                let input = view(&store, sh, bytes.len());
                let m = Msg::new(&ts);
                // SAFETY: fresh message; `input` outlives it until detach.
                let mut b = unsafe { ts.deserialize_borrowing(input, m.ptr(), 1) }.unwrap();
                borrowed_any += b.len();
                assert!(m.ser() == bytes, "{pkg}/{name} seed {seed} shift {shift}");
                // SAFETY: the message is alive.
                unsafe { b.detach() };
            }
        }
        if pkg == "test_msgs" && name != "Arrays" {
            assert!(borrowed_any > 0, "{pkg}/{name}: nothing borrowed");
        }
        if name == "Arrays" {
            assert_eq!(borrowed_any, 0, "fixed arrays are inline");
        }
    }
}

#[test]
fn errors_leave_nothing_borrowed() {
    // Every strict prefix of a message with many long sequences fails, and
    // the message is then safe to finalize (nothing points into the input).
    let ts = resolve(c_handle("test_msgs", "UnboundedSequences"));
    let mut g = Gen::new(99);
    g.max_seq = 200;
    g.message(ts.layout());
    let mut bytes = vec![0, 1, 0, 0];
    bytes.extend_from_slice(&g.out);
    for cut in (4..bytes.len()).step_by(7) {
        let input = bytes[..cut].to_vec();
        let m = Msg::new(&ts);
        // SAFETY: fresh message; `input` outlives it.
        let r = unsafe { ts.deserialize_borrowing(&input, m.ptr(), 1) };
        assert!(r.is_err(), "prefix {cut} of {} accepted", bytes.len());
        drop(m); // fini after the error: must not free input bytes
    }
}

#[test]
fn cpp_borrows_nothing() {
    let ts = resolve(cpp_handle("sensor_msgs", "Image"));
    let bytes = image_cdr(64, 48);
    let m = Msg::new(&ts);
    // SAFETY: fresh message.
    let b = unsafe { ts.deserialize_borrowing(&bytes, m.ptr(), 1) }.unwrap();
    assert!(b.is_empty());
    assert!(m.ser() == bytes);
}
