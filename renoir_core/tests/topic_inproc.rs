//! In-process topic tests (threads; the same code paths as across
//! processes, faster to run).
mod topic_common;

use renoir_core::region::Backend;
use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, TopicSpec};
use std::time::Duration;
use topic_common::*;

fn spec(name: &str, qos: Qos) -> TopicSpec {
    TopicSpec::new(name, "test_msgs/Bytes", qos)
}

/// The same test runs on shared memory and on the process-local heap
/// backend (which Miri and loom-style tooling can look into).
fn roundtrip(backend: Backend, dom: u32) {
    init();
    {
        let d = Domain::join_with(dom, backend.clone()).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/chatter", Qos::reliable(10)))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/chatter", Qos::reliable(10)))
            .unwrap();
        assert_eq!(s.matched_publishers(), 1);
        assert_eq!(p.matched_subscribers(), 1);
        let g = d.graph();
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.endpoints.len(), 2);
        assert_eq!(g.endpoints[0].node_name, "talker");
        let seen = d.doorbell_seq();
        let mut m = p.loan(5).unwrap();
        m.copy_from_slice(b"hello");
        let seq = p.publish(m, 42).unwrap();
        assert_eq!(seq, 1);
        assert_ne!(d.wait(seen, Some(Duration::from_secs(1))), seen);
        assert!(s.has_data());
        let smp = s.take().unwrap().unwrap();
        assert_eq!(&*smp, b"hello");
        assert_eq!(smp.info().sequence, 1);
        assert_eq!(smp.info().source_timestamp_ns, 42);
        assert_eq!(smp.info().publisher_gid, p.gid());
        drop(smp);
        assert!(s.take().unwrap().is_none());
        // big sample (blob)
        let big: Vec<u8> = (0..6_220_800u32).map(|i| (i * 7) as u8).collect();
        p.publish_bytes(&big, 1).unwrap();
        let smp = s.take().unwrap().unwrap();
        assert_eq!(smp.len(), big.len());
        assert!(*smp == big[..]);
        drop(smp);
        for i in 0..100u32 {
            p.publish_bytes(&i.to_le_bytes(), 0).unwrap();
        }
        let mut got = vec![];
        while let Some(x) = s.take().unwrap() {
            got.push(u32::from_le_bytes(x[..4].try_into().unwrap()));
        }
        assert_eq!(got, (90..100).collect::<Vec<_>>());
        assert_eq!(s.lost(), 90);
    }
    assert_clean(dom);
    let reg = format!("{dom}_registry");
    assert!(renoir_core::region::Region::open(
        &reg,
        backend,
        renoir_core::region::Access::ReadOnly
    )
    .is_err());
}

#[test]
fn publish_take_roundtrip_shm() {
    roundtrip(Backend::Shm, 101);
}

#[test]
fn publish_take_roundtrip_heap() {
    roundtrip(Backend::Heap, 106);
}

/// The byte layouts documented in docs/data-path.md.
#[test]
fn layout_sizes_match_the_docs() {
    use renoir_core::registry::layout::*;
    use renoir_core::topic::layout::*;
    use std::mem::size_of;
    assert_eq!(size_of::<RegHeader>(), 208);
    assert_eq!(size_of::<ProcessRecord>(), 128);
    assert_eq!(size_of::<NodeRecord>(), 816);
    assert_eq!(size_of::<EndpointRecord>(), 808);
    let l = RegLayout::compute(0);
    assert_eq!(
        (l.processes, l.nodes, l.endpoints, l.end),
        (256, 33024, 868608, 4178176)
    );
    assert_eq!(size_of::<PubHeader>(), 144);
    assert_eq!(size_of::<ReaderEntry>(), 72);
    assert_eq!(size_of::<RingEntry>(), 64);
    assert_eq!(size_of::<SlotCtl>(), 64);
    let p = PubLayout::compute(0, 10, 18, 4096);
    assert_eq!(
        (p.readers, p.ring, p.slots, p.end),
        (192, 9408, 10048, 11200)
    );
}

#[test]
fn large_images_6mb_and_25mb_zero_copy() {
    init();
    let dom = 102;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("cam", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/image", Qos::reliable(2)).hint(6_220_800))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/image", Qos::reliable(2)))
            .unwrap();
        for (k, len) in [6_220_800usize, 25_000_000, 6_220_800, 25_000_000, 100]
            .into_iter()
            .enumerate()
        {
            let mut m = p.loan(len).unwrap();
            assert_eq!(m.len(), len);
            m.fill(k as u8 + 1);
            p.publish(m, k as i64).unwrap();
            let x = s.take().unwrap().unwrap();
            assert_eq!(x.len(), len);
            assert!(x.iter().step_by(4093).all(|b| *b == k as u8 + 1));
            assert_eq!(x.info().source_timestamp_ns, k as i64);
        }
        assert!(p.stats().pool_used <= p.stats().pool_total);
    }
    assert_clean(dom);
}

#[test]
fn held_samples_are_never_overwritten() {
    init();
    let dom = 103;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/hold", Qos::best_effort(2)))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/hold", Qos::best_effort(2)))
            .unwrap();
        p.publish_bytes(&[7u8; 100], 0).unwrap();
        let held = s.take().unwrap().unwrap();
        // Far more publishes than slots: the held slot must stay intact.
        let mut errs = 0;
        for i in 0..500u32 {
            if p.publish_bytes(&[(i % 200) as u8 + 20; 100], 0).is_err() {
                errs += 1;
            }
            while let Some(x) = s.take().unwrap() {
                assert!(x.iter().all(|b| *b == x[0]));
            }
        }
        assert_eq!(errs, 0);
        assert!(held.iter().all(|b| *b == 7));
        drop(held);
    }
    assert_clean(dom);
}

/// A hostile peer rewrites descriptors with garbage: take reports an error
/// for that entry, never panics or reads out of bounds, and goes on.
#[test]
fn corrupt_descriptors_give_take_errors() {
    use renoir_core::region::{Access, Backend, Region};
    use renoir_core::sync::atomic::Ordering;
    use renoir_core::topic::layout::{PubHeader, PubLayout, RingEntry};
    init();
    let dom = 104;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/evil", Qos::reliable(8)))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/evil", Qos::reliable(8)))
            .unwrap();
        for i in 0..4u8 {
            p.publish_bytes(&[i; 64], 0).unwrap();
        }
        let ctl = Region::open(p.segment_name(), Backend::Shm, Access::ReadWrite).unwrap();
        let h: &PubHeader = ctl
            .get(PubLayout::compute(ctl.payload_offset(), 1, 1, 64).header)
            .unwrap();
        let cap = h.ring_cap.load(Ordering::Relaxed);
        let lay = PubLayout::compute(
            ctl.payload_offset(),
            cap,
            h.n_slots.load(Ordering::Relaxed),
            64,
        );
        let e0: &RingEntry = ctl.get(lay.ring_off(0)).unwrap();
        let e1: &RingEntry = ctl.get(lay.ring_off(1)).unwrap();
        let e2: &RingEntry = ctl.get(lay.ring_off(2)).unwrap();
        e0.slot.store(99_999, Ordering::Relaxed); // index out of range
        e1.len.store(u64::MAX, Ordering::Relaxed); // absurd length
        e2.blob_gen.store(12345, Ordering::Relaxed); // blob that does not exist
        let mut errors = 0;
        let mut good = vec![];
        for _ in 0..4 {
            match s.take() {
                Ok(Some(x)) => good.push(x[0]),
                Ok(None) => break,
                Err(_) => errors += 1,
            }
        }
        assert_eq!(errors, 3);
        assert_eq!(good, vec![3]);
        // Garbage head: the reader clamps to the ring window and goes on.
        h.head.store(u64::MAX - 3, Ordering::Relaxed);
        for _ in 0..20 {
            let _ = s.take();
        }
        drop(ctl);
    }
    assert_clean(dom);
}

#[test]
fn lifespan_expires_old_samples() {
    init();
    let dom = 105;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let mut q = Qos::transient_local(5);
        q.lifespan_ns = 50_000_000;
        let p = d.create_publisher(&n, spec("/life", q)).unwrap();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as i64
        };
        p.publish_bytes(b"old", now()).unwrap();
        std::thread::sleep(Duration::from_millis(80));
        p.publish_bytes(b"new", now()).unwrap();
        let s = d
            .create_subscriber(&n, spec("/life", Qos::transient_local(5)))
            .unwrap();
        assert_eq!(&*s.take().unwrap().unwrap(), b"new");
        assert!(s.take().unwrap().is_none());
        assert_eq!(s.lost(), 0);
    }
    assert_clean(dom);
}

#[test]
fn reliable_keep_last_loses_nothing_within_depth() {
    init();
    let dom = 107;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/rkl", Qos::reliable(10)))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/rkl", Qos::reliable(10)))
            .unwrap();
        for round in 0..20u32 {
            for i in 0..10u32 {
                p.publish_bytes(&(round * 10 + i).to_le_bytes(), 0).unwrap();
            }
            for i in 0..10u32 {
                let x = s.take().unwrap().unwrap();
                assert_eq!(
                    u32::from_le_bytes(x[..4].try_into().unwrap()),
                    round * 10 + i
                );
            }
        }
        assert_eq!(s.lost(), 0);
        // 15 without taking: the writer does not block (keep-last), the
        // oldest 5 are lost, the newest 10 arrive.
        for i in 0..15u32 {
            p.publish_bytes(&i.to_le_bytes(), 0).unwrap();
        }
        let mut got = vec![];
        while let Some(x) = s.take().unwrap() {
            got.push(u32::from_le_bytes(x[..4].try_into().unwrap()));
        }
        assert_eq!(got, (5..15).collect::<Vec<_>>());
        assert_eq!(s.lost(), 5);
        assert_eq!(s.stats().lost, 5);
        assert_eq!(p.stats().samples, 215);
    }
    assert_clean(dom);
}
