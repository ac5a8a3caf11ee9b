//! What the rmw layer needs from the topic layer (docs/rmw.md): a
//! publisher's view of registered subscribers before they attach, reaping
//! inside short `Domain::wait`s, and `Subscriber::unread`.
mod topic_common;

use renoir_core::registry::Domain;
use renoir_core::topic::{HashFilter, Qos, TopicSpec};
use std::time::{Duration, Instant};
use topic_common::*;

fn spec(name: &str, qos: Qos) -> TopicSpec {
    TopicSpec::new(name, "test_msgs/Bytes", qos)
}

#[test]
fn unread_counts_without_taking_and_respects_depth() {
    init();
    let dom = 601;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/u", Qos::reliable(10)))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/u", Qos::reliable(10)))
            .unwrap();
        let s2 = d
            .create_subscriber(&n, spec("/u", Qos::best_effort(2)))
            .unwrap();
        assert_eq!(s.unread(), 0);
        for i in 0..3u8 {
            p.publish_bytes(&[i], 0).unwrap();
        }
        assert_eq!(s.unread(), 3);
        // Counting does not consume.
        assert_eq!(s.unread(), 3);
        let x = s.take().unwrap().unwrap();
        assert_eq!(x[0], 0);
        assert_eq!(s.unread(), 2);
        drop(x);
        // A KeepLast(2) reader can never get more than 2.
        assert_eq!(s2.unread(), 2);
        let mut n2 = 0;
        while s2.take().unwrap().is_some() {
            n2 += 1;
        }
        assert_eq!(n2, 2);
        assert_eq!(s2.unread(), 0);
        while s.take().unwrap().is_some() {}
        assert_eq!(s.unread(), 0);
        // A second publisher adds to the sum.
        let p2 = d
            .create_publisher(&n, spec("/u", Qos::reliable(10)))
            .unwrap();
        p.publish_bytes(&[9], 0).unwrap();
        p2.publish_bytes(&[9], 0).unwrap();
        assert_eq!(s.unread(), 2);
    }
    assert_clean(dom);
}

#[test]
fn publisher_counts_registered_subscribers_before_they_attach() {
    init();
    let dom = 602;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        // Subscribers first: they cannot attach (no publisher yet) and do
        // not poll again before we ask.
        let s = d
            .create_subscriber(&n, spec("/r", Qos::reliable(5)))
            .unwrap();
        let _other_type = d
            .create_subscriber(&n, TopicSpec::new("/r", "other/Type", Qos::reliable(5)))
            .unwrap();
        let _other_topic = d
            .create_subscriber(&n, spec("/q", Qos::reliable(5)))
            .unwrap();
        // A reliable reader does not match a best-effort writer.
        let p_be = d
            .create_publisher(&n, spec("/r", Qos::best_effort(5)))
            .unwrap();
        assert_eq!(p_be.registered_subscribers(), 0);
        let p = d
            .create_publisher(&n, spec("/r", Qos::reliable(5)))
            .unwrap();
        assert_eq!(p.registered_subscribers(), 1);
        assert_eq!(p.matched_subscribers(), 0, "subscriber has not polled yet");
        // Once the subscriber polls it attaches; both counts agree.
        assert_eq!(s.matched_publishers(), 1);
        assert_eq!(p.matched_subscribers(), 1);
        drop(s);
        assert_eq!(p.registered_subscribers(), 0);
    }
    assert_clean(dom);
}

#[test]
fn short_waits_still_reap_dead_endpoints() {
    init();
    let dom = 603;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/w", Qos::reliable(5)))
            .unwrap();
        let v0 = d.graph_version();
        // Simulated crash: the record stays until somebody reaps it.
        p.abandon();
        assert_eq!(d.graph_version(), v0);
        // Only zero-timeout waits (as a busy rmw_wait would do): the reap
        // must still happen, rate-limited (every 500 ms).
        let t = Instant::now();
        while d.graph_version() == v0 {
            assert!(
                t.elapsed() < scaled(Duration::from_secs(3)),
                "zero-timeout waits never reaped"
            );
            let seen = d.doorbell_seq();
            d.wait(seen, Some(Duration::ZERO));
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(d.graph().endpoints.is_empty());
    }
    assert_clean(dom);
}

#[test]
fn first_samples_of_a_later_publisher_reach_an_idle_subscriber() {
    init();
    let dom = 604;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let s = d
            .create_subscriber(&n, spec("/f", Qos::reliable(10)))
            .unwrap();
        // The publisher appears and publishes before the subscriber's
        // process polls again (no take/has_data in between).
        let p = d
            .create_publisher(&n, spec("/f", Qos::reliable(10)))
            .unwrap();
        assert_eq!(p.registered_subscribers(), 1);
        for i in 0..3u8 {
            p.publish_bytes(&[i], 0).unwrap();
        }
        let mut got = vec![];
        while let Some(x) = s.take().unwrap() {
            got.push(x[0]);
        }
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(s.lost(), 0);
        // Samples published before a subscriber existed are still not
        // delivered to it (volatile).
        let late = d
            .create_subscriber(&n, spec("/f", Qos::reliable(10)))
            .unwrap();
        assert!(late.take().unwrap().is_none());
        p.publish_bytes(&[7], 0).unwrap();
        assert_eq!(late.take().unwrap().unwrap()[0], 7);
    }
    assert_clean(dom);
}

fn now_unix_ns() -> u64 {
    now_ns() as u64
}

#[test]
fn manual_by_topic_liveliness_follows_assertions() {
    use renoir_core::topic::Liveliness;
    init();
    let dom = 605;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let mut q = Qos::reliable(5);
        q.liveliness = Liveliness::ManualByTopic;
        q.liveliness_lease_ns = 200_000_000;
        let lease = Duration::from_millis(200);
        let t0 = now_unix_ns();
        let p = d.create_publisher(&n, spec("/l", q)).unwrap();
        let mut info = d
            .graph()
            .endpoints
            .into_iter()
            .find(|e| e.gid == p.gid())
            .unwrap();
        // Creation counts as an assertion.
        assert!(info.last_heartbeat_ns >= t0);
        assert!(info.is_alive_within(lease, now_unix_ns()));
        // Lease expires without assertions (evaluated at a later instant);
        // the process heartbeat does not count for ManualByTopic.
        let later = info.last_heartbeat_ns + 300_000_000;
        assert!(info.process_heartbeat_ns > 0);
        let mut fresh_proc = info.clone();
        fresh_proc.process_heartbeat_ns = later;
        assert!(!fresh_proc.is_alive_within(lease, later));
        // Infinite lease: always alive.
        assert!(info.is_alive_within(Duration::ZERO, later));
        // assert_liveliness moves the heartbeat; peers see it on refresh.
        let before = info.last_heartbeat_ns;
        std::thread::sleep(Duration::from_millis(5));
        p.assert_liveliness();
        assert!(d.refresh_heartbeats(&mut info));
        assert!(info.last_heartbeat_ns > before);
        // So does publishing.
        let before = info.last_heartbeat_ns;
        std::thread::sleep(Duration::from_millis(5));
        p.publish_bytes(&[1], 0).unwrap();
        assert!(d.refresh_heartbeats(&mut info));
        assert!(info.last_heartbeat_ns > before);
        // A gone endpoint cannot be refreshed.
        drop(p);
        assert!(!d.refresh_heartbeats(&mut info));
    }
    assert_clean(dom);
}

#[test]
fn automatic_liveliness_counts_the_process_heartbeat() {
    init();
    let dom = 606;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/a", Qos::reliable(5)))
            .unwrap();
        let mut info = d
            .graph()
            .endpoints
            .into_iter()
            .find(|e| e.gid == p.gid())
            .unwrap();
        let lease = Duration::from_millis(200);
        let created = info.last_heartbeat_ns;
        // The endpoint itself never asserts again, but its process waits:
        // Domain::wait refreshes the process heartbeat (every 500 ms).
        let t = Instant::now();
        loop {
            let seen = d.doorbell_seq();
            d.wait(seen, Some(Duration::from_millis(50)));
            assert!(d.refresh_heartbeats(&mut info));
            if info.process_heartbeat_ns > created + 500_000_000 {
                break;
            }
            assert!(t.elapsed() < scaled(Duration::from_secs(5)));
        }
        assert_eq!(info.last_heartbeat_ns, created);
        let now = info.process_heartbeat_ns + 100_000_000;
        assert!(info.is_alive_within(lease, now));
        // Long silence of the process too: not alive.
        assert!(!info.is_alive_within(lease, now + 1_000_000_000));
    }
    assert_clean(dom);
}

#[test]
fn wait_attaches_subscribers_to_new_publishers() {
    init();
    let dom = 607;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let _s = d
            .create_subscriber(&n, spec("/e", Qos::reliable(5)))
            .unwrap();
        let seen = d.doorbell_seq();
        let p = d
            .create_publisher(&n, spec("/e", Qos::reliable(5)))
            .unwrap();
        assert_eq!(p.matched_subscribers(), 0, "nothing polled yet");
        // The graph change rang our doorbell; the wait that sees it attaches
        // the subscriber (no take/has_data on it).
        let t = Instant::now();
        let mut seen = seen;
        while p.matched_subscribers() == 0 {
            assert!(t.elapsed() < scaled(Duration::from_secs(3)));
            seen = d.wait(seen, Some(Duration::from_millis(100)));
        }
        assert_eq!(p.matched_subscribers(), 1);
    }
    assert_clean(dom);
}

/// Schema evolution: a subscriber attaches to a publisher of the same type
/// name with another (non-zero) type hash only when its
/// `accept_foreign_hash` says yes for that hash, and graph info keeps each
/// side's own hash.
#[test]
fn foreign_type_hashes_match_only_when_accepted() {
    init();
    let dom = 608;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let mut ps = spec("/evo", Qos::reliable(10));
        ps.type_hash = [2; 32];
        let p = d.create_publisher(&n, ps).unwrap();
        let mut plain = spec("/evo", Qos::reliable(10));
        plain.type_hash = [1; 32];
        let mut refusing = plain.clone();
        refusing.accept_foreign_hash = Some(HashFilter::new(|_, _| false));
        let mut accepting = plain.clone();
        accepting.accept_foreign_hash = Some(HashFilter::new(|h, _| *h == [2; 32]));
        let s_plain = d.create_subscriber(&n, plain).unwrap();
        let s_ref = d.create_subscriber(&n, refusing).unwrap();
        let s_acc = d.create_subscriber(&n, accepting).unwrap();
        assert_eq!(s_plain.matched_publishers(), 0);
        assert_eq!(s_ref.matched_publishers(), 0);
        assert_eq!(s_acc.matched_publishers(), 1);
        assert_eq!(p.matched_subscribers(), 1);
        p.publish_bytes(b"v2", 7).unwrap();
        let smp = s_acc.take().unwrap().unwrap();
        assert_eq!(&*smp, b"v2");
        assert_eq!(smp.info().publisher_gid, p.gid());
        drop(smp);
        assert!(s_plain.take().unwrap().is_none());
        assert!(s_ref.take().unwrap().is_none());
        let g = d.graph();
        let hash_of = |gid: [u8; 16]| g.endpoints.iter().find(|e| e.gid == gid).unwrap().type_hash;
        assert_eq!(hash_of(p.gid()), [2; 32]);
        assert_eq!(hash_of(s_acc.gid()), [1; 32]);
    }
    assert_clean(dom);
}
