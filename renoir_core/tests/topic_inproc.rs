//! In-process topic tests (threads; the same code paths as across
//! processes, faster to run).
mod topic_common;

use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, TopicSpec};
use std::time::Duration;
use topic_common::*;

fn spec(name: &str, qos: Qos) -> TopicSpec {
    TopicSpec::new(name, "test_msgs/Bytes", qos)
}

#[test]
fn publish_take_roundtrip() {
    init();
    let dom = 101;
    {
        let d = Domain::join(dom).unwrap();
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
    assert_eq!((l.processes, l.nodes, l.endpoints, l.end), (256, 33024, 868608, 4178176));
    assert_eq!(size_of::<PubHeader>(), 144);
    assert_eq!(size_of::<ReaderEntry>(), 72);
    assert_eq!(size_of::<RingEntry>(), 64);
    assert_eq!(size_of::<SlotCtl>(), 64);
    let p = PubLayout::compute(0, 10, 18, 4096);
    assert_eq!((p.readers, p.ring, p.slots, p.end), (192, 9408, 10048, 11200));
}
