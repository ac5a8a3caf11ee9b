//! A peer may write anything into shared memory. Ring views built over
//! corrupted headers must fail with `Err`, and operations over scribbled
//! headers/slots must return (Ok or Err), never panic, hang or go out of
//! bounds.
#![cfg(not(loom))]

mod ring_common;

use proptest::prelude::*;
use renoir_core::ring::*;
use ring_common::{align64, ShmArea};
use std::mem::size_of;

const CAP: usize = 8;

fn area_for<H, S>() -> (ShmArea, usize) {
    let off = align64(size_of::<H>());
    (ShmArea::create(off + CAP * size_of::<S>()), off)
}

fn cap_bytes(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

#[test]
fn garbage_capacity_is_rejected_by_every_ring() {
    // capacity is the first u64 of every header.
    for bad in [0u64, 3, 6, 16, 1 << 40, u64::MAX] {
        let (a, off) = area_for::<SpscHeader, Cell<1>>();
        a.scribble(0, &cap_bytes(bad));
        assert!(SpscRing::from_shm(a.get::<SpscHeader>(0), a.slice::<Cell<1>>(off, CAP)).is_err());

        let (a, off) = area_for::<BroadcastHeader, StampedSlot<1>>();
        a.scribble(0, &cap_bytes(bad));
        assert!(SpmcBroadcast::from_shm(
            a.get::<BroadcastHeader>(0),
            a.slice::<StampedSlot<1>>(off, CAP)
        )
        .is_err());

        let (a, off) = area_for::<MpmcHeader, StampedSlot<1>>();
        a.scribble(0, &cap_bytes(bad));
        assert!(
            MpmcRing::from_shm(a.get::<MpmcHeader>(0), a.slice::<StampedSlot<1>>(off, CAP))
                .is_err()
        );

        let (a, off) = area_for::<SequencedHeader, StampedSlot<1>>();
        a.scribble(0, &cap_bytes(bad));
        assert!(SequencedRing::from_shm(
            a.get::<SequencedHeader>(0),
            a.slice::<StampedSlot<1>>(off, CAP)
        )
        .is_err());
    }
}

#[test]
fn capacity_changed_after_attach_cannot_reach_out_of_bounds() {
    let (a, off) = area_for::<SpscHeader, Cell<1>>();
    let r = SpscRing::init(renoir_core::ring::ShmMem::new(
        a.get::<SpscHeader>(0),
        a.slice::<Cell<1>>(off, CAP),
    ))
    .unwrap();
    r.push([1]).unwrap();
    // The peer now claims a huge ring: the view keeps its validated mask.
    a.scribble(0, &cap_bytes(1 << 30));
    for i in 0..100 {
        let _ = r.push([i]);
        let _ = r.pop();
    }
    assert_eq!(r.capacity(), CAP);
}

#[test]
fn spsc_indices_far_apart_are_corrupt() {
    let (a, off) = area_for::<SpscHeader, Cell<1>>();
    let r = SpscRing::init(renoir_core::ring::ShmMem::new(
        a.get::<SpscHeader>(0),
        a.slice::<Cell<1>>(off, CAP),
    ))
    .unwrap();
    // tail is the first u64 of the third 64-byte line.
    a.scribble(128, &(1u64 << 50).to_le_bytes());
    assert!(matches!(r.pop(), Err(PopError::Corrupt(_))));
    assert!(matches!(r.push([0]), Err(PushError::Corrupt(_))));
    assert!(r.len().is_err());
}

#[test]
fn indices_near_u64_max_do_not_overflow() {
    let (a, off) = area_for::<SpscHeader, Cell<1>>();
    let r = SpscRing::init(renoir_core::ring::ShmMem::new(
        a.get::<SpscHeader>(0),
        a.slice::<Cell<1>>(off, CAP),
    ))
    .unwrap();
    // head = tail = u64::MAX: a consistent (empty) ring whose next push
    // wraps the index.
    a.scribble(64, &u64::MAX.to_le_bytes());
    a.scribble(128, &u64::MAX.to_le_bytes());
    r.push([7]).unwrap();
    assert_eq!(r.push_batch(&[[8], [9]]).unwrap(), 2);
    assert_eq!(r.pop().unwrap(), Some([7]));
    let mut out = [[0]; 4];
    assert_eq!(r.pop_batch(&mut out).unwrap(), 2);
    assert_eq!(&out[..2], &[[8], [9]]);

    let (a, off) = area_for::<BroadcastHeader, StampedSlot<1>>();
    let b = SpmcBroadcast::init(renoir_core::ring::ShmMem::new(
        a.get::<BroadcastHeader>(0),
        a.slice::<StampedSlot<1>>(off, CAP),
    ))
    .unwrap();
    let mut r = BroadcastReader::at(u64::MAX);
    assert!(!b.has_data(&r));
    assert!(b.read(&mut r).is_err());
    a.scribble(64, &u64::MAX.to_le_bytes()); // write_seq
    assert!(b.push([1]).is_err());
}

fn all_ops(a: &ShmArea, which: u8) {
    let hdr_ok = |e: &AttachError| {
        let _ = e.to_string();
    };
    match which % 4 {
        0 => {
            let off = align64(size_of::<SpscHeader>());
            match SpscRing::from_shm(a.get::<SpscHeader>(0), a.slice::<Cell<2>>(off, CAP)) {
                Ok(r) => {
                    for i in 0..20u64 {
                        let _ = r.push([i, i]);
                        let _ = r.pop();
                        let _ = r.push_batch(&[[i, i]; 3]);
                        let _ = r.pop_batch(&mut [[0, 0]; 3]);
                        let _ = r.len();
                    }
                }
                Err(e) => hdr_ok(&e),
            }
        }
        1 => {
            let off = align64(size_of::<BroadcastHeader>());
            match SpmcBroadcast::from_shm(
                a.get::<BroadcastHeader>(0),
                a.slice::<StampedSlot<2>>(off, CAP),
            ) {
                Ok(b) => {
                    let mut r = b.reader_from_oldest();
                    let mut r2 = BroadcastReader::at(u64::MAX / 8);
                    for i in 0..20u64 {
                        let _ = b.read(&mut r);
                        let _ = b.read(&mut r2);
                        let _ = b.push([i, i]);
                        let _ = b.has_data(&r);
                    }
                    b.recover_writer();
                }
                Err(e) => hdr_ok(&e),
            }
        }
        2 => {
            let off = align64(size_of::<MpmcHeader>());
            match MpmcRing::from_shm(a.get::<MpmcHeader>(0), a.slice::<StampedSlot<2>>(off, CAP)) {
                Ok(r) => {
                    for i in 0..20u64 {
                        let _ = r.push([i, i]);
                        let _ = r.pop();
                    }
                }
                Err(e) => hdr_ok(&e),
            }
        }
        _ => {
            let off = align64(size_of::<SequencedHeader>());
            match SequencedRing::from_shm(
                a.get::<SequencedHeader>(0),
                a.slice::<StampedSlot<2>>(off, CAP),
            ) {
                Ok(r) => {
                    for i in 0..20u64 {
                        let _ = r.push([i, i]);
                        let _ = r.pop();
                        let _ = r.skip(true);
                        if let Ok(s) = r.claim(2) {
                            let _ = r.publish(s, [i, i]);
                            let _ = r.publish(s + 1, [i, i]);
                        }
                    }
                }
                Err(e) => hdr_ok(&e),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes at random places in header and slots (with a valid
    /// capacity most of the time, so the operations run): every call
    /// returns, none panics.
    #[test]
    fn scribbled_rings_never_panic(which in any::<u8>(),
                                   keep_cap in prop::bool::weighted(0.8),
                                   writes in prop::collection::vec((0usize..640, prop::collection::vec(any::<u8>(), 1..16)), 1..12)) {
        let size = align64(192) + CAP * size_of::<StampedSlot<2>>();
        let a = ShmArea::create(size);
        if keep_cap {
            a.scribble(0, &cap_bytes(CAP as u64));
        }
        for (off, bytes) in writes {
            let off = off.min(size - bytes.len());
            // Keep the capacity word valid when asked to, scribble the rest.
            if keep_cap && off < 8 { continue; }
            a.scribble(off, &bytes);
        }
        all_ops(&a, which);
    }
}
